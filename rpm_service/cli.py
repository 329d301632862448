"""The whole command line, ``python -m rpm_engine generate | train | reproduce | sweep`` (SPEC §3-4).

The engine's commands (``rpm_engine.cli``: generate, train, reproduce) and the service's ``sweep`` (its executors
live here, in ``rpm_service``) are composed at this, the top layer, so no engine module imports the service.
"""

from __future__ import annotations

import argparse

from rpm_engine import cli as engine_cli

from .sweep_cli import add_sweep_parser


def build_parser() -> argparse.ArgumentParser:
    return engine_cli.build_parser(extra=(add_sweep_parser,))


def main(argv: list[str] | None = None) -> int:
    return engine_cli.main(argv, parser=build_parser())


__all__ = ["build_parser", "main"]
