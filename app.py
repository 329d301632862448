"""RPM Explorer: ``streamlit run app.py``. Home page (the idea, the flow, the paper's Fig. 1 from shipped runs) and
the navigation to the Data · Priors · Train · Compare pages; the shared view state is kept in the URL here."""

import streamlit as st

from explorer import ui
from explorer.catalog import FIG1_METHODS
from explorer.state import default_frame, default_stride
from rpm_engine import charts

st.set_page_config(page_title="RPM Explorer", page_icon=":material/blur_on:", layout="wide")

REGENERATE = "python -m rpm_engine reproduce --quick --seeds 2 --cache assets/store --out artifacts/shipped"
METHOD_LABELS = {"supervised": "supervised", "rbf": "RBF (Gaussian)", "linear": "linear", "untrained": "untrained"}


def home() -> None:
    st.title("RPM Explorer")
    st.markdown(
        "#### How the choice of prior shapes what contrastive learning learns\n"
        "Aitchison & Ganev (TMLR 2024) show that the InfoNCE objective is, up to a constant, the evidence lower bound "
        "(ELBO) of a *recognition-parameterised model* (RPM). The critic f(z, z′) of InfoNCE is then not just a "
        "score: it is a **prior** over how the latent moves from one frame to the next. Choose it badly and the "
        "encoder learns the wrong thing, however long you train."
    )
    left, right = st.columns([1.3, 1], gap="large")
    with left:
        st.markdown("**InfoNCE** on a batch of N pairs of consecutive frames (x, x′), with z = g(x), z′ = g(x′) the "
                    "encoder's outputs and f the critic:")
        st.latex(r"\mathcal{L} = -\frac{1}{N}\sum_{i=1}^{N}\log\frac{f(z_i, z'_i)}{\sum_{j=1}^{N} f(z_i, z'_j)},"
                 r"\qquad I_N = \log N - \mathcal{L} \;\le\; \log N")
        st.markdown("**Read as an RPM** (eq. 21), the critic is a prior over the next latent, and InfoNCE is the "
                    "model's ELBO:")
        st.latex(r"P(z' \mid z) = \frac{R(z')\, f(z, z')}{\int R(z'')\, f(z, z'')\, dz''},\qquad"
                 r"-\mathcal{L} = \mathrm{ELBO} + \text{const.}")
        st.markdown("**Two critics, two priors** for balls that move one diameter per frame:")
        a, b = st.columns(2)
        with a:
            st.latex(r"\text{linear (eq. 8)}:\; \log f = z^\top W z'")
            st.caption("P(z′|z) ∝ exp(zᵀWz′) grows without bound along Wᵀz: it favours large coordinates, wherever "
                       "the ball is. Training cannot fix a prior that is wrong.")
        with b:
            st.latex(r"\text{RBF (eq. 27)}:\; \log f = -\frac{\lVert z - z'\rVert^2}{2\theta^2}")
            st.caption("A Gaussian around z with a learned length-scale θ: the next position is near the current "
                       "one — exactly what we know about moving balls.")
    with right:
        st.markdown("**The flow of the app**")
        st.page_link(ui.PAGES["data"], label="1 · Data: generate a moving-balls video", icon=":material/movie:")
        st.caption("Every option of the generator; play it, see the true centres and trajectories, download it.")
        st.page_link(ui.PAGES["priors"], label="2 · Priors: choose the coupling f(z, z′)", icon=":material/explore:")
        st.caption("Linear, RBF, a preset or your own expression; see the prior P(z′|z) it implies before training.")
        st.page_link(ui.PAGES["train"], label="3 · Train: fit the encoder", icon=":material/model_training:")
        st.caption("Several couplings and seeds at once, with live progress; finished runs are kept and reopen "
                   "instantly.")
        st.page_link(ui.PAGES["compare"], label="4 · Compare: what did each prior learn?", icon=":material/compare:")
        st.caption("Decoded centres against the truth, held-out errors over seeds, the learned priors, loss curves.")

    st.divider()
    st.subheader("The paper's Fig. 1, from small runs shipped with the app")
    fig1 = ui.catalog().shipped_fig1()
    if not {"rbf", "linear"} <= set(fig1):
        st.info(f"The shipped example runs are missing. Recreate them with `{REGENERATE}` (a few minutes on a laptop "
                "CPU), or train your own on the Train page.", icon=":material/info:")
        return
    first = next(iter(fig1.values()))[0]
    vcfg = first.config.video
    video = ui.video(vcfg)
    frame, ball, stride = default_frame(vcfg), 0, default_stride(vcfg)
    rows = []
    for m in FIG1_METHODS:
        if m in fig1:
            s = ui.catalog_summary(tuple(e.key for e in fig1[m]), vcfg.balls)
            rows.append({"label": METHOD_LABELS[m], "colour": charts.method_colour(m), "summary": s["overall"],
                         "per_seed": s["overall_per_seed"]})
    c1, c2, c3 = st.columns([1, 1, 1])
    with c1:
        st.plotly_chart(charts.method_bars(rows, title="C · Held-out error of a linear read-out"),
                        key="home_bars", config=charts.export_config("fig1c_l2"))
        st.caption("Bars: mean over seeds, whiskers: 95 % interval, dots: single seeds (log scale). Lower is better: "
                   "the RBF prior recovers the positions almost as well as supervision; the linear one does not.")
    for col, m, letter in ((c2, "rbf", "D"), (c3, "linear", "E")):
        with col:
            hm = ui.heatmap(fig1[m][0].key, frame, ball, stride)
            st.plotly_chart(charts.prior_heatmap(video, hm, title=f"{letter} · P(z′|z) learned with the "
                                                                  f"{METHOD_LABELS[m]} critic", height=430),
                            key=f"home_heatmap_{m}", config=charts.export_config(f"fig1{letter.lower()}_{m}"))
    st.caption(f"D/E: where the trained model expects the {charts.ball_name(vcfg, ball)} ball (○ now) in the next "
               f"frame (× truth), over N candidate positions; the colour runs from 0 through 1/N (no preference) to "
               f"≥ 4/N. RBF concentrates on a ring one step away; linear puts its mass far from the ball.")
    decoded = {METHOD_LABELS[m]: (ui.decoded(fig1[m][0].key), charts.method_colour(m), "solid")
               for m in FIG1_METHODS if m in fig1}
    st.plotly_chart(charts.centres_over_time(video, decoded, ball, height=380,
                                             title=f"B · The {charts.ball_name(vcfg, ball)} ball's centre read out "
                                                   "of each encoder (seed 0), against the truth"),
                    key="home_centres", config=charts.export_config("fig1b_centres"))
    n_seeds = max(len(v) for v in fig1.values())
    with st.expander("How these runs were made"):
        st.markdown(
            f"{len(fig1)} methods × {n_seeds} seeds at the *quick* scale ({ui.video_caption(vcfg)}), "
            f"{first.config.train.epochs} epochs of SGD (App. D's recipe), trained on a laptop CPU by one command "
            f"that also regenerates them after an engine change:"
        )
        st.code(REGENERATE, language="bash")
        st.markdown("The runs live in `assets/store/` (a few hundred KB); nothing is trained when this page opens. "
                    "The same experiment at the paper's scale: `python -m rpm_engine reproduce`.")


pages = [
    st.Page(home, title="Home", icon=":material/home:", default=True),
    st.Page(ui.PAGES["data"], title="Data", icon=":material/movie:", url_path="data"),
    st.Page(ui.PAGES["priors"], title="Priors", icon=":material/explore:", url_path="priors"),
    st.Page(ui.PAGES["train"], title="Train", icon=":material/model_training:", url_path="train"),
    st.Page(ui.PAGES["compare"], title="Compare", icon=":material/compare:", url_path="compare"),
]
page = st.navigation(pages)
ui.view()  # read the URL on the session's first run
ui.sidebar()
try:
    ui.show_notices()
    page.run()
finally:
    ui.write_url()  # every page puts the shared state back into the URL (Streamlit clears it on a page switch)
