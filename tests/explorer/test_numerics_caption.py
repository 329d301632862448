"""Compare's run card states the run's numerics, or why this machine may not reproduce them (issue 18); the shipped
runs state theirs."""

import pytest

from explorer import views
from explorer.catalog import SHIPPED_ROOT
from rpm_engine import VideoConfig, train
from rpm_engine.config import RECIPES
from rpm_engine.store import RunStore


@pytest.fixture(scope="module")
def run():
    return train(RECIPES["quick"].run_config("rbf", video=VideoConfig(frames=24, size=32, diameter=6), epochs=1))


def test_a_run_made_here_states_its_numerics(run):
    text = views.numerics_caption(run)
    assert text.startswith("Numerics: ") and "the same as this machine's" in text
    assert ("fused CPU kernels" in text) == run.metrics["fused_kernels"]


def test_a_run_from_elsewhere_says_so_in_orange(run):
    run.provenance = {**run.provenance, "torch": "1.0.0"}
    text = views.numerics_caption(run)
    assert text.startswith(":orange[Numerics differ from this machine's") and "torch 1.0.0 (here " in text
    run.provenance = None  # stored before issue 18
    assert "before runs recorded their numerics" in views.numerics_caption(run)


def test_the_shipped_runs_state_their_provenance():
    store = RunStore(SHIPPED_ROOT, read_only=True)
    keys = [r["key"] for r in store.list_runs()]
    assert len(keys) == 20
    for key in keys:
        prov = store.load(key).provenance
        assert prov is not None, key
        assert prov["numerics"] == "fused" and prov["device"] == "cpu" and prov["kernel_source_sha256"]
        assert "\n" not in views.numerics_caption(store.load(key))
