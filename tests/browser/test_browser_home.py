"""The Home page in headless Chromium: it renders the shipped Fig. 1 (C first, then D, E and B) without an exception
box."""

from browser_kit import heading, no_exception, open_page, settle, shot
from playwright.sync_api import expect


def test_home_renders(server, context):
    page = open_page(context, f"{server}/")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    # Fig. 1C comes first; D, E and B follow on the page's own timer, without a click.
    expect(page.locator(".js-plotly-plot")).to_have_count(4, timeout=120_000)
    settle(page)
    shot(page, "home")
    no_exception(page)
    heading(page, "RPM Explorer")
