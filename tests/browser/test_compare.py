"""The Compare page in headless Chromium: it renders the shipped comparison without an exception box."""

from browser_kit import heading, no_exception, open_page, settle, shot
from playwright.sync_api import expect


def test_compare_renders(server, context):
    page = open_page(context, f"{server}/compare")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    settle(page)
    shot(page, "compare")
    no_exception(page)
    heading(page, "Compare")
