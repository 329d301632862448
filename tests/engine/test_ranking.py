"""The one ranking (rpm_engine.ranking), against independent formulas: Student-t quantiles against printed tables
and the closed forms for 1, 2 and 4 degrees of freedom, a paired t-test done by hand with the standard library,
Holm done by hand; then the rules a reviewer asks for (intervals above zero, failed seeds count, "not separated"),
and properties over random inputs (order invariance, one row per configuration, lo <= centre <= hi, JSON-safe)."""

import json
import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import CI

from rpm_engine.ranking import Trial, holm, log_t_interval, rank, t_cdf, t_quantile, t_sf2


def trials(config: str, values, label: str = "") -> list[Trial]:
    return [Trial(config, s, v, label, None if v is not None else "non-finite loss") for s, v in enumerate(values)]


# -- the t distribution ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("df, table", [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (10, 2.228), (29, 2.045)])
def test_t_quantiles_match_the_printed_table(df, table):
    assert t_quantile(0.975, df) == pytest.approx(table, abs=5e-4)


def _t1(q):  # Cauchy: t = tan(π (q - 1/2))
    return math.tan(math.pi * (q - 0.5))


def _t2(q):  # t = (2q - 1) / sqrt(2 q (1 - q))
    return (2 * q - 1) / math.sqrt(2 * q * (1 - q))


def _t4(q):  # t = sign(q - 1/2) · 2 sqrt(cos(arccos(sqrt(a)) / 3) / sqrt(a) - 1), a = 4q(1 - q)
    a = 4 * q * (1 - q)
    return math.copysign(2 * math.sqrt(math.cos(math.acos(math.sqrt(a)) / 3) / math.sqrt(a) - 1), q - 0.5)


@pytest.mark.parametrize("df, exact", [(1, _t1), (2, _t2), (4, _t4)])
@pytest.mark.parametrize("q", [0.0005, 0.01, 0.1, 0.3, 0.6, 0.9, 0.95, 0.975, 0.995, 0.99999])
def test_t_quantiles_match_the_closed_forms(df, exact, q):
    assert t_quantile(q, df) == pytest.approx(exact(q), rel=1e-10, abs=1e-12)


def test_t_tends_to_the_normal_and_the_cdf_inverts_the_quantile():
    z = statistics.NormalDist().inv_cdf(0.975)
    assert t_quantile(0.975, 1_000_000) == pytest.approx(z, rel=1e-5)
    assert t_quantile(0.5, 3) == 0.0
    for df in (1, 2, 5, 30, 300):
        for q in (0.001, 0.2, 0.8, 0.975):
            assert t_cdf(t_quantile(q, df), df) == pytest.approx(q, rel=1e-10)
    assert t_sf2(0.0, 5) == 1.0 and t_sf2(math.inf, 5) == 0.0
    for bad in (0, 1, -0.1, math.nan):
        with pytest.raises(ValueError):
            t_quantile(bad, 3)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.9, 0)


def test_two_sided_p_matches_the_closed_forms():
    for t in (0.1, 1.0, 2.5, 10.0, 300.0):
        assert t_sf2(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), rel=1e-12)
        assert t_sf2(-t, 2) == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-10)


# -- Holm and the paired test, by hand ---------------------------------------------------------------------------
def test_holm_by_hand():
    # sorted: 0.005 x4 = 0.02; 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04 -> carried max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 0.5 x2 capped at 1; 0.9 carries the maximum
    assert holm([0.5, 0.02]) == pytest.approx([0.5, 0.04])
    assert holm([]) == []
    with pytest.raises(ValueError):
        holm([1.5])


def test_paired_t_on_log_ratios_by_hand():
    best, other = [1.5, 1.6, 1.4], [3.6, 3.9, 3.4]
    r = rank(trials("a", best) + trials("b", other))
    c = r.row("b").comparison
    d = [math.log(o / b) for o, b in zip(other, best)]
    mean, sd = statistics.fmean(d), statistics.stdev(d)
    t = mean / (sd / math.sqrt(3))
    assert c.t == pytest.approx(t, rel=1e-12) and c.df == 2
    assert c.p == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-9)  # df = 2 closed form
    half = 4.302652729749464 * sd / math.sqrt(3)  # t_{0.975, 2}
    assert c.ratio == pytest.approx(math.exp(mean))
    assert c.ratio_interval == pytest.approx((math.exp(mean - half), math.exp(mean + half)))
    assert c.diffs_px == pytest.approx([2.1, 2.3, 2.0]) and c.diff_mean_px == pytest.approx(2.1333333333)
    assert c.p_holm == c.p and c.separated and c.separated_by == "error"
    assert r.best == "a" and r.verdict.startswith("a is best")


def test_the_centre_is_the_geometric_mean_with_a_log_t_interval():
    v = [1.2, 1.5, 2.1, 1.7]
    row = rank(trials("x", v)).rows[0]
    logs = [math.log(x) for x in v]
    half = 3.182446305284263 * statistics.stdev(logs) / 2  # t_{0.975, 3}, n = 4
    assert row.centre == pytest.approx(statistics.geometric_mean(v))
    assert row.interval == pytest.approx(
        (math.exp(statistics.fmean(logs) - half), math.exp(statistics.fmean(logs) + half))
    )
    assert row.mean == pytest.approx(statistics.fmean(v))


def test_intervals_of_a_positive_error_stay_above_zero():
    v = [0.2, 9.0, 30.0]  # a wide spread: the arithmetic t-interval would reach far below zero
    arithmetic_lo = statistics.fmean(v) - 4.303 * statistics.stdev(v) / math.sqrt(3)
    assert arithmetic_lo < 0
    centre, (lo, hi) = log_t_interval(v)
    assert 0 < lo <= centre <= hi
    with pytest.raises(ValueError):
        log_t_interval([1.0, 0.0])


# -- the rules ---------------------------------------------------------------------------------------------------
def test_failed_seeds_count():
    good = trials("steady", [2.0, 2.1, 1.9, 2.05, 1.95])
    flaky = trials("flaky", [1.0, None, 1.1, None, 0.9])  # far better when it finishes, but failed on 2 of 5
    dead = trials("dead", [None] * 5)
    r = rank(flaky + dead + good)
    assert [row.config for row in r.rows] == ["steady", "flaky", "dead"]
    f = r.row("flaky")
    assert (f.n_ok, f.n_failed, f.values[1], f.errors) == (3, 2, None, ("non-finite loss",))
    assert f.comparison.failed_here_only == 2 and f.comparison.separated_by == "failures"
    assert f.comparison.ratio < 1  # its finished seeds are better: the failures decide, and the row says so
    assert r.row("dead").centre is None and r.row("dead").interval is None and r.row("dead").comparison.p is None
    assert r.best == "steady"
    # one failure in each, on the same seed: a tie on failures, the finished seeds decide
    a = trials("a", [1.0, None, 1.1, 0.9])
    b = trials("b", [1.05, None, 1.12, 0.95])
    c = rank(a + b).row("b").comparison
    assert c.failed_here_only == c.failed_best_only == 0 and c.n == 3


def test_not_separated_at_n_seeds():
    r = rank(trials("rbf θ₀=0.1", [1.5, 1.9, 1.4], "rbf") + trials("rbf θ₀=0.3", [1.6, 1.7, 1.6]))
    assert r.best is None
    assert r.verdict.startswith("not separated at 3 seeds: rbf vs rbf θ₀=0.3")
    assert not r.rows[1].comparison.separated and r.rows[1].comparison.separated_by is None


def test_holm_can_withhold_a_best_that_raw_p_values_would_give():
    base = [1.0, 1.1, 0.9, 1.05]
    r = rank(trials("a", base) + trials("b", [v * f for v, f in zip(base, (1.10, 1.12, 1.08, 1.11))])
             + trials("c", [v * f for v, f in zip(base, (1.5, 0.9, 1.9, 1.4))])
             + trials("d", [v * f for v, f in zip(base, (2.0, 0.8, 1.3, 2.4))]))  # fmt: skip
    b = r.row("b").comparison
    assert b.p < 0.05 and b.p_holm > b.p
    raw = [row.comparison.p for row in r.rows[1:]]
    assert holm(raw) == pytest.approx([row.comparison.p_holm for row in r.rows[1:]])
    assert r.best is None and "not separated" in r.verdict


def test_one_seed_and_small_cases_are_json_safe():
    r = rank([Trial("a", 0, 1.0), Trial("b", 0, 2.0)])
    assert r.rows[0].interval is None and r.rows[1].comparison.p is None and r.rows[1].comparison.ratio == 2.0
    assert r.verdict.startswith("not separated at 1 seed:") and r.best is None
    json.dumps(r.to_dict(), allow_nan=False)
    same = rank(trials("a", [1.0, 2.0]) + trials("b", [2.0, 4.0]))  # identical log ratios: certain
    assert same.row("b").comparison.p == 0.0 and same.row("b").comparison.t is None and same.best == "a"
    json.dumps(same.to_dict(), allow_nan=False)
    assert rank([]).rows == () and rank([]).best is None
    assert rank(trials("a", [1.0, 2.0])).verdict.startswith("one configuration")
    assert "every configuration failed" in rank(trials("a", [None])).verdict


def test_bad_records_are_refused():
    for value in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="Trial.value"):
            Trial("a", 0, value)
    with pytest.raises(ValueError, match="seed 0 twice"):
        rank([Trial("a", 0, 1.0), Trial("a", 0, 2.0)])
    with pytest.raises(ValueError, match="alpha"):
        rank([], alpha=1.0)


# -- properties --------------------------------------------------------------------------------------------------
values = st.one_of(st.none(), st.floats(min_value=0.01, max_value=100.0))
records = st.lists(
    st.tuples(st.sampled_from("abcde"), st.integers(0, 6), values), min_size=0, max_size=30, unique_by=lambda r: r[:2]
)


@settings(CI)
@given(records, st.randoms(use_true_random=False))
def test_properties(recs, rnd: random.Random):
    ts = [Trial(c, s, v) for c, s, v in recs]
    r = rank(ts)
    shuffled = list(ts)
    rnd.shuffle(shuffled)
    assert rank(shuffled) == r  # the input's order does not matter
    assert len(r.rows) == len({c for c, _, _ in recs}) and [row.rank for row in r.rows] == list(
        range(1, len(r.rows) + 1)
    )
    for row in r.rows:
        assert row.n_ok + row.n_failed == len(row.seeds)
        if row.interval is not None:
            assert 0 < row.interval[0] <= row.centre <= row.interval[1]
        else:
            assert row.n_ok < 2
        c = row.comparison
        if c is not None and c.ratio_interval is not None:
            assert 0 < c.ratio_interval[0] <= c.ratio <= c.ratio_interval[1]
            assert 0 <= c.p <= c.p_holm <= 1
    dead = [row.n_ok == 0 for row in r.rows]
    assert dead == sorted(dead)  # every-seed-failed configurations last
    fractions = [row.n_failed / len(row.seeds) for row in r.rows if row.n_ok]
    assert fractions == sorted(fractions)
    if r.best is not None:
        assert r.best == r.rows[0].config and all(row.comparison.separated for row in r.rows[1:])
    json.dumps(r.to_dict(), allow_nan=False)


def test_pooled_is_the_rankings_centre_and_interval_in_the_charts_shape():
    from rpm_engine.ranking import pooled

    values = [1.0, 2.0, 4.0]
    p = pooled(values)
    row = rank([Trial("a", s, v) for s, v in enumerate(values)]).rows[0]
    assert p["mean"] == pytest.approx(2.0) == pytest.approx(row.centre)  # geometric mean of 1, 2, 4
    assert (p["lo"], p["hi"]) == pytest.approx(row.interval) and p["lo"] > 0
    assert p["arithmetic_mean"] == pytest.approx(7 / 3) and p["n"] == 3
    one = pooled([3.0])
    assert one["mean"] == pytest.approx(3.0) and math.isnan(one["lo"]) and math.isnan(one["hi"])
