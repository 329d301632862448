"""A class on one server: N concurrent visitors against ``streamlit run app.py`` while trainings run.

Tool: ``benchmarks/st_client.py``, a websocket-level Streamlit client (Streamlit's own protobuf protocol on
``/_stcore/stream``, the way a browser tab speaks it, auto-reruns included), so the figures are the server's and not
those of N browsers competing with it for the same 2 cores (the earlier Playwright version, in git history before
this file's rewrite, measured 30 Chromium contexts: the server got 3 % of a core). Each visitor opens Home (time to
its first Plotly chart) and then Train (time to the job runner's line), presses Train (half of them for the same
quick run, the others each for its own run: ``--runs long`` by default, so the training worker is busy while the
class arrives) and keeps the page open, answering its refreshes, until its job row says trained / opened from the
store, and then until every visitor is done (``--leave``: close at once). Visitors arrive evenly over ``--ramp``
seconds (0: all in the same instant). Measured: every visitor gets its pages, no exception element, one job per
distinct run (the runner's own counters and the runs in the store), p50/p95 page times loaded against the same pages
opened one at a time on the idle server, job waits, ``/_stcore/health`` latency, and the CPU of the server, its
training workers and this client. ``--profile OUT`` samples the server's stacks (benchmarks/sampling.py).

Server CPU per page run (issue 20's figure): the server process's user + system CPU (/proc/<pid>/stat) after a
phase minus before it, divided by the script runs the server started for that phase's tabs (``new_session``
messages: full and fragment runs). Printed for the class (every run of every visitor, refreshes included) and,
before the class, for ``--cpu-visits`` unloaded visits of each page opened one at a time, once the server's one-off
kernel build is over: Home's first run, Home kept open until its second run has drawn D, E and B, and Train.

    python benchmarks/load.py --ramp 30       # 30 visitors arriving over 30 s
    python benchmarks/load.py --ramp 0        # all 30 in the same instant
    STREAMLIT_RUNNER_POST_SCRIPT_GC=false python benchmarks/load.py --ramp 30   # without Streamlit's per-run gc
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from explorer.st_client import SHARED, TINY, Visitor, children, cpu_seconds, jobs_done, pct
from explorer.st_client import serve as start

REPO = Path(__file__).resolve().parent.parent
DISTINCT = {"long": {**SHARED, "frames": "512", "epochs": "8"}, "quick": {**SHARED, "c": "rbf;theta=1"}, "tiny": TINY}
TIMEOUT_S = 600.0


async def open_home(url: str, result: dict | None = None) -> tuple[float, list[str]]:
    """One visit of Home: seconds to its first Plotly chart; the exception elements it showed (``result["runs"]``
    counts the script runs the server started for it)."""
    async with Visitor(url) as v:
        t0 = await v.open("")
        await v.until(lambda v: "plotly_chart" in v.first_kind, TIMEOUT_S)
        took = v.first_kind["plotly_chart"] - t0
        await v.settle(TIMEOUT_S)
        if result is not None:
            result["runs"] = result.get("runs", 0) + v.runs_started
        return took, v.exceptions


async def open_train(
    url: str, query: dict, result: dict | None = None, hold: asyncio.Event | None = None
) -> tuple[float, list[str]]:
    """One visit of Train for ``query``: seconds to the runner's line; with ``result``, press Train and stay until
    every job row is finished (``result["job_wait"]``), and then until ``hold`` is set (the page stays open)."""
    async with Visitor(url) as v:
        t0 = await v.open("train", query)
        await v.until(lambda v: "train_runner_stats" in v.first_key, TIMEOUT_S)
        took = v.first_key["train_runner_stats"] - t0
        await v.settle(TIMEOUT_S)
        if result is not None:
            result["train"] = took
            t1 = await v.click("train_start")
            await v.until(jobs_done, TIMEOUT_S)
            result["job_wait"] = time.perf_counter() - t1
            result["reruns"] = (v.full_runs, v.fragment_runs, v.auto_reruns_sent)
            if hold is not None:
                result["done"].set()
                await hold.wait()
            result["runs"] = result.get("runs", 0) + v.runs_started
        return took, v.exceptions


async def session(url: str, query: dict, result: dict, delay: float, hold: asyncio.Event | None) -> None:
    """One visitor: Home, then Train with a job; with ``hold`` the Train page stays open until every visitor is
    done (so all of them are connected at the end)."""
    await asyncio.sleep(delay)
    try:
        result["home"], exc_home = await open_home(url, result)
        result["exceptions"] = exc_home
        _, exc_train = await open_train(url, query, result, hold)
        result["exceptions"] += exc_train
    except Exception as exc:  # noqa: BLE001 - a failed session is a figure, not a crash of the benchmark
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    finally:
        result["done"].set()


async def health_probe(url: str, stop: asyncio.Event, out: list[float]) -> None:
    """``/_stcore/health`` latency once a second while the load runs (a stalled event loop shows here first)."""

    def get() -> float:
        t = time.perf_counter()
        with urllib.request.urlopen(url + "/_stcore/health", timeout=120):
            return time.perf_counter() - t

    while not stop.is_set():
        try:
            out.append(await asyncio.to_thread(get))
        except OSError:
            out.append(float("inf"))
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass


async def kernels_built(url: str) -> None:
    """Wait until the server's one-off build (or load) of the fused kernels is over: the Train page stops saying
    "Compiling the fused CPU kernels" (``ui.warm_kernels``)."""
    deadline = time.perf_counter() + TIMEOUT_S
    while time.perf_counter() < deadline:
        async with Visitor(url, auto_rerun=False) as v:
            await v.open("train", TINY)
            await v.settle(TIMEOUT_S)
            if not any("Compiling the fused CPU kernels" in n.text for n in v.elements()):
                return
        await asyncio.sleep(2.0)


async def page_cpu(url: str, pid: int, visits: int) -> dict[str, tuple[float, int, int]]:
    """The server's CPU per page run, unloaded: ``visits`` visits of each page one at a time (Home as the class's
    visitors open it: its first run, until its first chart; Home kept open until its second run has drawn D, E and
    B, as a browser does 3 s later; Train without a job) -> {page: (server CPU seconds, visits, script runs)}. The
    CPU is the server process's user + system time (/proc) after the phase minus before it; script runs are the runs
    the server started for these tabs (``new_session`` messages: full and fragment runs)."""

    async def home_full() -> int:
        async with Visitor(url) as v:
            await v.open("")
            await v.until(lambda v: v.keyed("home_centres") is not None and not v.running, 2 * TIMEOUT_S)
            return v.runs_started

    async def first(page: str, query: dict, ready: Callable[[Visitor], bool]) -> int:
        async with Visitor(url) as v:
            await v.open(page, query)
            await v.until(ready, TIMEOUT_S)
            await v.settle(TIMEOUT_S)
            return v.runs_started

    phases = {
        "home": lambda: first("", {}, lambda v: "plotly_chart" in v.first_kind),
        "home, kept open until D, E and B are drawn": home_full,
        "train": lambda: first("train", TINY, lambda v: "train_runner_stats" in v.first_key),
    }
    out = {}
    for name, visit in phases.items():
        n = max(1, visits // 2) if name.startswith("home,") else visits  # each of those waits 3 s for the 2nd run
        cpu0, runs = cpu_seconds(pid), 0
        for _ in range(n):
            runs += await visit()
        out[name] = (cpu_seconds(pid) - cpu0, n, runs)
    return out


async def runner_line(url: str) -> str:
    """The job runner's own counters, as the Train page shows them."""
    async with Visitor(url, auto_rerun=False) as v:
        await v.open("train", TINY)
        texts = await v.until(lambda v: v.texts_under("train_runner_stats").get("train_runner_stats"), TIMEOUT_S)
        return texts[0]


async def main(
    n: int, baseline: int, ramp: float, runs: str, hold: bool, profile: str | None = None, cpu_visits: int = 20
) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="rpm_load_"))
    proc, url = start(tmp / "store", tmp / "streamlit.log", profile)
    try:
        await open_home(url)  # warm-up: first imports, the kernels' build starting
        await open_train(url, TINY)
        await kernels_built(url)  # its CPU is the server's own: not to be counted as the pages'
        idle = {"home": [], "train": []}
        for _ in range(baseline):  # the unloaded baseline: one visit at a time
            idle["home"].append((await open_home(url))[0])
            idle["train"].append((await open_train(url, TINY))[0])
        t_idle, cpu_idle = time.perf_counter(), cpu_seconds(proc.pid)
        await asyncio.sleep(2.0)  # the idle server's own CPU (job runner, watchers): a floor under every figure below
        idle_rate = (cpu_seconds(proc.pid) - cpu_idle) / (time.perf_counter() - t_idle)
        per_page = await page_cpu(url, proc.pid, cpu_visits) if cpu_visits else {}
        queries = [SHARED if i % 2 == 0 else {**DISTINCT[runs], "vseed": str(1000 + i)} for i in range(n)]
        results = [{"done": asyncio.Event()} for _ in range(n)]
        release = asyncio.Event() if hold else None
        workers0 = {p: cpu_seconds(p) for p in children(proc.pid)}
        t0, cpu0, me0, load0 = time.perf_counter(), cpu_seconds(proc.pid), time.process_time(), os.getloadavg()
        stop, health = asyncio.Event(), []
        probe = asyncio.create_task(health_probe(url, stop, health))
        tasks = [session(url, q, r, ramp * i / n, release) for i, (q, r) in enumerate(zip(queries, results))]
        gathered = asyncio.gather(*tasks)
        for r in results:
            await r["done"].wait()
        connected = time.perf_counter()
        if release is not None:
            release.set()
        await gathered
        stop.set()
        await probe
        wall, server_cpu, me = connected - t0, cpu_seconds(proc.pid) - cpu0, time.process_time() - me0
        load1 = os.getloadavg()
        worker_cpu = sum(cpu_seconds(p) - workers0.get(p, 0.0) for p in children(proc.pid))
        text = await runner_line(url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    jobs = int(re.search(r"(\d+) training jobs? so far", text).group(1))
    trained = int(re.search(r"(\d+) runs? trained", text).group(1))
    stored = len(list((tmp / "store" / "runs").iterdir())) if (tmp / "store" / "runs").exists() else 0
    distinct = len({tuple(sorted(q.items())) for q in queries})
    ok = [r for r in results if "error" not in r]
    exceptions = [e for r in results for e in r.get("exceptions", [])]
    gc = os.environ.get("STREAMLIT_RUNNER_POST_SCRIPT_GC", "config")
    print(f"tool: benchmarks/st_client.py, {n} websocket visitors (Streamlit protocol) arriving over {ramp:g} s, "
          f"{'each Train page kept open until all are done' if hold else 'each leaving when its job is done'}; "
          f"the other half's runs: {runs}; server: streamlit run app.py on 127.0.0.1 (post-script GC: {gc}); "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"sessions: {len(ok)}/{n} got Home, Train and their job; exception elements: {len(exceptions)}")
    for e in sorted(set(exceptions))[:5]:
        print("  exception:", e)
    for r in results:
        if "error" in r:
            print("  failed session:", r["error"])
    print(f"jobs: {jobs} (distinct runs asked for: {distinct}), runs trained: {trained}, runs in the store: {stored}")
    for name in ("home", "train"):
        loaded = [r[name] for r in results if name in r]
        if loaded and idle[name]:
            p50, p95, base = pct(loaded, 0.5), pct(loaded, 0.95), statistics.median(idle[name])
            print(f"{name:5s} page: unloaded median {base:.2f} s (n={len(idle[name])}); loaded p50 {p50:.2f} s, "
                  f"p95 {p95:.2f} s -> p95 = {p95 / base:.1f}x unloaded (goal <= 3x)")  # fmt: skip
    waits = [r["job_wait"] for r in ok]
    if waits:
        print(f"job wait after pressing Train: p50 {pct(waits, 0.5):.1f} s, p95 {pct(waits, 0.95):.1f} s; "
              f"wall {wall:.0f} s")  # fmt: skip
        runs = [r["reruns"] for r in ok]
        print(f"per Train visit: {statistics.mean(a for a, _, _ in runs):.1f} full runs, "
              f"{statistics.mean(b for _, b, _ in runs):.1f} fragment runs, "
              f"{statistics.mean(c for _, _, c in runs):.1f} auto-reruns sent")  # fmt: skip
    finite = [h for h in health if h != float("inf")]
    if finite:
        print(f"/_stcore/health during the load: p50 {pct(finite, 0.5) * 1000:.0f} ms, max "
              f"{max(finite) * 1000:.0f} ms ({len(health) - len(finite)} failed of {len(health)})")  # fmt: skip
    print(f"CPU over {wall:.0f} s wall: server process {server_cpu:.0f} s ({server_cpu / wall:.0%} of one core), "
          f"training workers {worker_cpu:.0f} s ({worker_cpu / wall:.0%}), this client {me:.0f} s "
          f"({me / wall:.0%}); load average {load0[0]:.2f} before, {load1[0]:.2f} after")  # fmt: skip
    visits = sum(("home" in r) + ("train" in r) for r in results)  # pages opened in the window (Home, Train)
    print(f"server CPU per page visit: {1000 * server_cpu / max(1, visits):.0f} ms ({server_cpu:.1f} s for {visits} "
          "visits, their refreshes and the job runner's bookkeeping included; goal <= 20 ms on Home and Train)")  # fmt: skip
    script_runs = sum(r.get("runs", 0) for r in results)
    print(f"server CPU per script run in the class: {1000 * server_cpu / max(1, script_runs):.1f} ms ({server_cpu:.1f} "
          f"s for the {script_runs} runs, full and fragment, the server started for these tabs)")  # fmt: skip
    print(f"server CPU per page run, unloaded (one visit at a time; the idle server alone: "
          f"{1000 * idle_rate:.1f} ms per s):")  # fmt: skip
    for name, (cpu, k, runs_k) in per_page.items():
        print(f"  {name}: {1000 * cpu / runs_k:.1f} ms per script run, {1000 * cpu / k:.1f} ms per visit "
              f"({cpu:.2f} s for {k} visits, {runs_k} script runs; goal <= 20 ms per run)")  # fmt: skip
    return 0 if len(ok) == n and jobs == distinct and not exceptions else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=30)
    p.add_argument("--baseline", type=int, default=3, help="unloaded visits to time first")
    p.add_argument("--ramp", type=float, default=0.0, help="seconds over which the visitors arrive (0: all at once)")
    p.add_argument("--runs", choices=sorted(DISTINCT), default="long", help="size of the other half's distinct runs")
    p.add_argument("--leave", action="store_true", help="close each Train page when its job is done")
    p.add_argument("--profile", metavar="OUT", help="sample the server's stacks; the summary goes to OUT")
    p.add_argument("--cpu-visits", type=int, default=20, help="unloaded visits per page for the CPU per page run")
    a = p.parse_args()
    sys.exit(asyncio.run(main(a.sessions, a.baseline, a.ramp, a.runs, not a.leave, a.profile, a.cpu_visits)))
