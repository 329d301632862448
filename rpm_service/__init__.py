"""rpm_service: what a shared server needs above the library — the job runner and the hosted-demo limits.

The library (``rpm_engine``) is the paper's experiment and knows nothing of visitors, queues or limits; the app
(``explorer`` + ``pages``) talks to the engine for maths and to this package for training on a shared server.
Names are imported on first use (PEP 562): reading the limits needs no torch, the job runner does.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    **dict.fromkeys(
        ("CANCELLED", "DONE", "FAILED", "FINISHED", "QUEUED", "RUNNING", "Job", "JobRunner", "JobView"), "jobs"
    ),
    "Limits": "limits",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rpm_service' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
