"""Retrain every shipped run (assets/store) with the kernels of this checkout and compare its held-out L2 with the
stored one: what a change of kernels does to the science (issue 20: "results unchanged, bit-identical where the
kernels allow, else within seed noise").

    python benchmarks/retrain_shipped.py

Prints one line a run (label, seed, stored and new L2) and, per label, the mean of each. Nothing is written.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from pathlib import Path

from rpm_engine.store import RunStore
from rpm_engine.train import train

STORE = Path(__file__).resolve().parents[1] / "assets" / "store"


def main() -> None:
    runs = sorted(RunStore(STORE).list_runs(), key=lambda r: (r["label"], r["config"].train.seed))
    by_label: dict[str, list[tuple[float, float]]] = defaultdict(list)
    start = time.perf_counter()
    for r in runs:
        now = train(r["config"]).metrics["l2_mean"]
        was = r["metrics"]["l2_mean"]
        by_label[r["label"]].append((was, now))
        print(f"{r['label']:<28} seed {r['config'].train.seed}  stored {was:7.3f} px  now {now:7.3f} px", flush=True)
    print(f"{len(runs)} runs retrained in {time.perf_counter() - start:.0f} s; means per label:")
    for label, pairs in by_label.items():
        was, now = statistics.mean(p[0] for p in pairs), statistics.mean(p[1] for p in pairs)
        same = sum(round(a, 3) == round(b, 3) for a, b in pairs)
        print(f"  {label:<28} stored {was:7.3f} px  now {now:7.3f} px  ({same} of {len(pairs)} equal to 3 decimals)")


if __name__ == "__main__":
    main()
