"""A class on one server: N concurrent browser sessions against ``streamlit run app.py`` while trainings run.

Tool: Playwright (async API), N browser contexts in one headless Chromium (Debian's /usr/bin/chromium). Each session
opens Home (time to its first chart) and Train (time to its job runner line), presses Train — half of them for the
same quick run, the others for distinct tiny runs — and waits for its job. Measured: every session gets its pages, no
exception box, one job per distinct run (the runner's own counters, read on a Train page, and the runs in the store),
p50/p95 page times loaded against the same pages opened one at a time on the idle server.

    python benchmarks/load.py                 # 30 sessions
    python benchmarks/load.py --sessions 10   # a quicker look
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
SHARED = {"frames": "128", "size": "64", "diam": "8", "c": "rbf;theta=0.1", "epochs": "3", "vseed": "4242"}
TINY = {"frames": "24", "size": "32", "diam": "6", "c": "rbf;theta=1", "epochs": "2"}
TIMEOUT_MS = 600_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(store: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPM_MAX_")}
    env.update(RPM_ENGINE_CACHE=str(store), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
           "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not start: " + log.read_text()[-2000:])


async def settled(page) -> None:
    await page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=TIMEOUT_MS)


async def open_home(ctx, url: str) -> float:
    page = await ctx.new_page()
    t0 = time.perf_counter()
    await page.goto(url + "/", timeout=TIMEOUT_MS)
    await page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=TIMEOUT_MS)
    took = time.perf_counter() - t0
    await page.close()
    return took


async def open_train(ctx, url: str, query: dict):
    page = await ctx.new_page()
    t0 = time.perf_counter()
    await page.goto(f"{url}/train?{urllib.parse.urlencode(query)}", timeout=TIMEOUT_MS)
    await page.wait_for_selector(".st-key-train_runner_stats", timeout=TIMEOUT_MS)
    return page, time.perf_counter() - t0


async def exceptions(page) -> int:
    return await page.locator('[data-testid="stException"]').count()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), to tell the server's share from the browser's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def session(browser, url: str, query: dict, result: dict) -> None:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        result["home"] = await open_home(ctx, url)
        page, result["train"] = await open_train(ctx, url, query)
        await settled(page)
        await page.locator(".st-key-train_start button").click()
        t0 = time.perf_counter()
        await page.wait_for_function(
            """() => {
                const rows = [...document.querySelectorAll("[class*='st-key-train_job_']")];
                return rows.length > 0 && rows.every(r => /trained in|opened from the store/.test(r.innerText));
            }""",
            timeout=TIMEOUT_MS,
        )
        result["job_wait"] = time.perf_counter() - t0
        result["exceptions"] = await exceptions(page)
    except Exception as exc:  # noqa: BLE001 - a failed session is a figure, not a crash of the benchmark
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    finally:
        await ctx.close()


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


async def main(n: int, baseline: int) -> int:
    from playwright.async_api import async_playwright

    tmp = Path(tempfile.mkdtemp(prefix="rpm_load_"))
    proc, url = start(tmp / "store", tmp / "streamlit.log")
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            # Warm-up (first imports, kernels' build starting), then the unloaded baseline: one session at a time.
            ctx = await browser.new_context()
            await open_home(ctx, url)
            await ctx.close()
            idle = {"home": [], "train": []}
            for _ in range(baseline):
                ctx = await browser.new_context()
                idle["home"].append(await open_home(ctx, url))
                page, took = await open_train(ctx, url, TINY)
                idle["train"].append(took)
                await ctx.close()
            queries = [SHARED if i % 2 == 0 else {**TINY, "vseed": str(1000 + i)} for i in range(n)]
            results = [{} for _ in range(n)]
            t0, cpu0 = time.perf_counter(), cpu_seconds(proc.pid)
            await asyncio.gather(*(session(browser, url, q, r) for q, r in zip(queries, results)))
            wall, server_cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
            ctx = await browser.new_context()
            page, _ = await open_train(ctx, url, TINY)
            text = await page.locator(".st-key-train_runner_stats").inner_text()
            await browser.close()
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
    print(f"tool: Playwright {n} browser contexts in one headless Chromium; server: streamlit run app.py on 127.0.0.1")
    print(
        f"sessions: {len(ok)}/{n} got Home, Train and their job; exception boxes: {sum(r.get('exceptions', 0) for r in ok)}"
    )
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
        print(
            f"job wait after pressing Train: p50 {pct(waits, 0.5):.1f} s, p95 {pct(waits, 0.95):.1f} s; wall {wall:.0f} s"
        )
    print(f"server process CPU during the load: {server_cpu:.0f} s over {wall:.0f} s wall ({server_cpu / wall:.0%} of one "
          f"core; {os.cpu_count()} cores shared with the browser and the training workers)")  # fmt: skip
    return 0 if len(ok) == n and jobs == distinct else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=30)
    p.add_argument("--baseline", type=int, default=3, help="unloaded visits to time first")
    a = p.parse_args()
    sys.exit(asyncio.run(main(a.sessions, a.baseline)))
