"""The Train and Compare view models: job lines, refresh back-off, the runs "Compare these runs" picks, labels and
exports; user text escaped for Markdown."""

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest

from explorer import views
from explorer.catalog import SHIPPED_ROOT, Catalog, Entry
from rpm_engine.store import RunStore
from rpm_service.jobs import DONE, RUNNING, WAITING


def job(state=DONE, **kw):
    base = dict(id="j1", key="k1", label="rbf · seed 0", state=state, position=None, epoch=0, epochs=30, loss=None,
                mi=None, elapsed_s=None, eta_s=None, device="cpu", error=None, from_store=False, clients=1)  # fmt: skip
    base.update(kw)
    return SimpleNamespace(**base, finished=state not in (WAITING, RUNNING))


@pytest.fixture(scope="module")
def shipped():
    cat = Catalog([("shipped", RunStore(SHIPPED_ROOT, read_only=True))])
    return cat, cat.shipped_fig1()


def test_markdown_escape_leaves_no_tag_or_directive():
    text = views.md_escape("<img src=x> **b** :red[x] [l](http://e)")
    assert "<" not in text.replace("\\<", "") and ":red[" not in text and "](" not in text


def test_job_lines_say_what_a_student_can_read():
    line = views.job_line(job(RUNNING, label="<b>x</b>", epoch=3, loss=3.9, mi=-38.51))
    assert "\\<b\\>" in line and "below 0" in line and "epoch 3/30" in line
    for tiny in (-0.0, -0.004, -0.04):  # rounding noise is 0.00, never "-0.00", and needs no explanation
        assert views.mi_text(tiny) == "I_N 0.00 nats" or views.mi_text(tiny) == f"I_N {tiny:.2f} nats"
        assert "-0.00" not in views.mi_text(tiny) and "below 0" not in views.mi_text(tiny)
    assert "below 0" in views.mi_text(-0.2)
    done = views.describe(job(DONE, elapsed_s=1.5, loss=0.5, mi=2.9), l2=1.234)
    assert "held-out error **1.23 px**" in done and "I_N 2.90 nats" in done


def test_refresh_backs_off_when_nothing_changes_and_stops_when_done():
    running = [job(RUNNING)]
    assert [views.refresh_interval(running, q) for q in (0, 4, 5, 14, 15, 100)] == [1.0, 1.0, 2.0, 2.0, 5.0, 5.0]
    assert views.refresh_interval([job(DONE)], 0) is None and views.refresh_interval([], 0) is None


def test_compare_picks_one_run_per_configuration_never_a_run_twice(shipped):
    cat, fig1 = shipped
    by_key = {e.key: e for e in cat.entries()}
    rbf, lin = fig1["rbf"], fig1["linear"]
    done = [job(key=e.key) for e in rbf] + [job(key=lin[0].key), job(key=lin[1].key), job(key=rbf[0].key)]
    assert views.compare_keys(done, by_key) == [rbf[0].key, lin[0].key]
    assert views.compare_keys([job(key=rbf[1].key)], by_key) == []  # one run: nothing is filled in beside it
    seeds = views.compare_keys([job(key=rbf[1].key), job(key=rbf[2].key)], by_key)
    assert seeds == [rbf[1].key, rbf[2].key]  # one configuration: exactly its runs just trained, side by side


def test_labels_styles_and_exports(shipped):
    cat, fig1 = shipped
    sel = [fig1["rbf"][0], fig1["rbf"][1], fig1["linear"][0]]
    labels, styles = views.labels(sel), views.styles(sel)
    assert len(set(labels.values())) == 3 and all("shipped" in v for v in labels.values())
    assert styles[sel[0].key][0] == styles[sel[1].key][0] and styles[sel[0].key][1] != styles[sel[1].key][1]
    rows = [{"key": "a", "l2": 1.0}, {"key": "b", "extra": 2}]
    assert views.metrics_csv(rows).splitlines()[0] == "key,l2,extra"
    assert json.loads(views.metrics_json(rows, 3, 1))["frame"] == 3
    summary = dict(views.run_summary(sel[0], {**sel[0].metrics, "theta_effective_px": 9.4}))
    assert summary["held-out L2"].endswith("px") and "9.4 px" in summary["length-scale"]
    assert summary["video"].startswith(f"{sel[0].config.video.frames} frames")
    pooled = [e.metrics["l2_mean"] for e in fig1["rbf"]]
    both = dict(views.run_summary(sel[0], sel[0].metrics, pooled))
    assert f"over {len(pooled)} seeds (geometric mean)" in both and "held-out L2, this seed" in both
    assert views.group_label(sel[0], len(pooled)).endswith("shipped") and "seed" not in views.group_label(sel[0], 5)
    other = Entry("x", replace(sel[0].config, video=replace(sel[0].config.video, frames=48)), sel[0].metrics,
                  "yours", 0.0)  # fmt: skip
    assert views.video_warning(sel) is None and "2 different videos" in views.video_warning([sel[0], other])
    assert "Here" in views.mi_caption([(labels[e.key], e.metrics) for e in sel])


def test_a_press_never_asks_for_more_than_the_visitors_share(tmp_path):
    """per_client = 1: the default list of two runs is not refused; one trains, the other waits its turn."""
    import time

    from rpm_engine.config import QUICK_RECIPE, VideoConfig
    from rpm_service.jobs import JobRunner
    from rpm_service.limits import Limits

    tiny = VideoConfig(frames=24, size=32, diameter=6)
    runner = JobRunner(RunStore(tmp_path / "store"), Limits(per_client=1), device="cpu")
    try:
        pending = [QUICK_RECIPE.run_config(c, video=tiny, epochs=1) for c in ("rbf", "linear")]
        jobs, pending, refusal = views.submit_wave(runner, pending, [], "me", 1)
        assert len(jobs) == 1 and len(pending) == 1 and refusal is None
        assert "1 more run will start as yours finish" in views.pending_text(len(pending), 1, refusal)
        mine = [j.id for j in jobs]
        deadline = time.time() + 120
        while pending and time.time() < deadline:
            more, pending, refusal = views.submit_wave(runner, pending, mine, "me", 1)
            mine += [j.id for j in more]
            time.sleep(0.05)
        assert not pending and len(mine) == 2 and refusal is None
    finally:
        runner.shutdown()


def test_speed_is_what_this_server_measured(shipped):
    cat, fig1 = shipped
    e = fig1["rbf"][0]
    assert "no measured time" in views.speed_text(cat.entries(), e.config.video, 30)  # shipped runs do not count
    mine = [Entry(f"k{i}", e.config, {**e.metrics, "train_seconds": s}, "yours", float(i))
            for i, s in enumerate((30.0, 60.0, 45.0))]  # fmt: skip
    text = views.speed_text(mine, e.config.video, 2 * e.config.train.epochs, {"waiting": 2, "running": 1})
    assert text.startswith("About 90 s per run") and "3 runs" in text and "3 runs waiting or training" in text


def test_a_sub_second_run_is_not_said_to_take_0_s(shipped):
    """Runs of a few epochs now train in a fraction of a second: the estimate keeps a decimal below 10 s."""
    cat, fig1 = shipped
    e = fig1["rbf"][0]
    mine = [Entry(f"k{i}", e.config, {**e.metrics, "train_seconds": s}, "yours", float(i))
            for i, s in enumerate((0.2, 0.1, 0.3))]  # fmt: skip
    text = views.speed_text(mine, e.config.video, e.config.train.epochs)
    assert text.startswith("About 0.2 s per run"), text


def test_a_running_jobs_time_left_is_never_0_s():
    """The same reading of seconds as the measured time per run: a decimal below 10 s, minutes past 2."""
    assert "about 0.3 s left" in views.job_line(job(RUNNING, epoch=29, eta_s=0.3))
    assert "about 45 s left" in views.job_line(job(RUNNING, epoch=2, eta_s=45.2))
    assert "about 5 min left" in views.job_line(job(RUNNING, epoch=1, eta_s=300.0))
