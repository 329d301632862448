"""The paper's Fig. 1 end to end: supervised, RBF, linear and untrained encoders over seeds, with figures."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from .config import PAPER_VIDEO, QUICK_VIDEO, RunConfig, VideoConfig, default_frame
from .data import generate_video
from .evaluate import conditional_prior, effective_length_scale, mean_predictor_l2, seeds_summary
from .obtain import obtain
from .store import RunStore

PAPER_EPOCHS, QUICK_EPOCHS = 30, 30

# Starting values of the couplings' parameters, in pixels of z (see README, "What decides the outcome").
# theta starts well below the step. At App. D's lr 0.005 log theta barely moves in 30 epochs (quick scale, 5 seeds:
# 0.1 -> 0.107-0.131 at 128 frames, 0.112-0.124 at 512), so its start decides the run. The quick recipe learns log
# theta at its own rate, 0.5 (QUICK_TRAIN): theta then ends at 0.16-0.21 from 0.1 and at 0.16-0.23 from 8, i.e. the
# start no longer matters, and theta / read-out gain = 6.4-8.8 true px, about one step (8 px)
# (benchmarks/default_scale.py). W starts small so the linear logits z^T W z' (z ~ 30-100 px) stay moderate.
PAPER_INIT = {"rbf": {"theta": 1.0}, "linear": {"w_init": 1e-3}}
QUICK_INIT = {"rbf": {"theta": 0.1}, "linear": {"w_init": 1e-3}}
# Training fields per method beyond App. D's recipe (epochs, batch 30, lr 0.005 for everything).
PAPER_TRAIN: dict[str, dict] = {}
QUICK_TRAIN: dict[str, dict] = {"rbf": {"coupling_lr": 0.5}}  # a deviation from App. D: log theta at lr 0.5
METHODS = ("supervised", "rbf", "linear", "untrained")


def recipe(quick: bool, paper_recipe: bool = False) -> tuple[VideoConfig, int, dict, dict]:
    """(video, epochs, init, train) of a scale: the quick one (``paper_recipe``: with App. D's exact training) or
    the paper's (App. D)."""
    if not quick:
        return PAPER_VIDEO, PAPER_EPOCHS, PAPER_INIT, PAPER_TRAIN
    return QUICK_VIDEO, QUICK_EPOCHS, QUICK_INIT, (PAPER_TRAIN if paper_recipe else QUICK_TRAIN)


def method_config(
    method: str, video: VideoConfig, seed: int, epochs: int, init: dict, train: dict | None = None
) -> RunConfig:
    """The run of one method and seed: ``init`` holds the couplings' starting values, ``train`` extra training
    fields per method (e.g. ``{"rbf": {"coupling_lr": 0.5}}``)."""
    extra = (train or {}).get(method, {})
    if method in ("supervised", "untrained"):
        return RunConfig.of(None, video=video, method=method, epochs=epochs, seed=seed, **extra)
    return RunConfig.of(method, video=video, epochs=epochs, seed=seed, **init[method], **extra)


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


def _method_summary(runs: list) -> dict:
    """One method's runs over seeds -> held-out L2 per seed, mean, 95 % interval, coupling values and timings."""
    values = [r.metrics["l2_mean"] for r in runs]
    summ = seeds_summary(values)
    return {
        "l2_mean": summ["mean"],
        "l2_per_seed": values,
        "l2_ci95": [summ["lo"], summ["hi"]],
        "l2_ci95_halfwidth": summ["ci95"],
        "l2_per_ball": [seeds_summary(col)["mean"] for col in zip(*(r.metrics["l2_per_ball"] for r in runs))],
        "coupling_values_per_seed": [r.metrics["coupling_values"] for r in runs],
        "readout_gain_per_seed": [r.metrics.get("readout_gain") for r in runs],
        "theta_effective_px_per_seed": [effective_length_scale(r) for r in runs],
        "train_seconds_per_seed": [r.metrics["train_seconds"] for r in runs],
        "keys": [r.key for r in runs],
    }


def _figures(video, runs: dict, methods: dict, out: Path) -> list[str]:
    """Fig. 1-style PNGs: L2 bars, decoded centres, and P(z'|z) heatmaps of the RBF and linear runs of seed 0."""
    from . import figures as fig

    out.mkdir(parents=True, exist_ok=True)
    frame = default_frame(video.config)  # a held-out frame
    paths = [fig.l2_bars(methods, out / "l2_bars.png"), fig.centres_plot(video, runs, out / "centres.png")]
    for m in ("rbf", "linear"):
        run = runs[(m, 0)]
        hm = conditional_prior(run.encoder(), run.coupling(), video, frame, 0)
        paths.append(fig.heatmap(video, hm, out / f"heatmap_{m}.png", title=f"P(z'|z), {m} coupling"))
    return [str(p) for p in paths]


def reproduce(
    quick: bool = False,
    seeds: int = 3,
    out: Path | str = "reproduce_out",
    device: str = "auto",
    store: RunStore | None = None,
    epochs: int | None = None,
    quiet: bool = False,
    figures: bool = True,
    paper_recipe: bool = False,
) -> dict:
    """Train (or load) every method for ``seeds`` seeds, summarise held-out L2 and draw Fig. 1-style figures.

    ``paper_recipe`` trains the quick scale with App. D's exact recipe (one learning rate for everything).
    """
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    video_cfg, default_epochs, init, train_kw = recipe(quick, paper_recipe)
    epochs = epochs if epochs is not None else default_epochs
    store = store or RunStore()
    video = generate_video(video_cfg)
    runs, total = {}, len(METHODS) * seeds
    for m in METHODS:
        for s in range(seeds):
            cfg = method_config(m, video_cfg, s, epochs, init, train_kw)
            with progress_bar(cfg, quiet, position=f"[{len(runs) + 1}/{total}] ") as cb:
                runs[(m, s)] = obtain(cfg, store, video=video, device=device, callback=cb)
    methods = {m: _method_summary([runs[(m, s)] for s in range(seeds)]) for m in METHODS}
    train_frac = runs[(METHODS[0], 0)].config.train.train_frac
    result = {
        "config": {
            "scale": "quick" if quick else "paper",
            "recipe": "App. D" if (not quick or paper_recipe) else "quick (App. D + coupling_lr)",
            "video": video_cfg.to_dict(),
            "epochs": epochs,
            "seeds": seeds,
            "init": init,
            "train": train_kw,
            "video_redraws": video.redraws,
            "video_stuck": video.stuck,
        },
        "methods": methods,
        "references": {"predict_mean": mean_predictor_l2(video.centres, train_frac), "step_px": video_cfg.step_px},
    }
    if figures:
        result["figures"] = _figures(video, runs, methods, Path(out))
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
    ref = result.get("references", {})
    if "predict_mean" in ref:
        lines.append(f"{'mean':<12}{ref['predict_mean']:>10.3f}{'':>24}   predicting every ball at its mean centre")
    thetas = [t for t in result["methods"].get("rbf", {}).get("theta_effective_px_per_seed", []) if t is not None]
    if thetas:
        lines.append(
            f"RBF's learned θ in true px (θ / read-out gain): {', '.join(f'{t:.1f}' for t in thetas)} "
            f"(step {ref.get('step_px', float('nan')):g} px); recipe: {cfg.get('recipe', 'App. D')}"
        )
    return "\n".join(lines)
