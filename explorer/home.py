"""The Home page's view model: the paper's Fig. 1 from the shipped runs, with every number in its captions computed
from those runs (never typed). No Streamlit here."""

from __future__ import annotations

import numpy as np

from rpm_engine.evaluate import log_summary

from . import paired

# The four steps of the app, as Home's cards show them: (page, label, icon, what it does).
FLOW = [
    (
        "data",
        "1 · Data",
        ":material/movie:",
        "Generate a moving-balls video with every option; play it, see the true centres and trajectories, download it.",
    ),
    (
        "priors",
        "2 · Priors",
        ":material/explore:",
        "Pick linear, RBF, a preset or your own expression for log f, "
        "and see the prior P(z′|z) it implies before training.",
    ),
    (
        "train",
        "3 · Train",
        ":material/model_training:",
        "Train several couplings and seeds at once with live progress; finished runs are stored and reopen instantly.",
    ),
    (
        "compare",
        "4 · Compare",
        ":material/compare:",
        "Decoded against true centres, held-out errors over seeds, the learned priors and loss curves, side by side.",
    ),
]

METHOD_LABELS = {"supervised": "supervised", "rbf": "RBF", "linear": "linear", "untrained": "untrained"}


# Fig. 1C's order: the paper's supervised, RBF (its "gaussian") and linear, with the untrained start (added) between
# RBF and linear, so each seed's line runs from its RBF run through its start to its linear run.
FIG1C_ORDER = ("supervised", "rbf", "untrained", "linear")
FLAT = 1.5  # a prior whose largest P·N is below this is called flat (P·N = 1 everywhere: no preference)
SETTLED = 0.1  # nats: |I_N| below this from some epoch on is "I_N ≈ 0" (chance: 0; log N = 3.4 at N = 30)


def bar_caption(rows: list[dict], reference_px: float | None, changes: dict[str, dict] | None = None) -> str:
    """C's caption: what the bars are, each method's change from its untrained start (paired over seeds), each
    method's geometric mean and the predict-the-mean line; every number from the rows."""
    n = max((r["summary"]["n"] for r in rows), default=0)
    text = (
        f"Held-out error of a linear read-out of the ball centres (log scale; lower is better) over {n} seeds: bars "
        "are geometric means with 95 % intervals of log L2, dots single seeds, grey lines join one seed's runs. "
        "The untrained encoder (added; not in the paper's Fig. 1C) is where the runs of its seed start: one seed, "
        "one initial encoder."
    )
    changes = changes or {}
    shown = [(METHOD_LABELS[m], changes[m]) for m in ("rbf", "linear") if m in changes]
    if shown:
        text += " Change from that start: " + "; ".join(paired.change_text(lab, c) for lab, c in shown) + "."
        text += paired.verdict(changes, "linear", "rbf", METHOD_LABELS)
    text += " Geometric means: " + ", ".join(
        f"{r['label']} {log_summary(r['per_seed'])['mean']:.2f} px" for r in rows if r["per_seed"]
    )
    text += "."
    if reference_px is not None:
        text += f" Dotted line: predicting every ball at its mean position, {reference_px:.1f} px (no information)."
    return text


def _near(hm, point: tuple[float, float], radius: float) -> np.ndarray:
    xs, ys = np.meshgrid(hm.xs, hm.ys)
    return np.hypot(xs - point[0], ys - point[1]) <= radius


def mass_within(hm, point: tuple[float, float], radius: float) -> float:
    """The share of a heatmap's probability on candidates within ``radius`` px of ``point``."""
    prob = np.nan_to_num(hm.prob)
    return float(prob[_near(hm, point, radius)].sum() / max(prob.sum(), 1e-12))


def uniform_within(hm, point: tuple[float, float], radius: float) -> float:
    """The share a prior with no preference (every valid candidate alike) puts within ``radius`` px of ``point``."""
    valid = np.isfinite(hm.prob)
    return float((valid & _near(hm, point, radius)).sum() / max(valid.sum(), 1))


def max_pn(hm) -> float:
    """The largest P·N over the candidates: 1 for a prior with no preference."""
    return float(np.nanmax(hm.prob) * hm.n)


def collapse(histories: list[list[dict]], final_mi: list[float]) -> dict | None:
    """What the linear runs' learning curves show: I_N at the first epoch (a blow-up when far below 0), the epoch
    from which |I_N| stays under ``SETTLED`` nats, and I_N at the end; None if any run never settles."""
    settled = []
    for h in histories:
        mi = [e["mi"] for e in h]
        ok = [i for i in range(len(mi)) if all(abs(v) < SETTLED for v in mi[i:])]
        if not mi or not ok:
            return None
        settled.append(h[ok[0]]["epoch"])
    return {
        "first": [h[0]["mi"] for h in histories],
        "settled": settled,
        "final": list(final_mi),
    }


def prior_caption(hm_rbf, hm_linear, step_px: float, ball: str, linear_curves: dict | None = None) -> str:
    """D/E's caption: what the pictures show, measured on them beside what a prior with no preference would give,
    and what the linear runs' learning curves show (``collapse``)."""
    now_rbf, next_rbf = mass_within(hm_rbf, hm_rbf.current, step_px), mass_within(hm_rbf, hm_rbf.true_next, step_px / 2)
    u_now, u_next = (
        uniform_within(hm_rbf, hm_rbf.current, step_px),
        uniform_within(hm_rbf, hm_rbf.true_next, step_px / 2),
    )
    text = (
        f"D/E: where each trained model (seed 0) expects the {ball} ball next (○ now, × its true next position, frame "
        f"{hm_rbf.frame}); colour from 0 through 1/N (no preference) to ≥ 4/N over N = {hm_rbf.n} candidate "
        f"positions. The RBF prior (eq. 27) is a bump centred on the current position ○: {now_rbf:.0%} of its mass "
        f"lies within one step ({step_px:g} px) of ○ (no preference: {u_now:.0%}) and {next_rbf:.0%} within half a "
        f"step of × (no preference: {u_next:.0%}). It does not know the direction — it says “the ball moves a "
        "little”, which is true of every ball and every frame, and that is what makes the encoder track positions."
    )
    if hm_linear is None:
        return text
    near = mass_within(hm_linear, hm_linear.current, step_px)
    u_lin = uniform_within(hm_linear, hm_linear.current, step_px)
    peak = max_pn(hm_linear)
    text += (
        f" The trained linear prior puts {near:.0%} of its mass within a step of ○ (no preference: {u_lin:.0%}); "
        f"its largest P·N is {peak:.2f} (1 = no preference)"
    )
    c = linear_curves
    if peak < FLAT and c:
        n = len(c["final"])
        text += (
            f": it has collapsed to no preference. Its I_N at the end of training is {min(c['final']):.2f}–"
            f"{max(c['final']):.2f} nats on all {n} seeds (0 = chance), and its learning curves (Compare) show how: "
            f"I_N at the first epoch was {min(c['first']):.1f} to {max(c['first']):.1f} nats (a blow-up: the loss far above log N), "
            f"then |I_N| stayed under {SETTLED:g} nats from epoch {min(c['settled'])}–{max(c['settled'])} on."
        )
    else:
        text += "."
    return text


def linear_curves(entries: list, runs: list) -> dict | None:
    """``collapse`` of the shipped linear runs: their histories (``runs``) and final I_N (their entries' metrics)."""
    if not runs or any(r is None for r in runs):
        return None
    return collapse([r.history for r in runs], [e.metrics["final_mi"] for e in entries])


def summary_rows(fig1: dict, summaries: dict, colour) -> list[dict]:
    """Bar rows for Fig. 1C: label, colour, seeds summary, per-seed values and their seeds, in ``FIG1C_ORDER``."""
    return [
        {
            "label": METHOD_LABELS[m],
            "colour": colour(m),
            "summary": summaries[m]["overall"],
            "per_seed": summaries[m]["overall_per_seed"],
            "seeds": [e.seed for e in fig1[m]],
        }
        for m in FIG1C_ORDER
        if m in fig1
    ]


def changes(fig1: dict) -> dict[str, dict]:
    """Each method's paired change from its untrained start (``paired.changes``), from the shipped runs' metrics."""
    return paired.changes({m: {e.seed: e.metrics["l2_mean"] for e in runs} for m, runs in fig1.items()})


def tour(rbf_key: str, linear_key: str) -> list[tuple[str, str, str]]:
    """Four steps that make the paper's point, each one link: (title, URL, what to look at)."""
    return [
        (
            "1 · Two priors",
            "/priors?prior=linear",
            "The linear critic's prior (eq. 26) tilts toward large coordinates and has no notion of near; switch to "
            "RBF: a bump around the ball.",
        ),
        (
            "2 · What they taught",
            f"/compare?run={rbf_key}&run={linear_key}",
            "The RBF encoder's decoded centres follow the truth on held-out frames; the linear one's wander.",
        ),
        (
            "3 · Try it yourself",
            "/train?c=rbf;theta=0.1&c=linear;w_init=0.001&seeds=2",
            "Press Train: these runs open from the store at once. Change the video seed on Data to train both on "
            "a video of your own and compare again.",
        ),
        (
            "4 · The bound",
            "/bound",
            "I_N never exceeds log N; warp z: the MI stays, the prior's fit and the read-out move.",
        ),
    ]
