"""The bound and the ELBO from stored runs (paper Secs. 3.2, 4.3-4.5, App. A.1): no training, no Streamlit.

Everything here works on a run's stored latents z (T, D), one per frame, and its trained coupling f. The pairs are
consecutive frames (z_t, z_{t+1}), as in training; "held-out pairs" are those inside the read-out's held-out frames
[n, T) (InfoNCE itself trained on every pair of the video; only the linear read-out never saw these frames).

- ``infonce``: I_N = log N + (1/N) Σ_i log [f(z_i, z'_i) / Σ_j f(z_i, z'_j)] (eq. 6), never above log N because every
  term of the sum is the log of a probability. ``infonce_curve`` averages it over random batches of N of the pairs.
- ``elbo_terms``: under the empirical data distribution of M pairs (App. A.1, eq. 34) R(z, z') is uniform on the M
  pairs and R(z'), the prior's candidates (eq. 11), uniform on the M next latents. The mutual information (eq. 5) is
  then log M whenever the pairs are distinct, the RPM ELBO with the InfoNCE prior (eq. 21) is const + I_M
  (eqs. 23-25), and eq. 18's prior-mismatch term KL(R(z, z') || P_θ(z, z')) is log M - I_M.
- ``PowerWarp``: an invertible per-coordinate warp of z. The mutual information of the warped pairs is unchanged
  (``empirical_mi``), and so is the bound of a critic composed with the inverse warp (``inverse_warped``); the
  trained critic on warped latents, the RBF prior re-fitted to them (``fit_rbf``) and the linear read-out move.
- ``log_marginal`` / ``prior_probabilities``: eq. 21's P(z'|z) ∝ R(z') f(z, z') over a grid of candidate next
  positions, with R(z') uniform or the latents' marginal (eq. 11, estimated as in App. A eq. 37 by a sum over frames,
  smoothed by a Gaussian of width h per coordinate, i.e. a Gaussian recognition model, App. B).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .config import held_out_split

if TYPE_CHECKING:
    from .couplings import Coupling
    from .data import Video


# -- pairs and the critic's matrix ----------------------------------------------------------------------------------
def pairs(z: np.ndarray, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive pairs (z_t, z_{t+1}) with both frames in [start, stop): two (M, D) arrays, M = stop - start - 1."""
    z = np.asarray(z, dtype=np.float64)
    stop = len(z) if stop is None else stop
    if z.ndim != 2 or not (0 <= start < stop - 1 < len(z)):
        raise ValueError(f"need at least two frames in [{start}, {stop}) of latents shaped (T, D), got {z.shape}")
    return z[start : stop - 1], z[start + 1 : stop]


def held_out_pairs(z: np.ndarray, train_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs inside the read-out's held-out frames [n, T), n = ``held_out_split(T, train_frac)``."""
    return pairs(z, held_out_split(len(z), train_frac))


def log_f(coupling: Coupling, z: np.ndarray, zp: np.ndarray) -> np.ndarray:
    """(M, M') matrix of log f(z_i, z'_j) from a coupling module, in float64. The built-in couplings' formulas (linear,
    eq. 8; RBF, eq. 27) are evaluated here in NumPy (a tenth of the modules' time on 511 pairs on a busy machine, which
    the page's first view needs; tested equal to the modules); every other coupling runs its module."""
    import torch

    from .couplings import LinearCoupling, RBFCoupling

    if type(coupling) is RBFCoupling:
        scale = coupling.z_scale**2 * math.exp(-2.0 * float(coupling.log_theta.detach()))
        return -0.5 * scale * squared_distances(z, zp)
    if type(coupling) is LinearCoupling:
        w = coupling.W.detach().double().cpu().numpy()
        s = coupling.z_scale
        return (s * np.asarray(z, dtype=np.float64)) @ w @ (s * np.asarray(zp, dtype=np.float64)).T
    with torch.no_grad():
        c = copy.deepcopy(coupling).double().eval()
        out = c(torch.as_tensor(np.asarray(z, dtype=np.float64)), torch.as_tensor(np.asarray(zp, dtype=np.float64)))
    out = out.numpy()
    if np.isnan(out).any() or np.isposinf(out).any():
        raise ValueError("the coupling gives non-finite values of log f on these latents")
    return out


# -- the InfoNCE bound (eq. 6) --------------------------------------------------------------------------------------
def _logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def log_p_true(logits: np.ndarray) -> np.ndarray:
    """Row i's log-probability of its own partner, log f_ii - log Σ_j f_ij (the classification of App. A eq. 34);
    logits (..., N, N) -> (..., N), each ≤ 0."""
    logits = np.asarray(logits, dtype=np.float64)
    return np.diagonal(logits, axis1=-2, axis2=-1) - _logsumexp(logits, axis=-1)


def infonce(logits: np.ndarray) -> float:
    """I_N of one batch of N pairs from its (N, N) logits log f(z_i, z'_j) (eq. 6): log N plus the mean log-probability
    of the true partners. It is at most log N (each log-probability is ≤ 0), and 0 for a critic that scores every
    pair alike."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1] or logits.shape[0] < 1:
        raise ValueError(f"logits must be a square (N, N) matrix, got shape {logits.shape}")
    return float(math.log(len(logits)) + log_p_true(logits).mean())


def partner_mass(logits: np.ndarray, offsets: tuple[int, ...] = (0,)) -> list[float]:
    """For each offset, the mean probability a row's softmax over the batch gives the pair that many places away
    (i → i + offset; 0: the true partner). For consecutive pairs, offset -1 is z'_{i-1} = z_i: the current frame
    itself, among the negatives."""
    logits = np.asarray(logits, dtype=np.float64)
    p = np.exp(logits - _logsumexp(logits, axis=1)[:, None])
    return [float(np.mean(np.diagonal(p, offset=k))) for k in offsets]


def batch_sizes(m: int, count: int = 16) -> list[int]:
    """About ``count`` batch sizes from 2 to m, log-spaced, always including 2 and m."""
    if m < 2:
        raise ValueError(f"need at least 2 pairs, got {m}")
    return sorted({int(round(v)) for v in np.geomspace(2, m, count)} | {2, m})


def infonce_curve(logits: np.ndarray, ns: list[int], rows: int = 512, seed: int = 0) -> np.ndarray:
    """Mean I_N over batches of N pairs drawn without replacement from the M pairs of ``logits`` (M, M), for each N in
    ``ns``: seeded random permutations cut into floor(M/N) disjoint batches, until the batches hold at least ``rows``
    pairs (so the same inputs give the same curve). N = M is the one batch of every pair, exactly."""
    logits = np.asarray(logits, dtype=np.float64)
    m = len(logits)
    rng = np.random.default_rng(seed)
    out = []
    for n in ns:
        if not 1 <= n <= m:
            raise ValueError(f"N must be in [1, {m}], got {n}")
        if n == m:
            out.append(infonce(logits))
            continue
        per = m // n
        perms = -(-rows // (per * n))  # permutations needed for ``rows`` pairs
        idx = np.concatenate([rng.permutation(m)[: per * n].reshape(per, n) for _ in range(perms)])
        sub = logits[idx[:, :, None], idx[:, None, :]]  # (B, N, N) each batch's own matrix
        out.append(math.log(n) + float(log_p_true(sub).mean()))
    return np.asarray(out)


# -- the ELBO's terms (eqs. 17-20, 23-25, App. A.1) ---------------------------------------------------------------
def empirical_mi(z: np.ndarray, zp: np.ndarray) -> float:
    """Mutual information (eq. 5) of the empirical joint that puts 1/M on each pair (z_i, z'_i): Σ p log p/(p_z p_z'),
    computed over the distinct values; log M when no two z and no two z' coincide."""
    z, zp = np.asarray(z), np.asarray(zp)
    m = len(z)
    a = np.unique(z, axis=0, return_inverse=True)[1].ravel()
    b = np.unique(zp, axis=0, return_inverse=True)[1].ravel()
    joint = np.unique(np.stack([a, b], 1), axis=0, return_counts=True)
    pa, pb = np.bincount(a) / m, np.bincount(b) / m
    (ia, ib), p = joint[0].T, joint[1] / m
    return float(np.sum(p * np.log(p / (pa[ia] * pb[ib]))))


def elbo_terms(logits: np.ndarray, z: np.ndarray, zp: np.ndarray) -> dict:
    """Eq. 18, L - const = MI - KL(R(z, z') || P_θ(z, z')), on M pairs under their empirical distribution (App. A.1):
    ``mi`` the mutual information (log M for distinct pairs), ``elbo`` = I_M (eqs. 23-25 with R(z') the M next
    latents), ``kl`` = mi - elbo, ``log_n`` = log M, ``n`` = M."""
    mi, elbo = empirical_mi(z, zp), infonce(logits)
    return {"mi": mi, "elbo": elbo, "kl": mi - elbo, "log_n": math.log(len(logits)), "n": len(logits)}


# -- warps of z ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerWarp:
    """z → c + s · sign(u) |u|^p per coordinate, u = (z - c) / s: strictly monotone, hence invertible, for p > 0;
    p = 1 is the identity. ``centre`` c and ``scale`` s are per-coordinate (``PowerWarp.fit``)."""

    p: float
    centre: tuple[float, ...]
    scale: tuple[float, ...]

    def __post_init__(self):
        if not (math.isfinite(self.p) and self.p > 0):
            raise ValueError(f"the warp's power must be a positive number, got {self.p}")
        if len(self.centre) != len(self.scale) or not all(s > 0 for s in self.scale):
            raise ValueError("the warp needs one centre and one positive scale per coordinate")

    @classmethod
    def fit(cls, p: float, z: np.ndarray) -> PowerWarp:
        """Centre and scale from latents z (T, D): their mean and standard deviation (1 where it is 0)."""
        z = np.asarray(z, dtype=np.float64)
        sd = z.std(axis=0)
        return cls(float(p), tuple(map(float, z.mean(axis=0))), tuple(float(s) if s > 0 else 1.0 for s in sd))

    def _power(self, z: np.ndarray, q: float) -> np.ndarray:
        c, s = np.asarray(self.centre), np.asarray(self.scale)
        u = (np.asarray(z, dtype=np.float64) - c) / s
        return c + s * np.sign(u) * np.abs(u) ** q

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self._power(z, self.p)

    def inverse(self, w: np.ndarray) -> np.ndarray:
        return self._power(w, 1.0 / self.p)


def inverse_warped(logits_of, warp: PowerWarp):
    """The critic f(w⁻¹(·), w⁻¹(·)) for warped latents: ``logits_of(z, zp)`` composed with the inverse warp. On
    w(z), w(z') it gives the original critic's values, so its I_N (a lower bound on the same MI) is unchanged."""
    return lambda wz, wzp: logits_of(warp.inverse(wz), warp.inverse(wzp))


def squared_distances(z: np.ndarray, zp: np.ndarray) -> np.ndarray:
    """(M, M') matrix of |z_i - z'_j|²."""
    z, zp = np.asarray(z, dtype=np.float64), np.asarray(zp, dtype=np.float64)
    out = np.zeros((len(z), len(zp)))
    for d in range(z.shape[1]):  # one coordinate at a time: no (M, M', D) array
        out += (z[:, None, d] - zp[None, :, d]) ** 2
    return out


def fit_rbf(d2: np.ndarray, tol: float = 1e-9, max_iter: int = 100) -> tuple[float, float]:
    """The RBF prior (eq. 27) fitted to pairs: the θ that maximises I_M for logits -d2 / (2θ²) (eq. 19's maximisation
    over the prior's parameters, within the RBF family), and that I_M. With a = 1/(2θ²), I_M(a) is concave (a
    log-sum-exp of affine functions is convex), so Newton's method on log a finds the one maximum; θ = inf (I_M = 0)
    when the partners are on average no closer than the others, θ → 0 when every partner is its row's nearest."""
    d2 = np.asarray(d2, dtype=np.float64)
    diag = np.diagonal(d2)

    def grad_hess(a: float) -> tuple[float, float]:
        p = np.exp(-a * d2 - _logsumexp(-a * d2, axis=1)[:, None])  # (M, M) row softmax
        mean = (p * d2).sum(1)
        var = (p * d2 * d2).sum(1) - mean**2
        return float(np.mean(mean - diag)), float(-np.mean(var))  # dI/da, d²I/da²

    g0 = float(np.mean(d2.mean(1) - diag))
    if not g0 > 0:
        return math.inf, 0.0
    a = 1.0 / max(float(np.mean(diag)), 1e-300)
    for _ in range(max_iter):
        g, h = grad_hess(a)
        gs, hs = a * g, a * g + a * a * h  # derivatives in s = log a
        step = -gs / hs if hs < 0 else math.copysign(2.0, gs)
        step = max(-2.0, min(2.0, step))
        a *= math.exp(step)
        if abs(step) < tol or a > 1e300:
            break
    return float(math.sqrt(0.5 / a)), infonce(-a * d2)


# -- R(z'): the prior's candidates weighted by the latents' marginal (eqs. 11, 21) ----------------------------------
def bandwidth(z_all: np.ndarray) -> np.ndarray:
    """Scott's rule per coordinate, h_d = σ_d T^(-1/(D+4)), for the latents z_all (T, D)."""
    z_all = np.asarray(z_all, dtype=np.float64)
    t, d = z_all.shape
    sd = z_all.std(axis=0)
    return np.where(sd > 0, sd, 1.0) * t ** (-1.0 / (d + 4))


def log_marginal(zp: np.ndarray, z_all: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
    """log R(z') (eq. 11) at the candidates zp (N, D): eq. 37's average over the T frames' latents z_all of a Gaussian
    recognition density of width h per coordinate (App. B): log (1/T) Σ_t Π_d N(z'_d; z_td, h_d²)."""
    zp, z_all = np.asarray(zp, dtype=np.float64), np.asarray(z_all, dtype=np.float64)
    h = bandwidth(z_all) if h is None else np.asarray(h, dtype=np.float64)
    u = (zp[:, None, :] - z_all[None, :, :]) / h  # (N, T, D)
    log_k = -0.5 * np.sum(u * u, axis=-1) - np.sum(np.log(h * math.sqrt(2 * math.pi)))
    return _logsumexp(log_k, axis=1) - math.log(len(z_all))


def prior_probabilities(logits: np.ndarray, log_r: np.ndarray | None = None) -> np.ndarray:
    """Eq. 21 over N candidates: P(c) ∝ R(z'_c) f(z, z'_c), from log f (N,) and log R (N,) (None: R uniform)."""
    a = np.asarray(logits, dtype=np.float64) + (0.0 if log_r is None else np.asarray(log_r, dtype=np.float64))
    a = a - np.max(a)
    p = np.exp(a)
    return p / p.sum()


def candidate_latents(encoder, video: Video, frame: int, ball: int, stride: float = 8.0):
    """z (1, D) of frame ``frame`` and z' (N, D) of every candidate next frame on the grid (``evaluate.candidates``),
    with the grid (xs, ys, ok): the inputs of ``evaluate.conditional_prior``, kept so R(z') can weight them."""
    import torch

    from .data import render_frames
    from .encoder import Encoder, to_input
    from .evaluate import _local_latents, _local_ok, candidates

    xs, ys, ok, cand = candidates(video, frame, ball, stride)
    c = video.config
    device = next(encoder.parameters()).device
    encoder.eval()
    with torch.inference_mode():
        z = encoder(to_input(torch.from_numpy(video.frames[frame : frame + 1]).to(device)))
        if type(encoder) is Encoder and _local_ok(encoder):
            zp = _local_latents(encoder, cand, ball, c)
        else:
            zp = torch.cat(
                [
                    encoder(to_input(torch.from_numpy(render_frames(cand[i : i + 128], c.size, c.diameter,
                                                                    c.ball_colours, c.background)).to(device)))
                    for i in range(0, len(cand), 128)
                ]
            )  # fmt: skip
    return xs, ys, ok, z.double().cpu().numpy(), zp.double().cpu().numpy()
