"""AppTest: the Compare page shows 2-4 runs side by side (the shipped examples by default) and exports metrics."""

import json


def test_compare_defaults_to_the_shipped_rbf_and_linear_runs(app):
    at = app("pages/4_compare.py")
    assert not at.warning and not at.error
    keys = at.multiselect(key="cmp_runs").value
    assert len(keys) == 2
    # per run: decoded frame + heatmap; then centres over time, L2 bars, curves
    assert len(at.get("plotly_chart")) == 7
    assert at.toggle(key="cmp_log").value is True
    assert at.slider(key="cmp_frame").value == 113
    at.slider(key="cmp_frame").set_value(20)
    at.radio(key="cmp_ball").set_value(2)
    at.selectbox(key="cmp_stride").set_value(4).run()
    assert not at.exception and at.session_state["view"].frame == 20 and at.session_state["view"].ball == 2
    assert at.query_params["frame"] == "20" and at.query_params["ball"] == "2"
    downloads = at.get("download_button")
    assert len(downloads) == 2


def test_four_runs_with_baselines_and_a_bad_link(app):
    from explorer.catalog import SHIPPED_ROOT, Catalog, open_store

    fig1 = Catalog([("shipped", open_store(SHIPPED_ROOT, read_only=True))]).shipped_fig1()
    four = [fig1[m][0].key for m in ("supervised", "rbf", "linear", "untrained")]
    at = app("pages/4_compare.py", {"run": [*four[:3], "0" * 24, "zz"]})
    warnings = " ".join(w.value for w in at.warning)
    assert "not a run key" in warnings and "not in this server's store" in warnings
    assert at.multiselect(key="cmp_runs").value == four[:3]
    at.multiselect(key="cmp_runs").set_value(four).run()
    # 4 decoded frames, 2 heatmaps (the baselines have no prior: an info box instead), over time, bars, curves
    assert len(at.get("plotly_chart")) == 9
    assert sum("no coupling" in i.value for i in at.info) == 2
    at.multiselect(key="cmp_runs").set_value(four[:1]).run()
    assert any("at least two" in i.value for i in at.info) and not at.exception


def test_metrics_table_rows(app):
    from explorer.catalog import SHIPPED_ROOT, Catalog, metrics_table, open_store

    cat = Catalog([("shipped", open_store(SHIPPED_ROOT, read_only=True))])
    fig1 = cat.shipped_fig1()
    rows = metrics_table([fig1[m][0] for m in ("supervised", "rbf", "linear", "untrained")], cat)
    assert [r["method"] for r in rows] == ["supervised", "rbf", "linear", "untrained"]
    assert rows[1]["group_seeds"] >= 2 and rows[1]["l2_ball1_px"] > 0 and "learned_theta" in rows[1]
    json.dumps(rows, allow_nan=False)  # strict JSON: no NaN
