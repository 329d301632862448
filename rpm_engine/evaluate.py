"""Evaluation (Fig. 1B-E): linear read-out of the latents, held-out L2 errors, seed summaries, conditional priors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .config import held_out_split
from .data import Video, draw_discs, render_frames
from .ranking import t_quantile

if TYPE_CHECKING:  # torch is imported by the functions that run an encoder: summaries and read-outs need none
    import torch


def _t95(df: int) -> float:
    """The two-sided 95 % Student-t quantile for ``df`` = n - 1 degrees of freedom (n seeds), exact for every n."""
    return t_quantile(0.975, df)


def fit_decoder(z: np.ndarray, centres: np.ndarray, train_frac: float = 0.8) -> np.ndarray:
    """Least squares with a bias from z (T, D) to the true coordinates (T, K, 2), on the first train_frac frames.

    Returns A of shape (D + 1, 2K) so that [z, 1] @ A are the decoded coordinates.
    """
    t = len(z)
    n = held_out_split(t, train_frac)
    x = np.hstack([z[:n], np.ones((n, 1))]).astype(np.float64)  # (n, D + 1)
    y = centres[:n].reshape(n, -1).astype(np.float64)  # (n, 2K)
    return np.linalg.lstsq(x, y, rcond=None)[0]


def decode(a: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(T, D) latents -> (T, K, 2) decoded centres."""
    return (np.hstack([z, np.ones((len(z), 1))]) @ a).reshape(len(z), -1, 2)


def l2_errors(z: np.ndarray, centres: np.ndarray, train_frac: float = 0.8) -> dict:
    """Held-out mean L2 distance (px) between decoded and true centres on the last frames: per ball and overall."""
    n = held_out_split(len(z), train_frac)
    decoded = decode(fit_decoder(z, centres, train_frac), z)
    dist = np.linalg.norm(decoded[n:] - centres[n:], axis=-1)  # (T - n, K)
    return {"mean": float(dist.mean()), "per_ball": [float(v) for v in dist.mean(axis=0)]}


def readout_gain(decoder: np.ndarray) -> float:
    """px of z per true px: the geometric mean of the singular values of the position -> z map, the inverse of the
    fitted decoder's z -> position matrix (``fit_decoder``'s A without its bias row); NaN if that map is singular.

    For z = g·R·positions + c (R a rotation) it is g; an RBF's θ in px of z then spans θ / g true px.
    """
    a = np.asarray(decoder, dtype=np.float64)[:-1]  # (D, 2K): positions = z @ a + bias
    sv = np.linalg.svd(a, compute_uv=False)
    if sv.size == 0 or not np.all(np.isfinite(sv)) or sv.min() <= 0:
        return float("nan")
    return float(np.exp(-np.mean(np.log(sv))))


def theta_in_true_px(config, metrics: dict) -> float | None:
    """θ / (z_scale · readout gain) from a config and its metrics; see ``effective_length_scale``."""
    if config.coupling is None:
        return None
    theta = metrics.get("coupling_values", {}).get("theta")
    gain = metrics.get("readout_gain")
    if theta is None or gain is None or not np.isfinite(gain):
        return None
    z_scale = dict(config.coupling.init).get("z_scale", 1.0)  # theta is in z_scale · px of z
    return float(theta / (z_scale * gain))


def effective_length_scale(run) -> float | None:
    """A run's learned θ in true pixels, θ / (z_scale · readout gain), for RBF and expression couplings with a θ;
    None for couplings without θ, baselines, or runs stored before the gain was recorded."""
    return theta_in_true_px(run.config, run.metrics)


def mean_predictor_l2(centres: np.ndarray, train_frac: float = 0.8) -> float:
    """Held-out mean L2 (px) of predicting every ball at its mean centre over the read-out frames: the floor any
    read-out must beat (an encoder that carries no position information lands here). ``centres`` (T, K, 2) are the
    true positions (``Video.centres``, or ``data.simulate``'s without rendering a frame)."""
    n = held_out_split(len(centres), train_frac)
    mean = centres[:n].mean(axis=0)  # (K, 2)
    return float(np.linalg.norm(centres[n:] - mean, axis=-1).mean())


def seeds_summary(values) -> dict:
    """Mean and 95 % t-interval over seeds: {mean, ci95 (half-width), lo, hi, n}."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values to summarise")
    mean = float(v.mean())
    half = float(_t95(v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
    return {"mean": mean, "ci95": half, "lo": mean - half, "hi": mean + half, "n": int(v.size)}


def log_summary(values) -> dict:
    """A positive quantity over seeds on the log scale, as the one ranking summarises it (``ranking.log_t_interval``):
    the geometric mean and its 95 % t-interval of mean(log v) mapped back, so both ends stay above 0 as an error's
    must on a log axis: {mean, lo, hi, factor (hi / mean), n}; NaN bounds for one seed."""
    from .ranking import log_t_interval

    v = list(values)
    centre, interval = log_t_interval(v)
    lo, hi = interval if interval is not None else (float("nan"), float("nan"))
    return {"mean": centre, "lo": lo, "hi": hi, "factor": hi / centre, "n": len(v)}


def paired_change(untrained: dict, trained: dict) -> dict:
    """Per-seed change of a metric from the untrained start: ``trained[s] - untrained[s]`` for every seed s in both
    (a run's encoder starts from the weights its seed gives, whatever it is trained with, so one seed's untrained
    run is that run's start). The 95 % interval is the paired one: exact Student-t over the per-seed differences in px.
    Also the ratio trained / untrained per seed on the log scale (``log_summary``, as ``ranking`` compares runs).

    Returns {seeds, change (per seed), mean, lo, hi, n, lower (seeds where it went down), higher, ratio, ratio_lo,
    ratio_hi}."""
    seeds = sorted(set(untrained) & set(trained))
    if not seeds:
        raise ValueError("no seed has both an untrained and a trained run")
    a = np.array([untrained[s] for s in seeds], dtype=np.float64)
    b = np.array([trained[s] for s in seeds], dtype=np.float64)
    d = b - a
    half = t_quantile(0.975, d.size - 1) * float(d.std(ddof=1)) / math.sqrt(d.size) if d.size > 1 else float("nan")
    diff = {"mean": float(d.mean()), "lo": float(d.mean()) - half, "hi": float(d.mean()) + half, "n": int(d.size)}
    nan = {"mean": float("nan"), "lo": float("nan"), "hi": float("nan")}
    ratio = log_summary(b / a) if np.all(a > 0) and np.all(b > 0) else nan  # a ratio of positive errors only
    return {
        "seeds": seeds,
        "change": (b - a).tolist(),
        "mean": diff["mean"],
        "lo": diff["lo"],
        "hi": diff["hi"],
        "n": diff["n"],
        "lower": int((b < a).sum()),
        "higher": int((b > a).sum()),
        "ratio": ratio["mean"],
        "ratio_lo": ratio["lo"],
        "ratio_hi": ratio["hi"],
    }


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


def conditional_prior(
    encoder, coupling, video: Video, frame: int, ball: int, stride: float = 8.0, chunk: int = 128
) -> Heatmap:
    """P(c) = softmax_c log f(g(x_t), g(x'_c)) over rendered candidate next frames, R(z') uniform (eq. 21, SPEC §1).

    For the Fig. 2 encoder (BatchNorm in eval mode, so every output pixel depends only on a 5x5 patch of input) a
    candidate differs from the frame without ball k only near ball k, so only that patch is rendered and encoded
    (``_local_latents``, the same z' up to float rounding, ~40x less work); other encoders encode whole frames.
    """
    import torch

    from .encoder import Encoder, to_input  # local: keeps evaluate importable without building models

    xs, ys, ok, cand = candidates(video, frame, ball, stride)
    n = len(cand)
    c = video.config
    device = next(encoder.parameters()).device
    encoder.eval()
    with torch.inference_mode():
        z = encoder(to_input(torch.from_numpy(video.frames[frame : frame + 1]).to(device)))  # (1, D)
        if type(encoder) is Encoder and _local_ok(encoder):
            zp = _local_latents(encoder, cand, ball, c)  # (N, D)
        else:
            zp = []
            for i in range(0, n, chunk):  # render and encode whole candidate frames in batches
                imgs = render_frames(cand[i : i + chunk], c.size, c.diameter, c.ball_colours, c.background)
                zp.append(encoder(to_input(torch.from_numpy(imgs).to(device))))
            zp = torch.cat(zp)  # (N, D)
        logits = coupling(z, zp.to(z.dtype))[0].double()  # (N,)
        p = torch.softmax(logits, dim=0).cpu().numpy()
    return heatmap_of(video, frame, ball, xs, ys, ok, p)


def candidates(video: Video, frame: int, ball: int, stride: float = 8.0):
    """The checked grid (xs, ys, ok) of ball ``ball``'s next positions and the (N, K, 2) centres of each candidate
    next frame: the other balls where they are at t + 1, ball ``ball`` at a valid grid point."""
    t_max = len(video.centres) - 2
    if not (0 <= frame <= t_max):
        raise ValueError(f"frame must be in [0, {t_max}], got {frame}")
    if not (0 <= ball < video.config.balls):
        raise ValueError(f"ball must be in [0, {video.config.balls - 1}], got {ball}")
    if not (stride >= 1):
        raise ValueError(f"stride must be at least 1 px, got {stride}")
    xs, ys, ok = candidate_grid(video, frame, ball, stride)
    iy, ix = np.nonzero(ok)
    if len(iy) == 0:
        raise ValueError("no position for this ball's next step stays in the frame without overlapping another ball")
    cand = np.repeat(video.centres[frame + 1][None], len(iy), axis=0)  # (N, K, 2)
    cand[:, ball, 0], cand[:, ball, 1] = xs[ix], ys[iy]
    return xs, ys, ok, cand


def heatmap_of(video: Video, frame: int, ball: int, xs, ys, ok: np.ndarray, p: np.ndarray) -> Heatmap:
    """Place the candidates' probabilities p (N,) back on the (ny, nx) grid; NaN where no candidate stands."""
    prob = np.full(ok.shape, np.nan)
    prob[np.nonzero(ok)] = p
    return Heatmap(
        xs, ys, prob, len(p), frame, ball, tuple(video.centres[frame, ball]), tuple(video.centres[frame + 1, ball])
    )


def _local_ok(encoder) -> bool:
    """The patch trick needs two 3x3 zero-padded convolutions and per-pixel (eval-mode) BatchNorm."""
    convs = (encoder.conv1, encoder.conv2)
    return (
        all(
            m.kernel_size == (3, 3)
            and m.padding == (1, 1)
            and m.stride == (1, 1)
            and m.dilation == (1, 1)
            and m.groups == 1
            and m.padding_mode == "zeros"
            for m in convs
        )
        and not encoder.training
    )


def _render_patches(cand: np.ndarray, ball: int, config, margin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patches of the candidate frames around ball ``ball``, drawn by ``render_frames``'s own ``draw_discs``.

    cand (N, K, 2) centres -> patches (N, P, P, 3) uint8 (zero outside the frame: the conv's zero padding),
    their top-left pixel (N, 2) as (col, row), and inside (N, P, P) bool (the pixel lies in the frame).
    """
    size, d = config.size, config.diameter
    box = int(math.ceil(d)) + 3  # render_frames touches at most floor(x - d/2) .. ceil(x + d/2) + 1
    p = box + 2 * margin
    lo = np.floor(cand[:, ball] - d / 2).astype(int) - margin  # (N, 2) (col, row) of the patch's top-left pixel
    cols = lo[:, 0, None] + np.arange(p)  # (N, P) frame column of each patch column
    rows = lo[:, 1, None] + np.arange(p)  # (N, P)
    inside = ((cols >= 0) & (cols < size))[:, None, :] & ((rows >= 0) & (rows < size))[:, :, None]  # (N, P, P)
    out = np.empty((len(cand), p, p, 3), dtype=np.uint8)
    out[:] = np.asarray(config.background, dtype=np.uint8)
    draw_discs(out, cand, d, config.ball_colours, origin=lo)
    out[~inside] = 0
    return out, lo, inside


def _local_latents(encoder, cand: np.ndarray, ball: int, config) -> torch.Tensor:
    """z' (N, 2K) of candidate frames that differ from one base frame only around ball ``ball`` (eval mode).

    The sigmoid maps s of a candidate equal those of the base frame (ball k left out) except on the patch around
    ball k grown by 2 px (two 3x3 convolutions); there they are computed from the patch grown by 4 px. The centre of
    mass then takes (mass, sum s x, sum s y) of the base frame, minus the base's patch, plus the candidate's patch.
    """
    import torch

    from .encoder import to_input

    dev = next(encoder.parameters()).device
    size, n = config.size, len(cand)
    others = [k for k in range(config.balls) if k != ball]
    base = render_frames(
        cand[:1, others], size, config.diameter, [config.ball_colours[k] for k in others], config.background
    )  # (1, H, W, 3) the frame without ball k
    s_base = encoder.feature_maps(to_input(torch.from_numpy(base).to(dev)))[0].double()  # (K, H, W)
    pix = torch.arange(size, device=dev, dtype=torch.float64) + 0.5
    m0 = s_base.sum((1, 2))  # (K,) mass, sum s x, sum s y of the base frame
    mx0, my0 = (s_base.sum(1) * pix).sum(1), (s_base.sum(2) * pix).sum(1)

    patches, lo, inside = _render_patches(cand, ball, config, margin=4)
    x = to_input(torch.from_numpy(patches).to(dev))  # (N, 3, P, P)
    ins = torch.from_numpy(inside).to(dev)  # (N, P, P)
    h = torch.relu(encoder.bn1(torch.nn.functional.conv2d(x, encoder.conv1.weight, encoder.conv1.bias)))
    h = h * ins[:, None, 1:-1, 1:-1]  # (N, 6, P-2, P-2); zero outside the frame = conv2's zero padding
    s = torch.sigmoid(encoder.bn2(torch.nn.functional.conv2d(h, encoder.conv2.weight, encoder.conv2.bias)))
    s = (s * ins[:, None, 2:-2, 2:-2]).double()  # (N, K, Q, Q) on the patch grown by 2 px, Q = P - 4
    q = s.shape[-1]
    lo_t = torch.from_numpy(lo).to(dev) + 2  # (N, 2) top-left (col, row) of the Q x Q window
    cols, rows = lo_t[:, 0, None] + torch.arange(q, device=dev), lo_t[:, 1, None] + torch.arange(q, device=dev)
    pad = torch.nn.functional.pad(s_base, (q, q, q, q))  # the window may reach past the frame: zeros there
    old = pad[:, (rows + q)[:, :, None], (cols + q)[:, None, :]].permute(1, 0, 2, 3)  # (N, K, Q, Q) base window
    xw, yw = cols.double() + 0.5, rows.double() + 0.5  # (N, Q) pixel centres of the window
    diff = s - old
    mass = m0 + diff.sum((2, 3))  # (N, K)
    mx = mx0 + (diff.sum(2) * xw[:, None, :]).sum(-1)
    my = my0 + (diff.sum(3) * yw[:, None, :]).sum(-1)
    mass = mass.clamp_min(1e-12)
    return torch.stack([mx / mass, my / mass], dim=-1).reshape(n, -1).float()  # (N, 2K)
