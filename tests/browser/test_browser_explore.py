"""The Explore page in headless Chromium: a tiny sweep (2 θ x 2 seeds + references) fills in, the leaderboard
shows, and the best configurations open in Compare."""

from browser_kit import heading, no_exception, open_page, settle, shot
from playwright.sync_api import expect

SWEEP = "frames=24&size=32&diam=6&xf=rbf%3Btheta%3D0.1%2C1&xseeds=0-1&xepochs=1"


def test_a_tiny_sweep_fills_in_and_opens_in_compare(server, context):
    page = open_page(context, f"{server}/explore?{SWEEP}")
    heading(page, "Explore")
    expect(page.get_by_text("8 to train")).to_be_visible()
    page.get_by_role("button", name="Run the sweep").click()
    expect(page.get_by_text("4 of 4 points stored")).to_be_visible(
        timeout=600_000
    )  # 8 runs; minutes on a loaded 2-core box
    settle(page)
    no_exception(page)
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()
    expect(page.get_by_text("Best prior:")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    shot(page, "explore")
    page.set_viewport_size({"width": 1024, "height": 1600})
    settle(page)
    shot(page, "explore_1024")
    page.get_by_role("button", name="Open the best 2 in Compare").click()
    heading(page, "Compare")
    settle(page)
    no_exception(page)
    assert page.url.count("run=") == 2
