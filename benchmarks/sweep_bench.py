"""Sweep backends on this machine: the same sweep on the local backend and on Ray (workers x 1 thread), fresh stores.

    python benchmarks/sweep_bench.py [--scale quick|tiny] [--seeds 4] [--epochs 10] [--workers 2] [--skip-ray]

Prints wall time, the trainer's own time summed over points, and the per-point overhead (what a sweep costs beyond
training: store writes, evaluation, bookkeeping, scheduling):
- local (sequential, one process): overhead/point = (wall - sum of train_seconds) / points;
- Ray (W workers):                 overhead/point = (W x wall - sum of train_seconds) / points, i.e. worker-seconds
  not spent training, per point; Ray's start-up is timed apart.
Then a resume (everything from the store). Figures are recorded in docs/SWEEPS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import torch

from rpm_engine import RunStore, VideoConfig, generate_video
from rpm_engine.sweep import Sweep
from rpm_service.sweeps import run_sweep

SCALES = {
    "quick": VideoConfig(frames=128, size=64, diameter=8),  # reproduce --quick's video
    "tiny": VideoConfig(frames=24, size=32, diameter=6),  # the tests' video
}


def make_sweep(video: VideoConfig, seeds: int, epochs: int) -> Sweep:
    """6 configurations (RBF theta0 over a log range, linear W0 at two values) x seeds."""
    return Sweep.of(
        [("rbf", {"theta": "log:0.1:8:4"}), ("linear", {"w_init": "0.001,1"})],
        seeds=seeds,
        video=video,
        epochs=epochs,
        references=False,
    )


def figures(name: str, res, wall: float, workers: int) -> dict:
    n = len(res.points)
    train_s = sum(p.train_seconds for p in res.points)
    point_over = [p.wall_seconds - p.train_seconds for p in res.points]
    return {
        "backend": name,
        "points": n,
        "trained": res.trained,
        "wall_s": wall,
        "train_s": train_s,
        "overhead_per_point_s": (workers * wall - train_s) / n,
        "median_point_overhead_s": statistics.median(point_over),
        "throughput_per_min": 60 * n / wall,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", choices=SCALES, default="quick")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--workers", type=int, default=2, help="Ray workers (1 CPU, 1 torch thread each)")
    p.add_argument("--threads", default="2,1", help="torch threads of the local backend, one row each (%(default)s)")
    p.add_argument("--skip-ray", action="store_true")
    a = p.parse_args()

    video_cfg = SCALES[a.scale]
    sweep = make_sweep(video_cfg, a.seeds, a.epochs)
    video = generate_video(video_cfg)
    n = len(sweep.points())
    print(
        f"sweep: {sweep.describe()}; {n} points, {a.epochs} epochs each\n"
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f} (other work slows every row)",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run_sweep(make_sweep(video_cfg, 1, 1), "local", RunStore(f"{tmp}/warm"), video=video)  # kernels loaded
        resume_s = None
        for threads in [int(t) for t in a.threads.split(",")]:
            torch.set_num_threads(threads)
            store = RunStore(f"{tmp}/local{threads}")
            t0 = time.perf_counter()
            res = run_sweep(sweep, "local", store, video=video)
            rows.append(figures(f"local (1 process, {threads} thread(s))", res, time.perf_counter() - t0, 1))
            print(f"  {rows[-1]['backend']}: {rows[-1]['wall_s']:.1f} s, load {os.getloadavg()[0]:.1f}", flush=True)
            if resume_s is None:
                t0 = time.perf_counter()
                again = run_sweep(sweep, "local", store, video=video)
                resume_s = time.perf_counter() - t0
                assert again.trained == 0
            local_l2 = {q.key: q.l2_mean for q in res.points}

        ray_start = None
        if not a.skip_ray:
            import ray

            from rpm_service.ray_backend import RayBackend

            t0 = time.perf_counter()
            ray.init(num_cpus=a.workers, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
            ray_start = time.perf_counter() - t0
            backend = RayBackend()
            # warm the workers (start a process per CPU, import torch, load the kernels) apart from the timing
            run_sweep(make_sweep(video_cfg, a.workers, 1), backend, RunStore(f"{tmp}/warm-ray"), video=video)
            t0 = time.perf_counter()
            res_ray = run_sweep(sweep, backend, RunStore(f"{tmp}/ray"), video=video)
            rows.append(figures(f"ray ({a.workers} workers x 1 thread)", res_ray, time.perf_counter() - t0, a.workers))
            print(f"  {rows[-1]['backend']}: {rows[-1]['wall_s']:.1f} s, load {os.getloadavg()[0]:.1f}", flush=True)
            diff = max(abs(q.l2_mean - local_l2[q.key]) for q in res_ray.points)
            ray.shutdown()

    print(
        f"\n{'backend':<34}{'points':>7}{'wall s':>9}{'train s':>9}{'overhead/pt s':>15}"
        f"{'median pt s':>13}{'points/min':>12}"
    )
    for r in rows:
        print(
            f"{r['backend']:<34}{r['points']:>7}{r['wall_s']:>9.1f}{r['train_s']:>9.1f}"
            f"{r['overhead_per_point_s']:>15.3f}{r['median_point_overhead_s']:>13.3f}{r['throughput_per_min']:>12.1f}"
        )
    print(f"\nresume (all {n} points from the store, local): {resume_s:.2f} s ({1000 * resume_s / n:.1f} ms a point)")
    if ray_start is not None:
        print(f"ray start-up (ray.init, 2 CPUs, this machine): {ray_start:.1f} s; warm-up of the workers not timed")
        print(f"largest |L2 ray - L2 local| over the same keys: {diff:.2e} px")
        for r in rows[:-1]:
            print(f"ray speed-up over {r['backend']}: {r['wall_s'] / rows[-1]['wall_s']:.2f}x")
    print(
        "overhead/pt: local = (wall - train)/points; ray = (workers x wall - train)/points. "
        "median pt: median over points of (point wall - its train_seconds) as its backend saw it.",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
