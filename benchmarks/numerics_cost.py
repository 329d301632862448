"""What pinning a run's numerics costs (issue 18): ``train`` (1 thread outside the fused kernels, the kernels at the
caller's threads) against ``train.__wrapped__`` (the same code with every op at the caller's threads, as before).

    python benchmarks/numerics_cost.py [--epochs 3] [--repeats 3] [--threads 2]

Quick-scale linear run, fused kernels and stock PyTorch (``RPM_ENGINE_FAST=0``), the two variants interleaved in one
process so that load from other users falls on both; prints the median seconds per run of each and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from rpm_engine import generate_video, train
from rpm_engine.config import RECIPES


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="the caller's torch threads (%(default)s)")
    a = p.parse_args(argv)
    recipe = RECIPES["quick"]
    video = generate_video(recipe.video)
    config = recipe.run_config("linear", seed=0, epochs=a.epochs)
    print(f"load average {os.getloadavg()}, {a.threads} caller threads, quick linear, {a.epochs} epochs")
    for path in ("fused", "stock"):
        if path == "stock":
            os.environ["RPM_ENGINE_FAST"] = "0"
        times = {"pinned": [], "unpinned": []}
        for _ in range(a.repeats):
            for name, fn in (("pinned", train), ("unpinned", train.__wrapped__)):
                torch.set_num_threads(a.threads)
                t0 = time.perf_counter()
                run = fn(config, video, device="cpu")
                times[name].append(time.perf_counter() - t0)
        assert run.metrics["fused_kernels"] == (path == "fused")
        pinned, unpinned = statistics.median(times["pinned"]), statistics.median(times["unpinned"])
        print(
            f"{path}: pinned {pinned:.2f} s, unpinned {unpinned:.2f} s (median of {a.repeats}), "
            f"pinned/unpinned {pinned / unpinned:.2f}x; all: {[round(t, 2) for t in times['pinned']]} vs "
            f"{[round(t, 2) for t in times['unpinned']]}"
        )
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
