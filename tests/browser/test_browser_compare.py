"""The Compare page in headless Chromium at 1024x768 and 1400x900: the shipped comparison with 2 and 4 runs renders
every figure without an exception box and nothing cut off (full-page screenshots of each in artifacts/screenshots/),
and a classroom link hides the controls but keeps the frame slider."""

import urllib.parse

import pytest
from browser_kit import at_both_sizes, heading, no_exception, open_page, settle, shot
from playwright.sync_api import expect

from explorer.catalog import SHIPPED_ROOT, Catalog
from rpm_engine.store import RunStore

FIG1 = Catalog([("shipped", RunStore(SHIPPED_ROOT, read_only=True))]).shipped_fig1()
CASES = {  # runs -> Plotly charts: per run a decoded frame (+ a heatmap if it has a coupling), over time, bars, the
    # paired change from the untrained start, curves
    2: (["rbf", "linear"], 8),
    4: (["supervised", "rbf", "linear", "untrained"], 10),
}


def compare_url(server: str, methods: list[str], **extra: str) -> str:
    runs = [("run", FIG1[m][0].key) for m in methods]
    return f"{server}/compare?" + urllib.parse.urlencode(runs + list(extra.items()))


@pytest.mark.parametrize("n", [2, 4])
def test_compare_n_runs_at_both_sizes(server, context, n):
    methods, charts = CASES[n]
    page = open_page(context, compare_url(server, methods))
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(charts)
    settle(page)
    no_exception(page)
    heading(page, "Compare")
    cards = page.locator("[class*='st-key-cmp_card_']")
    expect(cards).to_have_count(n)
    for i in range(n):  # the numbers in each card are not cut off
        card = cards.nth(i)
        expect(card).to_contain_text("held-out L2")
        assert card.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), f"card {i} overflows"
    at_both_sizes(page, f"compare_{n}_runs")


def test_a_classroom_link_shows_the_figures_and_the_frame_slider(server, context):
    page = open_page(context, compare_url(server, ["rbf", "linear"], controls_hide="1", sidebar_hide="1"))
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(CASES[2][1])
    settle(page)
    expect(page.locator('[data-testid="stMain"] .stMultiSelect')).to_be_hidden()
    expect(page.locator('[data-testid="stSidebar"]')).to_be_hidden()
    expect(page.locator(".stSlider").first).to_be_visible()
    page.set_viewport_size({"width": 1024, "height": 1800})
    shot(page, "compare_classroom_1024")
