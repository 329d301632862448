"""AppTest: the Home page shows the idea and the Fig. 1 comparison from the shipped runs, without training."""


def test_home_renders_fig1_from_shipped_runs(app):
    at = app()
    assert at.title[0].value == "RPM Explorer"
    assert len(at.get("latex")) >= 4
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # C bars, D and E heatmaps, B centres over time
    assert any("reproduce --quick" in c.value for c in at.code)
    assert not at.warning and not at.error
    assert "training job" not in str(at.caption)  # nothing was trained to draw it


def test_a_bad_link_gives_notices_not_errors(app):
    at = app(query={"frames": "many", "frame": "-3", "c": "__import__('os')", "run": "nope"})
    notices = " ".join(w.value for w in at.warning)
    assert "frames" in notices and "frame" in notices and "was ignored" in notices and "run key" in notices
    assert not at.exception


def test_a_misconfigured_limit_is_a_message(app, monkeypatch):
    monkeypatch.setenv("RPM_MAX_JOBS", "two")
    at = app("pages/3_train.py")
    assert at.error and "RPM_MAX_JOBS" in at.error[0].value
