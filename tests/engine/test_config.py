"""The schema (config.py): one key per run however it is asked for, bounds on every field, bounded video work."""

import math
import threading

import numpy as np
import pytest

from rpm_engine import data
from rpm_engine.cli import build_parser, main, train_config
from rpm_engine.config import DEFAULT_COLOURS, TRAIN_FIELDS, VIDEO_FIELDS, RunConfig, TrainConfig, VideoConfig
from rpm_engine.data import Cancelled, generate_video

QUICK_128 = VideoConfig(frames=128, size=64, diameter=8)  # the quick scale the shipped runs of schema 1 used


# -- one key per run -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        {"diameter": 8.0},
        {"diameter": np.float64(8)},
        {"diameter": np.int64(8), "frames": np.int64(128), "size": 64.0},
        {"diameter": 8, "step": 8},
        {"diameter": 8, "step": 8.0},
        {"diameter": 8, "colours": DEFAULT_COLOURS[:3]},
        {"diameter": 8, "colours": [list(c) for c in DEFAULT_COLOURS[:3]]},
        {"diameter": 8, "noise_deg": 2, "max_draws": 64.0, "seed": np.int32(0)},
    ],
)
def test_library_spellings_give_one_key(spelling):
    want = RunConfig.of("rbf", video=VideoConfig(frames=128, size=64, diameter=8), theta=0.1)
    got = RunConfig.of("rbf", video=VideoConfig(**{"frames": 128, "size": 64, **spelling}), theta=0.1)
    assert got == want and got.key() == want.key()


def test_other_values_give_other_keys():
    base = RunConfig.of("rbf", video=QUICK_128, theta=0.1)
    assert (
        RunConfig.of("rbf", video=VideoConfig(frames=128, size=64, diameter=8, step=4), theta=0.1).key() != base.key()
    )
    assert RunConfig.of("rbf", video=QUICK_128, theta=0.1, coupling_lr=0.5).key() != base.key()
    assert RunConfig.of("rbf", video=QUICK_128, theta=0.1, seed=1).key() != base.key()


def test_keys_of_schema_1_runs_are_kept():
    """coupling_lr enters the key only when set: runs stored before it existed keep their keys (shipped runs)."""
    assert RunConfig.of("rbf", video=QUICK_128, theta=0.1, epochs=30, seed=0).key() == "d9967b22a70dae89376543d4"
    assert RunConfig.of("linear", video=QUICK_128, w_init=1e-3, epochs=30, seed=0).key() == "be23f2b34b7a67c596fdb838"
    assert "coupling_lr" not in RunConfig.of("rbf", video=QUICK_128).to_dict()["train"]


def test_coupling_lr_is_canonical():
    base = RunConfig.of("rbf", video=QUICK_128, theta=0.1)
    assert RunConfig.of("rbf", video=QUICK_128, theta=0.1, coupling_lr=0.005).key() == base.key()  # = lr: App. D
    two = RunConfig.of("rbf", video=QUICK_128, theta=0.1, coupling_lr=0.5)
    assert two.to_dict()["train"]["coupling_lr"] == 0.5
    assert RunConfig.from_dict(two.to_dict()).key() == two.key()
    sup = RunConfig.of(None, video=QUICK_128, method="supervised")
    assert RunConfig.of(None, video=QUICK_128, method="supervised", coupling_lr=0.5).key() == sup.key()


def _cli(*args: str) -> RunConfig:
    return train_config(build_parser().parse_args(["train", *args]))


@pytest.mark.parametrize(
    "args",
    [
        ["--coupling", "rbf", "--frames", "128", "--size", "64", "--diameter", "8", "--param", "theta=0.1"],
        ["--coupling", "RBF", "--diameter", "8.0", "--size", "64", "--frames", "128", "--param", "theta=1e-1"],
        ["--coupling", "rbf", "--frames=128", "--size=64", "--diameter=8", "--step=8", "--param", "theta=0.10"],
        ["--coupling", "rbf", "--frames", "128", "--size", "64", "--diameter", "8", "--param", "theta=0.1",
         "--lr", "0.005", "--coupling-lr", "0.005", "--epochs", "30", "--batch-size", "30", "--seed", "0",
         "--video-seed", "0", "--noise-deg", "2", "--max-draws", "64"],
    ],
)  # fmt: skip
def test_cli_spellings_give_the_library_key(args):
    want = RunConfig.of("rbf", video=QUICK_128, theta=0.1)
    got = _cli(*args)
    assert got == want and got.key() == want.key() == "d9967b22a70dae89376543d4"


def test_cli_coupling_lr_and_baselines():
    cfg = _cli("--coupling", "rbf", "--frames", "128", "--size", "64", "--diameter", "8", "--coupling-lr", "0.5")
    assert cfg.train.coupling_lr == 0.5
    sup = _cli("--method", "supervised", "--frames", "128", "--size", "64", "--diameter", "8")
    assert sup.key() == RunConfig.of(None, video=QUICK_128, method="supervised").key()


# -- bounds ------------------------------------------------------------------------------------------------------------

BASE_VIDEO = {"frames": 40, "size": 64, "diameter": 8}


def _outside(f):
    below = f.lo - (1 if f.kind is int else (f.lo / 2 if f.lo > 0 else 0.5))
    above = f.hi + 1 if f.kind is int else f.hi * 2
    return [below, above]


def _bad_values(f):
    return [*_outside(f), "eight", float("nan"), float("inf"), True, [1], None if not f.optional else "x"]


@pytest.mark.parametrize("f", VIDEO_FIELDS, ids=lambda f: f.name)
def test_every_video_field_refuses_bad_values(f):
    for value in _bad_values(f):
        with pytest.raises(ValueError, match=rf"^VideoConfig\.{f.name}: "):
            VideoConfig(**{**BASE_VIDEO, f.name: value})


@pytest.mark.parametrize("f", TRAIN_FIELDS, ids=lambda f: f.name)
def test_every_train_field_refuses_bad_values(f):
    for value in _bad_values(f):
        with pytest.raises(ValueError, match=rf"^TrainConfig\.{f.name}: "):
            TrainConfig(**{f.name: value})


@pytest.mark.parametrize("f", VIDEO_FIELDS + TRAIN_FIELDS, ids=lambda f: f.cli)
def test_every_cli_flag_refuses_out_of_bounds_in_one_line(f, capsys):
    for value in [*_outside(f), "eight", "nan"]:
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["train", "--coupling", "rbf", f"{f.cli}={value}"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f.cli in err and "Traceback" not in err


def test_the_bounds_themselves_are_accepted():
    for f in VIDEO_FIELDS + TRAIN_FIELDS:
        for value in (f.lo, f.hi):
            assert f.parse(value, f.name) == value


def test_two_frames_are_refused_by_library_and_cli(capsys):
    with pytest.raises(ValueError, match=r"^VideoConfig\.frames: "):
        VideoConfig(frames=2, size=64, diameter=8)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--coupling", "rbf", "--frames", "2", "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--frames" in err


def test_too_few_frames_for_the_split_are_refused():
    with pytest.raises(ValueError, match=r"^VideoConfig\.frames: .* held out"):
        RunConfig.of("rbf", video=VideoConfig(frames=16, size=64, diameter=8), train_frac=0.95)


def test_a_huge_video_is_refused_before_allocating(capsys, monkeypatch, tmp_path):
    def must_not_run(*a, **k):
        raise AssertionError("the video was generated")

    monkeypatch.setattr("rpm_engine.cli.generate_video", must_not_run)
    code = main(["generate", "--frames", "100000", "--size", "2048", "--out", str(tmp_path / "v.npz")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "frames" in err and "GiB" in err
    assert not (tmp_path / "v.npz").exists()


# -- bounded video work ------------------------------------------------------------------------------------------------


def test_a_boxed_in_video_is_refused_in_seconds():
    """One 32 px ball in a 64 px frame stepping 32 px has almost nowhere to go: the re-draw budget refuses it."""
    cfg = VideoConfig(size=64, diameter=32, balls=1, step=32, max_draws=256)
    with pytest.raises(ValueError, match=r"^VideoConfig\.step: the balls are boxed in") as exc:
        generate_video(cfg)
    # bounded work, proved by the count rather than a clock: REDRAW_BUDGET x frames draws, then it stops
    redraws = int(str(exc.value).split("(")[1].split()[0])
    assert data.REDRAW_BUDGET * cfg.frames < redraws <= data.REDRAW_BUDGET * cfg.frames + cfg.max_draws


def test_generation_stops_promptly_when_cancelled():
    cfg = VideoConfig(frames=20_000, size=32, diameter=4)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(Cancelled):  # raised only if generation stopped before its 20,000 frames were done
        generate_video(cfg, cancel=cancel)
    cancel_now = threading.Event()
    cancel_now.set()
    with pytest.raises(Cancelled, match="frame 1"):
        generate_video(cfg, cancel=cancel_now)


def test_rendering_honours_cancel_too():
    cfg = VideoConfig(frames=data.RENDER_CHUNK + 1, size=16, diameter=2)
    calls = []

    def cancel():  # the simulation asks once per frame (T - 1 times); cancel once rendering has started
        calls.append(1)
        return len(calls) > cfg.frames - 1

    with pytest.raises(Cancelled, match="rendering"):
        generate_video(cfg, cancel=cancel)


def test_chunked_rendering_equals_one_pass():
    cfg = VideoConfig(frames=data.RENDER_CHUNK + 7, size=24, diameter=4, seed=3)
    v = generate_video(cfg)
    whole = data.render_frames(v.centres, cfg.size, cfg.diameter, cfg.ball_colours, cfg.background)
    assert np.array_equal(v.frames, whole)
    assert math.isfinite(float(v.centres.sum()))
