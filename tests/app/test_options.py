"""Every option docs/APP.md documents does what it says on every page (AppTest): ``allow_expressions = false``
removes "custom expression" everywhere; presentation mode (``training = false``) trains nothing and no page talks of
compiling kernels; each classroom flag hides what its row says; APP.md lists every page and names only real flags
and limits."""

import re
from pathlib import Path

import pytest

from explorer import ui
from explorer.state import HIDE_FLAGS, HIDE_PROPS
from rpm_service.limits import BOOLS, Limits, env_name

REPO = Path(__file__).resolve().parents[2]
APP_MD = (REPO / "docs" / "APP.md").read_text()
PAGES = [None, *(path for name, path in ui.PAGES.items() if name != "home")]


def shown(at) -> str:
    """Every text the page shows, and every option its menus offer."""
    out = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        out += [str(e.value) for e in getattr(at, kind)]
    for kind in ("selectbox", "multiselect", "radio"):
        for w in getattr(at, kind):
            out += [str(o) for o in w.options]
    return "\n".join(out)


@pytest.mark.parametrize("page", PAGES)
def test_allow_expressions_false_removes_custom_expressions_from_every_page(app, monkeypatch, page):
    monkeypatch.setenv("RPM_ALLOW_EXPRESSIONS", "0")
    text = shown(app(page, {"frames": "24", "size": "32", "diam": "6"}))
    assert "custom expression" not in text.lower()


@pytest.mark.parametrize("page", PAGES)
def test_presentation_mode_trains_nothing_and_never_talks_of_compiling(app, monkeypatch, page):
    monkeypatch.setenv("RPM_TRAINING", "0")
    at = app(page, {"frames": "24", "size": "32", "diam": "6"})
    text = shown(at)
    assert "compil" not in text.lower()
    assert "Presentation mode" in text  # the sidebar says so on every page
    if page == ui.PAGES["train"]:
        assert at.button(key="train_start").disabled and ui.PRESENTING in text
    if page == ui.PAGES["explore"]:
        at.button(key="x_run").click().run()
        assert "x_sweep" not in at.session_state or at.session_state["x_sweep"] is None  # nothing submitted


@pytest.mark.parametrize("flag", HIDE_FLAGS)
def test_each_classroom_flag_hides_what_app_md_says(app, flag):
    at = app(ui.PAGES["compare"], {f"{flag}_hide": "1"})
    css = "".join(str(h.proto.body) for h in at.get("html"))
    assert ui.HIDE_CSS[flag].split(",")[0].strip() in css
    row = re.search(rf"^\| `{flag}_hide=1` \| (.+) \|$", APP_MD, re.M)
    assert row is not None, f"{flag}_hide has no row in docs/APP.md"


def test_app_md_lists_every_page_and_names_only_real_options():
    for label, _ in ui.NAV.values():
        assert re.search(rf"^\| \*\*(\d · )?{re.escape(label)}\*\* \|", APP_MD, re.M), f"APP.md lacks page {label}"
    flags = set(re.findall(r"^\| `(\w+_hide)=1` \|", APP_MD, re.M))  # the flags' table
    assert flags == set(HIDE_PROPS)
    names = {f for f in Limits.__dataclass_fields__}
    block = re.search(r"\[limits\]\n(.*?)```", APP_MD, re.S).group(1)
    for key, var in re.findall(r"^(\w+)\s*=.*?#\s*(RPM_\w+)", block, re.M):
        assert key in names and env_name(key) == var, f"APP.md: {key} / {var}"
    assert set(BOOLS) <= {k for k, _ in re.findall(r"^(\w+)\s*=.*?#\s*(RPM_\w+)", block, re.M)}
