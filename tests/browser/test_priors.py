"""The Priors page in headless Chromium: it renders its prior preview without an exception box."""

from browser_kit import heading, no_exception, open_page, settle, shot
from playwright.sync_api import expect


def test_priors_page_renders(server, context):
    page = open_page(context, f"{server}/priors")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    settle(page)
    shot(page, "priors")
    no_exception(page)
    heading(page, "Priors")
