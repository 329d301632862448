"""Evaluation (Fig. 1B-E): linear read-out of the latents, held-out L2 errors, seed summaries, conditional priors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .data import Video, render_frames

# Two-sided 95 % Student-t quantiles for n - 1 degrees of freedom (n = number of seeds).
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def _t95(df: int) -> float:
    if df in _T95:
        return _T95[df]
    smaller = [k for k in _T95 if k <= df]
    return _T95[max(smaller)] if df <= 30 else 1.96


def fit_decoder(z: np.ndarray, centres: np.ndarray, train_frac: float = 0.8) -> np.ndarray:
    """Least squares with a bias from z (T, D) to the true coordinates (T, K, 2), on the first train_frac frames.

    Returns A of shape (D + 1, 2K) so that [z, 1] @ A are the decoded coordinates.
    """
    t = len(z)
    n = int(round(train_frac * t))
    x = np.hstack([z[:n], np.ones((n, 1))]).astype(np.float64)  # (n, D + 1)
    y = centres[:n].reshape(n, -1).astype(np.float64)  # (n, 2K)
    return np.linalg.lstsq(x, y, rcond=None)[0]


def decode(a: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(T, D) latents -> (T, K, 2) decoded centres."""
    return (np.hstack([z, np.ones((len(z), 1))]) @ a).reshape(len(z), -1, 2)


def l2_errors(z: np.ndarray, centres: np.ndarray, train_frac: float = 0.8) -> dict:
    """Held-out mean L2 distance (px) between decoded and true centres on the last frames: per ball and overall."""
    n = int(round(train_frac * len(z)))
    decoded = decode(fit_decoder(z, centres, train_frac), z)
    dist = np.linalg.norm(decoded[n:] - centres[n:], axis=-1)  # (T - n, K)
    return {"mean": float(dist.mean()), "per_ball": [float(v) for v in dist.mean(axis=0)]}


def seeds_summary(values) -> dict:
    """Mean and 95 % t-interval over seeds: {mean, ci95 (half-width), lo, hi, n}."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values to summarise")
    mean = float(v.mean())
    half = float(_t95(v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
    return {"mean": mean, "ci95": half, "lo": mean - half, "hi": mean + half, "n": int(v.size)}


@dataclass
class Heatmap:
    """P(z'|z) over a grid of one ball's next position (Fig. 1D/E); NaN where a candidate is left out."""

    xs: np.ndarray  # (nx,) candidate x positions, px
    ys: np.ndarray  # (ny,) candidate y positions, px
    prob: np.ndarray  # (ny, nx) probabilities summing to 1 over the valid candidates
    n: int  # number of candidates N (the colour scale runs 0 · 1/N · >= 4/N)
    frame: int
    ball: int
    current: tuple[float, float]  # the ball's position in frame t
    true_next: tuple[float, float]  # its true position in frame t + 1


def candidate_grid(video: Video, frame: int, ball: int, stride: float = 8.0):
    """Grid points for ball ``ball``'s next position that stay inside the frame and overlap no other ball."""
    c = video.config
    r = c.diameter / 2
    axis = np.arange(stride / 2, c.size, stride)
    gx, gy = np.meshgrid(axis, axis)  # (ny, nx)
    others = np.delete(video.centres[frame + 1], ball, axis=0)  # (K-1, 2) at t + 1
    ok = (gx >= r) & (gx <= c.size - r) & (gy >= r) & (gy <= c.size - r)
    for ox, oy in others:
        ok &= (gx - ox) ** 2 + (gy - oy) ** 2 >= c.diameter**2
    return axis, axis, ok


def conditional_prior(encoder, coupling, video: Video, frame: int, ball: int, stride: float = 8.0,
                      chunk: int = 128) -> Heatmap:
    """P(c) = softmax_c log f(g(x_t), g(x'_c)) over rendered candidate next frames, R(z') uniform (eq. 21, SPEC §1)."""
    from .encoder import to_input  # local: keeps evaluate importable without building models

    t_max = len(video.centres) - 2
    if not (0 <= frame <= t_max):
        raise ValueError(f"frame must be in [0, {t_max}], got {frame}")
    if not (0 <= ball < video.config.balls):
        raise ValueError(f"ball must be in [0, {video.config.balls - 1}], got {ball}")
    if not (stride >= 1):
        raise ValueError(f"stride must be at least 1 px, got {stride}")
    xs, ys, ok = candidate_grid(video, frame, ball, stride)
    iy, ix = np.nonzero(ok)
    n = len(iy)
    if n == 0:
        raise ValueError("no valid candidate position for this ball and frame")
    cand = np.repeat(video.centres[frame + 1][None], n, axis=0)  # (N, K, 2)
    cand[:, ball, 0], cand[:, ball, 1] = xs[ix], ys[iy]
    c = video.config
    device = next(encoder.parameters()).device
    encoder.eval()
    with torch.inference_mode():
        z = encoder(to_input(torch.from_numpy(video.frames[frame : frame + 1]).to(device)))  # (1, D)
        zp = []
        for i in range(0, n, chunk):  # render and encode candidates in batches
            imgs = render_frames(cand[i : i + chunk], c.size, c.diameter, c.ball_colours, c.background)
            zp.append(encoder(to_input(torch.from_numpy(imgs).to(device))))
        zp = torch.cat(zp)  # (N, D)
        logits = coupling(z, zp)[0].double()  # (N,)
        p = torch.softmax(logits, dim=0).cpu().numpy()
    prob = np.full(ok.shape, np.nan)
    prob[iy, ix] = p
    return Heatmap(xs, ys, prob, n, frame, ball, tuple(video.centres[frame, ball]), tuple(video.centres[frame + 1, ball]))
