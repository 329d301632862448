"""The Home page's view model: the paper's Fig. 1 from the shipped runs, with every number in its captions computed
from those runs (never typed). No Streamlit here."""

from __future__ import annotations

import numpy as np

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

METHOD_LABELS = {"supervised": "supervised", "rbf": "RBF", "linear": "linear", "untrained": "untrained (added)"}


def bar_caption(rows: list[dict], reference_px: float | None) -> str:
    """C's caption: what the bars are, each method's mean over its seeds and the predict-the-mean line."""
    n = max((r["summary"]["n"] for r in rows), default=0)
    text = (
        f"Mean distance between decoded and true centres on held-out frames (log scale; lower is better), over {n} "
        "seeds: bars are means, whiskers 95 % intervals, dots single seeds. The paper's Fig. 1C has supervised, RBF "
        "and linear; the untrained encoder (what the architecture alone gives) is added here. Means: "
        + ", ".join(f"{r['label']} {r['summary']['mean']:.2f} px" for r in rows)
        + "."
    )
    if reference_px is not None:
        text += f" Dotted line: predicting every ball at its mean position, {reference_px:.1f} px (no information)."
    return text


def mass_within(hm, point: tuple[float, float], radius: float) -> float:
    """The share of a heatmap's probability on candidates within ``radius`` px of ``point``."""
    xs, ys = np.meshgrid(hm.xs, hm.ys)
    near = np.hypot(xs - point[0], ys - point[1]) <= radius
    prob = np.nan_to_num(hm.prob)
    return float(prob[near].sum() / max(prob.sum(), 1e-12))


def prior_caption(hm_rbf, hm_linear, step_px: float, ball: str) -> str:
    """D/E's caption: what the pictures show, measured on them, and why the RBF prior is still the right one."""
    now_rbf, next_rbf = mass_within(hm_rbf, hm_rbf.current, step_px), mass_within(hm_rbf, hm_rbf.true_next, step_px / 2)
    text = (
        f"D/E: where each trained model expects the {ball} ball next (○ now, × its true next position, frame "
        f"{hm_rbf.frame}); colour from 0 through 1/N (no preference) to ≥ 4/N over N candidate positions. The RBF prior "
        f"(eq. 27) is a bump centred on the current position ○: {now_rbf:.0%} of its mass lies within one step "
        f"({step_px:g} px) of ○ and {next_rbf:.0%} within half a step of ×. It does not know the direction — it says "
        "“the ball moves a little”, which is true of every ball and every frame, and that is what makes the encoder "
        "track positions."
    )
    if hm_linear is not None:
        far = 1 - mass_within(hm_linear, hm_linear.current, step_px)
        text += (
            f" The linear prior puts {far:.0%} of its mass more than a step away from ○: it rewards large coordinates, "
            "not small moves."
        )
    return text


def summary_rows(fig1: dict, summaries: dict, colour) -> list[dict]:
    """Bar rows for Fig. 1C: label, colour, seeds summary and per-seed values, in the paper's order."""
    return [
        {
            "label": METHOD_LABELS[m],
            "colour": colour(m),
            "summary": summaries[m]["overall"],
            "per_seed": summaries[m]["overall_per_seed"],
        }
        for m in METHOD_LABELS
        if m in fig1
    ]


def tour(rbf_key: str, linear_key: str) -> list[tuple[str, str, str]]:
    """Three steps that make the paper's point, each one link: (title, URL, what to look at)."""
    return [
        (
            "1 · Two priors",
            "/priors?prior=linear",
            "The linear critic's prior piles its mass on large coordinates; switch to RBF: a bump around the ball.",
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
            "a video of your own (under a minute a run on 2 CPU cores) and compare again.",
        ),
    ]
