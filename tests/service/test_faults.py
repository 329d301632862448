"""kill -9 a server mid-training (a small run of benchmarks/faults.py): finished runs load, nothing half-written
is listed, the workers die with the server, and the queued runs are gone (asking again trains them)."""

import importlib.util
from pathlib import Path

import pytest

FAULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "faults.py"


@pytest.fixture(scope="module")
def faults():
    spec = importlib.util.spec_from_file_location("faults", FAULTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_killed_server_leaves_only_whole_runs(faults, tmp_path):
    # 300 epochs of one tiny batch each: seconds a run, so the kill 0.3 s after the first run is stored lands while
    # the second trains and the third waits, on a quiet machine as on a busy one
    out = faults.run_faults(tmp_path / "store", runs=3, epochs=300)
    assert out["stored"] >= 1 and out["all_load"] and out["broken"] == []
    assert out["workers_left"] == []
    assert out["stored"] + out["gone"] == 3 and out["gone"] >= 1
    assert out["ok"]
