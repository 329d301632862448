"""The Data page in headless Chromium: generate a video from the form, play it, step through frames."""

from browser_kit import at_both_sizes, heading, no_exception, open_page, settle
from playwright.sync_api import expect

TINY = "frames=24&size=32&diam=6"


def test_data_page_generates_and_plays(server, context):
    page = open_page(context, f"{server}/data?{TINY}")
    heading(page, "Data")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    frames = page.get_by_label("Frames", exact=True)
    expect(frames).to_have_value("24")
    frames.fill("32")
    page.get_by_role("button", name="Generate video").click()
    settle(page)
    no_exception(page)
    expect(page.locator('[data-testid="stMetricValue"]').first).to_have_text("32")
    assert "frames=32" in page.url
    gif = page.locator('[data-testid="stImage"] img').first  # the animated GIF plays by itself
    expect(gif).to_be_visible()
    expect(page.get_by_role("slider", name="Frame")).to_have_attribute("max", "30")
    at_both_sizes(page, "data")
