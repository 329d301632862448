"""The moving-balls video of the paper's App. D (SPEC §1); its configuration is ``config.VideoConfig``.

K balls of distinct colours move by one full step between consecutive frames. Each new direction is the previous
one plus uniform noise in [-noise, +noise]; when the move would collide (leave the frame or overlap another ball)
the direction is drawn again with the noise range doubled, up to the full circle. A ball still boxed in after
``max_draws`` draws stays put for that frame, and is counted in ``Video.stuck``.

Coordinates are pixels, x to the right and y downwards; pixel (row r, col c) covers [c, c+1) x [r, r+1), so its
centre is (c + 0.5, r + 0.5). A pixel takes a ball's colour when its centre lies inside the ball's disc.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .config import COLOUR_NAMES, DEFAULT_BACKGROUND, DEFAULT_COLOURS, VideoConfig
from .text import is_cancelled

RENDER_CHUNK = 256  # frames rendered between two looks at ``cancel``
REDRAW_BUDGET = 16  # re-draws per ball-frame on average before a video is refused as boxed in (typical: < 0.1)


@dataclass
class Video:
    """A generated video: frames (T, H, W, 3) uint8, centres (T, K, 2) float (x, y) px, and generator counts."""

    config: VideoConfig
    frames: np.ndarray
    centres: np.ndarray
    redraws: int
    stuck: int
    directions: np.ndarray = field(repr=False, default=None)  # (T, K) radians, the direction of the last move


def _valid(p: np.ndarray, k: int, pos: np.ndarray, r: float, size: int, d: float) -> bool:
    if p[0] < r or p[1] < r or p[0] > size - r or p[1] > size - r:
        return False
    others = np.delete(pos, k, axis=0)
    return bool(np.all(np.sum((others - p) ** 2, axis=1) >= d * d))


class Cancelled(Exception):
    """Work was cancelled by its caller; nothing is stored."""


def simulate(config: VideoConfig, cancel=None) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Trajectories only: centres (T, K, 2), directions (T, K), re-draws and stuck counts.

    Bounded work: ``cancel`` is checked every frame, and a video whose balls are boxed in (more than
    ``REDRAW_BUDGET`` re-draws per ball-frame) is refused with a ``ValueError`` naming the step.
    """
    c = config
    rng = np.random.default_rng(c.seed)
    r, d, step, K, T = c.diameter / 2, float(c.diameter), c.step_px, c.balls, c.frames
    # Initial positions: rejection sampling of non-overlapping discs inside the frame.
    pos = np.zeros((K, 2))
    for k in range(K):
        for _ in range(10_000):
            p = rng.uniform(r, c.size - r, size=2)
            if _valid(p, k, np.vstack([pos[:k], np.full((K - k, 2), -1e9)]), r, c.size, d):
                pos[k] = p
                break
        else:
            raise ValueError(f"VideoConfig.balls: could not place {K} balls of {d:g} px in a {c.size} px frame")
    heading = rng.uniform(-math.pi, math.pi, size=K)
    centres = np.zeros((T, K, 2))
    directions = np.zeros((T, K))
    centres[0], directions[0] = pos, heading
    redraws = stuck = 0
    base = math.radians(c.noise_deg)
    budget = REDRAW_BUDGET * K * T
    for t in range(1, T):
        if is_cancelled(cancel):
            raise Cancelled(f"cancelled while generating frame {t}")
        if redraws > budget:
            raise ValueError(
                f"VideoConfig.step: the balls are boxed in ({redraws} re-draws by frame {t}); "
                f"use a shorter step, smaller or fewer balls, or a larger frame"
            )
        for k in range(K):  # fixed order; each ball sees the others' latest positions
            spread = base
            for _ in range(c.max_draws):
                angle = heading[k] + rng.uniform(-spread, spread)
                p = pos[k] + step * np.array([math.cos(angle), math.sin(angle)])
                if _valid(p, k, pos, r, c.size, d):
                    pos[k], heading[k] = p, angle
                    break
                redraws += 1
                spread = min(max(2 * spread, math.radians(1.0)), math.pi)
            else:
                stuck += 1  # boxed in: stays put this frame
        centres[t], directions[t] = pos, heading
    return centres, directions, redraws, stuck


def draw_discs(
    out: np.ndarray, centres: np.ndarray, diameter: float, colours, origin: np.ndarray | None = None
) -> None:
    """Paint discs into ``out`` (N, H, W, 3) uint8 in place: ball k of image i centred at ``centres[i, k]`` (x, y) px.

    ``origin`` (N, 2) integer (col, row) says which frame pixel is the canvas's top-left (None: (0, 0), the whole
    frame), so a crop is drawn with the same pixel centres, and hence the same pixels, as the whole frame (SPEC §1:
    a pixel takes a ball's colour when its centre lies in the disc; later balls on top).
    """
    centres = np.asarray(centres, dtype=np.float64)
    n, k_balls, _ = centres.shape
    h, w = out.shape[1:3]
    origin = np.zeros((n, 2), dtype=int) if origin is None else np.asarray(origin, dtype=int)
    r2 = (diameter / 2) ** 2
    box = (math.ceil(diameter) + 3) ** 2  # pixels in a disc's bounding box
    if h * w <= 4 * box:  # a crop around a disc (heatmap patches): test every pixel, all images at once
        for i in range(0, n, 1024):
            sl = slice(i, i + 1024)
            xs = (origin[sl, 0, None] + np.arange(w))[:, None, :] + 0.5  # (n, 1, W) frame pixel centres
            ys = (origin[sl, 1, None] + np.arange(h))[:, :, None] + 0.5  # (n, H, 1)
            for k in range(k_balls):
                x, y = centres[sl, k, 0, None, None], centres[sl, k, 1, None, None]
                out[sl][(xs - x) ** 2 + (ys - y) ** 2 <= r2] = np.asarray(colours[k], dtype=np.uint8)
        return
    for k in range(k_balls):
        colour = np.asarray(colours[k], dtype=np.uint8)
        x, y = centres[:, k, 0], centres[:, k, 1]
        lo_c = np.clip(np.floor(x - diameter / 2).astype(int) - origin[:, 0], 0, w)  # canvas columns of the box
        hi_c = np.clip(np.ceil(x + diameter / 2).astype(int) + 1 - origin[:, 0], 0, w)
        lo_r = np.clip(np.floor(y - diameter / 2).astype(int) - origin[:, 1], 0, h)
        hi_r = np.clip(np.ceil(y + diameter / 2).astype(int) + 1 - origin[:, 1], 0, h)
        for i in range(n):  # only the bounding box of each disc is touched
            ys = (origin[i, 1] + np.arange(lo_r[i], hi_r[i]))[:, None] + 0.5  # frame pixel centres
            xs = (origin[i, 0] + np.arange(lo_c[i], hi_c[i]))[None, :] + 0.5
            inside = (xs - x[i]) ** 2 + (ys - y[i]) ** 2 <= r2
            out[i, lo_r[i] : hi_r[i], lo_c[i] : hi_c[i]][inside] = colour


def render_frames(
    centres: np.ndarray,
    size: int,
    diameter: float,
    colours,
    background=DEFAULT_BACKGROUND,
) -> np.ndarray:
    """Draw (N, K, 2) centres as (N, size, size, 3) uint8 frames; also renders heatmap candidates."""
    centres = np.asarray(centres, dtype=np.float64)
    out = np.empty((len(centres), size, size, 3), dtype=np.uint8)
    out[:] = np.asarray(background, dtype=np.uint8)
    draw_discs(out, centres, diameter, colours)
    return out


def save_npz(video: Video, file) -> None:
    """frames (T, H, W, 3) uint8, centres (T, K, 2) px, redraws, stuck and the config (JSON) in one .npz."""
    import json

    np.savez_compressed(
        file,
        frames=video.frames,
        centres=video.centres,
        redraws=video.redraws,
        stuck=video.stuck,
        config=json.dumps(video.config.to_dict()),
    )


def generate_video(config: VideoConfig | None = None, cancel=None) -> Video:
    """Generate the video of SPEC §1; deterministic for a given config (seed included)."""
    config = config or VideoConfig()
    centres, directions, redraws, stuck = simulate(config, cancel)
    frames = np.empty((config.frames, config.size, config.size, 3), dtype=np.uint8)
    for i in range(0, config.frames, RENDER_CHUNK):  # in chunks, so a cancel during rendering is honoured too
        if is_cancelled(cancel):
            raise Cancelled(f"cancelled while rendering frame {i}")
        part = centres[i : i + RENDER_CHUNK]
        frames[i : i + len(part)] = render_frames(
            part, config.size, config.diameter, config.ball_colours, config.background
        )
    return Video(config, frames, centres, redraws, stuck, directions)


__all__ = [
    "COLOUR_NAMES",
    "DEFAULT_BACKGROUND",
    "DEFAULT_COLOURS",
    "Cancelled",
    "Video",
    "VideoConfig",
    "draw_discs",
    "generate_video",
    "is_cancelled",
    "render_frames",
    "save_npz",
    "simulate",
]
