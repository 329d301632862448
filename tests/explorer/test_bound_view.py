"""explorer.bound, the Bound page's view model, on the shipped runs: its rows agree with each other and with the
engine, and it refuses what it cannot show with a clear message."""

import math

import numpy as np
import pytest

from explorer import bound as vm
from explorer.catalog import SHIPPED_ROOT, Catalog
from rpm_engine import bound
from rpm_engine.data import simulate
from rpm_engine.store import RunStore


@pytest.fixture(scope="module")
def runs():
    store = RunStore(SHIPPED_ROOT, read_only=True)
    fig1 = Catalog([("shipped", store)]).shipped_fig1()
    return {m: [store.load(e.key) for e in fig1[m][:2]] for m in fig1}


def test_the_curve_ends_at_the_elbo_and_never_passes_log_n(runs):
    rows = vm.curves(runs, "all")
    assert {r["method"] for r in rows} == {"rbf", "linear"}  # only runs with a critic have a bound
    terms = {(t["method"], t["seed"]): t for t in vm.elbo_rows(runs, "all", "trained")}
    for r in rows:
        assert r["ns"][0] == 2 and r["ns"][-1] == r["m"]
        assert np.all(r["values"] <= np.log(r["ns"]) + 1e-12)
        assert r["values"][-1] == pytest.approx(terms[(r["method"], r["seed"])]["elbo"])  # N = M is the ELBO


def test_the_rbf_prior_is_fitted_to_every_encoder(runs):
    rows = vm.elbo_rows(runs, "held_out", "rbf")
    assert {r["method"] for r in rows} == set(runs)
    for r in rows:
        assert r["n"] == 101 and r["mi"] == pytest.approx(math.log(101))
        assert r["mi"] == pytest.approx(r["elbo"] + r["kl"]) and r["kl"] >= 0 and r["theta"] > 0
    assert {r["method"] for r in vm.elbo_rows(runs, "all", "trained")} == {"rbf", "linear"}


def test_a_warp_row_at_p_1_is_the_run_itself(runs):
    run = runs["rbf"][0]
    centres = simulate(run.config.video)[0]
    one, at = vm.warp_row(run, centres, 1.0), vm.warp_row(run, centres, 3.0)
    assert one["l2"] == pytest.approx(run.metrics["l2_mean"])  # the stored read-out error, recomputed
    assert one["trained"] == pytest.approx(one["fixed"])
    assert at["fixed"] == pytest.approx(one["fixed"], abs=1e-9) and at["mi"] == one["mi"]
    assert at["l2"] > one["l2"] and at["refit"] < one["refit"]
    z, zp = bound.pairs(run.z)
    assert one["refit"] == pytest.approx(bound.fit_rbf(bound.squared_distances(z, zp))[1])
    baseline = vm.warp_row(runs["untrained"][0], centres, 2.0)
    assert baseline["trained"] is None and math.isfinite(baseline["fixed"])
    assert "no critic of its own" in vm.warp_caption(
        vm.warp_row(runs["untrained"][0], centres, 1.0), baseline, "untrained"
    )


def test_what_the_page_cannot_show_is_a_message(runs):
    with pytest.raises(ValueError, match="pairs must be one of"):
        vm.curves(runs, "test")
    with pytest.raises(ValueError, match="prior must be one of"):
        vm.elbo_rows(runs, "all", "gaussian")
    with pytest.raises(ValueError, match="has no critic"):
        vm.priors_of(runs["supervised"][0], None, 400, 0, 2)
