"""Fair scheduling across visitors: the queue's round robin, the in-process runner starting jobs in that order, and a
visitor's identity (one per browser, from Streamlit's XSRF cookie) shared by its tabs."""

import functools

import pytest
from job_helpers import block, until

from rpm_engine import RunConfig, RunStore, VideoConfig
from rpm_service.fair import FairQueue
from rpm_service.identity import visitor_from_cookies, xsrf_token
from rpm_service.jobs import RUNNING, JobRunner
from rpm_service.limits import Limits

TINY = VideoConfig(frames=24, size=32, diameter=6)


class J:  # a job stand-in: compared by identity, as the runner's jobs are
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


def test_round_robin_across_owners_fifo_within_one():
    q = FairQueue()
    a = [J(f"a{i}") for i in range(3)]
    b, c = J("b0"), J("c0")
    for j in a:
        q.append(j, "alice")
    q.append(b, "bob")
    q.append(c, "carol")
    assert list(q) == [a[0], b, c, a[1], a[2]]  # alice asked first for three; bob and carol wait for one of hers
    assert len(q) == 5 and q.owners() == ["alice", "bob", "carol"]
    taken = [q.popleft() for _ in range(5)]
    assert taken == [a[0], b, c, a[1], a[2]] and not q  # iteration predicts the order jobs are taken in


def test_remove_put_back_and_a_late_arrival_gets_the_next_turn():
    q = FairQueue()
    a = [J(f"a{i}") for i in range(3)]
    for j in a:
        q.append(j, "alice")
    first = q.popleft()
    late = J("bob")
    q.append(late, "bob")
    assert list(q) == [late, a[1], a[2]]  # alice just had a turn: bob's first run goes before her second
    q.remove(a[1])
    assert list(q) == [late, a[2]]
    q.appendleft(first)  # taken, could not start: back in front of everything
    assert list(q) == [first, late, a[2]] and first in q
    with pytest.raises(ValueError):
        q.remove(J("stranger"))
    q.clear()
    assert not q and list(q) == []


def tiny(seed, epochs=2):
    return RunConfig.of("rbf", video=TINY, epochs=epochs, seed=seed)


def test_the_runner_starts_waiting_jobs_round_robin_across_visitors(tmp_path):
    folder = tmp_path / "signals"
    folder.mkdir()
    limits = Limits(jobs=1, queue=8, per_client=4, epochs=10, seeds=8)
    r = JobRunner(RunStore(tmp_path / "store"), limits, work=functools.partial(block, str(folder)))
    try:
        greedy = r.submit_many([tiny(s) for s in range(4)], "greedy")  # four runs (or four tabs of one browser)
        assert until(lambda: r.view(greedy[0].id).state == RUNNING)
        modest = r.submit(tiny(4), "modest")
        assert r.view(modest.id).position == 1  # next, not behind the greedy visitor's three waiting runs
        assert [r.view(j.id).position for j in greedy[1:]] == [2, 3, 4]
        assert r.mine("modest") == [modest.id] and set(r.mine("greedy")) == {j.id for j in greedy}
        order = []
        for _ in range(5):  # release the running job; record which starts next
            run = next(j for j in [*greedy, modest] if r.view(j.id).state == RUNNING)
            order.append(run.id)
            (folder / f"release-{run.key}").touch()
            assert until(lambda run=run: r.view(run.id).finished, 30)
            assert until(lambda: r.stats()["running"] == 1 or r.stats()["waiting"] == 0, 30)
        assert order == [greedy[0].id, modest.id, greedy[1].id, greedy[2].id, greedy[3].id]
    finally:
        r.shutdown()


def test_a_browser_is_one_visitor_whatever_its_tabs():
    token = bytes(range(16))
    masked = "2|01020304|{}|1700000000"
    mask = bytes([1, 2, 3, 4])
    tab1 = masked.format(bytes(t ^ mask[i % 4] for i, t in enumerate(token)).hex())
    mask2 = bytes([9, 8, 7, 6])
    tab2 = f"2|{mask2.hex()}|{bytes(t ^ mask2[i % 4] for i, t in enumerate(token)).hex()}|1700000000"
    assert tab1 != tab2  # Streamlit re-masks the cookie on every page load: same browser, different text
    assert xsrf_token(tab1) == xsrf_token(tab2) == token
    one = visitor_from_cookies({"_streamlit_xsrf": tab1})
    assert one == visitor_from_cookies({"_streamlit_xsrf": tab2}) and len(one) == 16 and token.hex() not in one
    other = visitor_from_cookies({"_streamlit_xsrf": f"2|{mask.hex()}|{bytes(16).hex()}|1700000000"})
    assert other != one
    assert visitor_from_cookies({}) is None  # no cookie (XSRF protection off, a bare client): the caller decides
    assert visitor_from_cookies({"_streamlit_xsrf": "2|zz|nothex|1"}) is None
    assert visitor_from_cookies({"_streamlit_xsrf": "1|abc"}) is None
