"""The Explore page's results (explorer.sweep_view): groups over seeds, the leaderboard as the one ranking has it
(filters by recipe and epochs, references and shipped runs hideable), exports one row per run, the curves and the
figure's spec (one panel per parameter, axis ranges in the axis's own units, bands >= 0, one colour per
configuration)."""

import csv
import io
import json
import math

import pytest

from explorer import explore as ex
from explorer import sweep_charts as xc
from explorer import sweep_view as sv
from explorer.catalog import Entry
from rpm_engine.config import QUICK_RECIPE, QUICK_VIDEO, VideoConfig
from rpm_engine.ranking import Trial, rank
from rpm_service.limits import Limits

TINY = VideoConfig(frames=24, size=32, diameter=6)


def entry(coupling, l2: float, seed: int, video=TINY, method="infonce", epochs=1, source="yours", **init) -> Entry:
    cfg = QUICK_RECIPE.run_config(coupling, method=method, video=video, epochs=epochs, seed=seed, **init)
    return Entry(cfg.key(), cfg, {"l2_mean": l2, "final_mi": 0.5}, source, 0.0)


def stored():
    return [
        entry("rbf", 1.0, 0, theta=0.1), entry("rbf", 1.2, 1, theta=0.1), entry("rbf", 1.1, 2, theta=0.1),
        entry("rbf", 3.0, 0, theta=1.0), entry("rbf", 3.3, 1, theta=1.0), entry("rbf", 2.9, 2, theta=1.0),
        entry("linear", 9.0, 0), entry("linear", 9.5, 1),
        entry(None, 0.5, 0, method="supervised"), entry(None, 5.0, 0, method="untrained"),
        entry("rbf", 0.9, 0, epochs=30, source="shipped", theta=0.1),
        entry("rbf", 0.1, 0, video=QUICK_VIDEO, theta=0.1),
    ]  # fmt: skip


def test_groups_pool_seeds_per_configuration_and_know_recipe_and_source():
    gs = sv.groups(stored(), TINY)
    assert len(gs) == 6  # the other video's run is not here
    rbf = next(g for g in gs if g.label.startswith("rbf") and g.epochs == 1 and g.l2[0] == 1.0)
    assert rbf.seeds == (0, 1, 2) and rbf.recipe == "quick" and not rbf.shipped
    assert next(g for g in gs if g.epochs == 30).shipped


def test_the_leaderboard_follows_the_ranking_and_its_filters():
    gs = sv.groups(stored(), TINY)
    board = sv.leaderboard(gs, sv.Filters(epochs=(1,)))
    trained = [g for g in gs if not g.reference and g.epochs == 1]
    ranking = rank(Trial(g.key, s, v, g.label) for g in trained for s, v in zip(g.seeds, g.l2))
    first_key = {g.key: g.keys[0] for g in trained}
    assert [r["key"] for r in board.rows[:3]] == [first_key[r.config] for r in ranking.rows]
    assert board.verdict == ranking.verdict
    first = board.rows[0]
    assert first["rank"] == 1 and first["L2 (px)"] == float(f"{math.exp(sum(map(math.log, (1, 1.2, 1.1))) / 3):.3g}")
    assert first["recipe"] == "quick" and first["epochs"] == 1 and first["seeds"] == 3
    assert [r["rank"] for r in board.rows[3:]] == [None, None]  # supervised and untrained: listed, not ranked
    for r in board.rows:
        assert len(f"{r['L2 (px)']:g}".replace(".", "").lstrip("0")) <= 3  # 3 significant digits
    # the 30-epoch shipped run is ranked only when asked
    assert all(r["epochs"] == 1 for r in board.rows)
    both = sv.leaderboard(gs, sv.Filters(epochs=(1, 30)))
    assert {r["epochs"] for r in both.rows} == {1, 30} and any(r["source"] == "shipped" for r in both.rows)
    assert all(r["source"] != "shipped" for r in sv.leaderboard(gs, sv.Filters(shipped=False)).rows)
    no_refs = sv.leaderboard(gs, sv.Filters(epochs=(1,), references=False))
    assert len(no_refs.rows) == 3 and all(r["rank"] for r in no_refs.rows)
    assert {r["family"] for r in sv.leaderboard(gs, sv.Filters(families=("linear",), references=False)).rows} == {
        "linear"
    }
    assert sv.default_epochs(gs, 1) == (1,) and sv.default_epochs(gs, 7) == (1,)  # the most common otherwise


def test_best_and_open_in_compare_follow_the_verdict():
    separated = [entry("rbf", v, s, theta=0.1) for s, v in enumerate((1.0, 1.1, 1.05, 0.98, 1.02))]
    separated += [entry("linear", v, s) for s, v in enumerate((9.0, 9.5, 9.2, 9.9, 9.1))]
    board = sv.leaderboard(sv.groups(separated, TINY))
    assert board.best is not None and board.best.family == "rbf" and "is best" in board.verdict
    assert len(board.compare_keys()) == 2 and board.compare_keys()[0] == board.best.keys[0]

    close = [entry("rbf", v, s, theta=0.1) for s, v in enumerate((1.0, 3.0))]
    close += [entry("rbf", v, s, theta=1.0) for s, v in enumerate((1.5, 2.0))]
    close += [entry("linear", 9.0, 0)]
    board = sv.leaderboard(sv.groups(close, TINY))
    assert board.best is None and board.verdict.startswith("not separated")
    keys = board.compare_keys()
    assert len(keys) == len(set(keys)) >= 2  # the configurations not separated from the top, one key each
    assert sv.best_keys(sv.groups(close, TINY)) == keys


def test_exports_are_one_row_per_run_from_the_engines_function():
    gs = sv.groups(stored(), TINY)
    rows = sv.export_rows(gs)
    assert len(rows) == sum(len(g.seeds) for g in gs) == 11
    for col in ("key", "family", "theta", "w_init", "recipe", "epochs", "seed", "l2_px", "I_N_nats", "theta_px"):
        assert col in rows[0]
    text = sv.to_csv(rows)
    assert len(list(csv.DictReader(io.StringIO(text)))) == 11
    assert json.loads(sv.to_json(rows, TINY))["runs"] == rows


def curve_state():
    state = ex.ExploreState((ex.FamilyRow("rbf", "theta", "0.1,1,10"), ex.FamilyRow("linear", "w_init", "0.001")),
                            "0-2", 1)  # fmt: skip
    return state, ex.build_sweep(state, TINY, Limits())


def test_curves_and_references_from_what_is_stored():
    state, sweep = curve_state()
    gs = sv.groups(stored(), TINY)
    rbf, linear = sv.curves(sweep, state.families, gs)
    assert rbf.x == (0.1, 1.0, 10.0) and rbf.l2 == ((1.0, 1.2, 1.1), (3.0, 3.3, 2.9), ())
    assert "theta" in rbf.axis and linear.param == "w_init"
    assert sv.progress([rbf, linear], 3) == (8, 12)
    assert sv.references(sweep, gs, 20.0) == {"supervised": 0.5, "untrained": 5.0, "mean": 20.0}


def test_the_figure_each_parameter_its_own_panel_ranges_in_axis_units_bands_non_negative():
    state, sweep = curve_state()
    wide = [entry("rbf", v, s, theta=0.1) for s, v in enumerate((1.0, 1.2, 1.1))]
    wide += [entry("rbf", v, s, theta=1.0) for s, v in enumerate((0.2, 9.0, 30.0))]  # a wide interval
    wide += [entry("linear", v, s) for s, v in enumerate((9.0, 9.5, 12.0))]
    gs = sv.groups(wide, TINY)
    cs = sv.curves(sweep, state.families, gs)
    fig = xc.l2_figure(cs, {"mean": 14.0})
    layout = fig.layout
    # one panel (x axis) per parameter, titled by it
    assert "theta" in layout.xaxis.title.text and "w_init" in layout.xaxis2.title.text
    # θ spans 0.1..1: a log axis whose range is log10 of the values, around them and not decades beyond
    assert layout.xaxis.type == "log"
    lo, hi = layout.xaxis.range
    assert lo < math.log10(0.1) < math.log10(1.0) < hi and hi - lo < 2
    # L2 from 0.2 to 30 px spans more than 20x: a log axis, its range in log10(px), covering every point
    ys = [v for c in cs for vs in c.l2 for v in vs] + [14.0]
    assert layout.yaxis.type == "log"
    ylo, yhi = layout.yaxis.range
    assert 10**ylo <= min(ys) and 10**yhi >= max(ys) and yhi - ylo < 3
    for trace in fig.data:  # every band and whisker at or above 0 (and the axis floor)
        if trace.fill == "toself":
            assert min(trace.y) >= 10**ylo - 1e-12
    # each configuration one colour: its mean marker and its seed dots alike, never another configuration's
    dots = [t for t in fig.data if t.mode == "markers" and t.showlegend is False]
    by_label = {t.name: t.marker.color for t in dots}
    assert len(set(by_label.values())) == len(by_label) == 3
    means = [t for t in fig.data if t.customdata is not None]
    for t in means:
        for label, colour in zip(t.customdata, t.marker.color):
            assert by_label[label] == colour


def test_a_narrow_l2_range_is_a_linear_axis_from_zero():
    state, sweep = curve_state()
    fig = xc.l2_figure(sv.curves(sweep, state.families, sv.groups(stored(), TINY)), {"supervised": 0.5})
    assert fig.layout.yaxis.type == "linear"  # 0.5 .. 9.5 px: 19x, under the 20x of a log axis
    narrow = [entry("rbf", v, s, theta=0.1) for s, v in enumerate((2.0, 2.2))] + [entry("linear", 4.0, 0)]
    fig = xc.l2_figure(sv.curves(sweep, state.families, sv.groups(narrow, TINY)), {})
    assert fig.layout.yaxis.type == "linear" and fig.layout.yaxis.range[0] == 0
    assert fig.layout.yaxis.range[1] >= 4.0


@pytest.mark.parametrize("values", [(0.01, 0.1, 1), (1.0, 2.0, 3.0)])
def test_axis_range_is_in_the_axis_units(values):
    log = values[-1] / values[0] >= 10
    lo, hi = xc.axis_range(values, log)
    if log:
        assert 10**lo < values[0] and 10**hi > values[-1]
    else:
        assert lo == 0 and hi > values[-1]


def test_colours_are_distinct_per_configuration():
    labels = [f"rbf (theta={t})" for t in (0.01, 0.1, 1, 10)] + ["linear"]
    assert len(set(sv.colours(labels).values())) == 5
