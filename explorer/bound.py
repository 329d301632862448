"""The Bound page's view model: the paper's argument (InfoNCE is an ELBO; mutual information alone is not what makes a
representation good) shown on the stored runs, with every number in its captions computed from them. The maths is in
``rpm_engine.bound``; here are the rows, the Plotly figures and the captions. No Streamlit here, no training.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from rpm_engine import bound
from rpm_engine.evaluate import heatmap_of, l2_errors, seeds_summary

from . import charts
from .home import METHOD_LABELS, mass_within

PAIR_SETS = {
    "all": "every pair of consecutive frames (InfoNCE's training data)",
    "held_out": "pairs inside the read-out's held-out frames only",
}
PRIORS = {
    "trained": "each run's own trained critic",
    "rbf": "an RBF prior with θ fitted to each encoder's latents",
}
WARP_POWERS = (0.25, 0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0)
CRITIC_METHODS = ("rbf", "linear")
NATS = "nats"


def label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def run_pairs(run, pair_set: str = "all", z: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(z_t, z_{t+1}) of a run (or of latents ``z`` shaped like the run's) for ``pair_set`` (``PAIR_SETS``)."""
    if pair_set not in PAIR_SETS:
        raise ValueError(f"pairs must be one of {', '.join(PAIR_SETS)}, got {pair_set!r}")
    z = run.z if z is None else z
    return bound.pairs(z) if pair_set == "all" else bound.held_out_pairs(z, run.config.train.train_frac)


# -- A · I_N against N -------------------------------------------------------------------------------------------
def curves(runs: dict[str, list], pair_set: str = "all") -> list[dict]:
    """One row per run with a trained critic: {method, seed, ns, values (I_N), m (pairs)}; ``runs`` by method."""
    rows = []
    for method in CRITIC_METHODS:
        for run in runs.get(method, []):
            z, zp = run_pairs(run, pair_set)
            logits = bound.log_f(run.coupling(), z, zp)
            ns = bound.batch_sizes(len(logits))
            values = bound.infonce_curve(logits, ns)
            rows.append({
                "method": method, "seed": run.config.train.seed, "ns": ns, "values": values, "m": len(z),
                **dict(zip(("true_mass", "self_mass"), bound.partner_mass(logits, (0, -1)))),
            })  # fmt: skip
    return rows


def curve_figure(rows: list[dict], height: int = 400) -> go.Figure:
    """I_N against N on a log axis, each seed a thin line and each method's mean a thick one, with log N dashed."""
    fig = go.Figure()
    if rows:
        ns = rows[0]["ns"]
        fig.add_scatter(x=ns, y=np.log(ns), mode="lines", name="log N (the most I_N can be)",
                        line=dict(color="#222", dash="dash", width=2), hovertemplate="N %{x}: log N %{y:.2f}<extra></extra>")  # fmt: skip
    for method in CRITIC_METHODS:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        colour = charts.method_colour(method)
        for r in mine:
            fig.add_scatter(x=r["ns"], y=r["values"], mode="lines", showlegend=False, opacity=0.35,
                            line=dict(color=colour, width=1), name=f"{label(method)} seed {r['seed']}",
                            hovertemplate=f"{label(method)} seed {r['seed']}, " + "N %{x}: I_N %{y:.2f}<extra></extra>")  # fmt: skip
        mean = np.mean([r["values"] for r in mine], axis=0)
        fig.add_scatter(x=mine[0]["ns"], y=mean, mode="lines+markers", name=f"{label(method)} critic (mean of {len(mine)})",
                        line=dict(color=colour, width=3), marker=dict(size=5),
                        hovertemplate=f"{label(method)} mean, " + "N %{x}: I_N %{y:.2f}<extra></extra>")  # fmt: skip
    ticks = [v for v in (2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000) if rows and v <= rows[0]["m"]]
    fig.update_xaxes(type="log", title_text="N, pairs in a batch (log scale)", showgrid=True, gridcolor="#eee",
                     tickvals=ticks)  # fmt: skip
    fig.update_yaxes(title_text="I_N (nats)", showgrid=True, gridcolor="#eee", rangemode="tozero")
    return charts._layout(fig, "A · I_N against the batch size N", height + 40, below=True)


def _mean_of(rows: list[dict], method: str, key: str) -> float:
    return float(np.mean([r[key] for r in rows if r["method"] == method]))


def _mean_at(rows: list[dict], method: str, n: int) -> float:
    return float(np.mean([r["values"][r["ns"].index(n)] for r in rows if r["method"] == method]))


def curve_caption(rows: list[dict], pair_set: str) -> str:
    """A's caption: where each critic's I_N starts and ends against log N, computed from ``rows``."""
    if not rows:
        return "No stored run with a trained critic to draw."
    m = rows[0]["m"]
    text = (
        f"Mean I_N over random batches of N of the {m} pairs ({PAIR_SETS[pair_set]}), each seed a thin line. "
        f"I_N = log N + the mean log-probability the critic gives each z's true partner among the N candidates "
        f"(eq. 6); a probability is at most 1, so I_N ≤ log N, with equality only if every partner gets all of it."
    )
    if any(r["method"] == "rbf" for r in rows):
        ns = rows[0]["ns"]
        half = min(ns[:-1], key=lambda n: abs(n - m / 2))
        at2, at_half, at_m = (_mean_at(rows, "rbf", n) for n in (2, half, m))
        start = "close to log N" if at2 >= 0.9 * math.log(2) else "below log N already"
        text += (
            f" RBF: {at2:.2f} nats at N = 2 (log 2 = {math.log(2):.2f}), {start}; {at_m:.2f} at N = {m} "
            f"(log {m} = {math.log(m):.2f}), {math.log(m) - at_m:.2f} nats below it. From N = {half} to {m} it "
            f"{'gains' if at_m >= at_half else 'loses'} {abs(at_m - at_half):.2f} nats where log N gains "
            f"{math.log(m / half):.2f}. With all {m} pairs in one batch its prior gives the true next frame "
            f"{_mean_of(rows, 'rbf', 'true_mass'):.0%} of the mass on average and the current frame itself (the "
            f"previous pair's next frame, z′_(i−1) = z_i, a negative in the batch) {_mean_of(rows, 'rbf', 'self_mass'):.0%}: "
            "a prior that expects small moves finds “no move” likely, and the larger the batch the likelier it holds "
            "that negative."
        )
        if pair_set == "held_out":
            text += (
                " A window of consecutive frames is not a sample of R(z′) (eq. 6 draws the negatives independently): "
                "here every negative comes from the same short stretch of the video as the true partner."
            )
    if any(r["method"] == "linear" for r in rows):
        top = max(float(np.max(r["values"])) for r in rows if r["method"] == "linear")
        text += f" Linear: at most {top:.2f} nats at any N on any seed"
        text += ": its critic scores all pairs nearly alike." if top < 0.1 else "."
    return text


# -- B · the ELBO's terms (eqs. 17-20) ---------------------------------------------------------------------------
def elbo_rows(runs: dict[str, list], pair_set: str = "all", prior: str = "trained") -> list[dict]:
    """Eq. 18's terms per run: {method, seed, mi, elbo, kl, n, log_n, theta}; ``prior`` "trained" (runs with a critic)
    or "rbf" (every run, the RBF prior fitted to its latents, ``bound.fit_rbf``)."""
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
    rows = []
    for method, group in runs.items():
        for run in group:
            z, zp = run_pairs(run, pair_set)
            if prior == "rbf":  # fit_rbf's I_M is the ELBO of the fitted prior: no second pass over the pairs
                theta, elbo = bound.fit_rbf(bound.squared_distances(z, zp))
                mi = bound.empirical_mi(z, zp)
                terms = {"mi": mi, "elbo": elbo, "kl": mi - elbo, "log_n": math.log(len(z)), "n": len(z)}
            elif run.config.coupling is None:
                continue
            else:
                theta, terms = None, bound.elbo_terms(bound.log_f(run.coupling(), z, zp), z, zp)
            rows.append({"method": method, "seed": run.config.train.seed, "theta": theta, **terms})
    return rows


def _by_method(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["method"], []).append(r)
    return out


def elbo_figure(rows: list[dict], height: int = 400) -> go.Figure:
    """Per method, a bar of height MI split into the ELBO (I_M, eqs. 23-25) and the prior mismatch KL (eq. 18), means
    over seeds, with each seed's ELBO as a dot."""
    fig = go.Figure()
    groups = _by_method(rows)
    names = [label(m) for m in groups]
    elbo = [float(np.mean([r["elbo"] for r in g])) for g in groups.values()]
    kl = [float(np.mean([r["kl"] for r in g])) for g in groups.values()]
    fig.add_bar(x=names, y=elbo, name="ELBO − const = I_M (the prior's fit)",
                marker_color=[charts.method_colour(m) for m in groups], hovertemplate="%{x}: ELBO %{y:.2f} nats<extra></extra>")  # fmt: skip
    fig.add_bar(x=names, y=kl, name="KL(R ‖ P_θ): the prior's mismatch", marker_color="#d9d9d9",
                marker_line=dict(color="#888", width=1), hovertemplate="%{x}: KL %{y:.2f} nats<extra></extra>")  # fmt: skip
    for m, g in groups.items():
        fig.add_scatter(x=[label(m)] * len(g), y=[r["elbo"] for r in g], mode="markers", showlegend=False,
                        marker=dict(color="black", size=6), hovertemplate="one seed: ELBO %{y:.2f}<extra></extra>")  # fmt: skip
    if rows:
        fig.add_hline(y=rows[0]["mi"], line=dict(color="#222", dash="dash", width=1.5))
        fig.add_annotation(x=1, xref="paper", y=rows[0]["mi"], text=f"MI = log {rows[0]['n']}", showarrow=False,
                           xanchor="right", yanchor="bottom", font=dict(size=12))  # fmt: skip
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="nats", showgrid=True, gridcolor="#eee")
    return charts._layout(fig, "B · MI = ELBO + KL (eq. 18)", height)


def elbo_caption(rows: list[dict], prior: str) -> str:
    """B's caption, computed from ``rows``."""
    if not rows:
        return "No stored run to show."
    n, mi = rows[0]["n"], rows[0]["mi"]
    same = all(abs(r["mi"] - mi) < 1e-9 for r in rows)
    parts = []
    for m, g in _by_method(rows).items():
        s = seeds_summary([r["elbo"] for r in g])
        parts.append(
            f"{label(m)} ELBO {s['mean']:.2f}, KL {mi - s['mean']:.2f}" if same else f"{label(m)} {s['mean']:.2f}"
        )
    text = (
        f"Under the empirical distribution of the {n} pairs (App. A.1) the mutual information is "
        + (
            (
                f"log {n} = {mi:.2f} nats for every run (no two frames share a latent)"
                if abs(mi - math.log(n)) < 1e-9
                else f"{mi:.2f} nats for every run"
            )
            if same
            else "different per run"
        )
        + f", so eq. 18 splits it exactly: ELBO − const = I_{n} (eqs. 23–25, with {PRIORS[prior]}) and the rest is "
        "KL(R(z, z′) ‖ P_θ(z, z′)), how far the prior is from the latents' real joint. Means over seeds (nats): "
        + "; ".join(parts)
        + (". The MI is the same for all; only the prior's fit tells the encoders apart." if same else ".")
    )
    if prior == "rbf":
        thetas = [r["theta"] for r in rows if r["method"] == "supervised" and r["theta"] is not None]
        if thetas:
            text += (
                f" The supervised encoder outputs pixels: its fitted θ is {np.mean(thetas):.1f} px, "
                "the RBF's length-scale in the units of true positions."
            )
    return text


# -- C · an invertible warp of z -----------------------------------------------------------------------------------
def warp_row(run, centres: np.ndarray, p: float, pair_set: str = "all") -> dict:
    """The numbers of ``run``'s latents warped by z → sign(u)|u|^p per coordinate (``bound.PowerWarp``): ``mi``
    (empirical MI), ``fixed`` (I_M of the p = 1 critic composed with the inverse warp: the trained critic, or for a
    baseline the RBF prior fitted at p = 1), ``trained`` (the trained critic on w(z) as it is; None without one),
    ``refit`` (I_M of the RBF prior re-fitted to w(z)), ``theta`` (its θ) and ``l2`` (held-out read-out error, px)."""
    critic = run.coupling()
    if critic is not None:
        base = lambda a, b: bound.log_f(critic, a, b)  # noqa: E731
    else:
        theta0, _ = bound.fit_rbf(bound.squared_distances(*run_pairs(run, pair_set)))
        base = lambda a, b: -bound.squared_distances(a, b) / (2 * theta0**2)  # noqa: E731
    warp = bound.PowerWarp.fit(p, run.z)
    wz = warp(run.z)
    z, zp = run_pairs(run, pair_set, wz)
    theta, refit = bound.fit_rbf(bound.squared_distances(z, zp))
    return {
        "p": float(p),
        "mi": bound.empirical_mi(z, zp),
        "fixed": bound.infonce(bound.inverse_warped(base, warp)(z, zp)),
        "trained": bound.infonce(bound.log_f(critic, z, zp)) if critic is not None else None,
        "refit": refit,
        "theta": theta,
        "l2": l2_errors(wz, centres, run.config.train.train_frac)["mean"],
        "n": len(z),
    }


WARP_BARS = {
    "mi": "MI<br>(eq. 5)",
    "fixed": "I_N<br>critic ∘ w⁻¹",
    "trained": "I_N<br>trained critic",
    "refit": "I_N<br>RBF re-fitted",
}


def warp_figure(one: dict, at: dict, height: int = 400) -> go.Figure:
    """Each number at p = 1 (no warp) and at the slider's p, side by side: nats on the left, the read-out's px on the
    right."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.72, 0.28], horizontal_spacing=0.1)
    keys = [k for k in WARP_BARS if one[k] is not None]
    for row, name, colour in ((one, "p = 1 (z as trained)", "#9c9c9c"), (at, f"p = {at['p']:g} (warped)", "#3a86ff")):
        fig.add_bar(x=[WARP_BARS[k] for k in keys], y=[row[k] for k in keys], name=name, marker_color=colour,
                    legendgroup=name, hovertemplate="%{x}: %{y:.3f} nats<extra>" + name + "</extra>", row=1, col=1)  # fmt: skip
        fig.add_bar(x=["linear read-out<br>held-out L2"], y=[row["l2"]], name=name, marker_color=colour, showlegend=False,
                    legendgroup=name, hovertemplate="%{x}: %{y:.2f} px<extra>" + name + "</extra>", row=1, col=2)  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickangle=0)
    fig.update_yaxes(title_text="nats", rangemode="tozero", showgrid=True, gridcolor="#eee", row=1, col=1)
    fig.update_yaxes(title_text="px (held-out)", rangemode="tozero", showgrid=True, gridcolor="#eee", row=1, col=2)
    title = f"C · z warped by sign(u)·|u|^{at['p']:g} per coordinate (u = standardised z): what moves"
    return charts._layout(fig, title, height)


def warp_caption(one: dict, at: dict, method: str) -> str:
    """C's caption: which numbers moved between p = 1 and the slider's p, computed from the two rows."""
    if at["p"] == 1.0:
        return (
            "Move the slider: p ≠ 1 warps every coordinate of z by a strictly monotone, hence invertible, map. "
            f"At p = 1: MI {one['mi']:.2f} nats, I_N of the RBF prior fitted to z {one['refit']:.2f} nats, "
            f"read-out {one['l2']:.2f} px."
        )

    parts = {"unchanged": [], "moved": []}
    for key, what, unit in WARP_TERMS:
        if at[key] is None:
            continue
        shown = f"{what} ({one[key]:.2f} → {at[key]:.2f} {unit})"
        if key == "refit":
            shown += (
                f", so its KL to the latents' joint {one['mi'] - one['refit']:.2f} → {at['mi'] - at['refit']:.2f} nats"
            )
        parts["unchanged" if abs(at[key] - one[key]) < 0.005 else "moved"].append(shown)
    text = f"At p = {at['p']:g}, for this {label(method)} encoder"
    text += (
        "." if at["trained"] is not None else " (no critic of its own: the critic is the RBF prior fitted at p = 1)."
    )
    for status in ("unchanged", "moved"):
        if parts[status]:
            text += f" {status.capitalize()} at two decimals: " + "; ".join(parts[status]) + "."
    return text + (
        f" The MI is log {at['n']} whenever no two frames share a latent, which an invertible warp keeps; the critic "
        f"composed with the inverse warp gives the same I_N up to {abs(at['fixed'] - one['fixed']):.1e} nats of float "
        "rounding: whatever a critic can tell apart in z it can tell apart in w(z). So the MI cannot prefer one of "
        "these representations to another; a prior of a fixed family and a linear read-out can (Sec. 4.5)."
    )


WARP_TERMS = (
    ("mi", "the MI", "nats"),
    ("fixed", "I_N of the critic composed with the inverse warp", "nats"),  # a baseline's: the RBF prior at p = 1
    ("trained", "I_N of the trained critic applied to w(z) as it is", "nats"),
    ("refit", "I_N of the RBF prior re-fitted to w(z)", "nats"),
    ("l2", "the linear read-out's held-out error", "px"),
)


# -- D · R(z′): uniform or the latents' marginal (eqs. 11, 21) ----------------------------------------------------
def priors_of(run, video, frame: int, ball: int, stride: int) -> dict:
    """Eq. 21's P(z'|z) over the candidate grid for ``run``, with R(z') uniform and with R(z') the latents' marginal
    (``bound.log_marginal`` over every frame's z): {"uniform": Heatmap, "marginal": Heatmap, "log_r": (N,)}."""
    critic = run.coupling()
    if critic is None:
        raise ValueError(f"a {label(charts.method_name(run.config))} run has no critic, so no prior P(z′|z)")
    xs, ys, ok, z, zp = bound.candidate_latents(run.encoder(), video, frame, ball, stride)
    logits = bound.log_f(critic, z, zp)[0]
    log_r = bound.log_marginal(zp, run.z)
    return {
        "uniform": heatmap_of(video, frame, ball, xs, ys, ok, bound.prior_probabilities(logits)),
        "marginal": heatmap_of(video, frame, ball, xs, ys, ok, bound.prior_probabilities(logits, log_r)),
        "log_r": log_r,
    }


def prior_numbers(view: dict, step: float) -> dict:
    """What the caption says, per weighting: mass within one step of the ball now, max P·N, and the total variation
    between the two priors."""
    out = {}
    for k in ("uniform", "marginal"):
        hm = view[k]
        out[k] = {"near_now": mass_within(hm, hm.current, step), "max_pn": float(np.nanmax(hm.prob) * hm.n)}
    a, b = np.nan_to_num(view["uniform"].prob), np.nan_to_num(view["marginal"].prob)
    out["tv"] = 0.5 * float(np.abs(a - b).sum())
    out["r_ratio"] = float(np.exp(np.max(view["log_r"]) - np.min(view["log_r"])))
    return out


def prior_caption(view: dict, step: float, weighting: str, method: str) -> str:
    """D's caption, computed from the two priors."""
    num = prior_numbers(view, step)
    u, r = num["uniform"], num["marginal"]
    shown = "the latents' marginal R(z′)" if weighting == "marginal" else "a uniform R(z′)"
    return (
        f"The {label(method)} critic's prior over the ball's next position with {shown}. Eq. 21 weights each "
        f"candidate z′ by R(z′), the marginal of the latents (eq. 11), estimated by a Gaussian-smoothed sum over every "
        f"frame's latent (App. A eq. 37, App. B); on this grid R varies {num['r_ratio']:.3g}-fold. Mass within one "
        f"step ({step:g} px) of the ball now: {u['near_now']:.0%} uniform, {r['near_now']:.0%} with R(z′); max P·N "
        f"{u['max_pn']:.1f} and {r['max_pn']:.1f} (1 = no preference); the two priors differ by {num['tv']:.0%} of "
        "their mass (total variation). In I_N the negatives are real next frames, i.e. draws from R(z′): the "
        "weighting is already there, which is why the grid, whose candidates are not draws from R, needs it."
    )
