"""The same sweep from the Explore page (a real browser on a real server) and from the documented CLI command.

    python benchmarks/app_sweep.py [--epochs 3] [--load 0] [--repeats 1]

The sweep is the Explore page's default (RBF θ₀ over 0.01, 0.03, 0.1, 0.3, 1 × seeds 0-2, with supervised and
untrained references: 21 runs of the quick recipe, here at ``--epochs``), asked for in two ways, each on a fresh
store, one after the other in this run:
- CLI: ``python -m rpm_engine sweep --coupling rbf --param theta=0.01,0.03,0.1,0.3,1 --seeds 3 --epochs E``;
- app: ``streamlit run app.py`` on 127.0.0.1, Chromium (Playwright) opens Explore with that sweep in its link,
  presses "Run the sweep" and waits until the page says "0 to train" (all 21 stored); then the page is opened again and the time until
  the L2 figure of the fully stored sweep is drawn is measured.
It prints the wall times, the per-run overhead of the app over the CLI ((app - CLI) / runs; the goal is ≤ 0.5 s)
and the redraw time (goal < 1 s): in the browser from navigation to the drawn figure, and the page's own script run
(AppTest), with the load average. ``--load N`` runs N busy processes beside it (a loaded
machine). Both paths use the same recipe, so the same 21 run keys (tests/test_app_and_cli_agree.py).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from explorer.st_client import serve

REPO = Path(__file__).resolve().parents[1]
THETAS = "0.01,0.03,0.1,0.3,1"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


def _busy() -> None:
    while True:
        pass


def cli_sweep(cache: Path, epochs: int, out: Path) -> float:
    env = {**os.environ, "RPM_ENGINE_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "rpm_engine", "sweep", "--coupling", "rbf", "--param", f"theta={THETAS}"]
    cmd += ["--seeds", "3", "--epochs", str(epochs), "--json", str(out), "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, check=True)
    return time.perf_counter() - t0


def app_sweep(url: str, epochs: int) -> tuple[float, float]:
    """(seconds from pressing Run to every run finished, seconds to draw the stored sweep on a fresh visit)."""
    from playwright.sync_api import expect, sync_playwright

    q = urllib.parse.urlencode({"xf": f"rbf;theta={THETAS}", "xseeds": "0-2", "xepochs": str(epochs)})
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(600_000)
        expect.set_options(timeout=600_000)
        page.goto(f"{url}/explore?{q}")
        run = page.get_by_role("button", name="Run the sweep")
        expect(run).to_be_enabled()
        t0 = time.perf_counter()
        run.click()
        expect(page.get_by_text("0 to train", exact=False)).to_be_visible()  # all 21 stored, the page knows it
        swept = time.perf_counter() - t0
        t1 = time.perf_counter()
        page.goto(f"{url}/explore?{q}")
        expect(page.get_by_text("15 of 15 points stored", exact=False)).to_be_visible()
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        redraw = time.perf_counter() - t1
        browser.close()
    return swept, redraw


SCRIPT = """
import sys, time
from streamlit.testing.v1 import AppTest
times = []
for _ in range(3):
    at = AppTest.from_file("app.py", default_timeout=120)
    for k, v in (("xf", "rbf;theta=%s"), ("xseeds", "0-2"), ("xepochs", "%d")):
        at.query_params[k] = v
    at.switch_page("pages/5_explore.py")
    t = time.perf_counter()
    at.run()
    times.append(time.perf_counter() - t)
print(min(times[1:]))
"""


def script_seconds(cache: Path, epochs: int) -> float:
    """The Explore page's own script run over the stored sweep (Streamlit's AppTest, warm: the best of the 2nd and
    3rd runs): the server's part of drawing it, without the browser's page load."""
    env = {**os.environ, "RPM_ENGINE_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", SCRIPT % (THETAS, epochs)], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--load", type=int, default=0, help="busy processes beside the benchmark (a loaded machine)")
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    hogs = [mp.Process(target=_busy, daemon=True) for _ in range(a.load)]
    for h in hogs:
        h.start()
    rows = []
    try:
        for r in range(a.repeats):
            tmp = Path(tempfile.mkdtemp(prefix="app_sweep_"))
            try:
                warm = tmp / "warm"  # the fused kernels built and loaded once, outside the timings
                subprocess.run([sys.executable, "-m", "rpm_engine", "train", "--coupling", "rbf", "--recipe", "quick",
                                "--epochs", "1", "--cache", str(warm), "--quiet"], cwd=REPO, check=True)  # fmt: skip
                cli = cli_sweep(tmp / "cli", a.epochs, tmp / "cli.json")
                proc, url = serve(tmp / "app", tmp / "streamlit.log")
                try:
                    app, redraw = app_sweep(url, a.epochs)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                script = script_seconds(tmp / "app", a.epochs)
                rows.append((cli, app, redraw, script))
                print(f"repeat {r + 1}: CLI {cli:.1f} s · app {app:.1f} s · app overhead per run "
                      f"{(app - cli) / 21:+.2f} s · stored sweep redrawn in {redraw:.2f} s in the browser "
                      f"(page load included), its script run {script:.3f} s", flush=True)  # fmt: skip
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        for h in hogs:
            h.terminate()
    cli, app, redraw, script = (min(c) for c in zip(*rows))
    print(f"best of {a.repeats}: CLI {cli:.1f} s, app {app:.1f} s, overhead per run {(app - cli) / 21:+.2f} s "
          f"(goal <= 0.5 s), redraw {redraw:.2f} s in the browser, script {script:.3f} s (goal < 1 s); "
          f"{a.load} busy processes; "
          f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")  # fmt: skip


if __name__ == "__main__":
    main()
