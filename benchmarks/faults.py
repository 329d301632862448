"""Faults: kill -9 a server in the middle of trainings, restart, and check what survived.

    python benchmarks/faults.py --runs 6 --epochs 40

A "server" process (this script with ``--serve``) starts a ``JobRunner`` on a fresh store and submits ``--runs`` tiny
runs (one worker: they train one after another). Once at least one run is stored and the next is training, the
server gets SIGKILL. Then, as a restarted server would: its worker processes must be gone (they notice their parent
is), every stored run loads (checksums, metrics), nothing broken or half-written is listed, tmp/ leftovers are
never served and are cleaned once old, and the queued runs are gone — they are not redone by themselves; asking
again trains them (stored ones open at once). Prints what happened; exits 1 if a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rpm_engine import RunConfig, VideoConfig
from rpm_engine.store import RunStore

TINY = VideoConfig(frames=24, size=32, diameter=6)


def configs(runs: int, epochs: int) -> list[RunConfig]:
    return [RunConfig.of("rbf", video=TINY, epochs=epochs, seed=s) for s in range(runs)]


def serve(root: str, runs: int, epochs: int) -> None:
    """The server: submit every run, report the worker pids, then keep the books until killed."""
    from rpm_service.jobs import JobRunner
    from rpm_service.limits import Limits

    runner = JobRunner(RunStore(root), Limits(jobs=1, queue=runs, per_client=runs, seeds=runs, epochs=epochs))
    runner.submit_many(configs(runs, epochs), "lecture")
    print(json.dumps({"workers": runner.worker_pids()}), flush=True)
    while True:
        time.sleep(1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def run_faults(root: Path, runs: int = 4, epochs: int = 40, timeout: float = 120.0) -> dict:
    """Start a server, kill -9 it mid-training, inspect the store as a restart would; returns the findings."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", str(root), "--runs", str(runs)]
    server = subprocess.Popen([*cmd, "--epochs", str(epochs)], stdout=subprocess.PIPE, text=True)
    out: dict = {"runs": runs, "epochs": epochs}
    try:
        out["workers"] = json.loads(server.stdout.readline())["workers"]
        store, deadline = RunStore(root), time.monotonic() + timeout
        while len(store.list_runs()) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the next run is now training
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    t = time.monotonic()
    while any(alive(p) for p in out["workers"]) and time.monotonic() - t < 10:
        time.sleep(0.05)
    out["workers_gone_after_s"] = round(time.monotonic() - t, 2)
    out["workers_left"] = [p for p in out["workers"] if alive(p)]

    restarted = RunStore(root)  # what a restarted server opens
    listed = restarted.list_runs()
    out["stored"] = len(listed)
    out["broken"] = restarted.list_broken()
    loads = []
    for r in listed:
        run = restarted.load(r["key"])
        loads.append(run is not None and run.key == r["key"])
    out["all_load"] = all(loads)
    out["tmp_left"] = sorted(os.listdir(root / "tmp"))
    out["tmp_cleaned"] = restarted.clean_tmp(max_age_s=0.0)  # no writer is alive: everything in tmp/ is dead
    wanted = configs(runs, epochs)
    out["gone"] = sum(c not in restarted for c in wanted)  # queued or interrupted: to be asked for again
    out["ok"] = bool(out["stored"] >= 1 and out["all_load"] and not out["broken"] and not out["workers_left"])
    out["ok"] = out["ok"] and out["stored"] + out["gone"] == runs and out["gone"] >= 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.runs, a.epochs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = run_faults(Path(tmp) / "store", a.runs, a.epochs)
    print(f"server killed (SIGKILL) with {a.runs} tiny runs submitted ({a.epochs} epochs each, one worker)")
    print(
        f"  worker processes gone {out['workers_gone_after_s']} s after the kill; left running: {out['workers_left']}"
    )
    print(
        f"  finished runs stored: {out['stored']}; every one loads: {out['all_load']}; broken entries: {out['broken']}"
    )
    print(
        f"  tmp/ leftovers: {out['tmp_left'] or 'none'} (never listed or served; removed: {out['tmp_cleaned'] or '-'})"
    )
    print(f"  runs not stored (queued or interrupted): {out['gone']} - gone with the server; asking again trains them")
    print("OK" if out["ok"] else "FAILED")
    sys.exit(0 if out["ok"] else 1)


if __name__ == "__main__":
    main()
