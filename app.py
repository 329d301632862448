"""RPM Explorer: ``streamlit run app.py``. The Home page: the idea, the flow of the app, and the paper's Fig. 1 from
runs shipped in assets/store. The other steps are in pages/ (Data · Priors · Train · Compare)."""

import streamlit as st

from explorer import charts, home, ui
from explorer.catalog import FIG1_METHODS
from explorer.state import default_frame, default_stride

REGENERATE = "python -m rpm_engine reproduce --quick --seeds 5 --cache assets/store --out artifacts/shipped"
METHOD_LABELS = home.METHOD_LABELS

view = ui.page_setup("home")
text = not ui.hidden("text")
st.title("RPM Explorer")
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

st.divider()
st.subheader("The paper's Fig. 1 (with an untrained control added), from small runs shipped with the app")
fig1 = ui.catalog().shipped_fig1()
if not {"rbf", "linear"} <= set(fig1):
    # Missing, or unreadable by this version of the engine (a run's key includes the engine's schema version).
    st.info(
        f"The shipped example runs are missing or were made by another version of the engine. Recreate them with "
        f"`{REGENERATE}` (a few minutes on a laptop CPU), or train your own on the Train page.",
        icon=":material/info:",
    )
    st.stop()
first = next(iter(fig1.values()))[0]
vcfg = first.config.video
frame, ball, stride = default_frame(vcfg), 0, default_stride(vcfg)
summaries = {m: ui.catalog_summary(tuple(e.key for e in fig1[m]), vcfg.balls) for m in fig1}
rows = home.summary_rows(fig1, summaries, charts.method_colour)
reference = ui.predict_mean_l2(vcfg, first.config.train.train_frac)
c1, c2, c3 = st.container(), st.container(), st.container()  # C, D, E stacked: heatmaps legible at 1024 px too
with c1:
    bars = ui.shared_figure(
        "method_bars",
        rows=rows,
        title="C · Held-out error of a linear read-out",
        reference=reference,
        through=METHOD_LABELS["untrained"],
    )
    ui.chart(bars, "home_bars", "fig1c_l2")
    if text:
        st.caption(home.bar_caption(rows, reference, home.changes(fig1)))
# Everything above needs no torch (issue 10 §4: the first chart at once); what follows runs the encoders, and on a
# visitor's first run waits until the first chart is drawn.
drawn = ui.painted("home")
if not drawn:
    for col in (c2, c3):
        col.caption(":material/hourglass_top: Drawing the learned priors…")
elif any(ui.stored_run(runs[0].key) is None for runs in fig1.values()):  # C needs only the listing; D, E, B more
    st.info(
        f"A shipped run could not be read by this engine; recreate them with `{REGENERATE}`.", icon=":material/info:"
    )
else:
    ui.warm_kernels(say=False)  # the first visit starts the fused kernels' build in the background
    maps = {}
    for col, m, letter in ((c2, "rbf", "D"), (c3, "linear", "E")):
        with col:
            maps[m] = ui.heatmap(fig1[m][0].key, frame, ball, stride)
            title = f"{letter} · P(z′|z) learned with the {METHOD_LABELS[m]} critic"
            fig = ui.prior_figure(fig1[m][0].key, frame, ball, stride, title, height=400, legend=False)
            ui.chart(fig, f"home_heatmap_{m}", f"fig1{letter.lower()}_{m}")
    if text:
        curves = home.linear_curves(fig1.get("linear", []), [ui.stored_run(e.key) for e in fig1.get("linear", [])])
        st.caption(
            home.prior_caption(maps["rbf"], maps.get("linear"), vcfg.step_px, charts.ball_name(vcfg, ball), curves)
        )
    lines = tuple(
        (fig1[m][0].key, METHOD_LABELS[m], charts.method_colour(m), "solid") for m in FIG1_METHODS if m in fig1
    )
    title = f"B · The {charts.ball_name(vcfg, ball)} ball's centre read out of each encoder (seed 0), against the truth"
    ui.chart(ui.centres_figure(lines, ball, height=380, title=title), "home_centres", "fig1b_centres")
# Below the fold, and its code block loads a syntax highlighter (~0.4 s of the browser's time): the second run draws it.
if drawn:
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
        st.code(REGENERATE, language="bash")
        st.markdown(
            "The runs live in `assets/store/` (a few hundred KB); nothing is trained when this page opens. "
            "The same experiment at the paper's scale: `python -m rpm_engine reproduce`."
        )
