"""Sweeps: grids as data, ordinary run keys, running them (resume from the store), ranking, the CLI."""

import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from rpm_engine import Cancelled, RunConfig, RunStore, VideoConfig
from rpm_engine.config import QUICK_RECIPE
from rpm_engine.sweep import Family, Setting, Sweep, parse_grid
from rpm_service import sweep_cli
from rpm_service.sweeps import LocalExecutor as LocalBackend
from rpm_service.sweeps import Outcome, PointResult, rank, run_sweep

ROOT = Path(__file__).resolve().parents[2]
TINY = VideoConfig(frames=24, size=32, diameter=6)  # one run of 1 epoch: ~0.1 s
TINY_ARGS = ["--frames", "24", "--size", "32", "--diameter", "6", "--epochs", "1"]


def tiny_sweep(**kw) -> Sweep:
    kw = {"seeds": 2, "video": TINY, "epochs": 1, **kw}
    return Sweep.of([("rbf", {"theta": "0.1,1"}), ("linear", {"w_init": 1e-3})], **kw)


# -- grids -------------------------------------------------------------------------------------------------------
def test_the_sweeps_grids_know_which_settings_are_whole_numbers():
    """rpm_engine.grids parses (tests/engine/test_grids_properties.py); the sweep says which names are integers."""
    assert parse_grid("log:1:100:5", "epochs") == (1, 3, 10, 32, 100)  # rounded, as epochs are whole numbers
    assert parse_grid("0.5,2", "lr") == (0.5, 2.0)
    with pytest.raises(ValueError, match="whole number"):
        parse_grid("1.5", "epochs")


def test_points_are_ordinary_runs_seeds_innermost():
    sw = tiny_sweep(seeds=3)
    pts = sw.points()
    assert len(pts) == 3 * 3 and sw.size == (3 + 2) * 3  # 3 configurations x 3 seeds; + 2 references x 3 seeds
    assert [p.train.seed for p in pts[:3]] == [0, 1, 2]
    expected = QUICK_RECIPE.run_config("rbf", video=TINY, epochs=1, seed=1, theta=1.0)
    assert pts[4].key() == expected.key()  # the same key as a run trained by `train` or the app
    assert [s.label for s in sw.settings()] == ["rbf (theta=0.1)", "rbf (theta=1)", "linear (w_init=0.001)"]
    refs = sw.reference_points()
    assert set(refs) == {"supervised", "untrained"}
    assert refs["supervised"][2].key() == RunConfig.of(None, video=TINY, method="supervised", epochs=1, seed=2).key()


def test_training_setting_grids_and_product():
    sw = Sweep.of([Family.of("rbf", theta="0.1,1", epochs="1,2", lr=0.01)], seeds=1, video=TINY, epochs=5)
    pts = sw.points()
    assert len(pts) == 4
    assert {(p.coupling.init, p.train.epochs, p.train.lr) for p in pts} == {
        ((("theta", th),), ep, 0.01) for th in (0.1, 1.0) for ep in (1, 2)
    }
    assert sw.settings()[0].params == {"theta": 0.1, "epochs": 1, "lr": 0.01}
    assert sw.reference_points()["supervised"][0].train.epochs == 5  # references use the base settings


def test_bad_sweeps_are_refused_before_training():
    with pytest.raises(ValueError, match="unknown coupling 'gausian'"):
        Sweep.of([("gausian", {})], video=TINY)
    with pytest.raises(ValueError, match="no parameter 'foo'"):
        Sweep.of([("rbf", {"foo": 1})], video=TINY)
    with pytest.raises(ValueError, match="more than the limit of 500"):
        Sweep.of([("rbf", {"theta": "log:0.01:100:200"})], seeds=3, video=TINY)
    with pytest.raises(ValueError, match="seeds"):
        Sweep.of([("rbf", {})], seeds=0, video=TINY)


def _point(setting, seed, l2, error=None):
    cfg = RunConfig.of("rbf", video=TINY, epochs=1, seed=seed)
    return PointResult(config=cfg, key=f"{setting.label}-{seed}", setting=setting, seed=seed, l2_mean=l2, cached=False,
                       train_seconds=0.0, wall_seconds=0.0, error=error)  # fmt: skip


def test_the_sweep_ranks_by_the_one_ranking_with_log_scale_intervals():
    """The sweep's rows are rpm_engine.ranking's order; each interval is the log-scale t-interval of the geometric
    mean (exact t quantile for n - 1 df), recomputed here from the per-seed values; a failed configuration is last."""
    a, b, c, d = (Setting("rbf", (("theta", float(t)),), ()) for t in (1, 2, 3, 4))
    values = {a: [3.0, 4.0, 8.0], b: [1.0, 2.0, 2.5], c: [5.0, 5.5, 6.5], d: [None, None, None]}
    pts = [
        _point(s, i, v, None if v is not None else "loss non-finite")
        for s, vs in values.items()
        for i, v in enumerate(vs)
    ]
    rows, ranking = rank(pts)
    assert [r["label"] for r in rows] == [s.name for s in (b, a, c, d)] == [r.label for r in ranking.rows]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    t975_df2 = 4.302652729911275  # scipy.stats.t.ppf(0.975, 2)
    for r in rows[:3]:
        v = np.log(np.array(r["l2_per_seed"]))
        half = t975_df2 * v.std(ddof=1) / math.sqrt(3)
        assert r["l2_mean"] == pytest.approx(np.exp(v).mean())
        assert r["l2_centre"] == pytest.approx(math.exp(v.mean()))
        assert r["l2_ci95"] == pytest.approx([math.exp(v.mean() - half), math.exp(v.mean() + half)], rel=1e-9)
        assert 0 < r["l2_ci95"][0] and r["params"]["theta"] in (1.0, 2.0, 3.0) and r["recipe"] == "quick"
    assert rows[3]["l2_mean"] is None and rows[3]["failed"] == 3
    # paired log ratios against b: a (1.10, 0.69, 1.16) t = 6.7, p = 0.021; c (1.61, 1.01, 0.96) t = 5.7, p = 0.029
    # (df 2); Holm: 0.042 and 0.029, both < 0.05; d failed on every seed: b is separated from all three
    assert ranking.best == b.name and ranking.verdict.startswith(f"{b.name} is best")


# -- running -----------------------------------------------------------------------------------------------------
class NoTraining:
    """A backend that fails the test if the sweep asks it to train anything."""

    name = "none"

    def run(self, configs, video, store, cancel=None):
        raise AssertionError(f"{len(configs)} points were sent to training")


def test_run_rank_and_resume_from_the_store(tmp_cache):
    store = RunStore(tmp_cache)
    sw = tiny_sweep()
    events = []
    first = run_sweep(sw, "local", store, on_point=events.append)
    assert len(first.points) == 6 and not any(p.cached for p in first.points)
    finished = [e for e in events if e.kind == "finished"]
    assert len(finished) == 6 + 4 and finished[-1].done == finished[-1].total == 10
    assert all(e.running == 1 for e in events if e.kind == "started")
    for p in first.points:  # every point is an ordinary run in the store
        assert store.load(p.key).metrics["l2_mean"] == p.l2_mean
    assert first.ranking[0]["l2_mean"] == min(r["l2_mean"] for r in first.ranking)
    assert set(first.references) == {"supervised", "untrained", "predict_mean"}
    assert len(first.references["supervised"]["l2_per_seed"]) == 2

    second = run_sweep(sw, NoTraining(), store)  # everything stored: nothing is trained
    assert all(p.cached for p in second.points) and second.trained == 0
    assert [p.l2_mean for p in second.points] == [p.l2_mean for p in first.points]
    assert second.ranking == first.ranking

    bigger = Sweep.of([("rbf", {"theta": "0.1,1,3"})], seeds=2, video=TINY, epochs=1, references=False)
    third = run_sweep(bigger, "local", store)  # a grown grid trains only its new points
    assert sum(not p.cached for p in third.points) == 2


def test_overhead_per_point_is_small(tmp_cache):
    """Store, evaluation and bookkeeping beyond the trainer's own clock (target <= 0.2 s; ~0.03 s measured)."""
    sw = Sweep.of([("rbf", {"theta": "0.1,1,3"})], seeds=2, video=TINY, epochs=1, references=False)
    res = run_sweep(sw, "local", RunStore(tmp_cache))
    overhead = sorted(p.wall_seconds - p.train_seconds for p in res.points)
    assert overhead[len(overhead) // 2] < 0.2, overhead  # the median: robust to one stall on a shared machine


def test_cancel_stops_and_a_rerun_resumes(tmp_cache):
    store = RunStore(tmp_cache)
    sw = tiny_sweep(references=False)
    stop = threading.Event()

    def on_point(ev):
        if ev.kind == "finished" and ev.done == 2:
            stop.set()

    with pytest.raises(Cancelled):
        run_sweep(sw, "local", store, on_point=on_point, cancel=stop)
    assert sum(p.key() in store for p in sw.points()) == 2  # what finished is stored; nothing else
    res = run_sweep(sw, "local", store)
    assert sum(p.cached for p in res.points) == 2 and len(res.points) == 6


def test_a_failed_point_is_recorded_and_the_sweep_goes_on(tmp_cache):
    sw = tiny_sweep(references=False)
    bad = sw.points()[1].key()

    class FailOne(LocalBackend):
        def run(self, configs, video, store, cancel=None):
            for cfg in configs:
                if cfg.key() == bad:
                    yield Outcome(cfg, True, error="the loss became non-finite in epoch 1")
            yield from super().run([c for c in configs if c.key() != bad], video, store, cancel)

    res = run_sweep(sw, FailOne(), RunStore(tmp_cache))
    failed = [p for p in res.points if p.error]
    assert [p.key for p in failed] == [bad] and failed[0].l2_mean is None
    row = next(r for r in res.ranking if r["label"] == failed[0].setting.name)
    assert row["failed"] == 1 and row["l2_per_seed"][1] is None and row["l2_ci95"] == [None, None]  # one seed left
    assert row["rank"] == len(res.ranking)  # a failed seed ranks it behind every configuration that failed less


# -- command line ------------------------------------------------------------------------------------------------
def test_cli_json_csv_and_resume(tmp_cache, tmp_path, capsys):
    out, csv_path = tmp_path / "s.json", tmp_path / "s.csv"
    argv = ["sweep", "--coupling", "rbf", "--param", "theta=0.1,1", "--coupling", "linear", "--param", "epochs=1,2"]
    argv += ["--seeds", "2", *TINY_ARGS, "--json", str(out), "--csv", str(csv_path)]
    assert sweep_cli.main(argv) == 0
    table = capsys.readouterr().out
    for needle in ("rank", "95% interval", "supervised", "untrained", "predict the mean"):
        assert needle in table
    data = json.loads(out.read_text())
    assert len(data["points"]) == 2 * 2 * 2
    for p in data["points"]:
        assert {"key", "coupling", "params", "seed", "l2_mean", "cached"} <= set(p) and p["cached"] is False
    assert data["points"][0]["params"] == {"theta": 0.1} and data["points"][-1]["params"] == {
        "w_init": 0.001,
        "epochs": 2,
    }
    ranking = data["ranking"]
    assert len(ranking) == 4 and [r["l2_mean"] for r in ranking] == sorted(r["l2_mean"] for r in ranking)
    for r in ranking:
        assert {"label", "coupling", "params", "l2_mean", "l2_ci95", "l2_per_seed"} <= set(r)
        assert len(r["l2_per_seed"]) == 2 and r["l2_ci95"][0] <= r["l2_mean"] <= r["l2_ci95"][1]
    assert {"supervised", "untrained", "predict_mean"} <= set(data["references"])
    assert len(csv_path.read_text().splitlines()) == 1 + 8 + 4

    assert sweep_cli.main([*argv, "--quiet"]) == 0  # resumed: every point from the store
    assert all(p["cached"] for p in json.loads(out.read_text())["points"])


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--param", "theta=1", "--coupling", "rbf"], "before any --coupling"),
        (["--coupling", "gausian"], "unknown coupling 'gausian'"),
        (["--coupling", "rbf", "--param", "foo=1"], "no parameter 'foo'"),
        (["--coupling", "rbf", "--param", "theta"], "NAME=V1,V2"),
        (["--coupling", "rbf", "--param", "theta="], "empty grid"),
        (["--coupling", "rbf", "--param", "theta=x"], "not a number"),
        (["--coupling", "rbf", "--param", "theta=log:0.01:100:600"], "more than the limit"),
        (["--coupling", "rbf", "--param", "epochs=1.5"], "whole number"),
        ([], "at least one --coupling"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_cache, tmp_path, capsys, args, needle):
    out = tmp_path / "s.json"
    assert sweep_cli.main(["sweep", *args, "--seeds", "1", *TINY_ARGS, "--json", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and err.startswith("error: ")
    assert not out.exists()


def test_cli_ray_backend_without_ray(tmp_cache, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    argv = ["sweep", "--coupling", "rbf", "--seeds", "1", *TINY_ARGS, "--backend", "ray", "--json", str(tmp_path / "s")]
    assert sweep_cli.main(argv) == 2
    assert "pip install -r requirements-ray.txt" in capsys.readouterr().err


def test_cli_ctrl_c_exits_130_writes_nothing_and_resumes(tmp_cache, tmp_path, capsys, monkeypatch):
    out = tmp_path / "s.json"
    argv = ["sweep", "--coupling", "rbf", "--param", "theta=0.1,1", "--seeds", "2", *TINY_ARGS, "--json", str(out)]
    real = sweep_cli._Progress.__call__

    def interrupt(self, ev):
        real(self, ev)
        if ev.kind == "finished" and ev.done == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(sweep_cli._Progress, "__call__", interrupt)
    assert sweep_cli.main([*argv, "--quiet"]) == 130
    assert "interrupted after 3 of 8 runs" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".s.json*"))
    assert not list((tmp_cache / "tmp").iterdir())  # nothing half-written in the store
    monkeypatch.setattr(sweep_cli._Progress, "__call__", real)
    assert sweep_cli.main([*argv, "--quiet"]) == 0
    assert sum(p["cached"] for p in json.loads(out.read_text())["points"]) == 3


def test_python_m_rpm_engine_sweep_end_to_end(tmp_path):
    env = {**os.environ, "RPM_ENGINE_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "s.json"
    r = subprocess.run(
        [sys.executable, "-m", "rpm_engine", "sweep", "--coupling", "rbf", "--param", "theta=0.1,1", "--seeds", "1"]
        + [*TINY_ARGS, "--json", str(out), "--no-references"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "rank" in r.stdout and len(json.loads(out.read_text())["points"]) == 2
    r = subprocess.run(
        [sys.executable, "-m", "rpm_engine", "sweep", "--param", "theta=1", "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
