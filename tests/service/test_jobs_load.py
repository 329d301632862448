"""The job runner under a class: it counts the visitors still waiting (the pages' refresh rate scales with it), and a
finished job carries its held-out error (so a page refresh needs no store listing). The workers' CPU priority
follows ``Limits.background_training`` (tests/service/test_jobs.py)."""

import functools

import pytest
from job_helpers import block

from rpm_engine import RunConfig, RunStore, VideoConfig
from rpm_service.jobs import DONE, JobRunner
from rpm_service.limits import Limits

TINY = VideoConfig(frames=24, size=32, diameter=6)


def tiny(seed=0):
    return RunConfig.of("rbf", video=TINY, epochs=1, seed=seed)


@pytest.fixture
def stand_in(tmp_path):
    r = JobRunner(RunStore(tmp_path / "store"), Limits(jobs=1, queue=8), work=functools.partial(block, str(tmp_path)))
    yield r
    r.shutdown()


def test_watchers_are_the_visitors_waiting_for_an_unfinished_job(stand_in):
    assert stand_in.stats()["watchers"] == 0
    a = stand_in.submit(tiny(0), "alice")
    stand_in.submit(tiny(0), "bob")  # joins alice's job
    c = stand_in.submit(tiny(1), "carol")
    stand_in.submit(tiny(2), "carol")
    assert stand_in.stats()["watchers"] == 3
    stand_in.cancel(c.id, "carol")
    assert stand_in.stats()["watchers"] == 3  # carol still waits for her second run
    stand_in.cancel(a.id, "alice")
    assert stand_in.stats()["watchers"] == 2  # bob still waits for the shared run


def test_a_finished_job_carries_its_held_out_error(tmp_path):
    r = JobRunner(RunStore(tmp_path / "store"), Limits(jobs=1, queue=4))
    try:
        job = r.submit(tiny(), "alice")
        view = r.wait(job.id, timeout=180)
        assert view.state == DONE and view.l2 is not None and view.l2 == job.run.metrics["l2_mean"]
        assert r.view(r.submit(tiny(), "bob").id).l2 == view.l2  # opened from the store: the same figure
        assert r.stats()["watchers"] == 0
    finally:
        r.shutdown()
