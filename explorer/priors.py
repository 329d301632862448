"""The prior a coupling implies, before any training: P(z'|z) ∝ R(z') f(z, z') with R uniform (eq. 21).

The preview works in latent space directly, as if the encoder were perfect: z is the true centres of frame t, and
each candidate z' is the true centres of frame t+1 with one ball moved to a grid point (candidates that leave the
frame or overlap another ball are left out, as in the Fig. 1D/E heatmaps). No rendering and no encoder, so it
updates instantly while the parameters move. No Streamlit here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rpm_engine.couplings import Coupling, make_coupling
from rpm_engine.data import Video
from rpm_engine.evaluate import Heatmap, candidates, heatmap_of

from .state import Item


def _ladder(lo_exp: int, hi_exp: int) -> tuple[float, ...]:
    """1-2-5 steps from 10**lo_exp to 10**hi_exp: log-spaced slider positions that read well."""
    out = []
    for e in range(lo_exp, hi_exp + 1):
        for m in (1, 2, 5):
            out.append(float(f"{m}e{e}"))
    return tuple(v for v in out if v <= 10**hi_exp)


SCALE_OPTIONS = _ladder(-2, 3)  # 0.01 .. 1000 (θ, τ, ν: positive scales, in px of z where that applies)
W_OPTIONS = _ladder(-6, -1)  # 1e-6 .. 0.1: W = w·I makes log f = w zᵀz', and z is ~100 px
FREE_RANGE = (-10.0, 10.0)  # parameters without a sign constraint

LABELS = {
    "theta": "θ (length-scale, px)",
    "tau": "τ (temperature)",
    "nu": "ν (degrees of freedom)",
    "w_init": "W scale w (W = w·I)",
}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    label: str
    default: float
    positive: bool  # True: log-spaced options; False: a plain slider over FREE_RANGE
    options: tuple[float, ...] = ()


# The parameters of a prior a student should play with; other constructor options (such as a unit change of z)
# are left at their defaults so the run keys stay those of the command line and the shipped runs.
BUILTIN_PARAMS = {"linear": ("w_init",), "rbf": ("theta",)}


def param_names(coupling: Coupling) -> tuple[str, ...]:
    expression = getattr(coupling, "expression", None)
    if expression is not None:
        return tuple(expression.params)
    return BUILTIN_PARAMS.get(coupling.name, tuple(coupling.init))


def param_specs(coupling: Coupling) -> list[ParamSpec]:
    """The named parameters of a coupling with their starting values and slider ranges."""
    try:
        from rpm_engine.expressions import SCALE_PARAMS
    except ImportError:  # pragma: no cover - the engine always has it
        SCALE_PARAMS = ("theta", "tau", "nu")
    out = []
    for name in param_names(coupling):
        value = coupling.init[name]
        if name == "w_init":
            out.append(ParamSpec(name, LABELS[name], value, True, W_OPTIONS))
        elif name == "theta" or name in SCALE_PARAMS:
            out.append(ParamSpec(name, LABELS.get(name, f"{name} (> 0)"), value, True, SCALE_OPTIONS))
        else:
            out.append(ParamSpec(name, LABELS.get(name, name), value, False))
    return out


def nearest(options: tuple[float, ...], value: float) -> float:
    """The option closest to ``value`` on a log scale (so a URL's theta=0.12 lands on 0.1)."""
    if value <= 0:
        return options[0]
    return min(options, key=lambda o: abs(math.log(o) - math.log(value)))


def build(item: Item, balls: int) -> Coupling:
    """The coupling module of a training-list item (raises ValueError / ExpressionError if it is bad)."""
    if item.coupling is None:
        raise ValueError(f"{item.method} has no coupling: it is a baseline without a prior")
    return make_coupling(item.coupling.spec, 2 * balls, **dict(item.coupling.init))


@torch.no_grad()
def latent_prior(coupling: Coupling, video: Video, frame: int, ball: int, stride: float = 2.0) -> Heatmap:
    """P(z'|z) over one ball's next position, with z and z' taken from the true centres (no encoder)."""
    xs, ys, ok, cand = candidates(video, frame, ball, stride)
    n = len(cand)
    z = torch.from_numpy(video.centres[frame].reshape(1, -1)).float()  # (1, 2K)
    zp = torch.from_numpy(cand.reshape(n, -1)).float()  # (N, 2K)
    coupling = coupling.eval()
    logits = coupling(z, zp)[0].double()  # (N,) log f(z, z'_c)
    if torch.isnan(logits).any() or torch.isposinf(logits).any():
        raise ValueError("the coupling gives non-finite values of log f here; try other parameter values")
    if torch.isneginf(logits).all():
        raise ValueError("log f is -inf for every candidate; try other parameter values")
    return heatmap_of(video, frame, ball, xs, ys, ok, torch.softmax(logits, dim=0).numpy())


def summary(hm: Heatmap) -> dict:
    """Numbers a student can read off the preview: the probability mass near the true next position, and how far
    the most likely position is from it (px)."""
    p = np.nan_to_num(hm.prob)
    gx, gy = np.meshgrid(hm.xs, hm.ys)
    tx, ty = hm.true_next
    d = np.hypot(gx - tx, gy - ty)
    step = float(np.hypot(tx - hm.current[0], ty - hm.current[1]))
    iy, ix = np.unravel_index(np.argmax(p), p.shape)
    return {
        "mass_near_true": float(p[d <= max(step, 1.0) / 2].sum()),
        "argmax_distance_px": float(d[iy, ix]),
        "argmax_from_now_px": float(np.hypot(hm.xs[ix] - hm.current[0], hm.ys[iy] - hm.current[1])),
        "max_over_uniform": float(p.max() * hm.n),
        "step_px": step,
    }
