"""Time from `streamlit run app.py` to the Home page's Fig. 1 comparison painted in headless Chromium.

    python benchmarks/first_paint.py [--repeats 3]

Prints: seconds until the server answers its health check, and seconds from opening the page until the shipped
comparison's charts are drawn (first visit of a fresh server, then warm visits). Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RPM_ENGINE_CACHE": tempfile.mkdtemp()}
    t0 = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        ready = time.perf_counter() - t0
        print(f"server answers its health check      {ready:.2f} s after start")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for i in range(a.repeats):
                page = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
                t = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/")
                page.locator(".js-plotly-plot").nth(2).wait_for(state="attached", timeout=60_000)  # C, D and E
                paint = time.perf_counter() - t
                label = "first visit" if i == 0 else "warm visit"
                print(
                    f"Home Fig. 1 painted ({label:<11})        {paint:.2f} s after opening the page"
                    + (f"  ({time.perf_counter() - t0:.2f} s after server start)" if i == 0 else "")
                )
                page.context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
