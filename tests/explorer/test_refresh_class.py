"""The Train page's refresh rate under a class: the refreshes of every watching visitor together stay within a fixed
budget per second, on a few levels (a new rate costs a whole-page run), and a job moving up the queue does not reset
the back-off."""

from types import SimpleNamespace

from explorer import views
from rpm_service.jobs import RUNNING, WAITING


def job(state=RUNNING, **kw):
    base = dict(id="j1", state=state, epoch=0, position=None)
    base.update(kw)
    return SimpleNamespace(**base, finished=state not in (WAITING, RUNNING))


def test_a_class_refreshes_within_the_budget_whatever_its_size():
    for watchers in (1, 5, 8, 9, 30, 100, 1000):
        every = views.refresh_interval([job()], 0, watchers)
        assert every in views.REFRESH_LEVELS
        assert watchers / every <= views.REFRESH_BUDGET or every == views.REFRESH_LEVELS[-1]
    assert views.refresh_interval([job()], 0, 1) == 1.0  # alone: as fast as before
    assert views.refresh_interval([job()], 0, 30) == 5.0  # 30 watchers: 6 refreshes a second in all
    assert views.refresh_interval([job()], 100, 30) == 5.0  # quiet and crowded: the slower of the two


def test_moving_up_the_queue_is_not_progress_but_starting_is():
    waiting = [job(WAITING, position=5)]
    assert views.jobs_signature(waiting) == views.jobs_signature([job(WAITING, position=4)])
    assert views.jobs_signature(waiting) != views.jobs_signature([job(RUNNING)])
    assert views.jobs_signature([job(epoch=1)]) != views.jobs_signature([job(epoch=2)])
