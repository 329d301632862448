"""``python -m rpm_engine sweep``: coupling families x parameter grids x seeds on one video, ranked by held-out L2.

    python -m rpm_engine sweep --coupling rbf --param theta=log:0.1:10:5 \\
        --coupling linear --param w_init=0.001,1 --param lr=0.005,0.01 --seeds 3 --json sweep.json

Runs are built by a recipe (``--recipe quick``, the default and the app's: 512 frames of 64 px, θ learned at its
own rate; ``--recipe paper``: App. D), so the same sweep from the app and from here is the same runs, ranked by
the one ranking. A ``--param`` belongs to the ``--coupling`` before it; a comma list (or ``log:START:STOP:COUNT`` /
``lin:START:STOP:COUNT``) is a grid, one value is fixed; ``epochs``, ``lr`` and ``batch_size`` grid a training
setting. Every point is an ordinary run in the store: a second call (or one after Ctrl-C) only trains what is missing.
Exit codes: 0 done, 2 bad input (one line on stderr), 1 a failure while running, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys

from rpm_engine.cli_args import Parser, add_recipe, add_train_options, add_video_options, recipe, train_settings
from rpm_engine.cli_args import video_config as _video_config
from rpm_engine.outputs import MEMORY_MESSAGE, check_outputs, out_of_memory, write_atomic
from rpm_engine.sweep import MAX_POINTS, TRAIN_PARAMS, Family, Sweep
from rpm_engine.text import first_line, parse_assignment

from .sweeps import SweepEvent, format_table, make_backend, run_sweep

RAY_HINT = "the ray backend needs Ray: pip install -r requirements-ray.txt"


class SweepInputError(ValueError):
    """Bad command-line input: one line on stderr, exit code 2."""


class _CouplingAction(argparse.Action):
    """``--coupling NAME`` opens a new family; the ``--param``s after it belong to it."""

    def __call__(self, parser, namespace, values, option_string=None):
        families = list(getattr(namespace, "families", None) or [])
        families.append((values, []))
        namespace.families = families


class _ParamAction(argparse.Action):
    """``--param NAME=VALUES`` binds to the latest ``--coupling``; before any, it is remembered as an error."""

    def __call__(self, parser, namespace, values, option_string=None):
        families = getattr(namespace, "families", None)
        if not families:
            errors = list(getattr(namespace, "sweep_errors", None) or [])
            errors.append(f"--param {values} comes before any --coupling; put it after the coupling it belongs to")
            namespace.sweep_errors = errors
            return
        families[-1][1].append(values)


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``sweep`` on an ``argparse`` subparsers object (``build_parser`` in cli.py calls this)."""
    s = subparsers.add_parser(
        "sweep",
        help="coupling families x parameter grids x seeds, ranked by held-out L2",
        description=__doc__.split("\n\n")[0],
        epilog="Example: sweep --coupling rbf --param theta=log:0.1:10:5 --coupling linear --param w_init=0.001,1 "
        "--seeds 3 --frames 128 --size 64 --diameter 8 --json sweep.json",
    )
    s.add_argument(
        "--coupling",
        action=_CouplingAction,
        dest="families",
        metavar="NAME",
        default=None,
        help="a family: linear, rbf, a preset (laplace, cauchy, student-t, cosine) or an expression for log f "
        "(repeatable)",
    )
    s.add_argument(
        "--param",
        action=_ParamAction,
        dest="param",
        metavar="NAME=V1,V2,...",
        default=None,
        help="values for the preceding --coupling's parameter (theta=0.1,1 or theta=log:0.1:10:5), or a training "
        f"setting's grid ({', '.join(TRAIN_PARAMS)}); one value = fixed (repeatable)",
    )
    s.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 per configuration (%(default)s)")
    add_recipe(s, "quick")
    add_video_options(s)
    add_train_options(s, skip=("seed", "coupling_lr"))  # seeds: --seeds; θ's own rate: the recipe, or --param
    s.add_argument("--no-references", action="store_true", help="skip the supervised and untrained reference runs")
    s.add_argument("--max-points", type=int, default=MAX_POINTS, help="refuse larger sweeps (%(default)s runs)")
    s.add_argument("--backend", choices=("local", "ray"), default="local", help="where points train (%(default)s)")
    s.add_argument(
        "--address",
        default=None,
        help="Ray cluster: auto (the running cluster) or HOST:PORT; default $RPM_RAY_ADDRESS, else a local "
        "Ray on this machine",
    )
    s.add_argument(
        "--threads",
        type=int,
        default=None,
        help="local: torch threads per run (default: torch's); ray: CPUs (= torch threads) per task (default 1)",
    )
    s.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    s.add_argument("--json", required=True, metavar="PATH", help="write points, ranking and references here")
    s.add_argument("--csv", metavar="PATH", help="also write one row per run here")
    s.add_argument("--cache", help="run store root (default: $RPM_ENGINE_CACHE or the user cache dir)")
    s.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    s.set_defaults(func=cmd_sweep, families=None, sweep_errors=None)
    return s


PARAM_FORM = "NAME=V1,V2,... (e.g. theta=0.1,1 or theta=log:0.1:10:5)"


def sweep_from_args(a) -> Sweep:
    """The ``Sweep`` a command line asks for (``ValueError`` with a one-line message if it is wrong)."""
    if a.sweep_errors:
        raise SweepInputError(a.sweep_errors[0])
    if not a.families:
        raise SweepInputError("a sweep needs at least one --coupling (e.g. --coupling rbf --param theta=0.1,1)")
    families = [
        Family.of(name, [parse_assignment(p, "--param", example=PARAM_FORM) for p in params])
        for name, params in a.families
    ]
    if a.seeds < 1:
        raise SweepInputError(f"--seeds must be at least 1, got {a.seeds}")
    if a.max_points < 1:
        raise SweepInputError(f"--max-points must be at least 1, got {a.max_points}")
    train = train_settings(a, skip=("seed", "coupling_lr"))
    return Sweep.of(
        families,
        seeds=a.seeds,
        video=_video_config(a),
        recipe=recipe(a),
        references=not a.no_references,
        max_points=a.max_points,
        **train,
    )


def _backend(a):
    if a.threads is not None and a.threads < 1:
        raise SweepInputError(f"--threads must be at least 1, got {a.threads}")
    if a.backend == "local":
        return make_backend("local", device=a.device, threads=a.threads)
    if importlib.util.find_spec("ray") is None:
        raise SweepInputError(RAY_HINT)
    return make_backend("ray", address=a.address, device=a.device, num_cpus=a.threads or 1)


def _run_rows(result) -> list[dict]:
    """One row per run (points, then references), as the app's Explore exports them (``rpm_engine.exports``);
    a failed run has no metrics, so its measured columns are empty."""
    from rpm_engine.exports import run_rows

    return run_rows((p.key, p.config, p.metrics) for p in result.points + result.reference_runs)


def _csv_text(result) -> str:
    from rpm_engine.exports import to_csv

    return to_csv(_run_rows(result))


class _Progress:
    """A tqdm bar over runs on stderr: done / total, running, cached, failed and an ETA from the trained ones."""

    def __init__(self, total: int, quiet: bool):
        self.bar = None
        self.done = 0
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="sweep", unit="run", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, ev: SweepEvent) -> None:
        self.done = ev.done
        if self.bar is None:
            return
        if ev.kind == "finished":
            if ev.point.cached:
                self.bar.initial += 1  # opened from the store: not part of the rate the ETA is computed from
                self.bar.n += 1
                self.bar.refresh()
            else:
                self.bar.update(1)
        post = {"running": ev.running, "cached": ev.cached}
        if ev.failed:
            post["failed"] = ev.failed
        if ev.kind == "finished" and ev.point.l2_mean is not None:
            post["last"] = f"{ev.point.setting.label} s{ev.point.seed}: {ev.point.l2_mean:.2f}px"
        self.bar.set_postfix(post, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_sweep(a) -> int:
    """Run the sweep; errors are handled here (one line on stderr) so the exit codes hold under any ``main``."""
    from rpm_engine import Cancelled, CorruptRun, RunStore, TrainingError

    progress = None
    total = 0
    try:
        sweep = sweep_from_args(a)
        check_outputs({"--json": a.json, "--csv": a.csv})  # before any training
        backend = _backend(a)
        store = RunStore(a.cache)
        total = len(sweep.points()) + sum(len(v) for v in sweep.reference_points().values())
        progress = _Progress(total, a.quiet)
        result = run_sweep(sweep, backend, store, on_point=progress)
        progress.close()
        data = {**result.to_dict(), "runs": _run_rows(result)}
        write_atomic(a.json, json.dumps(data, indent=2, allow_nan=False))
        if a.csv:
            write_atomic(a.csv, _csv_text(result))
        if not a.quiet:
            print(format_table(result))
            print(f"wrote {a.json}" + (f" and {a.csv}" if a.csv else ""))
        return 0
    except KeyboardInterrupt:
        _close(progress)
        done = progress.done if progress else 0
        print(
            f"error: interrupted after {done} of {total} runs; finished runs are in the store and nothing "
            "half-written was kept; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except Cancelled as exc:
        _close(progress)
        print(f"error: {exc}; run the same command again to resume", file=sys.stderr)
        return 130
    except TrainingError as exc:
        _close(progress)
        print(f"error: training failed: {first_line(exc)}", file=sys.stderr)
        return 1
    except ValueError as exc:  # SweepInputError, ExpressionError, config errors
        _close(progress)
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 2
    except (MemoryError, CorruptRun, OSError, RuntimeError) as exc:
        _close(progress)
        if out_of_memory(exc):
            print(f"error: {MEMORY_MESSAGE}", file=sys.stderr)
            return 2
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 1


def _close(progress) -> None:
    if progress is not None:
        progress.close()


def build_parser() -> argparse.ArgumentParser:
    """A parser with just the ``sweep`` subcommand (tests, and ``python -m rpm_service.sweep_cli sweep ...``)."""
    p = Parser(prog="python -m rpm_engine")
    add_sweep_parser(p.add_subparsers(dest="command", required=True, parser_class=Parser))
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
