"""The Train page in headless Chromium: at 1024x768 the run list and its progress show right after pressing Train;
two runs on a new video train end to end, and "Compare these runs" opens exactly those two (never a shipped run of
another video), whose cards name the video; a comparison across videos warns; two browser sessions asking for the
same run share one job."""

import re
import urllib.parse

from browser_kit import (
    at_both_sizes,
    heading,
    job_rows,
    no_exception,
    open_page,
    query,
    runner_counts,
    settle,
    wait_jobs_done,
)
from playwright.sync_api import expect

from explorer.catalog import SHIPPED_ROOT, Catalog
from rpm_engine.store import RunStore

TWO = query(vseed="41", c=["rbf;theta=1", "linear"], seeds="1")  # a video nobody trained on: two runs, ~1 s each


def test_train_two_runs_on_a_new_video_and_compare_exactly_them(server, browser):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        page = open_page(context, f"{server}/train?{TWO}")
        heading(page, "Train")
        no_exception(page)
        page.locator(".st-key-train_start button").click()
        expect(job_rows(page).first).to_be_in_viewport()  # at 1024x768, without scrolling
        texts = wait_jobs_done(page)
        assert len(texts) == 2 and all("trained in" in t for t in texts)
        settle(page)
        no_exception(page)
        at_both_sizes(page, "train")
        page.locator(".st-key-train_compare button").click()
        page.wait_for_url(re.compile(r"/compare\?"))
        settle(page)
        heading(page, "Compare")
        runs = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["run"]
        cards = page.locator("[class*='st-key-cmp_card_']")
        expect(cards).to_have_count(2)
        assert len(set(runs)) == 2
        for i in range(2):
            expect(cards.nth(i)).to_contain_text("24 frames × 32 px")  # the card names the video: the new one
            expect(cards.nth(i)).not_to_contain_text("shipped")
        expect(page.get_by_text("different videos")).to_have_count(0)
        no_exception(page)

        shipped = Catalog([("shipped", RunStore(SHIPPED_ROOT, read_only=True))]).shipped_fig1()["rbf"][0].key
        mixed = open_page(context, f"{server}/compare?run={runs[0]}&run={shipped}")
        expect(mixed.get_by_text("These runs come from 2 different videos")).to_be_visible()
        no_exception(mixed)
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
