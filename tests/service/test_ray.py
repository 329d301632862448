"""The Ray sweep backend on a real local cluster (2 CPUs on 127.0.0.1): same results as the local backend, one writer,
a killed worker's task retried, cancel reaching the tasks."""

import os
import signal
import threading
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")

from rpm_engine import Cancelled, RunStore, VideoConfig  # noqa: E402
from rpm_engine.sweep import Sweep  # noqa: E402
from rpm_service.ray_backend import ADDRESS_ENV, RayBackend  # noqa: E402
from rpm_service.sweeps import run_sweep  # noqa: E402

TINY = VideoConfig(frames=24, size=32, diameter=6)


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield ray
    ray.shutdown()


def test_address_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(ADDRESS_ENV, "10.0.0.5:6379")
    assert RayBackend().address == "10.0.0.5:6379"
    assert RayBackend(address="auto").address == "auto"
    monkeypatch.delenv(ADDRESS_ENV)
    assert RayBackend().address is None


def test_ray_equals_local_for_the_same_keys(cluster, tmp_path):
    sw = Sweep.of([("rbf", {"theta": "0.1,1"}), ("linear", {"w_init": 1e-3})], seeds=2, video=TINY, epochs=2)
    local = run_sweep(sw, "local", RunStore(tmp_path / "local"))
    events = []
    backend = RayBackend()
    remote = run_sweep(sw, backend, RunStore(tmp_path / "ray"), on_point=events.append)
    assert len(remote.points) == 6 and remote.backend == "ray"
    assert not any(p.cached for p in remote.points) and all(p.error is None for p in remote.points)
    by_key = {p.key: p.l2_mean for p in local.points + local.reference_runs}
    for p in remote.points + remote.reference_runs:  # train() is deterministic per config on CPU
        assert p.l2_mean == pytest.approx(by_key[p.key], rel=1e-6, abs=1e-9)
    assert [r["label"] for r in remote.ranking] == [r["label"] for r in local.ranking]
    finished = [e for e in events if e.kind == "finished"]
    assert len(finished) == 10 and finished[-1].done == 10  # progress per point, references included
    assert {i["pid"] for i in backend.last_info.values()} != {os.getpid()}  # trained in Ray workers
    store = RunStore(tmp_path / "ray")
    assert all(p.key in store for p in remote.points)  # stored by the driver
    again = run_sweep(sw, backend, store)
    assert all(p.cached for p in again.points)


def test_a_killed_worker_is_retried_and_the_sweep_completes(cluster, tmp_path):
    marks = tmp_path / "marks"
    sw = Sweep.of([("rbf", {"theta": "0.1,0.3,1"})], seeds=2, video=TINY, epochs=25, references=False)
    backend = RayBackend(marker_dir=str(marks), max_retries=3)
    out = {}

    def go():
        try:
            out["result"] = run_sweep(sw, backend, RunStore(tmp_path / "store"))
        except BaseException as exc:  # surfaced by the assertions below
            out["error"] = exc

    t = threading.Thread(target=go)
    t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (marks.exists() and any(marks.iterdir())):
        time.sleep(0.05)
    first = sorted(marks.iterdir(), key=lambda p: p.stat().st_mtime)[0]
    key, pid = first.name.split(".")[:2]
    os.kill(int(pid), signal.SIGKILL)  # the worker dies mid-training
    t.join(timeout=90)
    assert not t.is_alive(), "the sweep did not finish after a worker was killed"
    assert "error" not in out, out.get("error")
    res = out["result"]
    assert len(res.points) == 6 and all(p.l2_mean is not None for p in res.points)
    pids = {m.name.split(".")[1] for m in marks.iterdir() if m.name.startswith(key)}
    assert len(pids) >= 2, "the killed task was not retried in another worker"
    assert backend.last_info[key]["pid"] != int(pid)
    assert key in RunStore(tmp_path / "store")


def test_cancel_reaches_the_tasks(cluster, tmp_path):
    sw = Sweep.of([("rbf", {"theta": "0.1,0.2,0.3,0.5,1,2"})], seeds=2, video=TINY, epochs=25, references=False)
    stop = threading.Event()

    def on_point(ev):
        if ev.kind == "finished":
            stop.set()

    store = RunStore(tmp_path / "store")
    marks = tmp_path / "marks"
    with pytest.raises(Cancelled):
        run_sweep(sw, RayBackend(marker_dir=str(marks)), store, on_point=on_point, cancel=stop)
    stored = sum(p.key() in store for p in sw.points())
    assert 1 <= stored < len(sw.points())  # finished ones kept, the rest cancelled rather than awaited
    time.sleep(1.0)
    assert sum(p.key() in store for p in sw.points()) == stored  # nothing is written after the cancel
    assert len(list(marks.iterdir())) < len(sw.points())  # queued tasks were cancelled, never started
