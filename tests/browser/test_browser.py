"""The running app in headless Chromium: every page renders without an exception box, a tiny run trains end to end
through the UI and opens in the comparison, and two browser sessions asking for the same run share one job.

Starts ``streamlit run app.py`` on 127.0.0.1 and a free port with a throw-away run store, and stops it by its pid.
Screenshots of every page go to artifacts/screenshots/ (their paths are printed: ``pytest -s`` shows them).
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, TINY_QUERY

CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO / "artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free port, with RPM_ENGINE_CACHE in a temporary folder; stopped by its pid afterwards."""
    port = free_port()
    cache = tmp_path_factory.mktemp("browser_cache")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPM_MAX_")}
    env.update(RPM_ENGINE_CACHE=str(cache), PYTHONUNBUFFERED="1")
    log = open(cache.parent / "streamlit.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
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
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("streamlit did not start: " + (cache.parent / "streamlit.log").read_text()[-2000:])
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(context, url: str):
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(url)
    settle(page)
    return page


def settle(page) -> None:
    """Wait until the script has run to the end and no spinner is left."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_timeout(800)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSpinner\"]')")
    page.wait_for_timeout(500)


def no_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def runner_counts(page) -> tuple[int, int]:
    text = page.locator(".st-key-train_runner_stats").inner_text()
    jobs = int(re.search(r"(\d+) training jobs? so far", text).group(1))
    trained = int(re.search(r"(\d+) runs? trained", text).group(1))
    return jobs, trained


def job_rows(page):
    """The job rows of the Train page (one bordered container per job, keyed train_job_<id>)."""
    return page.locator("[class*='st-key-train_job_']")


def wait_jobs_done(page, timeout_ms: int = 120_000) -> list[str]:
    """Wait until every job row on the Train page says it is done (trained, or opened from the store)."""
    page.wait_for_function(
        """() => {
            const rows = [...document.querySelectorAll("[class*='st-key-train_job_']")];
            return rows.length > 0 && rows.every(r => /trained in|opened from the store/.test(r.innerText));
        }""",
        timeout=timeout_ms,
    )
    return job_rows(page).all_inner_texts()


def query(**extra) -> str:
    return urllib.parse.urlencode({**TINY_QUERY, **extra})


PAGES = [
    ("", "home", "RPM Explorer"),
    ("data", "data", "Data"),
    ("priors", "priors", "Priors"),
    ("train", "train", "Train"),
    ("compare", "compare", "Compare"),
]


@pytest.mark.parametrize("path, name, heading", PAGES, ids=[p[1] for p in PAGES])
def test_every_page_renders(server, browser, path, name, heading):
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    try:
        page = open_page(context, f"{server}/{path}")
        if name in ("home", "compare", "priors", "data"):
            page.locator(".js-plotly-plot").first.wait_for()
            settle(page)
        shot(page, name)
        no_exception(page)
        assert page.locator("h1").first.inner_text().startswith(heading)
    finally:
        context.close()


def test_train_a_tiny_run_in_the_ui_and_compare_it(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    try:
        page = open_page(context, f"{server}/train?{query()}")
        no_exception(page)
        page.locator(".st-key-train_start button").click()
        assert "trained in" in wait_jobs_done(page)[0]
        settle(page)
        no_exception(page)
        shot(page, "train_done")
        page.locator(".st-key-train_compare button").click()
        page.wait_for_url(re.compile(r"/compare\?"))
        # 2 frames, 2 heatmaps, over time, bars, curves; charts below the fold may be laid out lazily: attached suffices
        page.locator(".js-plotly-plot").nth(5).wait_for(state="attached")
        settle(page)
        no_exception(page)
        assert "run=" in page.url  # the comparison is a link
        shot(page, "compare_trained")
    finally:
        context.close()


def test_two_sessions_asking_for_the_same_run_share_one_job(server, browser):
    url = f"{server}/train?{query(vseed='7', epochs='12', frames='96')}"  # a run nobody trained yet, ~2 s
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    try:
        a, b = open_page(a_ctx, url), open_page(b_ctx, url)
        jobs0, trained0 = runner_counts(a)
        a.locator(".st-key-train_start button").click()
        b.locator(".st-key-train_start button").click()
        for p in (a, b):
            wait_jobs_done(p)
            settle(p)
            no_exception(p)
        a.reload()
        settle(a)
        jobs1, trained1 = runner_counts(a)
        assert (jobs1 - jobs0, trained1 - trained0) == (1, 1), "two sessions, one request: one training job"
    finally:
        a_ctx.close()
        b_ctx.close()
