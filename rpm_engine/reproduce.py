"""The paper's Fig. 1 end to end: supervised, RBF, linear and untrained encoders over seeds, with figures."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path

from .config import PAPER_RECIPE, QUICK_RECIPE, Recipe, RunConfig, default_frame
from .data import generate_video
from .evaluate import conditional_prior, effective_length_scale, mean_predictor_l2, seeds_summary
from .obtain import obtain
from .store import RunStore

METHODS = ("supervised", "rbf", "linear", "untrained")
# The quick video trained with App. D's one learning rate (``reproduce --quick --paper-recipe``): θ starts at the
# quick recipe's 0.1 and barely moves at 0.005, which is why the quick recipe learns it at its own rate.
QUICK_APPD_RECIPE = dataclasses.replace(QUICK_RECIPE, name="quick video, App. D training", length_scale_lr=None)


def recipe(quick: bool, paper_recipe: bool = False) -> Recipe:
    """The recipe of a scale: the paper's (App. D), the quick one, or (``paper_recipe``) the quick video with
    App. D's training."""
    if not quick:
        return PAPER_RECIPE
    return QUICK_APPD_RECIPE if paper_recipe else QUICK_RECIPE


def method_config(method: str, recipe: Recipe, seed: int, epochs: int | None = None) -> RunConfig:
    """The run of one of Fig. 1's methods (supervised, rbf, linear, untrained) and a seed under ``recipe``."""
    if method in ("supervised", "untrained"):
        return recipe.run_config(None, method=method, seed=seed, epochs=epochs)
    return recipe.run_config(method, seed=seed, epochs=epochs)


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
    rec = recipe(quick, paper_recipe)
    video_cfg = rec.video
    epochs = epochs if epochs is not None else rec.epochs
    store = store or RunStore()
    video = generate_video(video_cfg)
    runs, total = {}, len(METHODS) * seeds
    for m in METHODS:
        for s in range(seeds):
            cfg = method_config(m, rec, s, epochs)
            with progress_bar(cfg, quiet, position=f"[{len(runs) + 1}/{total}] ") as cb:
                runs[(m, s)] = obtain(cfg, store, video=video, device=device, callback=cb)
    methods = {m: _method_summary([runs[(m, s)] for s in range(seeds)]) for m in METHODS}
    train_frac = runs[(METHODS[0], 0)].config.train.train_frac
    result = {
        "config": {
            "scale": "quick" if quick else "paper",
            "recipe": rec.label,
            "video": video_cfg.to_dict(),
            "epochs": epochs,
            "seeds": seeds,
            "init": {m: dict(rec.starting_values(m)) for m in ("rbf", "linear")},
            "length_scale_lr": rec.length_scale_lr,
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
