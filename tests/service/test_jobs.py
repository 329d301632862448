"""The job runner behind the Train page: one job per identical request, bounded, cancellable, limits enforced."""

import threading
import time

import pytest

from rpm_engine import RunConfig, RunStore, VideoConfig
from rpm_engine.train import Cancelled
from rpm_service.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, JobRunner
from rpm_service.limits import Limits

TINY = VideoConfig(frames=24, size=32, diameter=6)


def tiny(seed=0, epochs=2, coupling="rbf", **kw):
    return RunConfig.of(coupling, video=TINY, epochs=epochs, seed=seed, **kw)


@pytest.fixture
def runner(tmp_path):
    r = JobRunner(RunStore(tmp_path / "store"), Limits(jobs=1, queue=3, epochs=10, seeds=4))
    yield r
    r.shutdown()


def blocking(runner, monkeypatch):
    """Replace training by a stand-in that waits for a release (or its cancel event): deterministic timing."""
    release = threading.Event()
    calls = []

    def fake(config, *, video=None, device="auto", callback=None, cancel=None):
        calls.append(config.key())
        while not release.is_set():
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            time.sleep(0.01)
        raise RuntimeError("boom")  # the stand-in never stores anything

    monkeypatch.setattr(runner.store, "get_or_train", fake)
    return release, calls


def test_identical_requests_share_one_job_and_a_stored_run_opens_at_once(runner):
    a = runner.submit(tiny(), "alice")
    b = runner.submit(tiny(), "bob")
    assert a is b and runner.view(a.id).clients == 2
    done = runner.wait(a.id, timeout=120)
    assert done.state == DONE and not done.from_store and done.epoch == 2
    again = runner.submit(tiny(), "carol")
    assert again.state == DONE and again.from_store and again.run.key == a.key
    s = runner.stats()
    assert (s["jobs"], s["trained"], s["shared"]) == (1, 1, 1)


def test_queue_positions_bounds_and_cancel_only_when_nobody_waits(runner, monkeypatch):
    release, calls = blocking(runner, monkeypatch)
    first = runner.submit(tiny(seed=0), "alice")
    deadline = time.time() + 10
    while runner.view(first.id).state != RUNNING and time.time() < deadline:
        time.sleep(0.01)
    queued = [runner.submit(tiny(seed=s), "alice") for s in (1, 2, 3)]
    assert [runner.view(j.id).position for j in queued] == [1, 2, 3]
    with pytest.raises(ValueError, match="queue is full"):
        runner.submit(tiny(epochs=3), "bob")
    # Bob joins the running job; Alice cancelling it only detaches her.
    runner.submit(tiny(seed=0), "bob")
    assert runner.cancel(first.id, "alice") is False and runner.view(first.id).state == RUNNING
    assert runner.cancel(first.id, "bob") is True
    assert runner.wait(first.id, timeout=10).state == CANCELLED
    # The next job starts; a queued job cancelled by its only client leaves the queue and the last moves up.
    deadline = time.time() + 10
    while runner.view(queued[0].id).state == QUEUED and time.time() < deadline:
        time.sleep(0.01)
    assert runner.cancel(queued[1].id, "alice") and runner.view(queued[1].id).state == CANCELLED
    assert runner.view(queued[2].id).position == 1
    release.set()
    assert runner.wait(queued[0].id, timeout=10).state == FAILED  # the stand-in raises once released
    assert runner.wait(queued[2].id, timeout=10).state == FAILED
    assert calls == [tiny(seed=s).key() for s in (0, 1, 3)]
    assert runner.stats()["cancelled"] == 2


def test_a_failed_job_stores_nothing_and_the_runner_keeps_working(runner, monkeypatch):
    good = runner.wait(runner.submit(tiny(seed=1), "a").id, timeout=120)
    assert good.state == DONE
    original = runner.store.get_or_train
    release, _ = blocking(runner, monkeypatch)
    release.set()
    bad = runner.wait(runner.submit(tiny(seed=2), "a").id, timeout=10)
    assert bad.state == FAILED and "boom" in bad.error
    assert tiny(seed=2) not in runner.store and tiny(seed=1) in runner.store
    monkeypatch.setattr(runner.store, "get_or_train", original)
    assert runner.wait(runner.submit(tiny(seed=3), "a").id, timeout=120).state == DONE


def test_limits_are_enforced_in_submit_not_only_in_widgets(runner):
    with pytest.raises(ValueError, match="epochs"):
        runner.submit(tiny(epochs=11))
    with pytest.raises(ValueError, match="seed"):
        runner.submit(tiny(seed=4))
    with pytest.raises(ValueError, match="frames"):
        runner.submit(RunConfig.of("rbf", video=VideoConfig(frames=5000, size=32, diameter=6), epochs=1))
    with pytest.raises(ValueError, match="more than this server queues"):
        runner.submit_many([tiny(seed=s % 4, epochs=1 + s // 4) for s in range(8)])
    assert runner.stats()["jobs"] == 0


def test_a_run_in_a_read_only_extra_store_opens_without_training(tmp_path):
    shipped = RunStore(tmp_path / "shipped")
    shipped.get_or_train(tiny(seed=0, epochs=1))
    r = JobRunner(RunStore(tmp_path / "mine"), Limits(), also=[shipped])
    try:
        job = r.submit(tiny(seed=0, epochs=1))
        assert job.state == DONE and job.from_store and r.stats()["jobs"] == 0
    finally:
        r.shutdown()
