"""Same key, same numbers (issue 18): one key gives bit-identical metrics at any thread count and after anything else
ran in the process, fused kernels or stock PyTorch; every run records its numerics provenance, and a run opened where
the provenance differs says so (CLI JSON, Compare's card). The backends (job runner, Ray) are in
tests/service/test_numerics_backends.py.

The linear coupling is the sharp case: its training is chaotic (a 1e-6 nudge moves the quick-scale result by pixels),
so any difference in the last bit of any sum shows in the held-out error."""

import json
import math

import numpy as np
import pytest
import torch
from tiny import run_numbers

from rpm_engine import RunStore, VideoConfig, generate_video, train
from rpm_engine.cli import main
from rpm_engine.config import RECIPES
from rpm_engine.numerics import RUN_THREADS
from rpm_engine.provenance import machine_provenance, provenance_mismatch

VIDEO = VideoConfig(frames=48, size=32, diameter=6)


def linear(seed=0, epochs=3):
    return RECIPES["quick"].run_config("linear", seed=seed, video=VIDEO, epochs=epochs)


@pytest.fixture(scope="module")
def video():
    return generate_video(VIDEO)


@pytest.fixture(params=["fused", "stock"])
def path(request, monkeypatch):
    """The two numerics paths: the fused kernels (when this machine builds them) and stock PyTorch."""
    if request.param == "stock":
        monkeypatch.setenv("RPM_ENGINE_FAST", "0")
    else:
        monkeypatch.delenv("RPM_ENGINE_FAST", raising=False)
    threads = torch.get_num_threads()
    yield request.param
    torch.set_num_threads(threads)


def test_one_key_same_bits_at_any_thread_count(path, video):
    # Before the fix (train.__wrapped__) both paths differed: stock from 2 threads on, fused from 3 on
    # (MKL's z W z'ᵀ). 3 threads on a 2-core machine still splits the work 3 ways.
    config = linear()
    runs = {}
    for n in (1, 2, 3):
        torch.set_num_threads(n)
        runs[n] = train(config, video, device="cpu")
        assert torch.get_num_threads() == n  # the caller's count comes back
    if path == "fused" and not runs[1].metrics["fused_kernels"]:
        pytest.skip("the fused kernels cannot be built here")
    assert runs[1].metrics["fused_kernels"] == (path == "fused")
    assert math.isfinite(runs[1].metrics["final_mi"])
    for n in (2, 3):
        assert run_numbers(runs[n]) == run_numbers(runs[1]), f"{path}: {n} threads differ from 1"


def test_process_history_does_not_change_a_run(path, video):
    config = linear(seed=1)
    first = train(config, video, device="cpu")
    # What earlier work in a process may leave behind: threads, the global random state, the default dtype, oneDNN.
    torch.set_num_threads(3)
    torch.manual_seed(1234)
    torch.rand(1000)
    np.random.seed(99)
    train(linear(seed=2), video, device="cpu")  # another run in between
    torch.set_default_dtype(torch.float64)
    torch.backends.mkldnn.enabled = False
    try:
        again = train(config, video, device="cpu")
        assert torch.get_default_dtype() == torch.float64 and not torch.backends.mkldnn.enabled  # given back
    finally:
        torch.set_default_dtype(torch.float32)
        torch.backends.mkldnn.enabled = True
    assert torch.get_num_threads() == 3
    assert run_numbers(again) == run_numbers(first)


def test_the_run_records_its_provenance_and_the_store_keeps_it(path, video, tmp_path):
    run = train(linear(epochs=1), video, device="cpu")
    prov = run.provenance
    fused = run.metrics["fused_kernels"]
    assert prov["numerics"] == ("fused" if fused else "stock") and prov["fused"] is fused
    assert prov["device"] == "cpu" and prov["torch"] == torch.__version__ and prov["numpy"] == np.__version__
    assert prov["threads"] == RUN_THREADS and len(prov["cpu_flags_sha256"]) == 16
    if fused:
        import hashlib

        from rpm_engine import fast

        assert prov["kernel_source_sha256"] == hashlib.sha256(fast._SOURCE.read_bytes()).hexdigest()
        assert "-march=native" in prov["cflags"]
    else:
        assert "kernel_source_sha256" not in prov  # the kernels played no part
    json.dumps(prov)  # stored in run.json as it is
    store = RunStore(tmp_path)
    store.save(run)
    assert store.load(run.key).provenance == prov
    assert provenance_mismatch(store.load(run.key)) is None  # made here, opened here


def test_an_old_run_without_provenance_still_loads_and_says_so(video, tmp_path):
    run = train(linear(epochs=1), video, device="cpu")
    store = RunStore(tmp_path)
    store.save(run)
    meta_path = store.path(run.key) / "run.json"
    meta = json.loads(meta_path.read_text())
    del meta["provenance"]  # as every run stored before issue 18
    meta_path.write_text(json.dumps(meta))
    old = RunStore(tmp_path).load(run.key)
    assert old.provenance is None and old.metrics["l2_mean"] == run.metrics["l2_mean"]
    assert "before runs recorded their numerics" in provenance_mismatch(old)


def test_a_mismatch_names_what_differs(video):
    run = train(linear(epochs=1), video, device="cpu")
    here = machine_provenance("cpu")
    here["fused"] = run.provenance["fused"]  # whatever this machine builds, compare like with like
    assert provenance_mismatch(run, here) is None

    def note(**changes):
        run.provenance = {**base, **changes}
        return provenance_mismatch(run, here)

    base = dict(run.provenance)
    assert "torch 2.0.0 (here " in note(torch="2.0.0")
    assert "another CPU" in note(cpu_flags_sha256="0" * 16, cpu_model="Some Other CPU")
    assert "numpy 1.0 (here" in note(numpy="1.0")
    assert "ATen SIMD AVX2 (here " in note(aten_cpu_capability="AVX2")
    assert "environment ATEN_CPU_CAPABILITY=avx2 (here " in note(env={"ATEN_CPU_CAPABILITY": "avx2"})
    assert "trained on cuda, this machine trains on cpu" in note(device="cuda", numerics="cuda")
    flipped = note(fused=not base["fused"])
    assert ("stock PyTorch" in flipped) and ("fused kernels" in flipped)
    if base["fused"]:
        assert "kernel source 0123abcd (here" in note(kernel_source_sha256="0123abcd" * 8)
    else:
        assert "threads 4 (here 1)" in note(threads=4)
    assert "\n" not in flipped  # one line


def test_a_fused_run_opened_where_the_kernels_are_off_says_so(video, monkeypatch, tmp_path):
    run = train(linear(epochs=1), video, device="cpu")
    if not run.metrics["fused_kernels"]:
        pytest.skip("the fused kernels cannot be built here")
    monkeypatch.setenv("RPM_ENGINE_FAST", "0")
    assert machine_provenance("cpu")["fused"] is False
    assert "this machine uses stock PyTorch" in provenance_mismatch(run, device="cpu")


def test_the_cli_json_carries_the_provenance_and_the_note(video, monkeypatch, tmp_path):
    args = ["train", "--coupling", "linear", "--frames", "48", "--size", "32", "--diameter", "6", "--epochs", "1"]
    args += ["--cache", str(tmp_path / "store"), "--json", str(tmp_path / "out.json"), "--quiet", "--device", "cpu"]
    assert main(args) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["provenance"]["device"] == "cpu" and out["provenance_note"] is None
    if out["provenance"]["fused"]:  # the same stored run, opened where the kernels are off
        monkeypatch.setenv("RPM_ENGINE_FAST", "0")
        assert main(args) == 0
        again = json.loads((tmp_path / "out.json").read_text())
        assert again["cached"] and again["provenance"] == out["provenance"]
        assert "this machine uses stock PyTorch" in again["provenance_note"]
