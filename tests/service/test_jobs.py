"""The job runner behind the Train page: work in worker processes, one job per distinct run, bounded per server and
per visitor, all-or-nothing requests, cancel that really stops the work, a time budget per job.

Two runners are shared by the whole module (worker processes start slowly): one whose work is a stand-in that
waits for a release file (deterministic timing), one that really trains tiny runs.
"""

import dataclasses
import functools
import time

import pytest
from job_helpers import block, until

from rpm_engine import RunConfig, RunStore, VideoConfig
from rpm_service.jobs import CANCELLED, DONE, FAILED, RUNNING, WAITING, JobRunner
from rpm_service.limits import Limits

TINY = VideoConfig(frames=24, size=32, diameter=6)


def tiny(seed=0, epochs=2, coupling="rbf", **kw):
    return RunConfig.of(coupling, video=TINY, epochs=epochs, seed=seed, **kw)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """jobs=1, queue=3 (capacity 4), per_client=3, stand-in work that waits for ``release(config)``."""
    folder = tmp_path_factory.mktemp("signals")
    limits = Limits(jobs=1, queue=3, per_client=3, epochs=10, seeds=4)
    r = JobRunner(RunStore(folder / "store"), limits, work=functools.partial(block, str(folder)), cancel_grace=1.0)
    r.folder = folder
    yield r
    r.shutdown()


@pytest.fixture
def runner(stand_in):
    """The shared stand-in runner, emptied after each test (every job released or cancelled)."""
    yield stand_in
    for job_id in list(stand_in._jobs):
        stand_in.cancel(job_id)
    assert until(lambda: stand_in.stats()["stopping"] == 0 and stand_in.stats()["running"] == 0)
    stand_in.limits = dataclasses.replace(stand_in.limits, job_seconds=900)


def release(runner, config):
    (runner.folder / f"release-{config.key()}").touch()


def started(runner, config):
    return (runner.folder / f"started-{config.key()}").exists()


def running(runner, job):
    assert until(lambda: runner.view(job.id).state == RUNNING and started(runner, job.config)), runner.view(job.id)


def test_queue_positions_capacity_and_cancel_only_when_nobody_waits(runner):
    first = runner.submit(tiny(seed=0), "alice")
    running(runner, first)
    queued = [runner.submit(tiny(seed=s), f"v{s}") for s in (1, 2, 3)]
    assert [runner.view(j.id).position for j in queued] == [1, 2, 3]
    with pytest.raises(ValueError, match=r"queue is full: 4 runs .* holds 4"):
        runner.submit(tiny(epochs=3), "bob")
    # Bob joins the running job; Alice cancelling it only detaches her.
    assert runner.submit(tiny(seed=0), "bob") is first
    assert runner.cancel(first.id, "alice") is False and runner.view(first.id).state == RUNNING
    assert runner.cancel(first.id, "bob") is True and runner.view(first.id).state == CANCELLED
    # The next job starts once the worker has stopped; a queued job cancelled by its only client leaves the queue.
    running(runner, queued[0])
    assert runner.cancel(queued[1].id, "v2") and runner.view(queued[1].id).state == CANCELLED
    assert runner.view(queued[2].id).position == 1
    release(runner, queued[0].config)
    assert runner.wait(queued[0].id, timeout=10).state == FAILED  # the stand-in raises once released
    assert "boom" in runner.view(queued[0].id).error
    running(runner, queued[2])
    assert not started(runner, queued[1].config)  # the cancelled queued job never ran


def test_a_job_cancelled_by_another_visitor_is_not_joined(runner):
    """Alice cancels; Bob asks for the same run a moment later: he gets a fresh job, not "cancelled"."""
    config = tiny(seed=1, epochs=3)
    job = runner.submit(config, "alice")
    running(runner, job)
    assert runner.cancel(job.id, "alice")
    fresh = runner.submit(config, "bob")
    assert fresh.id != job.id and runner.view(fresh.id).state in (WAITING, RUNNING)
    assert runner.view(job.id).state == CANCELLED
    assert until(lambda: runner.view(fresh.id).state == RUNNING)


def test_a_refused_batch_is_all_or_nothing(runner):
    first = runner.submit(tiny(seed=0, epochs=4), "alice")
    running(runner, first)
    runner.submit_many([tiny(seed=1, epochs=4), tiny(seed=2, epochs=4)], "carol")
    before = runner.stats()
    # Bob's batch: join Alice's job and queue two new runs; only one place is left, so nothing happens.
    batch = [tiny(seed=0, epochs=4), tiny(seed=3, epochs=4), tiny(seed=3, epochs=5)]
    with pytest.raises(ValueError, match="queue is full"):
        runner.submit_many(batch, "bob")
    assert runner.view(first.id).clients == 1 and runner.stats() == before
    assert runner.cancel(first.id, "bob") is False  # Bob is attached to nothing


def test_one_visitor_cannot_fill_the_queue(runner):
    mine = runner.submit_many([tiny(seed=s, epochs=5) for s in range(3)], "alice")
    with pytest.raises(ValueError, match=r"at most 3 run\(s\) per visitor .*you have 3"):
        runner.submit(tiny(seed=3, epochs=5), "alice")
    other = runner.submit(tiny(seed=3, epochs=5), "bob")  # the last place is still there for someone else
    assert runner.view(other.id).state == WAITING
    runner.cancel(mine[1].id, "alice")
    runner.cancel(other.id, "bob")
    assert runner.view(runner.submit(tiny(seed=3, epochs=5), "alice").id).position is not None


def test_a_worker_that_ignores_cancel_is_terminated_and_replaced(runner):
    config = tiny(seed=2, epochs=6)
    (runner.folder / f"stubborn-{config.key()}").touch()
    job = runner.submit(config, "alice")
    running(runner, job)
    pid = runner.worker_pids()
    assert runner.cancel(job.id, "alice") and runner.view(job.id).state == CANCELLED
    assert until(lambda: runner.stats()["stopping"] == 0, timeout=5)
    assert until(lambda: runner.worker_pids() and runner.worker_pids() != pid)  # terminated and replaced
    nxt = runner.submit(tiny(seed=3, epochs=6), "alice")  # the fresh worker takes the next job
    running(runner, nxt)


def test_a_job_over_its_time_budget_is_stopped_with_a_message(runner):
    runner.limits = dataclasses.replace(runner.limits, job_seconds=1)
    job = runner.submit(tiny(seed=0, epochs=7), "alice")
    v = runner.wait(job.id, timeout=10)
    assert v.state == FAILED and "1 s, this server's limit per run" in v.error
    assert until(lambda: runner.stats()["stopping"] == 0, timeout=5)


# -- real training in the workers ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    r = JobRunner(RunStore(root / "store"), Limits(jobs=1, queue=4, frames=20000, epochs=10, seeds=4))
    yield r
    r.shutdown()


def test_identical_requests_share_one_job_and_a_stored_run_opens_at_once(trainer):
    before = trainer.stats()
    a = trainer.submit(tiny(), "alice")
    b = trainer.submit(tiny(), "bob")
    assert a is b and trainer.view(a.id).clients == 2
    done = trainer.wait(a.id, timeout=120)
    assert done.state == DONE and not done.from_store and done.epoch == 2 and done.loss is not None
    again = trainer.submit(tiny(), "carol")
    assert again.state == DONE and again.from_store and again.run.key == a.key
    s = trainer.stats()
    assert (s["jobs"] - before["jobs"], s["trained"] - before["trained"], s["shared"] - before["shared"]) == (1, 1, 1)


def test_cancel_while_generating_a_long_video_stops_the_work_and_keeps_the_worker(trainer):
    trainer.wait(trainer.submit(tiny(seed=3, epochs=1), "warm").id, timeout=120)  # the worker is up
    pid = trainer.worker_pids()
    long = RunConfig.of("rbf", video=VideoConfig(frames=20000, size=64, diameter=8), epochs=1)  # ~10 s to generate
    job = trainer.submit(long, "alice")
    assert until(lambda: trainer.view(job.id).state == RUNNING)
    time.sleep(1.0)  # well into the generation
    assert trainer.cancel(job.id, "alice") and trainer.view(job.id).state == CANCELLED
    assert until(lambda: trainer.stats()["stopping"] == 0, timeout=5)  # the generation saw the cancel (~10 s left)
    assert trainer.worker_pids() == pid  # the worker stopped by itself (no terminate) and stays
    assert long not in trainer.store


def test_a_failed_job_stores_nothing_and_the_runner_keeps_working(trainer):
    bad = trainer.wait(trainer.submit(tiny(seed=1, coupling="linear", w_init=1e30, lr=10), "a").id, timeout=120)
    assert bad.state == FAILED and "non-finite" in bad.error
    assert tiny(seed=1, coupling="linear", w_init=1e30, lr=10) not in trainer.store
    assert trainer.wait(trainer.submit(tiny(seed=2, epochs=1), "a").id, timeout=120).state == DONE


def test_limits_are_enforced_in_submit_not_only_in_widgets(trainer):
    jobs = trainer.stats()["jobs"]
    with pytest.raises(ValueError, match="epochs"):
        trainer.submit(tiny(epochs=11))
    with pytest.raises(ValueError, match="seed"):
        trainer.submit(tiny(seed=4))
    with pytest.raises(ValueError, match="frames"):
        trainer.submit(RunConfig.of("rbf", video=VideoConfig(frames=30000, size=32, diameter=6), epochs=1))
    with pytest.raises(ValueError, match=r"more than this server holds \(5\)"):
        trainer.submit_many([tiny(seed=s % 4, epochs=1 + s // 4) for s in range(8)])
    with pytest.raises(TypeError):
        trainer.submit("rbf")
    assert trainer.stats()["jobs"] == jobs


def test_a_run_in_a_read_only_extra_store_opens_without_training(tmp_path, trainer):
    trainer.wait(trainer.submit(tiny(), "ship").id, timeout=120)
    RunStore(tmp_path / "shipped").save(trainer.store.load(tiny().key()))
    r = JobRunner(RunStore(tmp_path / "mine"), Limits(), also=[RunStore(tmp_path / "shipped", read_only=True)])
    try:
        job = r.submit(tiny())
        assert job.state == DONE and job.from_store and r.stats()["jobs"] == 0
    finally:
        r.shutdown()


@pytest.mark.parametrize("background, nice", [(False, 0), (True, 10)])
def test_workers_train_in_the_background_only_when_the_limits_say_so(tmp_path, background, nice):
    """``Limits.background_training`` (RPM_BACKGROUND_TRAINING): the workers' CPU priority, read from the OS."""
    import os

    limits = Limits(jobs=1, queue=3, epochs=10, seeds=4, background_training=background)
    runner = JobRunner(RunStore(tmp_path / "store"), limits, work=functools.partial(block, str(tmp_path)))
    try:
        job = runner.submit(tiny(seed=1), "alice")
        assert until(lambda: (tmp_path / f"started-{job.key}").exists())  # the work itself has begun
        (pid,) = runner.worker_pids()
        assert os.getpriority(os.PRIO_PROCESS, pid) - os.getpriority(os.PRIO_PROCESS, 0) == nice
    finally:
        runner.shutdown()
