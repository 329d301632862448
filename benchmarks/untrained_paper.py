"""The untrained control at the paper's scale over many training seeds (issue 18: the control at the centre).

An untrained run is the encoder its seed gives, before any training, with the same linear read-out as every other
run: no training, so ten seeds at App. D's scale take minutes on a CPU. Seeds 0-2 repeat the untrained runs of
``reproduce_paper_3seeds.json`` (a check that this build gives the same numbers).

    python benchmarks/untrained_paper.py --seeds 10 --json benchmarks/results/untrained_paper_10seeds.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time

import torch

from rpm_engine.config import PAPER_RECIPE
from rpm_engine.data import generate_video
from rpm_engine.train import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    video = generate_video(PAPER_RECIPE.video)
    out = {"l2_per_seed": [], "readout_gain_per_seed": [], "seconds_per_seed": []}
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        run = train(PAPER_RECIPE.run_config(None, method="untrained", seed=seed), video=video)
        out["l2_per_seed"].append(run.metrics["l2_mean"])
        out["readout_gain_per_seed"].append(run.metrics.get("readout_gain"))
        out["seconds_per_seed"].append(time.perf_counter() - t0)
        print(f"seed {seed}: {run.metrics['l2_mean']:.3f} px", flush=True)
    doc = {
        "what": "untrained encoder (no training) + linear read-out, App. D's video, training seeds 0..n-1",
        "video": PAPER_RECIPE.video.to_dict(),
        "seeds": list(range(args.seeds)),
        "methods": {"untrained": out},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "load_average_before_after": [load_before, os.getloadavg()[0]],
    }
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
