"""Command line: ``python -m rpm_engine generate | train | reproduce | sweep`` (SPEC §3-4).

Errors are one line on stderr and a non-zero exit (2 for bad input, 1 for a failure while running, 130 if
interrupted); long work shows a progress bar on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from . import reproduce as rep
from .config import METHODS, PAPER_VIDEO, TRAIN_FIELDS, VIDEO_FIELDS, RunConfig, TrainConfig, VideoConfig
from .couplings import PRESETS, coupling_names
from .data import generate_video, save_npz
from .obtain import obtain
from .store import CorruptRun, RunStore
from .sweep_cli import add_sweep_parser
from .train import Cancelled, TrainingError


class CLIError(Exception):
    """Bad input, reported as one line and exit code 2."""


def _add_fields(g, fields, defaults, skip=()) -> None:
    """One argument per schema field (``config.VIDEO_FIELDS`` / ``TRAIN_FIELDS``): flag, type, bounds and help."""
    for f in fields:
        if f.name in skip:
            continue
        default = defaults.get(f.name)
        shown = ("one diameter" if f.name == "step" else "none") if f.optional and default is None else "%(default)s"
        g.add_argument(
            f.cli,
            dest=f.name if f not in TRAIN_FIELDS else f"train_{f.name}",
            type=_bounded(f),
            default=default,
            metavar=f.name.upper(),
            help=f"{f.help} (between {f.bounds}; default {shown})",
        )


def _bounded(f):
    """An argparse type for field ``f``: its canonical value, or a one-line error naming the flag."""

    def parse(text: str):
        try:
            return f.parse(text, f.cli)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{f.cli}: ")) from None

    parse.__name__ = f.kind.__name__
    return parse


def _video_options(p: argparse.ArgumentParser, defaults: VideoConfig = PAPER_VIDEO) -> None:
    _add_fields(p.add_argument_group("video options"), VIDEO_FIELDS, dataclasses.asdict(defaults))


def _video_config(a) -> VideoConfig:
    return VideoConfig(**{f.name: getattr(a, f.name) for f in VIDEO_FIELDS})


def _params(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise CLIError(f"--param expects NAME=NUMBER (e.g. theta=0.5), got {item!r}")
    return out


def _write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2))


def cmd_generate(a) -> int:
    video = generate_video(_video_config(a))
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
    return RunConfig.of(
        a.coupling,
        video=_video_config(a),
        method=a.method,
        **{f.name: getattr(a, f"train_{f.name}") for f in TRAIN_FIELDS},
        **_params(a.param),
    )


def cmd_train(a) -> int:
    config = train_config(a)
    store = RunStore(a.cache)
    with rep.progress_bar(config, quiet=a.quiet) as cb:
        run = obtain(config, store, device=a.device, callback=cb)
    m = run.metrics
    result = {
        "key": run.key,
        "cached": run.cached,
        "label": run.label,
        "l2_mean": m["l2_mean"],
        "l2_per_ball": m["l2_per_ball"],
        "final_loss": m["final_loss"],
        "final_mi": m["final_mi"],
        "train_seconds": m["train_seconds"],
        "steps": m["steps"],
        "device": m["device"],
        "coupling_values": m["coupling_values"],
        "config": config.to_dict(),
    }
    print(
        f"{run.label}: held-out L2 {m['l2_mean']:.3f} px  (per ball "
        + ", ".join(f"{v:.2f}" for v in m["l2_per_ball"])
        + f")  loss {m['final_loss']:.4f}  {m['steps']} steps  {m['train_seconds']:.1f} s"
        + ("  [cached]" if run.cached else "")
    )
    _write_json(a.json, result)
    return 0


def cmd_reproduce(a) -> int:
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
    _write_json(a.json or str(Path(a.out) / "metrics.json"), result)
    print(f"figures and metrics in {a.out}")
    return 0


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: --frames: must be between ...``) and exit code 2."""

    def error(self, message: str):
        line = message.splitlines()[0]
        if "--coupling: expected one argument" in line:  # argparse reads '-sum(...)' as a flag
            line += "; an expression that starts with '-' is written --coupling='-sum(abs(z - zp)) / theta'"
        self.exit(2, f"error: {line}\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m rpm_engine", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    g = sub.add_parser("generate", help="generate a ball video (.npz or .gif)")
    _video_options(g)
    g.add_argument("--out", required=True, help="output path ending in .npz or .gif")
    g.set_defaults(func=cmd_generate)

    t = sub.add_parser("train", help="train one run (or load it from the store)")
    t.add_argument(
        "--coupling",
        help="linear, rbf, " + ", ".join(PRESETS) + ", or an expression for log f, e.g. '-sum(abs(z - zp)) / theta'",
    )
    t.add_argument("--method", choices=METHODS, default="infonce", help="infonce (default), supervised, untrained")
    _video_options(t)
    _add_fields(t.add_argument_group("training options"), TRAIN_FIELDS, dataclasses.asdict(TrainConfig()))
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
        help=f"reduced scale ({rep.QUICK_VIDEO.frames} frames of "
        f"{rep.QUICK_VIDEO.size} px, θ learned at its own learning rate) that finishes in minutes on 2 CPU cores",
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

    add_sweep_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        return a.func(a)
    except (CLIError, ValueError) as exc:  # ExpressionError and config errors are ValueErrors
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
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
        print(f"error: {exc}", file=sys.stderr)
        return 1


__all__ = ["main", "build_parser", "coupling_names", "train_config"]
