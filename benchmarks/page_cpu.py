"""Server CPU per page run of two versions of the app in one run: an older commit's pages against the working tree's.

The older commit's ``app.py``, ``pages/``, ``explorer/`` and ``.streamlit/`` are unpacked into a temporary folder
(``git archive``; the engine, the service and the shipped runs come from the working tree), and both versions are
served at once (``streamlit run app.py``, each with its own fresh store; ``RPM_ENGINE_FAST=0`` unless ``--kernels``,
so no server spends its CPU compiling the fused kernels). Visits alternate between the two servers, in rounds, so
both see the same machine: each round opens, one visit at a time, ``--visits`` Home pages (its first run, until its
first chart, as a class's visitors do), as many Train pages (no job), and with ``--full`` a fifth as many Home pages
kept open until the second run has drawn D, E and B (the tick and that run included). The figure is the server
process's user + system CPU (/proc) over a phase, divided by the script runs the server started for its tabs (full and
fragment runs: ``new_session`` messages). Ratios are after / before.

    python benchmarks/page_cpu.py --base c615c4e --rounds 3 --visits 20 --full
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from explorer import st_client
from explorer.st_client import TINY, Visitor, cpu_seconds

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300.0


def unpack(commit: str, into: Path) -> Path:
    """The app's own files at ``commit`` (engine, service and shipped runs: the working tree's)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", commit, "app.py", "pages", "explorer", ".streamlit"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "assets").symlink_to(REPO / "assets")
    return into


def serve(cwd: Path, store: Path, log: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` in ``cwd`` (its ``explorer`` is the one imported: the script's folder comes first)."""
    return st_client.serve(store, log, env=env, cwd=cwd)


async def home(url: str, full: bool = False) -> int:
    """One Home visit: until its first chart (or, ``full``, until the second run has drawn B); its script runs."""
    async with Visitor(url) as v:
        await v.open("")
        if full:
            await v.until(lambda v: v.keyed("home_centres") is not None and not v.running, TIMEOUT_S)
        else:
            await v.until(lambda v: "plotly_chart" in v.first_kind, TIMEOUT_S)
            await v.settle(TIMEOUT_S)
        return v.runs_started


async def train(url: str) -> int:
    """One Train visit without a job: until the runner's line; its script runs."""
    async with Visitor(url) as v:
        await v.open("train", TINY)
        await v.until(lambda v: "train_runner_stats" in v.first_key, TIMEOUT_S)
        await v.settle(TIMEOUT_S)
        return v.runs_started


async def main(base: str, rounds: int, visits: int, full: bool, kernels: bool) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="rpm_page_cpu_"))
    env = {} if kernels else {"RPM_ENGINE_FAST": "0"}
    roots = {"before": unpack(base, tmp / "before"), "after": REPO}
    servers = {name: serve(root, tmp / f"{name}_store", tmp / f"{name}.log", env) for name, root in roots.items()}
    phases = {"home": (lambda u: home(u), visits), "train": (train, visits)}
    if full:
        phases["home, kept open until D, E and B are drawn"] = (lambda u: home(u, True), max(1, visits // 5))
    acc = {(p, s): [0.0, 0, 0] for p in phases for s in servers}
    try:
        for _, url in servers.values():  # warm-up: imports, caches, the first figures
            for _ in range(3):
                await home(url, True)
                await train(url)
        load0 = os.getloadavg()
        for _ in range(rounds):
            for phase, (visit, n) in phases.items():
                for name, (proc, url) in servers.items():
                    cpu0, runs = cpu_seconds(proc.pid), 0
                    for _ in range(n):
                        runs += await visit(url)
                    a = acc[(phase, name)]
                    a[0], a[1], a[2] = a[0] + cpu_seconds(proc.pid) - cpu0, a[1] + n, a[2] + runs
        load1 = os.getloadavg()
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"before: {base}'s app.py, pages/, explorer/, .streamlit/; after: the working tree; {rounds} rounds, "
          f"fused kernels {'on' if kernels else 'off'}; {os.cpu_count()} cores; load average {load0[0]:.2f} before, "
          f"{load1[0]:.2f} after")  # fmt: skip
    for phase in phases:
        (cb, vb, rb), (ca, va, ra) = acc[(phase, "before")], acc[(phase, "after")]
        print(f"{phase}: before {1000 * cb / rb:.1f} ms per script run ({1000 * cb / vb:.1f} ms per visit), after "
              f"{1000 * ca / ra:.1f} ms per script run ({1000 * ca / va:.1f} ms per visit); after / before "
              f"{(ca / ra) / (cb / rb):.2f} ({vb} visits, {rb} and {ra} runs each)")  # fmt: skip
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="the older commit (e.g. c615c4e)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--visits", type=int, default=20, help="visits of each page per round and server")
    p.add_argument("--full", action="store_true", help="also Home kept open until its second run is drawn")
    p.add_argument("--kernels", action="store_true", help="let the servers build the fused kernels")
    a = p.parse_args()
    sys.exit(asyncio.run(main(a.base, a.rounds, a.visits, a.full, a.kernels)))
