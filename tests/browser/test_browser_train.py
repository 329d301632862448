"""The Train page in headless Chromium: a tiny run trains end to end through the UI and opens in the comparison, and
two browser sessions asking for the same run share one job."""

import re

from browser_kit import heading, job_rows, no_exception, open_page, query, runner_counts, settle, shot, wait_jobs_done
from playwright.sync_api import expect


def test_train_page_renders(server, context):
    page = open_page(context, f"{server}/train")
    settle(page)
    shot(page, "train")
    no_exception(page)
    heading(page, "Train")


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
        # The tiny run is paired with the shipped RBF run (another video): per run a decoded frame and a heatmap,
        # per video a centres-over-time chart, then the bars and the curves. Streamlit's chart containers are counted
        # (Plotly's own .js-plotly-plot is drawn lazily below the fold), after the script has finished.
        expect(page.locator("[class*='st-key-cmp_card_']")).to_have_count(2)
        expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(8)
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
            expect(job_rows(p).first).to_be_visible()
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
