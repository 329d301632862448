"""What decides the outcome: the held-out L2 under other starting values, units of z and BatchNorm modes.

    python benchmarks/sensitivity.py [--seeds 3] [--paper]

Prints one table (mean and 95 % interval over training seeds). Runs go through the run store, so a second call
only re-reads them. Default scale: the quick one of ``reproduce --quick``.
"""

from __future__ import annotations

import argparse
import time

import torch

from rpm_engine import RunConfig, RunStore, generate_video, l2_errors, obtain, seeds_summary  # noqa: E402
from rpm_engine.encoder import to_input  # noqa: E402
from rpm_engine.reproduce import PAPER_VIDEO, QUICK_VIDEO  # noqa: E402


def bn_train_mode_l2(run, video) -> float:
    """Held-out L2 when the encoder reads frames with BatchNorm in training mode (batch statistics of 60 frames)."""
    enc = run.encoder().train()
    frames = torch.from_numpy(video.frames)
    with torch.no_grad():
        z = torch.cat([enc(to_input(frames[i : i + 60])) for i in range(0, len(frames), 60)]).double().numpy()
    return l2_errors(z, video.centres, run.config.train.train_frac)["mean"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--paper", action="store_true", help="the paper's scale (slow: ~3 min a run on 2 cores)")
    p.add_argument("--cache", default=None, help="run store root (default: $RPM_ENGINE_CACHE or the user cache)")
    a = p.parse_args()
    torch.set_num_threads(2)
    vcfg = PAPER_VIDEO if a.paper else QUICK_VIDEO
    video = generate_video(vcfg)
    store = RunStore(a.cache)
    step = vcfg.step_px
    rows = [
        ("rbf", {"theta": 0.1}, f"RBF, θ₀ = 0.1 px ({0.1 / step:.3g} step)"),
        ("rbf", {"theta": 1.0}, f"RBF, θ₀ = 1 px ({1 / step:.3g} step)"),
        ("rbf", {"theta": step / 2}, f"RBF, θ₀ = {step / 2:g} px (step/2)"),
        ("rbf", {"theta": step}, f"RBF, θ₀ = {step:g} px (one step)"),
        ("rbf", {"theta": 0.1 / vcfg.size, "z_scale": 1 / vcfg.size}, "RBF, z in frame units, θ₀ = 0.1 px / size"),
        ("linear", {"w_init": 1e-3}, "linear, W₀ = 1e-3·I, z in px"),
        ("linear", {"w_init": 1e-1}, "linear, W₀ = 0.1·I, z in px"),
        ("linear", {"w_init": 1.0}, "linear, W₀ = I, z in px"),
        ("linear", {"w_init": 1e-3, "z_scale": 1 / vcfg.size}, "linear, W₀ = 1e-3·I, z in frame units"),
        ("linear", {"w_init": 1.0, "z_scale": 1 / vcfg.size}, "linear, W₀ = I, z in frame units"),
        ("supervised", {}, "supervised"),
        ("untrained", {}, "untrained"),
    ]
    print(f"{'setting':<42}{'L2 eval-BN (px)':>24}{'L2 train-BN (px)':>24}   end values (seed 0)")
    t0 = time.perf_counter()
    for coupling, init, label in rows:
        evals, trains, end = [], [], {}
        for s in range(a.seeds):
            if coupling in ("supervised", "untrained"):
                cfg = RunConfig.of(None, video=vcfg, method=coupling, seed=s)
            else:
                cfg = RunConfig.of(coupling, video=vcfg, seed=s, **init)
            run = obtain(cfg, store, video=video)
            evals.append(run.metrics["l2_mean"])
            trains.append(bn_train_mode_l2(run, video))
            if s == 0:
                end = run.metrics["coupling_values"]
        e, t = seeds_summary(evals), seeds_summary(trains)
        ends = ", ".join(f"{k}={v:.3g}" for k, v in end.items())
        print(
            f"{label:<42}{e['mean']:>10.2f} ± {e['ci95']:<10.2f}{t['mean']:>10.2f} ± {t['ci95']:<10.2f}   {ends}",
            flush=True,
        )
    print(
        f"({a.seeds} seeds, {vcfg.frames} frames of {vcfg.size} px, step {step:g} px; "
        f"± is the 95 % interval half-width; {time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
