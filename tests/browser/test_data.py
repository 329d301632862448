"""The Data page in headless Chromium: it renders its video and charts without an exception box."""

from browser_kit import heading, no_exception, open_page, settle, shot
from playwright.sync_api import expect


def test_data_page_renders(server, context):
    page = open_page(context, f"{server}/data")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    settle(page)
    shot(page, "data")
    no_exception(page)
    heading(page, "Data")
