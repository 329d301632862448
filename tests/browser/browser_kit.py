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


# -- the two sizes every page is looked at, nothing cut off, full-page screenshots ------------------------------------
SIZES = ((1024, 768), (1400, 900))  # a projector, a laptop

CLIPPED_JS = """() => {
    // Element boxes that reach past the viewport's width, and text cut off inside its own box (titles, equations,
    // metric labels, captions). Inside a box that scrolls sideways by design (tables, code) nothing counts.
    const W = window.innerWidth, out = [];
    const scrolls = e => { for (let p = e.parentElement; p; p = p.parentElement) {
        const s = getComputedStyle(p); if (/(auto|scroll)/.test(s.overflowX) && p.scrollWidth > p.clientWidth + 1
            && !p.matches('[data-testid="stMain"], [data-testid="stAppViewContainer"], body, html')) return true; }
        return false; };
    const visible = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0
        && e.checkVisibility({visibilityProperty: true}); };  // false inside a closed expander too
    const name = e => (e.getAttribute('data-testid') || e.tagName) + ' ' + String(e.className.baseVal ?? e.className)
        .slice(0, 50) + ' [' + Math.round(e.getBoundingClientRect().left) + '-' + Math.round(e.getBoundingClientRect().right)
        + ']: ' + (e.innerText || '').slice(0, 60);
    for (const e of document.querySelectorAll('[data-testid="stMain"] [data-testid="stElementContainer"], '
            + '[data-testid="stMain"] h1, [data-testid="stMain"] h2, [data-testid="stMain"] h3, '
            + '[data-testid="stSidebar"] [data-testid="stElementContainer"], .js-plotly-plot .main-svg')) {
        if (!visible(e) || scrolls(e)) continue;
        const r = e.getBoundingClientRect();
        if (r.right > W + 1 || r.left < -1) out.push('past the edge: ' + name(e));
    }
    for (const e of document.querySelectorAll('[data-testid="stMain"] h1, [data-testid="stMain"] h2, '
            + '[data-testid="stMetricLabel"], [data-testid="stMetricValue"], .katex-display, '
            + '[data-testid="stCaptionContainer"], [data-testid="stMarkdownContainer"] p')) {
        if (!visible(e) || scrolls(e)) continue;
        if (e.scrollWidth > e.clientWidth + 2) out.push('cut off: ' + name(e));
    }
    return out;
}"""


def clipped(page) -> list[str]:
    """What is cut off or reaches past the viewport's width (empty when everything fits)."""
    return page.evaluate(CLIPPED_JS)


def clipped_after_resize(page, known: tuple[str, ...] = (), timeout_ms: int = 10_000) -> list[str]:
    """``clipped`` once the page has caught up with a new viewport: Plotly redraws its charts on the window's resize
    event, after a debounce, so what reaches past the edge is looked at until it is gone or ``timeout_ms`` passes
    (then it is what is left: the finding)."""
    bad = []
    for _ in range(max(1, timeout_ms // 100)):
        bad = [b for b in clipped(page) if not any(k in b for k in known)]
        if not bad:
            return bad
        page.wait_for_timeout(100)
    return bad


def full_shot(page, name: str) -> Path:
    """A full-page screenshot at the page's current width: Streamlit scrolls inside its main container, so the
    viewport is made as tall as the content for the picture, then put back."""
    size = page.viewport_size
    height = page.evaluate(
        """() => { const m = document.querySelector('[data-testid="stMain"]');
                   return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight); }"""
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(size["height"], height + 20), 12000)})
    page.wait_for_timeout(300)  # one resize: Plotly redraws on the window's resize event
    path = shot(page, name)
    page.set_viewport_size(size)
    return path


def at_both_sizes(page, name: str, check=None, known: tuple[str, ...] = ()) -> None:
    """Look at ``page`` at 1024x768 and 1400x900: ``check(page, width)`` (if given) at each, nothing cut off at
    either, and a full-page screenshot ``<name>_<width>.png`` of each. ``known``: substrings of findings that are
    known defects with their own strict-xfail test (so the rest is still checked)."""
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        settle(page)
        bad = clipped_after_resize(page, known)
        full_shot(page, f"{name}_{width}")  # before the checks: a failure leaves the picture that shows it
        if check is not None:
            check(page, width)
        assert not bad, f"{name} at {width}x{height}: {bad[:5]}"
