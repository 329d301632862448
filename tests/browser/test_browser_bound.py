"""The Bound page in headless Chromium: four charts from the shipped runs, the warp slider changes what the caption
says moved, the R(z′) toggle redraws the prior; full-page screenshots at 1400×900 and 1024×768."""

from browser_kit import heading, no_exception, open_page, settle, shot
from playwright.sync_api import expect

PAGE_HEIGHT = """() => Math.max(...[...document.querySelectorAll('[data-testid="stMain"], section, div')]
    .map(e => e.scrollHeight))"""


def full_shot(page, name: str, width: int, height: int) -> None:
    """The page laid out at width × height, then the viewport grown to its full height (Streamlit scrolls inside a
    container, so Playwright's full_page alone keeps only one screen) for a screenshot of all of it."""
    page.set_viewport_size({"width": width, "height": height})
    settle(page)
    expect(page.locator(".js-plotly-plot")).to_have_count(4)
    page.set_viewport_size({"width": width, "height": int(page.evaluate(PAGE_HEIGHT)) + 40})
    settle(page)
    shot(page, name)
    page.set_viewport_size({"width": width, "height": height})


def test_the_bound_page_draws_and_its_controls_answer(server, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = open_page(ctx, f"{server}/bound")
        heading(page, "The bound")
        no_exception(page)
        expect(page.locator(".js-plotly-plot")).to_have_count(4)
        expect(page.get_by_text("so I_N ≤ log N", exact=False)).to_be_visible()
        expect(page.get_by_text("At p = 2, for this RBF encoder", exact=False)).to_be_visible()
        full_shot(page, "bound_1400", 1400, 900)

        slider = page.get_by_role("slider", name="Warp power p")
        slider.focus()
        slider.press("ArrowRight")  # p = 2 -> 3
        settle(page)
        expect(page.get_by_text("At p = 3, for this RBF encoder", exact=False)).to_be_visible()
        expect(page.locator(".js-plotly-plot").nth(2)).to_contain_text("|u|^3")

        expect(page.get_by_text("with a uniform R(z′)", exact=False)).to_be_visible()
        page.get_by_text("Weight by R(z′)").click()
        settle(page)
        expect(page.get_by_text("with the latents' marginal R(z′)", exact=False)).to_be_visible()
        expect(page.locator(".js-plotly-plot").nth(3)).to_contain_text("the latents’ marginal")
        no_exception(page)

        full_shot(page, "bound_1024", 1024, 768)
    finally:
        ctx.close()


def test_home_tour_links_to_the_bound(server, context):
    page = open_page(context, server)
    link = page.get_by_role("link", name="4 · The bound")
    expect(link).to_be_visible()
    assert link.get_attribute("href") == "/bound"
    page.goto(server + link.get_attribute("href"))
    settle(page)
    heading(page, "The bound")
    no_exception(page)
