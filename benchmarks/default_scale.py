"""Which quick scale tells the paper's story on every seed (issue 10 §2): video length, θ's learning rate and start.

    python benchmarks/default_scale.py [--seeds 5] [--only NAME ...] [--cache DIR] [--json PATH]

At the quick geometry (64 px frames, 8 px balls, one-diameter steps, 30 epochs) each setting trains supervised, RBF,
linear and untrained encoders for training seeds 0..S-1 on one video (video seed 0) and prints, per method, the
held-out L2 per seed, its mean and 95 % t-interval and the seconds per run; then whether every seed orders
supervised < RBF < untrained < linear and whether the RBF and linear intervals are disjoint. Runs go through the run
store (a second call only re-reads them); the table is saved as JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rpm_engine import RunConfig, RunStore, VideoConfig, generate_video, obtain, seeds_summary
from rpm_engine.evaluate import mean_predictor_l2
from rpm_engine.train import TrainingError

ORDER = ("supervised", "rbf", "untrained", "linear")  # the paper's Fig. 1 story, best to worst


@dataclass(frozen=True)
class Setting:
    name: str
    frames: int
    theta: float = 0.1  # RBF's starting θ, px of z
    coupling_lr: float | None = None  # None: App. D (one learning rate, 0.005, for everything)
    linear_coupling_lr: bool = False  # give the linear coupling's W the same separate rate
    note: str = field(default="", compare=False)


SETTINGS = (
    Setting("a", 128, note="today's quick scale: 128 frames, θ₀ = 0.1, App. D lr 0.005 for all"),
    Setting("a5", 128, coupling_lr=0.5, note="128 frames, log θ at lr 0.5, θ₀ = 0.1"),
    Setting("b", 512, note="512 frames, App. D recipe"),
    Setting("c", 512, coupling_lr=0.5, note="512 frames, log θ at lr 0.5, θ₀ = 0.1"),
    Setting("c8", 512, theta=8.0, coupling_lr=0.5, note="512 frames, log θ at lr 0.5, θ₀ = 8 (one step)"),
    Setting("d", 256, coupling_lr=0.5, note="256 frames, log θ at lr 0.5, θ₀ = 0.1"),
    Setting("d0", 256, note="256 frames, App. D recipe"),
)


def config_of(s: Setting, method: str, seed: int, epochs: int) -> RunConfig:
    video = VideoConfig(frames=s.frames, size=64, diameter=8)
    if method in ("supervised", "untrained"):
        return RunConfig.of(None, video=video, method=method, epochs=epochs, seed=seed)
    if method == "rbf":
        return RunConfig.of("rbf", video=video, epochs=epochs, seed=seed, theta=s.theta, coupling_lr=s.coupling_lr)
    clr = s.coupling_lr if s.linear_coupling_lr else None
    return RunConfig.of("linear", video=video, epochs=epochs, seed=seed, w_init=1e-3, coupling_lr=clr)


def run_setting(s: Setting, seeds: int, epochs: int, store: RunStore) -> dict:
    video = generate_video(VideoConfig(frames=s.frames, size=64, diameter=8))
    out = {"setting": s.name, "note": s.note, "frames": s.frames, "theta0": s.theta, "coupling_lr": s.coupling_lr}
    out["predict_mean_l2"] = mean_predictor_l2(video.centres)
    methods = {}
    for m in ORDER:
        l2, secs, theta, theta_px, gain = [], [], [], [], []
        for seed in range(seeds):
            cfg = config_of(s, m, seed, epochs)
            t0 = time.perf_counter()
            try:
                run = obtain(cfg, store, video=video)
            except TrainingError:
                l2.append(float("nan"))
                secs.append(time.perf_counter() - t0)
                continue
            l2.append(run.metrics["l2_mean"])
            secs.append(run.metrics["train_seconds"])
            theta.append(run.metrics["coupling_values"].get("theta"))
            theta_px.append(run.metrics.get("theta_effective_px"))
            gain.append(run.metrics.get("readout_gain"))
        summ = seeds_summary(l2)
        methods[m] = {
            "l2_per_seed": l2,
            "l2_mean": summ["mean"],
            "l2_ci95": [summ["lo"], summ["hi"]],
            "train_seconds_per_seed": secs,
            "theta_end_per_seed": theta,
            "theta_effective_px_per_seed": theta_px,
            "readout_gain_per_seed": gain,
        }
    per_seed = [[methods[m]["l2_per_seed"][i] for m in ORDER] for i in range(seeds)]
    out["ordered_per_seed"] = [all(a < b for a, b in zip(row, row[1:])) for row in per_seed]
    out["rbf_linear_disjoint"] = methods["rbf"]["l2_ci95"][1] < methods["linear"]["l2_ci95"][0]
    out["methods"] = methods
    return out


def format_setting(r: dict) -> str:
    lines = [f"({r['setting']}) {r['note']}; predict-the-mean {r['predict_mean_l2']:.2f} px"]
    for m, v in r["methods"].items():
        lo, hi = v["l2_ci95"]
        per = ", ".join(f"{x:.2f}" for x in v["l2_per_seed"])
        secs = sum(v["train_seconds_per_seed"]) / len(v["train_seconds_per_seed"])
        extra = ""
        if m == "rbf":
            th = ", ".join(f"{t:.3g}" for t in v["theta_end_per_seed"] if t is not None)
            px = ", ".join(f"{t:.3g}" for t in v["theta_effective_px_per_seed"] if t is not None)
            extra = f"  θ end {th}; θ/gain {px} px"
        lines.append(f"  {m:<11}{v['l2_mean']:>7.2f}  [{lo:6.2f}, {hi:6.2f}]  {secs:5.1f} s/run   {per}{extra}")
    ok = sum(r["ordered_per_seed"])
    lines.append(
        f"  ordered sup < RBF < untrained < linear on {ok}/{len(r['ordered_per_seed'])} seeds; "
        f"RBF and linear intervals {'disjoint' if r['rbf_linear_disjoint'] else 'OVERLAP'}"
    )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument(
        "--only", nargs="*", help="setting names to run (default: all): " + ", ".join(s.name for s in SETTINGS)
    )
    p.add_argument("--cache", default=None, help="run store root (default: $RPM_ENGINE_CACHE or the user cache)")
    p.add_argument("--json", default=None, help="default: benchmarks/results/default_scale_<seeds>seeds.json")
    a = p.parse_args()
    torch.set_num_threads(2)
    store = RunStore(a.cache)
    path = Path(a.json or Path(__file__).parent / "results" / f"default_scale_{a.seeds}seeds.json")
    results = json.loads(path.read_text()) if path.exists() else {}
    t0 = time.perf_counter()
    for s in SETTINGS:
        if a.only and s.name not in a.only:
            continue
        r = run_setting(s, a.seeds, a.epochs, store)
        results[s.name] = r
        print(format_setting(r), flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1))
    print(f"({a.seeds} seeds, 64 px, 8 px balls, {a.epochs} epochs; {time.perf_counter() - t0:.0f} s; JSON in {path})")


if __name__ == "__main__":
    main()
