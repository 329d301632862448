"""AppTest: the Home page shows the idea and the Fig. 1 comparison from the shipped runs, without training; every
number in its captions comes from the stored runs."""

import json
import re

import numpy as np

from explorer.catalog import SHIPPED_ROOT, Catalog
from explorer.state import default_stride
from rpm_engine.config import default_frame
from rpm_engine.data import generate_video
from rpm_engine.evaluate import conditional_prior, mean_predictor_l2
from rpm_engine.store import RunStore

# 0·1/N·≥4/N, 1 = no preference, 95 % intervals, eqs. 23–27, App. D's 30, Fig. 1C, log L2, seed 0, "|I_N| < 0.1"
CONSTANTS = {"0", "1", "2", "4", "95", "23", "25", "26", "27", "30", "0.1"}
T95 = {2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447}  # two-sided Student-t quantiles by degrees of freedom


def t_interval(values):
    v = np.asarray(values, dtype=float)
    half = T95[v.size - 1] * v.std(ddof=1) / np.sqrt(v.size)
    return v.mean(), v.mean() - half, v.mean() + half


def measured_numbers() -> set[str]:
    """Every number the captions may print, computed here from the shipped runs with the formulas written out (not
    with the page's code): means, paired changes, prior shares beside the uniform share, the learning curves."""
    store = RunStore(SHIPPED_ROOT, read_only=True)
    fig1 = Catalog([("shipped", store)]).shipped_fig1()
    vcfg = fig1["rbf"][0].config.video
    video = generate_video(vcfg)
    n = len(fig1["rbf"])
    out = {str(n), f"{vcfg.step_px:g}", f"{vcfg.step_px / 2:g}", str(default_frame(vcfg))}
    l2 = {m: {e.seed: e.metrics["l2_mean"] for e in runs} for m, runs in fig1.items()}
    for per_seed in l2.values():
        out.add(f"{np.exp(np.mean(np.log(list(per_seed.values())))):.2f}")  # geometric means
    for m in ("rbf", "linear"):
        diffs = [l2[m][s] - l2["untrained"][s] for s in sorted(l2[m])]
        mean, lo, hi = t_interval(diffs)
        out |= {f"{abs(x):.2f}" for x in (mean, lo, hi)}
        out.add(str(sum(d < 0 for d in diffs) if mean < 0 else sum(d > 0 for d in diffs)))
    out.add(f"{mean_predictor_l2(video.centres, fig1['rbf'][0].config.train.train_frac):.1f}")
    stride = default_stride(vcfg)
    for m in ("rbf", "linear"):
        run = store.load(fig1[m][0].key)
        hm = conditional_prior(run.encoder(), run.coupling(), video, default_frame(vcfg), 0, stride)
        gx, gy = np.meshgrid(hm.xs, hm.ys)
        valid, p = np.isfinite(hm.prob), np.nan_to_num(hm.prob)
        out.add(str(int(valid.sum())))  # N
        for point, radius in ((hm.current, vcfg.step_px), (hm.true_next, vcfg.step_px / 2)):
            near = np.hypot(gx - point[0], gy - point[1]) <= radius
            out |= {f"{100 * p[near].sum() / p.sum():.0f}", f"{100 * (near & valid).sum() / valid.sum():.0f}"}
        out.add(f"{np.nanmax(hm.prob) * valid.sum():.2f}")  # the largest P·N
    linear = [store.load(e.key) for e in fig1["linear"]]
    out |= {f"{abs(r.history[0]['mi']):.1f}" for r in linear}
    out |= {f"{abs(e.metrics['final_mi']):.2f}" for e in fig1["linear"]}
    for r in linear:  # the first epoch from which |I_N| < 0.1 nats for good
        mi = [h["mi"] for h in r.history]
        out.add(str(min(i for i in range(len(mi)) if all(abs(v) < 0.1 for v in mi[i:])) + 1))
    return out


def painted(at):
    """The second run of a session, which the page's timer asks for once the first chart is drawn."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_first_run_draws_fig_1c_and_the_next_one_the_rest(app):
    at = app()
    assert len(at.get("plotly_chart")) == 1  # C, at once
    assert sum("Drawing the learned priors" in c.value for c in at.caption) == 2  # D and E say they are coming
    assert not at.code  # a code block loads the browser's syntax highlighter (~0.4 s) before C could be drawn
    painted(at)
    assert len(at.get("plotly_chart")) == 4
    assert any("reproduce --quick" in c.value for c in at.code)  # below the fold, on the second run
    assert not any("Drawing the learned priors" in c.value for c in at.caption)


def test_home_renders_fig1_from_shipped_runs(app):
    at = painted(app())
    assert at.title[0].value == "RPM Explorer"
    assert len(at.get("latex")) >= 4
    assert len(at.get("plotly_chart")) == 4  # C bars, D and E heatmaps, B centres over time
    assert any("reproduce --quick" in c.value for c in at.code)
    assert not at.warning and not at.error
    assert "training job" not in str(at.caption)  # nothing was trained to draw it


def test_every_number_in_the_captions_comes_from_the_shipped_runs(app):
    at = painted(app())
    captions = [c.value for c in at.caption if c.value.startswith(("Held-out error", "D/E"))]
    assert len(captions) >= 2, "the C and D/E captions"
    allowed = measured_numbers() | CONSTANTS
    for text in captions:
        for number in re.findall(r"\d+(?:\.\d+)?", text):
            assert number in allowed, f"{number!r} in a Home caption is not computed from the shipped runs: {text}"


def test_the_captions_say_what_the_shipped_runs_show(app):
    """Issue 18: linear training moved every seed away from its untrained start and RBF towards the truth, and the
    trained linear critic collapsed to no preference (shown beside what no preference gives)."""
    at = painted(app())
    c = next(x.value for x in at.caption if x.value.startswith("Held-out error"))
    de = next(x.value for x in at.caption if x.value.startswith("D/E"))
    assert "linear +" in c and "higher on 5 of 5 seeds" in c and "lower on 5 of 5 seeds" in c
    assert "kept and refined it" in c and "geometric means" in c
    assert "collapsed to no preference" in de and de.count("no preference:") >= 3
    assert "rewards large coordinates" not in de


def test_fig_1c_joins_each_seed_through_its_untrained_start(app):
    spec = json.loads(app().get("plotly_chart")[0].proto.spec)
    lines = [t for t in spec["data"] if t.get("mode") == "lines"]
    assert len(lines) == 5 and all(t["x"] == ["RBF", "untrained", "linear"] for t in lines)
    bars = [t for t in spec["data"] if t["type"] == "bar"]
    assert [b["x"][0] for b in bars] == ["supervised", "RBF", "untrained", "linear"]
    for b in bars:  # a positive error's interval on the log scale: its lower end is above 0, never clipped
        assert b["error_y"]["arrayminus"][0] < b["y"][0]


def test_a_bad_link_gives_notices_not_errors(app):
    at = app(query={"frames": "many", "frame": "-3", "c": "__import__('os')", "run": "nope"})
    notices = " ".join(w.value for w in at.warning)
    assert "frames" in notices and "frame" in notices and "was ignored" in notices and "run key" in notices
    assert not at.exception


def test_a_misconfigured_limit_stops_training_but_not_the_pages(app, monkeypatch):
    monkeypatch.setenv("RPM_MAX_JOBS", "two")
    at = app("pages/3_train.py")
    assert at.error and "RPM_MAX_JOBS" in at.error[0].value and "switched off" in at.error[0].value
    assert at.button(key="train_start").disabled
    home_page = painted(app())
    assert len(home_page.get("plotly_chart")) == 4  # the shipped results still show


def test_a_classroom_link_hides_the_controls(app):
    at = app(query={"controls_hide": "1", "sidebar_hide": "1", "text_hide": "1"})
    css = " ".join(h.proto.body for h in at.get("html"))
    assert ".stMultiSelect" in css and "stSidebar" in css and "stCaptionContainer" in css
    assert at.session_state["view"].hide == frozenset({"controls", "sidebar", "text"})


def test_the_sidebar_states_the_same_capacity_the_runner_refuses_at(app, monkeypatch):
    from rpm_service.limits import Limits

    monkeypatch.setenv("RPM_MAX_QUEUE", "5")
    at = app(None)
    lim = Limits.load()
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert f"at most {lim.capacity} runs waiting or training" in sidebar and "queue of" not in sidebar


def test_a_class_opening_home_builds_its_figures_once(app, monkeypatch):
    """Thirty students opening the link at once share one server interpreter: Home's figures are the same for all of
    them, so each is built once per server, not once per visit (benchmarks/load.py --ramp 0)."""
    from explorer import charts, ui

    built = {"method_bars": 0, "prior_heatmap": 0, "centres_over_time": 0}
    for name in built:
        original = getattr(charts, name)

        def counted(*a, _name=name, _original=original, **k):
            built[_name] += 1
            return _original(*a, **k)

        monkeypatch.setattr(charts, name, counted)
    for cached in (ui._shared, ui.prior_figure, ui.centres_figure):
        cached.clear()
    sessions = [painted(app()) for _ in range(3)]
    assert built == {"method_bars": 1, "prior_heatmap": 2, "centres_over_time": 1}  # C; D and E; B
    assert all(len(at.get("plotly_chart")) == 4 for at in sessions)
    specs = {at.get("plotly_chart")[0].proto.spec for at in sessions}
    assert len(specs) == 1  # every visitor got the same C
