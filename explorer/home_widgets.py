"""The Home page's Streamlit pieces: the idea with its equations (InfoNCE, eq. 21's prior, eqs. 8 and 27's critics),
the four-step tour and the flow of the app, and how the shipped runs were made. The texts that depend on runs come
from ``explorer.home``; this module only draws them."""

from __future__ import annotations

import streamlit as st

from . import home, ui


def intro() -> None:
    """The idea: InfoNCE read as an RPM (eqs. 21, 23-25), and the two critics of Fig. 1 (eqs. 8 and 27)."""
    st.markdown(
        "#### How the choice of prior shapes what contrastive learning learns\n"
        "Aitchison & Ganev (TMLR 2024) show that the InfoNCE objective is, up to a constant, the evidence lower bound "
        "(ELBO) of a *recognition-parameterised model* (RPM). The critic f(z, z′) of InfoNCE is then not just a "
        "score: it is a **prior** over how the latent moves from one frame to the next. Choose it badly and the "
        "encoder learns the wrong thing: in the paper's recipe (App. D, 30 epochs) the linear critic's encoder "
        "does not recover the positions."
    )
    left, right = st.container(), st.container()  # one above the other: the display equations fit at 1024 px
    with left:
        st.markdown(
            "**InfoNCE** on a batch of N pairs of consecutive frames (x, x′), with z = g(x) and z′ = g(x′) "
            "the encoder's outputs and f(z, z′) > 0 the critic:"
        )
        st.latex(r"\mathcal{L} = -\frac{1}{N}\sum_{i=1}^{N}\log\frac{f(z_i, z'_i)}{\sum_{j=1}^{N} f(z_i, z'_j)}")
        st.markdown(r"and $I_N = \log N - \mathcal{L} \le \log N$ is its bound on the mutual information.")
    with right:
        st.markdown(
            "**Read as an RPM** (eq. 21), the same critic is a prior over the next latent; with infinitely many "
            "negatives −InfoNCE equals the model's ELBO up to a constant (eqs. 23–25), and a batch of N pairs gives a "
            "finite-N bound on it:"
        )
        st.latex(r"P(z' \mid z) = \frac{R(z')\, f(z, z')}{\int R(z'')\, f(z, z'')\, dz''}")
        st.markdown(r"with $R$ the marginal of the latents; in this app's previews $R$ is uniform.")
    st.markdown("**Two critics, two priors** for balls that move one diameter per frame:")
    a, b = st.columns(2, gap="large")
    with a:
        st.markdown("**linear** (eq. 8)")  # the name outside the equation: each fits its column at 1024 px
        st.latex(r"\log f = z^\top W z'")
        st.caption(
            "P(z′|z) ∝ exp(zᵀWz′) grows without bound along Wᵀz (eq. 26): it has no notion of “near”. Under App. "
            "D's recipe the encoder it trains does not recover the positions, and ends further from them than it "
            "started (Fig. 1C below)."
        )
    with b:
        st.markdown("**RBF** (eq. 27)")
        st.latex(r"\log f = -\frac{\lVert z - z'\rVert^2}{2\theta^2}")
        st.caption(
            "A Gaussian around z with a learned length-scale θ: the next position is near the current one, "
            "which is what we know about moving balls."
        )


def tour_and_flow() -> None:
    """The four-step tour (when the controls show) and the flow of the app (unless controls and text are hidden)."""
    if not ui.hidden("controls"):
        st.markdown("**A four-step tour** (each step one click)")
        fig1_keys = ui.catalog().shipped_fig1()
        if {"rbf", "linear"} <= set(fig1_keys):
            for col, (title, url, what) in zip(
                st.columns(4), home.tour(fig1_keys["rbf"][0].key, fig1_keys["linear"][0].key)
            ):
                with col.container(border=True):
                    st.markdown(f"**[{title}]({url})**")
                    st.caption(what)
    if not (ui.hidden("controls") and ui.hidden("text")):  # both hidden: the flow cards would be empty boxes
        st.markdown("**The flow of the app**")
        cols = [col for _ in range(0, len(home.FLOW), 2) for col in st.columns(2)]  # 2 by 2: each name fits at 1024
        for col, (page, label, icon, blurb) in zip(cols, home.FLOW):
            with col.container(border=True):
                st.page_link(ui.PAGES[page], label=f"**{label}**", icon=icon)
                st.caption(blurb)


def how_made(fig1: dict, first, vcfg, regenerate: str) -> None:
    """The expander on how the shipped runs were made, with the command that regenerates them."""
    n_seeds = max(len(v) for v in fig1.values())
    with st.expander("How these runs were made"):
        st.markdown(
            f"{len(fig1)} methods × {n_seeds} seeds at the *quick* scale ({ui.video_caption(vcfg)}), "
            f"{first.config.train.epochs} epochs of SGD, trained on a laptop CPU by one command "
            f"that also regenerates them after an engine change:"
        )
        clr = fig1["rbf"][0].config.train.coupling_lr
        if clr is not None:
            st.markdown(
                f"One deviation from App. D: the coupling's parameters (RBF: log θ) learn at rate {clr:g} instead of "
                f"{fig1['rbf'][0].config.train.lr:g}; App. D's exact recipe is `--coupling-lr` left out."
            )
        st.code(regenerate, language="bash")
        st.markdown(
            "The runs live in `assets/store/` (a few hundred KB); nothing is trained when this page opens. "
            "The same experiment at the paper's scale: `python -m rpm_engine reproduce`."
        )
