"""Command line: ``python -m rpm_engine generate | train | reproduce | sweep`` (SPEC §3-4).

Errors are one line on stderr and a non-zero exit (2 for bad input, 1 for a failure while running, 130 if
interrupted); long work shows a progress bar on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import reproduce as rep
from .cli_args import Parser, add_recipe, add_train_options, add_video_options, recipe, train_settings, video_config
from .config import METHODS, PAPER_VIDEO, QUICK_VIDEO, RunConfig, recipe_of
from .coupling_spec import PRESETS, coupling_names
from .data import generate_video, save_npz
from .obtain import obtain
from .outputs import MEMORY_MESSAGE, check_outputs, out_of_memory, write_atomic
from .provenance import provenance_mismatch
from .store import CorruptRun, RunStore
from .text import clip, first_line, parse_assignment
from .train import Cancelled, TrainingError, resolve_device


class CLIError(Exception):
    """Bad input, reported as one line and exit code 2."""


def _params(items: list[str]) -> dict[str, float]:
    out = {}
    expects = "NAME=NUMBER (e.g. theta=0.5)"
    for item in items or []:
        name, value = parse_assignment(item, "--param", example=expects)
        try:
            out[name] = float(value)
        except ValueError:
            raise CLIError(f"--param expects {expects}, got {clip(item)}") from None
    return out


def cmd_generate(a) -> int:
    check_outputs({"--out": a.out}, make_dirs=True)
    video = generate_video(video_config(a, PAPER_VIDEO))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        save_npz(video, out)
    elif out.suffix == ".gif":
        from .figures import save_gif

        save_gif(video, out)
    else:
        raise CLIError(f"--out must end in .npz or .gif, got {out.name!r}")
    print(
        f"wrote {out}: {len(video.frames)} frames of {video.config.size} px, "
        f"{video.redraws} re-draws, {video.stuck} stuck ball-frames"
    )
    return 0


def train_config(a: argparse.Namespace) -> RunConfig:
    """The RunConfig of parsed ``train`` arguments (``build_parser().parse_args(["train", ...])``)."""
    if a.method == "infonce" and not a.coupling:
        raise CLIError("--coupling is required for contrastive training (e.g. --coupling rbf)")
    train = train_settings(a)
    seed = train.pop("seed", 0)
    return recipe(a).run_config(
        a.coupling if a.method == "infonce" else None,
        method=a.method,
        seed=seed,
        video=video_config(a),
        **train,
        **_params(a.param),
    )


def cmd_train(a) -> int:
    config = train_config(a)
    check_outputs({"--json": a.json})  # before training, not after
    store = RunStore(a.cache)
    with rep.progress_bar(config, quiet=a.quiet) as cb:
        run = obtain(config, store, device=a.device, callback=cb)
    m = run.metrics
    result = {
        "key": run.key,
        "cached": run.cached,
        "label": run.label,
        "recipe": recipe_of(config),
        "l2_mean": m["l2_mean"],
        "l2_per_ball": m["l2_per_ball"],
        "final_loss": m["final_loss"],
        "final_mi": m["final_mi"],
        "train_seconds": m["train_seconds"],
        "steps": m["steps"],
        "device": m["device"],
        "coupling_values": m["coupling_values"],
        "config": config.to_dict(),
        "provenance": run.provenance,  # what its numerics depend on; null for a run stored before it was recorded
        "provenance_note": provenance_mismatch(run, device=resolve_device(a.device).type),
    }
    print(
        f"{config.name}: held-out L2 {m['l2_mean']:.3f} px  (per ball "
        + ", ".join(f"{v:.2f}" for v in m["l2_per_ball"])
        + f")  loss {m['final_loss']:.4f}  {m['steps']} steps  {m['train_seconds']:.1f} s"
        + ("  [cached]" if run.cached else "")
    )
    if result["provenance_note"]:
        print(f"note: {result['provenance_note']}", file=sys.stderr)
    if a.json:
        write_atomic(a.json, json.dumps(result, indent=2))
    return 0


def cmd_reproduce(a) -> int:
    metrics = a.json or str(Path(a.out) / "metrics.json")
    check_outputs({"--out": Path(a.out) / "l2_bars.png", "--json": metrics}, make_dirs=True)  # before training
    result = rep.reproduce(
        quick=a.quick,
        paper_recipe=a.paper_recipe,
        seeds=a.seeds,
        out=Path(a.out),
        device=a.device,
        store=RunStore(a.cache),
        epochs=a.epochs,
        quiet=a.quiet,
    )
    print(rep.format_table(result))
    write_atomic(metrics, json.dumps(result, indent=2))
    print(f"figures and metrics in {a.out}")
    return 0


def add_commands(sub) -> None:
    """Register ``generate``, ``train`` and ``reproduce`` on an argparse subparsers object (the full command line,
    with the service's ``sweep``, is composed in ``rpm_service.cli``)."""
    g = sub.add_parser("generate", help="generate a ball video (.npz or .gif)")
    add_video_options(g, PAPER_VIDEO)
    g.add_argument("--out", required=True, help="output path ending in .npz or .gif")
    g.set_defaults(func=cmd_generate)

    t = sub.add_parser("train", help="train one run (or load it from the store)")
    t.add_argument(
        "--coupling",
        help="linear, rbf, " + ", ".join(PRESETS) + ", or an expression for log f, e.g. '-sum(abs(z - zp)) / theta'",
    )
    t.add_argument("--method", choices=METHODS, default="infonce", help="infonce (default), supervised, untrained")
    add_recipe(t, "paper")
    add_video_options(t)
    add_train_options(t)
    t.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="starting value of a coupling parameter, e.g. theta=1.0 or w_init=0.001 (repeatable)",
    )
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    t.add_argument("--json", help="write the result as JSON here")
    t.add_argument("--cache", help="run store root (default: $RPM_ENGINE_CACHE or the user cache dir)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("reproduce", help="the paper's Fig. 1: supervised, RBF, linear and untrained over seeds")
    r.add_argument(
        "--quick",
        action="store_true",
        help=f"the quick recipe ({QUICK_VIDEO.frames} frames of "
        f"{QUICK_VIDEO.size} px, θ learned at its own learning rate) that finishes in minutes on 2 CPU cores",
    )
    r.add_argument(
        "--paper-recipe",
        action="store_true",
        help="train with App. D's exact recipe (one learning rate for everything), e.g. at the quick scale",
    )
    r.add_argument("--seeds", type=int, default=3, help="training seeds per method (%(default)s)")
    r.add_argument("--epochs", type=int, default=None, help="override the epochs of every method")
    r.add_argument("--out", default="reproduce_out", help="folder for figures and metrics (%(default)s)")
    r.add_argument("--json", help="metrics JSON path (default: OUT/metrics.json)")
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    r.add_argument("--cache", help="run store root (default: $RPM_ENGINE_CACHE or the user cache dir)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_reproduce)


def build_parser(extra=()) -> argparse.ArgumentParser:
    """The parser of the engine's commands; ``extra``: more ``add_*(subparsers)`` registrations (e.g. sweep)."""
    p = Parser(prog="python -m rpm_engine", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_commands(sub)
    for add in extra:
        add(sub)
    return p


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run one command line; errors are one line on stderr (2 bad input, 1 a failure, 130 interrupted)."""
    a = (parser or build_parser()).parse_args(argv)
    try:
        return a.func(a)
    except (CLIError, ValueError) as exc:  # ExpressionError and config errors are ValueErrors
        msg = first_line(exc)
        if isinstance(exc, TrainingError):
            print(f"error: training failed: {msg}", file=sys.stderr)
            return 1
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except Cancelled as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("error: interrupted; nothing half-written was stored", file=sys.stderr)
        return 130
    except (CorruptRun, OSError) as exc:
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        print(f"error: {MEMORY_MESSAGE}", file=sys.stderr)
        return 2


__all__ = ["add_commands", "build_parser", "coupling_names", "main", "train_config"]
