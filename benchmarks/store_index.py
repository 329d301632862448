"""list_runs with many stored runs: every run.json read on each call (before the index) against index.json.

    python benchmarks/store_index.py --runs 3000

Builds a synthetic store (one tiny trained run copied under ``--runs`` distinct configs, each with a correct key),
then times ``list_runs`` with the store module of ``--before`` (a git revision: the code before the index) and
with this checkout's: a cold start without index.json, a restarted server with index.json, a warm call in one
process, and a call after one new run was added. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rpm_engine import RunConfig, VideoConfig, obtain
from rpm_engine.store import RunStore

REPO = Path(__file__).resolve().parent.parent


def synthetic_store(root: Path, n: int) -> None:
    """``n`` runs: one trained tiny run, its files copied under ``n`` seeds (run.json rewritten with each key)."""
    video = VideoConfig(frames=24, size=32, diameter=6)
    seed_store = RunStore(root.parent / "seed")
    base = obtain(RunConfig.of("rbf", video=video, epochs=1, theta=0.5), seed_store)
    src = seed_store.path(base.key)
    meta = json.loads((src / "run.json").read_text())
    store = RunStore(root)
    for s in range(n):
        cfg = RunConfig.of("rbf", video=video, epochs=1, theta=0.5, seed=s)
        d = store.path(cfg.key())
        d.mkdir()
        for f in ("z.npy", "model.pt"):
            shutil.copyfile(src / f, d / f)
        (d / "run.json").write_text(json.dumps({**meta, "key": cfg.key(), "config": cfg.to_dict()}, indent=1))


def old_store_module(rev: str):
    """rpm_engine/store.py as it was at ``rev``, imported as a module of the installed package."""
    text = subprocess.run(["git", "show", f"{rev}:rpm_engine/store.py"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "store_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("rpm_engine.store_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def timed(fn, repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        n = len(fn())
        times.append(time.perf_counter() - t)
    return statistics.median(times), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3000)
    ap.add_argument("--before", default="4e8f75d", help="git revision with the store before the index")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        t = time.perf_counter()
        synthetic_store(root, a.runs)
        print(f"synthetic store: {a.runs} runs in {time.perf_counter() - t:.1f} s")
        Old = old_store_module(a.before).RunStore
        sec, n = timed(lambda: Old(root).list_runs(), a.repeat)
        print(f"before ({a.before}): list_runs {sec * 1000:8.1f} ms per call ({n} runs; every run.json read)")
        (root / "index.json").unlink(missing_ok=True)
        t = time.perf_counter()
        n = len(RunStore(root).list_runs())
        print(f"after, cold (no index.json yet, builds it): {(time.perf_counter() - t) * 1000:8.1f} ms ({n} runs)")
        sec, n = timed(lambda: RunStore(root).list_runs(), a.repeat)
        print(f"after, restarted server (index.json):       {sec * 1000:8.1f} ms per call")
        store = RunStore(root)
        store.list_runs()
        sec, n = timed(store.list_runs, max(a.repeat, 10))
        print(f"after, warm (same process, nothing changed): {sec * 1000:8.1f} ms per call")
        other = RunStore(root)
        base = other.load(store.list_runs()[0]["key"])
        cfg = RunConfig.of("rbf", video=base.config.video, epochs=1, theta=0.5, seed=a.runs + 1)
        other.save(type(base)(cfg, base.metrics, base.history, base.z, base.encoder_state, base.coupling_state))
        t = time.perf_counter()
        n = len(store.list_runs())
        print(f"after, one run added by another process:    {(time.perf_counter() - t) * 1000:8.1f} ms ({n} runs)")


if __name__ == "__main__":
    main()
