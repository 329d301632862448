"""Paired changes from the untrained start and log-scale summaries (evaluate.paired_change, evaluate.log_summary),
against formulas written out here, and the pairing itself: one seed gives one initial encoder whatever it trains."""

import math

import pytest
import torch

from rpm_engine.config import RunConfig, VideoConfig
from rpm_engine.encoder import Encoder
from rpm_engine.evaluate import log_summary, paired_change
from rpm_engine.train import train

T4 = 2.776  # two-sided 95 % Student-t quantile, 4 degrees of freedom (tables)


def t_interval(xs):
    n = len(xs)
    m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    return m, m - T4 * sd / math.sqrt(n), m + T4 * sd / math.sqrt(n)


def test_paired_change_is_the_t_interval_of_the_per_seed_differences():
    start = {0: 7.6, 1: 1.6, 2: 5.0, 3: 5.0, 4: 8.1}
    after = {0: 1.0, 1: 0.9, 2: 1.0, 3: 1.2, 4: 0.9, 9: 3.0}  # seed 9 has no start: left out
    out = paired_change(start, after)
    diffs = [after[s] - start[s] for s in range(5)]
    m, lo, hi = t_interval(diffs)
    assert out["seeds"] == [0, 1, 2, 3, 4] and out["n"] == 5
    assert out["change"] == pytest.approx(diffs)
    assert (out["mean"], out["lo"], out["hi"]) == pytest.approx((m, lo, hi), abs=1e-3)
    assert (out["lower"], out["higher"]) == (5, 0)
    lm, llo, lhi = t_interval([math.log(after[s] / start[s]) for s in range(5)])
    assert (out["ratio"], out["ratio_lo"], out["ratio_hi"]) == pytest.approx(
        (math.exp(lm), math.exp(llo), math.exp(lhi)), rel=1e-3
    )


def test_pairing_gives_a_narrower_interval_than_the_unpaired_one_when_seeds_differ_alike():
    start = {s: v for s, v in enumerate([2.0, 10.0, 4.0, 8.0, 6.0])}
    after = {s: v + 1.0 + 0.01 * s for s, v in start.items()}  # every seed 1 px worse: the spread is the seeds'
    out = paired_change(start, after)
    assert out["lo"] > 0.9 and out["hi"] < 1.1 and out["higher"] == 5


def test_log_summary_stays_positive_where_the_plain_interval_does_not():
    values = [0.33, 3.74, 1.22]  # App. D's untrained encoder at paper scale, seeds 0-2: mean ± t·se goes below 0
    m, sd = sum(values) / 3, math.sqrt(sum((v - sum(values) / 3) ** 2 for v in values) / 2)
    assert m - 4.303 * sd / math.sqrt(3) < 0
    s = log_summary(values)
    logs = [math.log(v) for v in values]
    lm = sum(logs) / 3
    lsd = math.sqrt(sum((x - lm) ** 2 for x in logs) / 2)
    assert s["mean"] == pytest.approx(math.exp(lm))
    assert s["lo"] == pytest.approx(math.exp(lm - 4.303 * lsd / math.sqrt(3)), rel=1e-3)
    assert 0 < s["lo"] < s["mean"] < s["hi"] and s["factor"] == pytest.approx(s["hi"] / s["mean"])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="no seed"):
        paired_change({0: 1.0}, {1: 2.0})
    with pytest.raises(ValueError, match="positive"):
        log_summary([1.0, 0.0])
    zero = paired_change({0: 0.0, 1: 1.0}, {0: 1.0, 1: 2.0})  # an error of 0: a change, but no ratio
    assert zero["mean"] == pytest.approx(1.0) and math.isnan(zero["ratio"])
    one = log_summary([2.0])
    assert one["mean"] == pytest.approx(2.0) and math.isnan(one["lo"])


def test_one_seed_is_one_initial_encoder_whatever_it_trains():
    """The pairing's premise: the untrained run of seed s is the starting point of every method's run of seed s."""
    video = VideoConfig(frames=24, size=32, diameter=6)
    untrained = train(RunConfig.of(None, method="untrained", video=video, seed=3))
    torch.manual_seed(3)
    fresh = Encoder(video.balls)
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, untrained.encoder().state_dict()[name]), name
