"""The Explore page's view model: sweeps as the page defines them, their URL, waves within a visitor's share of the
queue. The results (groups, leaderboard, curves, the figure) are tested in test_sweep_view.py."""

import dataclasses
from types import SimpleNamespace

import pytest

from explorer import explore as ex
from explorer.state import ViewState, default_item, from_query, to_query
from rpm_engine.config import QUICK_RECIPE, QUICK_VIDEO, VideoConfig
from rpm_engine.sweep import plan
from rpm_service.limits import Limits

TINY = VideoConfig(frames=24, size=32, diameter=6)


def _explore_view(params, lim=None):
    view, notices = from_query(params, lim or Limits())
    return view.explore, notices


def test_the_explore_sweep_is_part_of_the_one_url_table():
    rows = (ex.FamilyRow("rbf", "theta", "log:0.01:1:5"), ex.FamilyRow("dot(z, zp) / tau", "tau", "0.1,1"))
    state = ex.ExploreState(rows, "4", 12, ("rbf",))
    q = to_query(dataclasses.replace(ViewState(), explore=state))
    assert q["xf"] == ["rbf;theta=log:0.01:1:5", "dot(z, zp) / tau;tau=0.1,1"] and q["xseeds"] == "4"
    assert q["xepochs"] == "12" and q["xshow"] == ["rbf"]
    back, notices = _explore_view(q)
    assert back == state and notices == []
    assert to_query(ViewState()) == {}  # the default sweep writes nothing


def test_a_bad_link_gives_notices_and_the_defaults():
    q = {"xf": ["rbf;nope=1", "rbf;theta"], "xseeds": "3-1", "xepochs": "100000"}
    state, notices = _explore_view(q)
    assert state == ex.ExploreState() and len(notices) == 4
    assert all(n.startswith("URL parameter x") for n in notices)
    assert _explore_view({"xseeds": "12"}, Limits(seeds=10))[0].seeds == "0-2"
    off = Limits(allow_expressions=False)
    assert _explore_view({"xf": "dot(z, zp) / tau;tau=1"}, off)[0] == ex.ExploreState()


def test_seeds_can_be_one_chosen_seed():
    lim = Limits()
    assert ex.parse_seeds("0-2", lim) == (0, 1, 2)
    assert ex.parse_seeds("0, 3", lim) == (0, 3)
    assert ex.parse_seeds("4", lim) == (4,)
    for bad in ("", "a", "2-1", "-1", "10"):
        with pytest.raises(ValueError, match="seeds"):
            ex.parse_seeds(bad, lim)


def test_the_quick_rbf_sweep_is_15_points_and_its_runs_are_the_train_pages():
    state = ex.ExploreState((ex.FamilyRow("rbf", "theta", "0.01,0.03,0.1,0.3,1"),), "0-2", 30)
    sweep = ex.build_sweep(state, QUICK_VIDEO, Limits())
    assert len(sweep.points()) == 15 and len(ex.plan(sweep)) == 21  # + supervised and untrained over 3 seeds
    keys = {c.key() for c in ex.plan(sweep)}
    assert default_item("rbf").run_config(QUICK_VIDEO, 30, 1).key() in keys  # θ₀ = 0.1, seed 1: the Train page's run
    by_epochs = ex.build_sweep(
        ex.ExploreState((ex.FamilyRow("rbf", "epochs", "10,30"),), "0", 30), QUICK_VIDEO, Limits()
    )
    assert {dict(c.coupling.init)["theta"] for c in by_epochs.points()} == {QUICK_RECIPE.theta0}
    assert sorted(c.train.epochs for c in by_epochs.points()) == [10, 30]


@pytest.mark.parametrize(
    "state, match",
    [
        (ex.ExploreState((ex.FamilyRow("rbf", "theta", ""),)), "give values"),
        (ex.ExploreState((ex.FamilyRow("rbf", "theta", "0.1,-1"),)), "positive"),
        (ex.ExploreState((ex.FamilyRow("rbf", "tau", "1"),)), "no parameter"),
        (ex.ExploreState(seeds="0-20"), "seeds"),
        (ex.ExploreState(epochs=500), "epochs"),
        (ex.ExploreState(()), "at least one family"),
        (ex.ExploreState((ex.FamilyRow("rbf"),) * 9), "more than the 8"),
    ],
)
def test_bad_sweeps_are_one_line_messages(state, match):
    with pytest.raises(ValueError, match=match):
        ex.build_sweep(state, TINY, Limits())


def test_a_sweep_over_the_limits_is_refused():
    with pytest.raises(ValueError, match="frames"):
        ex.build_sweep(ex.ExploreState(), QUICK_VIDEO, Limits(frames=64))
    big = ex.ExploreState((ex.FamilyRow("rbf", "theta", "log:0.01:10:50"),), "0-9")
    with pytest.raises(ValueError, match="limit"):
        ex.build_sweep(big, TINY, Limits(queue=4))


def test_waves_fill_the_share_and_no_more():
    cfgs = list(range(7))
    assert ex.next_wave(cfgs, 0, 3) == ([0, 1, 2], [3, 4, 5, 6])
    assert ex.next_wave(cfgs, 2, 3) == ([0], [1, 2, 3, 4, 5, 6])
    assert ex.next_wave(cfgs, 5, 3) == ([], cfgs)
    assert [ex.poll_interval(i) for i in (0, 2, 3, 6, 9, 30)] == [1, 1, 2, 4, 8, 8]
    assert ex.poll_interval(30, pending=True) == 1  # runs wait to be submitted: the next wave goes in at once


class FakeRunner:
    """The job service's interface (submit_many, views, cancel) without worker processes: each ``tick`` starts the
    oldest waiting job, finishes the running one, and a full queue refuses a wave as the real one does."""

    def __init__(self, queue: int = 100):
        self.jobs, self.queue, self.submitted = {}, queue, []

    def submit_many(self, configs, client=""):
        if sum(j.state == "waiting" for j in self.jobs.values()) + len(configs) > self.queue:
            raise ValueError("the queue is full (100 waiting): try again in a minute")
        out = []
        for c in configs:
            job = SimpleNamespace(id=f"j{len(self.jobs)}", state="waiting", client=client, config=c)
            self.jobs[job.id] = job
            self.submitted.append(c.key())
            out.append(job)
        return out

    def views(self, ids):
        return [SimpleNamespace(state=self.jobs[i].state, finished=self.jobs[i].state in ("done", "cancelled"))
                for i in ids]  # fmt: skip

    def cancel(self, job_id, client=None):
        if self.jobs[job_id].state != "done":
            self.jobs[job_id].state = "cancelled"

    def tick(self):
        for j in self.jobs.values():
            if j.state == "running":
                j.state = "done"
        waiting = [j for j in self.jobs.values() if j.state == "waiting"]
        if waiting:
            waiting[0].state = "running"


def test_a_sweep_is_submitted_in_waves_within_the_visitors_share():
    lim = Limits(per_client=2)
    runner = FakeRunner()
    state = ex.ExploreState((ex.FamilyRow("rbf", "theta", "0.1,1"),), "0-1", 1)
    sweep = ex.build_sweep(state, TINY, lim)
    run = ex.SweepRun.start(sweep, stored=[])
    assert run.total == 8 and run.counts(runner)["waiting"] == 8
    for _ in range(100):
        if run.finished(runner):
            break
        run.step(runner, "me", ex.wave_size(lim))
        assert sum(not v.finished for v in runner.views(run.jobs)) <= 2  # never more than this visitor's share
        runner.tick()
    assert run.finished(runner) and run.counts(runner)["done"] == 8
    assert runner.submitted == [c.key() for c in plan(sweep)]  # each planned run once, in the plan's order
    again = ex.SweepRun.start(sweep, stored=runner.submitted)
    assert again.total == 0  # everything stored: nothing to train, the plot is complete at once


def test_a_full_queue_holds_the_wave_and_loses_nothing():
    runner = FakeRunner(queue=1)
    sweep = ex.build_sweep(ex.ExploreState((ex.FamilyRow("rbf", "theta", "0.1,1"),), "0", 1), TINY, Limits())
    run = ex.SweepRun.start(sweep, stored=[])
    run.step(runner, "me", 3)
    assert run.jobs == [] and "queue is full" in run.notice and len(run.pending) == run.total
    run.cancel(runner, "me")
    assert run.pending == [] and run.finished(runner)


def test_a_small_server_opens_a_default_sweep_it_allows_and_names_only_what_a_link_held():
    lim = Limits(seeds=2, epochs=3)
    view, notices = from_query({}, lim)
    assert notices == [] and (view.explore.seeds, view.explore.epochs) == ("0-1", 3)
    ex.build_sweep(view.explore, view.video, lim)  # the default sweep is within this server's limits
    view, notices = from_query({"xepochs": "9", "c": "rbf;theta=0.1"}, lim)
    assert len(notices) == 1 and notices[0].startswith("URL parameter xepochs")  # only what the link held
