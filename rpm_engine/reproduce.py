"""The paper's Fig. 1 end to end: supervised, RBF, linear and untrained encoders over seeds, with figures."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from .config import PAPER_VIDEO, QUICK_VIDEO, RunConfig, VideoConfig, default_frame
from .data import generate_video
from .evaluate import conditional_prior, seeds_summary
from .store import RunStore

PAPER_EPOCHS, QUICK_EPOCHS = 30, 30

# Starting values of the couplings' parameters, in pixels of z (see README, "What decides the outcome").
# theta starts well below the step (32 px): RBF then asks consecutive latents to be close relative to that scale,
# and theta grows or shrinks to fit. W starts small so the linear logits z^T W z' (z ~ 100 px) stay moderate.
PAPER_INIT = {"rbf": {"theta": 1.0}, "linear": {"w_init": 1e-3}}
QUICK_INIT = {"rbf": {"theta": 0.1}, "linear": {"w_init": 1e-3}}
METHODS = ("supervised", "rbf", "linear", "untrained")


def method_config(method: str, video: VideoConfig, seed: int, epochs: int, init: dict) -> RunConfig:
    if method in ("supervised", "untrained"):
        return RunConfig.of(None, video=video, method=method, epochs=epochs, seed=seed)
    return RunConfig.of(method, video=video, epochs=epochs, seed=seed, **init[method])


@contextlib.contextmanager
def progress_bar(config: RunConfig, quiet: bool = False, position: str = ""):
    """A tqdm bar over epochs on stderr; yields the training callback (None when quiet)."""
    if quiet or config.train.method == "untrained":
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(
        total=config.train.epochs,
        desc=f"{position}{config.label}",
        unit="epoch",
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )

    def callback(p):
        bar.n = p.epoch
        bar.set_postfix(loss=f"{p.loss:.3f}", I_N=f"{p.mi:.2f}" if p.mi == p.mi else "-", device=p.device)

    try:
        yield callback
    finally:
        bar.close()


def reproduce(
    quick: bool = False,
    seeds: int = 3,
    out: Path | str = "reproduce_out",
    device: str = "auto",
    store: RunStore | None = None,
    epochs: int | None = None,
    quiet: bool = False,
    figures: bool = True,
) -> dict:
    """Train (or load) every method for ``seeds`` seeds, summarise held-out L2 and draw Fig. 1-style figures."""
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    video_cfg = QUICK_VIDEO if quick else PAPER_VIDEO
    epochs = epochs if epochs is not None else (QUICK_EPOCHS if quick else PAPER_EPOCHS)
    init = QUICK_INIT if quick else PAPER_INIT
    store = store or RunStore()
    video = generate_video(video_cfg)
    methods, runs = {}, {}
    total = len(METHODS) * seeds
    for m in METHODS:
        values, per_ball, keys, extra = [], [], [], []
        for s in range(seeds):
            cfg = method_config(m, video_cfg, s, epochs, init)
            with progress_bar(cfg, quiet, position=f"[{len(runs) + 1}/{total}] ") as cb:
                run = store.get_or_train(cfg, video=video, device=device, callback=cb)
            runs[(m, s)] = run
            values.append(run.metrics["l2_mean"])
            per_ball.append(run.metrics["l2_per_ball"])
            keys.append(run.key)
            extra.append(run.metrics["coupling_values"])
        summ = seeds_summary(values)
        methods[m] = {
            "l2_mean": summ["mean"],
            "l2_per_seed": values,
            "l2_ci95": [summ["lo"], summ["hi"]],
            "l2_ci95_halfwidth": summ["ci95"],
            "l2_per_ball": [seeds_summary(col)["mean"] for col in zip(*per_ball)],
            "coupling_values_per_seed": extra,
            "train_seconds_per_seed": [runs[(m, s)].metrics["train_seconds"] for s in range(seeds)],
            "keys": keys,
        }
    result = {
        "config": {
            "scale": "quick" if quick else "paper",
            "video": video_cfg.to_dict(),
            "epochs": epochs,
            "seeds": seeds,
            "init": init,
            "video_redraws": video.redraws,
            "video_stuck": video.stuck,
        },
        "methods": methods,
    }
    if figures:
        from . import figures as fig

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        frame = default_frame(video_cfg)  # a held-out frame
        paths = [fig.l2_bars(methods, out / "l2_bars.png"), fig.centres_plot(video, runs, out / "centres.png")]
        for m in ("rbf", "linear"):
            run = runs[(m, 0)]
            hm = conditional_prior(run.encoder(), run.coupling(), video, frame, 0)
            paths.append(fig.heatmap(video, hm, out / f"heatmap_{m}.png", title=f"P(z'|z), {m} coupling"))
        result["figures"] = [str(p) for p in paths]
    return result


def format_table(result: dict) -> str:
    """The L2 table as printed by ``reproduce``."""
    cfg = result["config"]
    lines = [
        f"Held-out mean L2 error of a linear read-out (px), {cfg['scale']} scale: {cfg['video']['frames']} frames "
        f"of {cfg['video']['size']} px, {cfg['epochs']} epochs, {cfg['seeds']} seed(s)",
        f"{'method':<12}{'mean':>10}{'95% interval':>24}   per seed",
    ]
    for m, r in result["methods"].items():
        lo, hi = r["l2_ci95"]
        ci = f"[{lo:.3f}, {hi:.3f}]" if lo == lo else "n/a (1 seed)"
        seeds = ", ".join(f"{v:.3f}" for v in r["l2_per_seed"])
        lines.append(f"{m:<12}{r['l2_mean']:>10.3f}{ci:>24}   {seeds}")
    return "\n".join(lines)
