"""The Priors page in headless Chromium: θ in true pixels at one step, a typed expression updates the preview, a
broken one keeps the frame and the grid."""

from browser_kit import at_both_sizes, heading, no_exception, open_page, settle
from playwright.sync_api import expect

TINY = "frames=24&size=32&diam=6&frame=10&stride=4"


def test_priors_expression_preview_and_broken_text(server, context):
    page = open_page(context, f"{server}/priors?{TINY}")
    heading(page, "Priors")
    chart = page.locator(".js-plotly-plot").first
    expect(chart).to_be_visible()
    expect(page.get_by_text("Near ○ (1 step)", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Add rbf (theta=0.1) to the training list")).to_be_visible()
    page.get_by_role("combobox", name="Coupling").click()
    page.get_by_role("option", name="custom expression").click()
    settle(page)
    box = page.get_by_role("textbox", name="log f(z, zp) =")
    box.fill("-sum(abs(z - zp)) / (theta")
    box.press("Enter")
    settle(page)
    expect(page.get_by_text("This expression cannot be used")).to_be_visible()
    expect(page.get_by_role("slider", name="Frame t")).to_have_value("10")
    expect(page.get_by_text("Grid spacing (px)")).to_be_visible()
    assert "frame=10" in page.url and "stride=4" in page.url
    box.fill("-sum(abs(z - zp)) / theta")
    box.press("Enter")
    settle(page)
    no_exception(page)
    expect(page.get_by_text("Valid: parameters theta")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_contain_text("-sum(abs(z - zp)) / theta")
    expect(page.get_by_role("slider", name="Frame t")).to_have_value("10")
    assert "frame=10" in page.url and "stride=4" in page.url
    at_both_sizes(page, "priors")
