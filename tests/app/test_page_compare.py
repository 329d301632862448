"""AppTest: the Compare page shows 2-4 runs side by side (the shipped examples by default), keeps its controls in the
URL, exports metrics, and never renders a run's label as HTML."""

import json
import re

from explorer.catalog import SHIPPED_ROOT, Catalog, metrics_table
from rpm_engine.config import QUICK_VIDEO, default_frame
from rpm_engine.store import RunStore

MARKUP = "<img src=x><b>log in</b>"


def shipped_four() -> list[str]:
    fig1 = Catalog([("shipped", RunStore(SHIPPED_ROOT, read_only=True))]).shipped_fig1()
    return [fig1[m][0].key for m in ("supervised", "rbf", "linear", "untrained")]


def test_compare_defaults_to_the_shipped_rbf_and_linear_runs(app):
    at = app("pages/4_compare.py")
    assert not at.warning and not at.error
    keys = at.multiselect(key="cmp_runs").value
    assert len(keys) == 2
    # per run: decoded frame + heatmap; then centres over time, L2 bars, the paired view, curves
    assert len(at.get("plotly_chart")) == 8
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "untrained start" in specs  # each run against its own untrained start (issue 18)
    paired = next(c.value for c in at.caption if c.value.startswith("Each line is one seed"))
    assert "higher on 5 of 5 seeds" in paired and "lower on 5 of 5 seeds" in paired
    assert "predict the mean" in specs  # the no-information line on the error chart (one video compared)
    assert at.toggle(key="cmp_log").value is True
    assert at.slider(key="cmp_frame").value == default_frame(QUICK_VIDEO)  # a held-out frame of the shipped video
    at.slider(key="cmp_frame").set_value(20)
    at.radio(key="cmp_ball").set_value(2)
    at.toggle(key="cmp_log").set_value(False)
    at.selectbox(key="cmp_stride").set_value(4).run()
    view = at.session_state["view"]
    assert not at.exception and (view.frame, view.ball, view.log_y, view.stride) == (20, 2, False, 4)
    assert (at.query_params["frame"], at.query_params["ball"], at.query_params["log"]) == ("20", "2", "0")
    assert len(at.get("download_button")) == 2
    cards = " ".join(m.value for m in at.markdown)
    assert "held-out L2" in cards and "final I_N" in cards


def test_the_log_toggle_comes_from_the_link(app):
    at = app("pages/4_compare.py", {"log": "0"})
    assert at.toggle(key="cmp_log").value is False


def test_four_runs_with_baselines_and_a_bad_link(app):
    four = shipped_four()
    at = app("pages/4_compare.py", {"run": [*four[:3], "0" * 24, "zz"]})
    warnings = " ".join(w.value for w in at.warning)
    assert "not a run key" in warnings and "not in this server's store" in warnings
    assert at.multiselect(key="cmp_runs").value == four[:3]
    at.multiselect(key="cmp_runs").set_value(four).run()
    # 4 decoded frames, 2 heatmaps (the baselines have no prior: an info box instead), over time, bars, paired, curves
    assert len(at.get("plotly_chart")) == 10
    assert sum("no coupling" in i.value for i in at.info) == 2
    at.multiselect(key="cmp_runs").set_value(four[:1]).run()
    assert any("at least two" in i.value for i in at.info) and not at.exception


def test_a_label_with_markup_is_shown_as_text_never_as_html(app, monkeypatch):
    """Issue 9.2: a run label carrying markup (an expression comment once could) reaches the page as text."""
    from rpm_engine.config import RunConfig

    real = RunConfig.label.fget
    monkeypatch.setattr(RunConfig, "label", property(lambda self: real(self) + " #" + MARKUP))
    at = app("pages/4_compare.py")
    assert not at.exception
    markdown = [m for m in at.markdown]
    assert not any(getattr(m.proto, "allow_html", False) for m in markdown), "no Markdown may allow HTML"
    shown = " ".join(m.value for m in markdown)
    assert "log in" in shown  # the label is on the page ...
    assert MARKUP not in shown and not re.search(r"(?<!\\)<", shown)  # ... every "<" escaped: text, never a tag
    charts = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "<img" not in charts and "<b>log in" not in charts  # nor in the figures' legends and hover texts
    assert not at.get("html")


def test_metrics_table_rows():
    cat = Catalog([("shipped", RunStore(SHIPPED_ROOT, read_only=True))])
    fig1 = cat.shipped_fig1()
    rows = metrics_table([fig1[m][0] for m in ("supervised", "rbf", "linear", "untrained")], cat)
    assert [r["method"] for r in rows] == ["supervised", "rbf", "linear", "untrained"]
    assert rows[1]["group_seeds"] >= 2 and rows[1]["l2_ball1_px"] > 0 and "learned_theta" in rows[1]
    json.dumps(rows, allow_nan=False)  # strict JSON: no NaN
