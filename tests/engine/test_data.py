"""Invariants of the generated ball video (SPEC §1)."""

import math

import numpy as np
import pytest

from rpm_engine import VideoConfig, generate_video, render_frames
from rpm_engine.data import simulate

SMALL = VideoConfig(frames=200, size=64, diameter=8)


@pytest.fixture(scope="module")
def video():
    return generate_video(SMALL)


def test_shapes_and_types(video):
    assert video.frames.shape == (200, 64, 64, 3) and video.frames.dtype == np.uint8
    assert video.centres.shape == (200, 3, 2) and np.issubdtype(video.centres.dtype, np.floating)
    assert isinstance(video.redraws, int) and isinstance(video.stuck, int)


def test_every_move_is_one_step_or_stuck(video):
    moves = np.linalg.norm(np.diff(video.centres, axis=0), axis=-1)  # (T-1, K)
    moved = moves > 1e-9
    assert np.allclose(moves[moved], SMALL.step_px)
    assert (~moved).sum() == video.stuck


def test_direction_noise_is_bounded_without_redraws():
    # A ball far from every wall never re-draws, so each heading changes by at most noise_deg.
    cfg = VideoConfig(frames=40, size=512, balls=1, diameter=8, step=4, noise_deg=2.0, seed=0)
    centres, directions, redraws, stuck = simulate(cfg)
    assert redraws == 0 and stuck == 0
    turn = np.abs(np.angle(np.exp(1j * np.diff(directions[:, 0]))))
    assert turn.max() <= math.radians(2.0) + 1e-12
    # ... while a ball that hits a wall re-draws with a wider range and turns further.
    centres, directions, redraws, stuck = simulate(VideoConfig(frames=40, size=64, balls=1, diameter=8, seed=0))
    assert redraws > 0
    assert np.abs(np.angle(np.exp(1j * np.diff(directions[:, 0])))).max() > math.radians(2.0)


def test_balls_inside_and_never_overlap(video):
    r, d = SMALL.diameter / 2, SMALL.diameter
    c = video.centres
    assert (c >= r - 1e-9).all() and (c <= SMALL.size - r + 1e-9).all()
    for i in range(3):
        for j in range(i + 1, 3):
            dist = np.linalg.norm(c[:, i] - c[:, j], axis=-1)
            assert (dist >= d - 1e-9).all()


def test_colour_under_each_true_centre(video):
    colours = SMALL.ball_colours
    for t in range(0, 200, 7):
        for k in range(3):
            x, y = video.centres[t, k]
            assert tuple(video.frames[t, int(y), int(x)]) == colours[k]


def test_pixel_convention_and_area():
    # A disc centred on a pixel centre covers the pixels whose centres are within the radius.
    img = render_frames(np.array([[[10.5, 20.5]]]), 32, 6.0, [(255, 0, 0)], (0, 0, 0))[0]
    ys, xs = np.nonzero(img[..., 0])
    assert np.isclose(xs.mean() + 0.5, 10.5) and np.isclose(ys.mean() + 0.5, 20.5)
    expected = sum((c + 0.5 - 10.5) ** 2 + (r + 0.5 - 20.5) ** 2 <= 9 for r in range(32) for c in range(32))
    assert len(xs) == expected
    assert (img[ys, xs] == [255, 0, 0]).all()


def test_deterministic_per_seed():
    a, b = generate_video(SMALL), generate_video(SMALL)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.centres, b.centres)
    c = generate_video(VideoConfig(frames=200, size=64, diameter=8, seed=1))
    assert not np.array_equal(a.centres, c.centres)


def test_redraws_and_stuck_are_counted_in_a_crowded_box():
    v = generate_video(VideoConfig(frames=100, size=32, balls=4, diameter=8, seed=2))
    assert v.redraws > 0 and v.stuck > 0
    moves = np.linalg.norm(np.diff(v.centres, axis=0), axis=-1)
    assert (moves < 1e-9).sum() == v.stuck  # each stuck ball-frame is a ball that stayed put


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"frames": 1}, "frames"),
        ({"size": 0}, "size"),
        ({"balls": 0}, "balls"),
        ({"diameter": -3}, "diameter"),
        ({"diameter": 200, "size": 256}, "diameter"),
        ({"balls": 40, "size": 64, "diameter": 16}, "balls"),
        ({"balls": 7}, "balls"),
        ({"step": 0}, "step"),
        ({"step": 300}, "step"),
        ({"noise_deg": -1}, "noise_deg"),
        ({"colours": ((1, 2, 3),)}, "colours"),
        ({"background": (255, 127, 80)}, "background"),
        ({"frames": 2.5}, "frames"),
    ],
)
def test_impossible_configs_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"VideoConfig\.{field}"):
        VideoConfig(**kwargs)


def test_config_roundtrip():
    cfg = VideoConfig(frames=50, size=48, diameter=6, noise_deg=5, seed=4)
    assert VideoConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()
    with pytest.raises(ValueError, match="unknown video field"):
        VideoConfig.from_dict({"frames": 10, "bogus": 1})
