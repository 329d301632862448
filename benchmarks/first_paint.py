"""Home's first chart against a trivial Streamlit page with three small Plotly charts, measured in one run.

    python benchmarks/first_paint.py [--fresh 3] [--repeats 5]

Starts two fresh servers (``streamlit run app.py`` and a throw-away three-chart page), opens each in headless
Chromium, alternating between them, and prints the seconds from opening the page to its first Plotly chart drawn:
the median over ``--fresh`` fresh servers of their first visit, the median of warm visits, and Home's ratios to the
trivial page (issue 10 §4's goal: ≤ 1.3×). With ``--profile``, each warm visit also samples the browser's main
thread (Chrome's JavaScript profiler) until the first chart and prints where its time went, per script file: how a
lazily loaded component that delays the chart shows itself. Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
TRIVIAL = """import plotly.graph_objects as go
import streamlit as st

st.title("Three small charts")
for i, col in enumerate(st.columns(3)):
    col.plotly_chart(go.Figure(go.Bar(x=["a", "b", "c"], y=[1 + i, 2, 3])), key=f"c{i}")
"""


def serve(script: str, cwd: Path) -> tuple[subprocess.Popen, str, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RPM_ENGINE_CACHE": tempfile.mkdtemp()}
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true", "--server.address",
           "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    while True:
        try:
            if urllib.request.urlopen(url + "_stcore/health", timeout=1).status == 200:
                return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)


def paint_times(browser, url: str, repeats: int, profile: collections.Counter | None = None) -> list[float]:
    """Seconds from opening ``url`` to its first Plotly chart drawn, per visit; ``profile`` adds each visit's sampled
    main-thread milliseconds per script file (with "(program)", "(idle)", "(garbage collector)")."""
    out = []
    for _ in range(repeats):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        if profile is not None:
            cdp = ctx.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 500})  # µs
            cdp.send("Profiler.start")
        t = time.perf_counter()
        page.goto(url)
        page.locator(".js-plotly-plot").first.wait_for(state="visible", timeout=120_000)
        out.append(time.perf_counter() - t)
        if profile is not None:
            profile.update(self_ms_by_script(cdp.send("Profiler.stop")["profile"]))
        ctx.close()
    return out


def self_ms_by_script(profile: dict) -> collections.Counter:
    """A CDP CPU profile's sampled self time, in ms, per script file (``PlotlyChart.<hash>.js``) or V8 category."""
    frames = {n["id"]: n["callFrame"] for n in profile["nodes"]}
    out = collections.Counter()
    for node, dt_us in zip(profile["samples"], profile["timeDeltas"]):
        cf = frames[node]
        out[cf["url"].rsplit("/", 1)[-1] or f"({cf['functionName'].strip('()')})"] += dt_us / 1000
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="warm visits per page, after the first")
    p.add_argument("--fresh", type=int, default=3, help="fresh servers per page, each timed on its first visit")
    p.add_argument(
        "--profile",
        action="store_true",
        help="also print the browser's main-thread time per script file (warm visits then include the profiler)",
    )
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="first_paint_"))
    (tmp / "trivial.py").write_text(TRIVIAL)
    pages = {"trivial page": (str(tmp / "trivial.py"), tmp), "Home": ("app.py", ROOT)}
    first = {name: [] for name in pages}
    warm = {name: [] for name in pages}
    profiles = {name: collections.Counter() if a.profile else None for name in pages}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for round_ in range(a.fresh):
            servers = {name: serve(script, cwd) for name, (script, cwd) in pages.items()}
            try:
                # Visits alternate between the two pages, so that a busy moment on this shared machine falls on both.
                for name, (_, url, _) in servers.items():
                    first[name] += paint_times(browser, url, 1)
                for _ in range(a.repeats if round_ == 0 else 0):
                    for name, (_, url, _) in servers.items():
                        warm[name] += paint_times(browser, url, 1, profiles[name])
            finally:
                for proc, _, _ in servers.values():
                    proc.terminate()
                    proc.wait(15)
        browser.close()
    med = statistics.median
    for name in pages:
        line = f"{name:12s}: first visit of a fresh server, median {med(first[name]):.2f} s (n={len(first[name])})"
        if warm[name]:
            line += f"; warm visits median {med(warm[name]):.2f} s (n={len(warm[name])})"
        print(line)
    ratio = med(first["Home"]) / med(first["trivial page"])
    text = f"Home / trivial, first visit: {ratio:.2f}x"
    if warm["Home"]:
        text += f"; warm: {med(warm['Home']) / med(warm['trivial page']):.2f}x"
    print(text + " (goal <= 1.3x)")
    for name, prof in profiles.items():
        if prof:
            n = len(warm[name])
            top = ", ".join(f"{k} {v / n:.0f}" for k, v in prof.most_common(8))
            print(f"{name:12s}: browser main thread until the first chart, ms per warm visit: {top}")
    print(f"load average while measuring: {os.getloadavg()[0]:.2f} (1 min); {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
