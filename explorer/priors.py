"""The Priors page's view model: the prior a coupling implies before any training, P(z'|z) ∝ R(z') f(z, z') with R
uniform (eq. 21), and what a student can read off it.

The preview works in latent space directly, as if the encoder read out the true positions: z is the true centres of
frame t, and each candidate z' is the true centres of frame t+1 with one ball moved to a grid point (candidates that
leave the frame or overlap another ball are left out, as in the Fig. 1D/E heatmaps). So every length in the preview
is in **true pixels**: its θ is the *effective* length-scale of a trained run (θ divided by the read-out's gain,
``evaluate.effective_length_scale``), and it starts at one step of the video. Training starts from the recipe's own
values in the encoder's units (the quick recipe, ``config.QUICK_RECIPE``) and learns them: ``training_item``. No Streamlit here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rpm_engine.config import VideoConfig
from rpm_engine.couplings import Coupling, CouplingInfo, Param, coupling_info, make_coupling, offered_couplings
from rpm_engine.data import Video
from rpm_engine.evaluate import Heatmap, candidates, heatmap_of

from .state import RECIPE, Item

CUSTOM = "custom"
EXAMPLE = "-sum(abs(z - zp)) / theta"
LENGTH_UNIT = "px of z"  # a length-scale: true px in the preview, the encoder's units in training
PIXEL_UNITS = (LENGTH_UNIT, "1/px²")  # parameters whose meaning depends on the scale of z
WHY_RAW_THETA_IS_SMALL = (
    "A trained run's θ is in the encoder's own units, not pixels: z is the centre of mass of a feature map that is "
    "mostly background, so it moves a small fraction of a pixel when a ball moves one (the read-out gain, from the "
    "fitted linear read-out). Divided by that gain, θ is a length in true pixels: the number this slider shows."
)


def theta_help(fig1: dict) -> str:
    """``WHY_RAW_THETA_IS_SMALL`` and what the shipped runs (``Catalog.shipped_fig1``) measure: the gain rises in
    training (it does not shrink), θ ends small in z's units, and only θ / gain is pinned down, near one step."""
    text = WHY_RAW_THETA_IS_SMALL
    rbf, start = fig1.get("rbf", []), fig1.get("untrained", [])
    gains = [e.metrics.get("readout_gain") for e in rbf]
    starts = [e.metrics.get("readout_gain") for e in start]
    thetas = [e.metrics.get("coupling_values", {}).get("theta") for e in rbf]
    px = [e.metrics.get("theta_effective_px") for e in rbf]
    if not rbf or not start or None in (*gains, *starts, *thetas, *px):
        return text
    return text + (
        f" On the {len(rbf)} RBF runs shipped with the app the gain rose in training, from {min(starts):.4f}–"
        f"{max(starts):.4f} untrained to {min(gains):.3f}–{max(gains):.3f}; θ ended at {min(thetas):.2f}–"
        f"{max(thetas):.2f} in z's units and θ / gain at {min(px):.1f}–{max(px):.1f} px, about one step "
        f"({rbf[0].config.video.step_px:g} px)."
    )


LANGUAGE_HELP = (
    "- operators `+ - * / **` (constant powers), numbers, parentheses, constants `pi`, `e`, `D` (the length of z)\n"
    "- `z`, `zp`: the latent now and next (vectors); `sum`, `mean`, `norm`, `min`, `max` of one vector and "
    "`dot(u, v)` turn vectors into numbers — log f must be **one number per pair**\n"
    "- `abs sqrt exp log` elementwise; `min(a, b)`, `max(a, b)` elementwise\n"
    "- learnable scalars: `theta tau sigma nu kappa lam` (positive) and `alpha beta gamma` (any sign); each gets a "
    "slider and is learned in training\n"
    "- the text is parsed into a tree and evaluated with a fixed set of torch operations: it is never run as Python"
    "\n\nExamples: `-sum((z - zp)**2) / (2 * theta**2)` (= RBF), `-sum(abs(z - zp)) / theta` (Laplace), "
    "`dot(z, zp) / (norm(z) * norm(zp)) / tau` (cosine)."
)


def kinds(allow_expressions: bool = True) -> dict[str, str]:
    """The coupling menu: every coupling the app offers (from the couplings' own metadata), then a custom one where
    the server allows expressions (``Limits.allow_expressions``)."""
    out = {}
    for info in offered_couplings():
        eq = f" ({info.equation})" if info.equation else ""
        out[info.name] = f"{info.name} — {info.help}{eq}"
    if allow_expressions:
        out[CUSTOM] = "custom expression for log f(z, z′)…"
    return out


# -- parameters and their sliders -----------------------------------------------------------------------------------
def _ladder(lo: float, hi: float) -> tuple[float, ...]:
    """1-2-5 steps from ``lo`` to ``hi``: log-spaced slider positions that read well."""
    out = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        out += [float(f"{m}e{e}") for m in (1, 2, 5)]
    return tuple(v for v in out if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9))


SCALE_OPTIONS = _ladder(0.01, 1000.0)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter's slider: log-spaced ``options`` for a positive/log parameter, else a plain range lo..hi."""

    name: str
    label: str
    help: str
    default: float  # the preview's starting value (a length-scale: one step of the video)
    positive: bool
    options: tuple[float, ...] = ()
    lo: float = -10.0
    hi: float = 10.0


def preview_default(p: Param, video: VideoConfig | None) -> float:
    """Where a preview slider starts: a length-scale at one step of the video (the distance a ball really moves),
    anything else at the coupling's own default."""
    if p.unit == LENGTH_UNIT and video is not None:
        return float(video.step_px)
    return float(p.default)


def slider_options(p: Param, video: VideoConfig | None, value: float | None = None) -> tuple[float, ...]:
    """Log-spaced options over the parameter's UI range; a length-scale also gets half, one and two steps, and a
    ``value`` inside the range (from a link) is offered as it is."""
    opts = set(_ladder(p.lo, p.hi))
    if p.unit == LENGTH_UNIT and video is not None:
        opts |= {video.step_px / 2, float(video.step_px), 2.0 * video.step_px}
    if value is not None and p.lo <= value <= p.hi:
        opts.add(float(value))
    return tuple(sorted(opts))


def param_specs(
    coupling: Coupling | CouplingInfo | str, video: VideoConfig | None = None, values: dict | None = None
) -> list[ParamSpec]:
    """The parameters a student moves (the coupling's ``user`` parameters), each with its slider; ``values`` (from
    a link) are offered exactly."""
    info = coupling if isinstance(coupling, CouplingInfo) else coupling_info(coupling)
    values = values or {}
    out = []
    for p in info.user_params:
        unit = "true px" if p.unit == LENGTH_UNIT else p.unit
        label = p.label + (f", {unit}" if unit else "")
        if p.log or p.positive:
            options = slider_options(p, video, values.get(p.name))
            out.append(ParamSpec(p.name, label, p.help, preview_default(p, video), True, options))
        else:
            out.append(ParamSpec(p.name, label, p.help, preview_default(p, video), False, lo=p.lo, hi=p.hi))
    return out


def nearest(options: tuple[float, ...], value: float) -> float:
    """The option closest to ``value`` on a log scale (so a URL's theta=0.12 lands on 0.1)."""
    if value <= 0:
        return options[0]
    return min(options, key=lambda o: abs(math.log(o) - math.log(value)))


def slider_value(spec: ParamSpec, value: float | None) -> float:
    """``value`` (or the default) as the slider can show it: the nearest option, or clipped to the range."""
    v = spec.default if value is None else float(value)
    return nearest(spec.options, v) if spec.positive else float(min(max(v, spec.lo), spec.hi))


def preview_values(prior: Item, spec: str, default_prior: Item) -> dict[str, float]:
    """The values a link asks the preview to show for ``spec``: the prior's own values when it is that coupling and
    not the app's default prior (whose values are training's start, in the encoder's units), else none."""
    if prior.coupling is None or prior.coupling.spec != spec or prior == default_prior:
        return {}
    return dict(prior.coupling.init)


def training_item(spec: str, values: dict[str, float]) -> Item:
    """What "Add to the training list" sends: the coupling with the recipe's start for every parameter measured in
    the units of z (θ₀ from the quick recipe, which training then learns), and the previewed value of every
    parameter that does not depend on z's scale (τ, ν, α …). The preview's θ is in true pixels; the encoder's z is
    not, so sending it would start training at a length-scale about 100 times too long."""
    info = coupling_info(spec)
    start = RECIPE.starting_values(spec)
    init = {}
    for p in info.user_params:
        if p.unit in PIXEL_UNITS:
            init[p.name] = float(start.get(p.name, p.default))
        elif p.name in values:
            init[p.name] = float(values[p.name])
    return Item.of(spec, **init)


def build(item: Item, balls: int) -> Coupling:
    """The coupling module of a training-list item (raises ValueError / ExpressionError if it is bad)."""
    if item.coupling is None:
        raise ValueError(f"{item.method} has no coupling: it is a baseline without a prior")
    return make_coupling(item.coupling.spec, 2 * balls, **dict(item.coupling.init))


def strides(video: VideoConfig, current: int) -> list[int]:
    """Grid spacings offered (px): 1, 2, 4, 8 and the current one, at most a quarter of the frame."""
    return sorted({1, 2, 4, 8, current} & set(range(1, max(2, video.size // 4) + 1)))


# -- the preview and what it shows ----------------------------------------------------------------------------------
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


def summary(hm: Heatmap, step: float | None = None) -> dict:
    """What a student reads off a preview, measured on the grid (``step``: the video's step, px; default: how far the
    ball really moved):

    - ``mass_near_now``: probability within one step of the current position ○ (where the ball can be next: it
      moves one step in a direction the prior does not know);
    - ``mass_near_true``: probability within half a step of the true next position ×;
    - ``uniform_near_now`` / ``uniform_near_true``: the same for a prior with no preference (share of candidates);
    - ``argmax_distance_px`` / ``argmax_from_now_px``: the most likely position's distance from × and from ○;
    - ``max_over_uniform``: max P · N (1 means no preference at all).
    """
    p = np.nan_to_num(hm.prob)
    valid = np.isfinite(hm.prob)
    gx, gy = np.meshgrid(hm.xs, hm.ys)
    (cx, cy), (tx, ty) = hm.current, hm.true_next
    moved = float(np.hypot(tx - cx, ty - cy))
    step = moved if step is None else float(step)
    d_true, d_now = np.hypot(gx - tx, gy - ty), np.hypot(gx - cx, gy - cy)
    near_now, near_true = d_now <= max(step, 1.0), d_true <= max(step, 1.0) / 2
    iy, ix = np.unravel_index(np.argmax(p), p.shape)
    return {
        "mass_near_now": float(p[near_now].sum()),
        "mass_near_true": float(p[near_true].sum()),
        "uniform_near_now": float((near_now & valid).sum() / max(hm.n, 1)),
        "uniform_near_true": float((near_true & valid).sum() / max(hm.n, 1)),
        "argmax_distance_px": float(d_true[iy, ix]),
        "argmax_from_now_px": float(d_now[iy, ix]),
        "max_over_uniform": float(p.max() * hm.n),
        "step_px": step,
        "moved_px": moved,
    }


def default_preview(spec: str, video: Video, frame: int, ball: int, stride: float) -> dict:
    """``summary`` of a coupling's preview at its preview defaults (θ = one step), on the same frame and grid."""
    values = {s.name: s.default for s in param_specs(spec, video.config)}
    hm = latent_prior(make_coupling(spec, 2 * video.config.balls, **values), video, frame, ball, stride)
    return {"values": values, **summary(hm, video.config.step_px)}


def lesson(video: Video, frame: int, ball: int, stride: float) -> dict[str, dict]:
    """The paper's two priors side by side at their preview defaults: RBF (eq. 27, θ = one step) and linear (eq. 8)."""
    return {spec: default_preview(spec, video, frame, ball, stride) for spec in ("rbf", "linear")}


def lesson_text(les: dict[str, dict]) -> str:
    """One sentence with the measured numbers of ``lesson`` (never typed by hand)."""
    r, li = les["rbf"], les["linear"]
    return (
        f"On this frame, RBF with θ = one step ({r['values']['theta']:g} px) puts {r['mass_near_now']:.0%} of its mass "
        f"within one step of ○ and {r['mass_near_true']:.0%} within half a step of ×; linear (w = "
        f"{li['values']['w_init']:g}) puts {li['mass_near_now']:.0%} and {li['mass_near_true']:.0%}; a prior with no "
        f"preference would put {r['uniform_near_now']:.0%} and {r['uniform_near_true']:.0%}."
    )
