"""The moving-balls video of the paper's App. D (SPEC §1).

K balls of distinct colours move by one full step between consecutive frames. Each new direction is the previous
one plus uniform noise in [-noise, +noise]; when the move would collide (leave the frame or overlap another ball)
the direction is drawn again with the noise range doubled, up to the full circle. A ball still boxed in after
``max_draws`` draws stays put for that frame, and is counted in ``Video.stuck``.

Coordinates are pixels, x to the right and y downwards; pixel (row r, col c) covers [c, c+1) x [r, r+1), so its
centre is (c + 0.5, r + 0.5). A pixel takes a ball's colour when its centre lies inside the ball's disc.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

# Distinct, colour-blind friendly colours; the paper's Fig. 1 names a coral ball, so it comes first.
DEFAULT_COLOURS: tuple[tuple[int, int, int], ...] = (
    (255, 127, 80),  # coral
    (64, 160, 255),  # sky blue
    (250, 210, 40),  # gold
    (120, 220, 120),  # green
    (200, 110, 230),  # violet
    (240, 240, 240),  # white
)
COLOUR_NAMES = ("coral", "sky blue", "gold", "green", "violet", "white")
DEFAULT_BACKGROUND = (20, 24, 36)  # a dark slate; any colour distinct from the balls works


@dataclass(frozen=True)
class VideoConfig:
    """Every knob of the generator; frozen so it can key the run store."""

    frames: int = 900  # App. D: one continuous video of 900 frames
    size: int = 256  # App. D: 256 x 256 pixels
    balls: int = 3  # App. D: three balls, one output map each
    diameter: float = 32.0  # App. D: 32 px
    step: float | None = None  # None -> one full diameter per frame, as in App. D
    noise_deg: float = 2.0  # App. D: previous direction + U(-2°, +2°)
    seed: int = 0
    colours: tuple[tuple[int, int, int], ...] | None = None  # None -> DEFAULT_COLOURS[:balls]
    background: tuple[int, int, int] = DEFAULT_BACKGROUND
    max_draws: int = 64  # draws per ball and frame before it stays put

    def __post_init__(self):
        _validate(self)

    @property
    def step_px(self) -> float:
        return float(self.diameter if self.step is None else self.step)

    @property
    def ball_colours(self) -> tuple[tuple[int, int, int], ...]:
        return tuple(self.colours) if self.colours is not None else DEFAULT_COLOURS[: self.balls]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["colours"] = [list(c) for c in self.ball_colours]
        d["background"] = list(self.background)
        d["step"] = self.step_px
        return d

    @classmethod
    def from_dict(cls, d: dict) -> VideoConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown video field(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        if d.get("colours") is not None:
            d["colours"] = tuple(tuple(int(v) for v in c) for c in d["colours"])
        if d.get("background") is not None:
            d["background"] = tuple(int(v) for v in d["background"])
        return cls(**d)


def _validate(c: VideoConfig) -> None:
    def need(ok: bool, name: str, why: str):
        if not ok:
            raise ValueError(f"VideoConfig.{name}: {why}")

    for name in ("frames", "size", "balls", "seed", "max_draws"):
        v = getattr(c, name)
        need(isinstance(v, (int, np.integer)) and not isinstance(v, bool), name, f"must be an integer, got {v!r}")
    for name in ("diameter", "noise_deg") + (("step",) if c.step is not None else ()):
        v = getattr(c, name)
        need(isinstance(v, (int, float, np.number)) and math.isfinite(v), name, f"must be a finite number, got {v!r}")
    need(c.frames >= 2, "frames", f"must be at least 2 (consecutive pairs are needed), got {c.frames}")
    need(c.frames <= 100_000, "frames", f"must be at most 100000, got {c.frames}")
    need(c.size >= 8, "size", f"must be at least 8 px, got {c.size}")
    need(c.size <= 2048, "size", f"must be at most 2048 px, got {c.size}")
    need(c.balls >= 1, "balls", f"must be at least 1, got {c.balls}")
    need(c.diameter >= 2, "diameter", f"must be at least 2 px, got {c.diameter}")
    need(c.diameter <= c.size / 2, "diameter", f"{c.diameter} px is too large for a {c.size} px frame (at most size/2)")
    need(c.step_px > 0, "step", f"must be positive, got {c.step_px}")
    need(
        c.step_px <= c.size - c.diameter,
        "step",
        f"{c.step_px} px is longer than the room a ball has to move ({c.size - c.diameter:g} px)",
    )
    need(0 <= c.noise_deg <= 180, "noise_deg", f"must be in [0, 180], got {c.noise_deg}")
    need(c.max_draws >= 1, "max_draws", f"must be at least 1, got {c.max_draws}")
    need(c.seed >= 0, "seed", f"must be non-negative, got {c.seed}")
    # Balls must fit with room to move: their discs may cover at most 40 % of the frame
    # (random packing of discs jams near 55 %, and a jammed frame leaves every ball stuck).
    cover = c.balls * math.pi * (c.diameter / 2) ** 2 / c.size**2
    need(cover <= 0.4, "balls", f"{c.balls} balls of {c.diameter:g} px cover {cover:.0%} of the frame (at most 40 %)")
    if c.colours is not None:
        need(len(c.colours) == c.balls, "colours", f"needs {c.balls} colours, got {len(c.colours)}")
    else:
        need(c.balls <= len(DEFAULT_COLOURS), "balls", f"at most {len(DEFAULT_COLOURS)} without custom colours")
    for col in c.ball_colours + (tuple(c.background),):
        need(len(col) == 3 and all(0 <= int(v) <= 255 for v in col), "colours", f"bad RGB triple {col!r}")
    need(len(set(map(tuple, c.ball_colours))) == c.balls, "colours", "ball colours must be distinct")
    need(tuple(c.background) not in set(map(tuple, c.ball_colours)), "background", "must differ from every ball")


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


def simulate(config: VideoConfig) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Trajectories only: centres (T, K, 2), directions (T, K), re-draws and stuck counts."""
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
    for t in range(1, T):
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


def render_frames(
    centres: np.ndarray,
    size: int,
    diameter: float,
    colours,
    background=DEFAULT_BACKGROUND,
) -> np.ndarray:
    """Draw (N, K, 2) centres as (N, size, size, 3) uint8 frames; also renders heatmap candidates."""
    centres = np.asarray(centres, dtype=np.float64)
    n, k_balls, _ = centres.shape
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    out[:] = np.asarray(background, dtype=np.uint8)
    r2 = (diameter / 2) ** 2
    pix = np.arange(size) + 0.5  # pixel centres
    for k in range(k_balls):
        colour = np.asarray(colours[k], dtype=np.uint8)
        x, y = centres[:, k, 0], centres[:, k, 1]
        lo_c = np.clip(np.floor(x - diameter / 2).astype(int), 0, size)
        hi_c = np.clip(np.ceil(x + diameter / 2).astype(int) + 1, 0, size)
        lo_r = np.clip(np.floor(y - diameter / 2).astype(int), 0, size)
        hi_r = np.clip(np.ceil(y + diameter / 2).astype(int) + 1, 0, size)
        for i in range(n):  # only the bounding box of each disc is touched
            ys, xs = pix[lo_r[i] : hi_r[i], None], pix[None, lo_c[i] : hi_c[i]]
            inside = (xs - x[i]) ** 2 + (ys - y[i]) ** 2 <= r2
            out[i, lo_r[i] : hi_r[i], lo_c[i] : hi_c[i]][inside] = colour
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


def generate_video(config: VideoConfig | None = None) -> Video:
    """Generate the video of SPEC §1; deterministic for a given config (seed included)."""
    config = config or VideoConfig()
    centres, directions, redraws, stuck = simulate(config)
    frames = render_frames(centres, config.size, config.diameter, config.ball_colours, config.background)
    return Video(config, frames, centres, redraws, stuck, directions)
