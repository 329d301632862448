"""The Priors page's widgets below the controls: the preview of P(z'|z) with its numbers and lesson, and the "add
to the training list" row (Streamlit layout only; the numbers are ``explorer.priors``')."""

from __future__ import annotations

import streamlit as st

from . import charts, priors, ui
from .state import Item, ViewState


def preview(video, hm, shown: Item, cfg, les) -> None:
    """The heatmap of P(z'|z) a coupling implies before training (eq. 21), three metrics, and what it teaches."""
    title = f"P(z′|z) implied by {shown.label}, before training"
    ui.chart(charts.prior_heatmap(video, hm, height=520, title=title), "prior_chart", "prior_preview")
    s = priors.summary(hm, cfg.step_px)
    a, b, c = st.columns(3)
    a.metric("Near ○ (1 step)", f"{s['mass_near_now']:.0%}", help="Where the ball can be next: it moves one "
             f"step. A prior with no preference: {s['uniform_near_now']:.0%}.")  # fmt: skip
    b.metric("Near × (½ step)", f"{s['mass_near_true']:.0%}", help="Near where the ball really goes. No "
             f"preference: {s['uniform_near_true']:.0%}.")  # fmt: skip
    c.metric("Peak off ×", f"{s['argmax_distance_px']:.1f} px", help="Most likely next position vs the true one.")
    st.caption(
        f"N = {hm.n} candidate positions for the {charts.ball_name(cfg, hm.ball)} ball (grey: left out, the ball would "
        "leave the frame or overlap another); colour from 0 through 1/N (no preference) to ≥ 4/N. "
        + priors.lesson_text(les)
        + " The RBF prior is centred on ○, not on ×: it cannot know the direction, but it knows the ball moves "
        "about one step, which is what makes the encoder's z track the positions. A linear coupling has no notion "
        "of near: P(z′|z) ∝ exp(zᵀWz′) grows along Wᵀz (eq. 26)."
    )


def training_list(view: ViewState, send: Item, values: dict) -> ViewState:
    """The button that adds the previewed coupling (at the recipe's start) to the training list, and the list."""
    add_col, list_col = st.columns([1, 2])
    with add_col:
        if st.button(f"Add {send.label} to the training list", type="primary", key="prior_add", icon=":material/add:"):
            if send in view.items:
                st.info(f"{send.label} is already in the training list.")
            else:
                view = ui.set_view(items=view.items + (send,))
                st.success(f"Added {send.label}.")
        if send.coupling is not None and dict(send.coupling.init) != values:
            st.caption("Training starts from the recipe's values in the encoder's own units and learns them; the "
                       "preview's pixel values are what a trained run's θ / gain should come to.")  # fmt: skip
    with list_col:
        st.markdown("**Training list:** " + (", ".join(f"`{i.label}`" for i in view.items) or "empty"))
        st.page_link(
            ui.PAGES["train"], label="Next: train the encoder with these priors", icon=":material/arrow_forward:"
        )
    return view
