"""The hosted limits fail closed (a lecturer's typo stops training with one clear line) and the app's defaults are
clamped to them (a server below the default video still shows and trains a valid one)."""

import dataclasses
import itertools

import pytest

from rpm_engine.config import MIN_FRAMES, PAPER_VIDEO, QUICK_VIDEO, VIDEO_FIELDS, RunConfig, VideoConfig
from rpm_engine.couplings import PRESETS
from rpm_service.limits import Limits


def load(tmp_path, text: str, env: dict | None = None) -> Limits:
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    return Limits.load(env=env or {}, secrets_path=path)


def test_a_good_secrets_file_is_read_and_env_vars_win(tmp_path):
    lim = load(tmp_path, '[limits]\nframes = 300\nepochs = 7\nallow_expressions = false\n[other]\ntoken = "x"\n')
    assert (lim.frames, lim.epochs, lim.allow_expressions, lim.size) == (300, 7, False, Limits().size)
    lim = load(tmp_path, "[limits]\nframes = 300\n", env={"RPM_MAX_FRAMES": "64", "RPM_MAX_JOB_SECONDS": "60"})
    assert (lim.frames, lim.job_seconds) == (64, 60)
    assert Limits.load(env={}, secrets_path=tmp_path / "absent.toml") == Limits()  # no file: the defaults


@pytest.mark.parametrize(
    "text, words",
    [
        ("[limits]\nepochs = 30x\n", ["secrets.toml", "not valid TOML", "line 2"]),
        ("[limits]\nframe = 64\n", ["secrets.toml", "'frame'", "did you mean frames"]),
        ("[limit]\nframes = 64\n", ["secrets.toml", "[limit]", "did you mean [limits]"]),
        ("[Limits]\nframes = 64\n", ["[Limits]", "[limits]"]),
        ("frames = 64\n", ["secrets.toml", "frames", "inside the [limits] table"]),
        ('[limits]\nepochs = "lots"\n', ["[limits] epochs", "positive integer", "lots"]),
        ("[limits]\nepochs = 2.5\n", ["[limits] epochs", "positive integer"]),
        ("[limits]\nepochs = true\n", ["[limits] epochs", "positive integer"]),
        ("[limits]\nepochs = 0\n", ["[limits] epochs", "positive integer"]),
        ('[limits]\nallow_expressions = "maybe"\n', ["allow_expressions", "true/false"]),
        ("[limits]\nframes = 8\n", ["[limits] frames", f"smallest frames the engine can use ({MIN_FRAMES})"]),
        ("[limits]\nsize = 8\n", ["[limits] size", "(16)"]),
        ("limits = 3\n", ["'limits' must be a table"]),
    ],
)
def test_a_bad_secrets_file_is_one_clear_error_not_the_defaults(tmp_path, text, words):
    with pytest.raises(ValueError) as err:
        load(tmp_path, text)
    message = str(err.value)
    assert "\n" not in message
    for w in words:
        assert w in message, (w, message)


def test_bad_environment_variables_fail_too(tmp_path):
    with pytest.raises(ValueError, match="RPM_MAX_FRAME .*did you mean RPM_MAX_FRAMES"):
        Limits.load(env={"RPM_MAX_FRAME": "64"}, secrets_path=tmp_path / "absent.toml")
    with pytest.raises(ValueError, match="RPM_MAX_FRAMES: 4 is below"):
        Limits.load(env={"RPM_MAX_FRAMES": "4"}, secrets_path=tmp_path / "absent.toml")
    with pytest.raises(ValueError, match="RPM_MAX_JOBS.*two"):
        Limits.from_env({"RPM_MAX_JOBS": "two"})
    with pytest.raises(ValueError, match="limit frames must be at least"):
        Limits(frames=MIN_FRAMES - 1)  # the library constructor refuses it too


def test_the_default_video_is_clamped_to_a_small_server():
    lim = Limits.from_env({"RPM_MAX_FRAMES": "64"})
    video = lim.clamp_video(QUICK_VIDEO)
    assert video.frames == 64 and (video.size, video.diameter) == (QUICK_VIDEO.size, QUICK_VIDEO.diameter)
    lim.check_video(video)
    RunConfig.of("rbf", video=video, epochs=1)  # still a valid run: enough frames for a read-out and a held-out set
    assert Limits().clamp_video(QUICK_VIDEO) is QUICK_VIDEO  # nothing to clamp: the same object (and the same key)


def test_a_smaller_size_keeps_the_geometry():
    small = Limits(size=32).clamp_video(QUICK_VIDEO)
    assert (small.size, small.diameter) == (32, QUICK_VIDEO.diameter / 2)
    stepped = Limits(size=32).clamp_video(dataclasses.replace(QUICK_VIDEO, step=4.0))
    assert stepped.step == 2.0


@pytest.mark.parametrize(
    "frames, size, balls",
    list(itertools.product([MIN_FRAMES, 64, 5000], [16, 40, 1024], [1, 2, 6])),
)
def test_every_clamped_default_is_valid_and_within_the_limits(frames, size, balls):
    lim = Limits(frames=frames, size=size, balls=balls, epochs=3, seeds=2)
    for video in (QUICK_VIDEO, PAPER_VIDEO, VideoConfig(balls=6, colours=[(i, 0, 0) for i in range(1, 7)])):
        clamped = lim.clamp_video(video)
        lim.check_video(clamped)
        for f in VIDEO_FIELDS:
            if f.limit:
                assert getattr(clamped, f.name) == min(getattr(video, f.name), lim.cap(f))
        lim.check_run(RunConfig.of("rbf", video=clamped, epochs=3, seed=1))


def test_one_number_for_what_the_server_holds():
    lim = Limits(jobs=1, queue=5)
    assert lim.capacity == 6 and lim.per_client == 1
    with pytest.raises(ValueError, match=r"more than this server holds \(6\)"):
        lim.check_batch([RunConfig.of("rbf", video=QUICK_VIDEO, seed=0)] * 7)
    assert Limits(queue=32).per_client == 8 and Limits(queue=32, per_client=3).per_client == 3


def test_the_offered_couplings_come_from_the_registry():
    lim = Limits()
    offered = lim.offered_couplings()
    assert {"rbf", "linear", *PRESETS} <= set(offered)
    video = VideoConfig(frames=24, size=32, diameter=6)
    for name in offered:
        lim.check_run(RunConfig.of(name, video=video, epochs=1))
    with pytest.raises(ValueError, match="switched off"):
        Limits(allow_expressions=False).check_run(RunConfig.of("-sum(abs(z - zp)) / theta", video=video))
