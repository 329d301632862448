"""The Explore page in headless Chromium: a tiny sweep (2 θ x 2 seeds + references) fills in; the figure's axes as
the browser drew them (θ on a log axis whose range is in log10 units around the values, L2 in px from its own
range); the leaderboard, the verdict, the exports and the PNG button show; nothing is cut off at 1024x768 or
1400x900; the configurations the verdict names open in Compare."""

import math

from browser_kit import at_both_sizes, heading, no_exception, open_page, settle
from playwright.sync_api import expect

SWEEP = "frames=24&size=32&diam=6&vseed=31&xf=rbf%3Btheta%3D0.1%2C1&xseeds=0-1&xepochs=1"


def test_a_tiny_sweep_fills_in_and_opens_in_compare(server, context):
    page = open_page(context, f"{server}/explore?{SWEEP}")
    heading(page, "Explore")
    expect(page.get_by_text("8 to train")).to_be_visible()
    page.get_by_role("button", name="Run the sweep").click()
    expect(page.get_by_role("button", name="Run the sweep")).to_be_disabled()  # one sweep at a time
    expect(page.get_by_text("4 of 4 points stored")).to_be_visible(timeout=600_000)  # minutes on a loaded 2-core box
    settle(page)
    no_exception(page)

    plot = page.locator(".st-key-x_plot .js-plotly-plot")
    expect(plot).to_be_visible()
    axes = plot.evaluate(
        """e => { const l = e._fullLayout; return {xtype: l.xaxis.type, xrange: l.xaxis.range, xtitle: l.xaxis.title.text,
                  ytype: l.yaxis.type, yrange: l.yaxis.range, ys: e.data.filter(t => t.mode === 'markers')
                  .flatMap(t => t.y)}; }"""
    )
    assert axes["xtype"] == "log" and "theta" in axes["xtitle"]
    lo, hi = axes["xrange"]
    assert lo < math.log10(0.1) < math.log10(1) < hi and hi - lo < 2  # log10 units around 0.1..1, not decades beyond
    ylo, yhi = axes["yrange"]
    ys = [y for y in axes["ys"] if y is not None]
    if axes["ytype"] == "log":
        assert 10**ylo <= min(ys) and max(ys) <= 10**yhi and yhi - ylo < 3
    else:
        assert ylo == 0 and max(ys) <= yhi < 3 * max(ys)
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()
    expect(page.get_by_text("L2: the geometric mean over seeds")).to_be_visible()
    expect(page.get_by_role("button", name="CSV (one row per run)")).to_be_visible()
    png = page.frame_locator("iframe").first.get_by_role("button", name="PNG of this chart")
    expect(png).to_be_visible()
    with page.expect_download() as download:  # the visible button gives the chart's own PNG
        png.click()
    assert download.value.suggested_filename == "l2_vs_parameter.png"

    at_both_sizes(page, "explore")
    compare = page.locator(".st-key-x_compare button")
    expect(compare).to_contain_text("in Compare")
    compare.click()
    heading(page, "Compare")
    settle(page)
    no_exception(page)
    assert page.url.count("run=") == 2


def test_the_classroom_link_round_trips(server, context):
    """The sidebar's builder: choose a page and a flag, open the link, get that page with that flag."""
    page = open_page(context, f"{server}/explore?{SWEEP}")
    page.get_by_text("Classroom link").click()
    hide = page.get_by_role("combobox", name="Hide")
    expect(hide).to_be_visible()  # the expander has opened
    hide.click()
    hide.fill("buttons")  # the multiselect filters its options as one types
    option = page.get_by_role("option", name="buttons, menus and inputs")
    expect(option).to_be_visible()
    option.click()
    page.keyboard.press("Escape")  # close the menu: the choice applies
    settle(page)
    expect(page.locator(".st-key-cl_link code")).to_contain_text("controls_hide=1")  # the rerun with the choice
    link = page.locator(".st-key-cl_link code").inner_text()
    assert "/explore?" in link and "controls_hide=1" in link and "xseeds=0-1" in link and "vseed=31" in link
    other = open_page(context, link.strip())
    heading(other, "Explore")
    expect(other.get_by_role("button", name="Run the sweep")).to_be_hidden()  # controls hidden
    expect(other.locator(".st-key-x_plot, .js-plotly-plot").first).to_be_visible()
    assert "controls_hide=1" in other.url and "xseeds=0-1" in other.url
    no_exception(other)
