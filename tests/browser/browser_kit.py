"""Helpers for the Playwright tests (one file per page): open a page and wait for Streamlit to finish with
``expect(...)`` (no fixed sleeps), screenshots, the Train page's job rows and the runner's counters.

Import from a test file in this folder: ``from browser_kit import open_page, settle, ...``.
"""

import re
import urllib.parse
from pathlib import Path

from playwright.sync_api import expect
from tiny import TINY_QUERY  # noqa: F401 - re-exported for the tests

REPO = Path(__file__).resolve().parents[2]
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

TIMEOUT_MS = 120_000


def query(**extra: str) -> str:
    """The URL query of a tiny run (``TINY_QUERY``) with ``extra`` fields changed."""
    return urllib.parse.urlencode({**TINY_QUERY, **extra}, doseq=True)


def open_page(context, url: str):
    """A new page of ``context`` at ``url``, after its script has run to the end."""
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(url)
    settle(page)
    return page


def settle(page) -> None:
    """Wait until the script has run at least once and is not running, and no spinner is left.

    ``data-test-script-state`` is "initial" before the first run, "running" during one and "notRunning" after it.
    """
    app = page.locator('[data-testid="stApp"]')
    expect(app).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.locator('[data-testid="stSpinner"]')).to_have_count(0)
    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0)
    expect(app).to_have_attribute("data-test-script-state", "notRunning")


def no_exception(page) -> None:
    """No exception box on the page (its text is the failure message if there is one)."""
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def heading(page, text: str) -> None:
    expect(page.locator("h1").first).to_contain_text(text)


def shot(page, name: str) -> Path:
    """A full-page screenshot in artifacts/screenshots/<name>.png (its path is printed: ``pytest -s``)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def runner_counts(page) -> tuple[int, int]:
    """(training jobs so far, runs trained) from the Train page's runner line."""
    stats = page.locator(".st-key-train_runner_stats")
    expect(stats).to_contain_text("so far")
    text = stats.inner_text()
    jobs = int(re.search(r"(\d+) training jobs? so far", text).group(1))
    trained = int(re.search(r"(\d+) runs? trained", text).group(1))
    return jobs, trained


def job_rows(page):
    """The job rows of the Train page (one bordered container per job, keyed train_job_<id>)."""
    return page.locator("[class*='st-key-train_job_']")


def wait_jobs_done(page, timeout_ms: int = TIMEOUT_MS) -> list[str]:
    """Wait until every job row on the Train page says it is done (trained, or opened from the store)."""
    page.wait_for_function(
        """() => {
            const rows = [...document.querySelectorAll("[class*='st-key-train_job_']")];
            return rows.length > 0 && rows.every(r => /trained in|opened from the store/.test(r.innerText));
        }""",
        timeout=timeout_ms,
    )
    return job_rows(page).all_inner_texts()
