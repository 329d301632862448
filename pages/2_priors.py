"""Priors: pick a coupling f(z, z') (linear, RBF, a preset or an expression) and see the prior P(z'|z) it implies."""

import streamlit as st

from explorer import charts, priors, ui
from explorer.state import DEFAULT_INIT, Item
from rpm_engine.couplings import PRESET_HELP, PRESETS
from rpm_engine.expressions import ExpressionError

KINDS = {
    "rbf": "RBF / Gaussian — −|z − z′|² / 2θ² (eq. 27)",
    "linear": "linear — zᵀ W z′ (eq. 8)",
    **{name: f"{name} — {PRESET_HELP.get(name, PRESETS[name])}" for name in PRESETS},
    "custom": "custom expression for log f(z, z′)…",
}
EXAMPLE = "-sum(abs(z - zp)) / theta"

view = ui.page_setup("priors")
lim = ui.limits()
cfg = view.video

st.title("Priors · what a coupling believes about the next step")
st.markdown(
    "InfoNCE's critic f(z, z′) is a prior over the next latent: **P(z′|z) ∝ R(z′) f(z, z′)** (eq. 21). Here you see "
    "that prior *before any training*, as if the encoder already read out the true ball positions: z holds the "
    "true centres of frame t, and z′ those of frame t + 1 with one ball moved to each point of a grid (R uniform)."
)

video = ui.friendly(ui.video, cfg, what="Generating the video")
if video is None:
    st.stop()

controls, plot = st.columns([1, 1.35], gap="large")
with controls:
    prior = view.prior
    start_kind = prior.coupling.spec if (prior.coupling and not prior.is_expression) else "custom"
    ui.bind("prior_kind", start_kind if start_kind in KINDS else "rbf")
    kind = st.selectbox("Coupling", list(KINDS), format_func=KINDS.get, key="prior_kind")

    item, error = None, None
    if kind == "custom":
        if not lim.allow_expressions:
            st.warning("Custom expressions are switched off on this server; pick a built-in or a preset.")
            st.stop()
        ui.bind("prior_expr", prior.coupling.spec if prior.is_expression else EXAMPLE)
        text = st.text_input(
            "log f(z, zp) =",
            key="prior_expr",
            live="300ms",
            max_chars=300,
            placeholder=EXAMPLE,
            help="Checked as you type. z and zp (= z′) are vectors of 2 × balls pixel "
            "coordinates; theta, tau, nu … are learnable scalars.",
        )
        with st.expander("The expression language"):
            st.markdown(
                "- operators `+ - * / **` (constant powers), numbers, parentheses, constants `pi`, `e`, `D` "
                "(the length of z)\n"
                "- `z`, `zp`: the latent now and next (vectors); `sum`, `mean`, `norm`, `min`, `max` of one vector "
                "and `dot(u, v)` turn vectors into numbers — log f must be **one number per pair**\n"
                "- `abs sqrt exp log` elementwise; `min(a, b)`, `max(a, b)` elementwise\n"
                "- learnable scalars: `theta tau sigma nu kappa lam` (positive) and `alpha beta gamma` (any sign); "
                "each gets a slider below and is learned in training\n"
                "- the text is parsed into a tree and evaluated with a fixed set of torch operations: it is never "
                "run as Python\n\n"
                "Examples: `-sum((z - zp)**2) / (2 * theta**2)` (= RBF), `-sum(abs(z - zp)) / theta` (Laplace), "
                "`dot(z, zp) / (norm(z) * norm(zp)) / tau` (cosine)."
            )
        spec = text.strip()
    else:
        spec = kind

    coupling = None
    if spec:
        try:
            coupling = priors.build(Item.of(spec), cfg.balls)
        except ExpressionError as exc:
            error = exc
        except ValueError as exc:
            error = exc
    else:
        error = ValueError("write an expression for log f, for example " + EXAMPLE)
    if error is not None:
        msg = str(error).splitlines()[0] if str(error) else type(error).__name__
        st.error(f"**This expression cannot be used:** {msg}", icon=":material/warning:")
        pos = getattr(error, "position", None)
        if kind == "custom" and isinstance(pos, int) and 0 <= pos <= len(spec):
            st.code(f"{spec}\n{' ' * pos}^ column {pos + 1}", language=None)
        plot.info("The preview appears as soon as the expression is valid.", icon=":material/info:")
        st.stop()
    if kind == "custom":
        names = priors.param_names(coupling)
        st.success(
            "Valid: " + (f"parameters {', '.join(names)}" if names else "no parameters"), icon=":material/check_circle:"
        )

    st.markdown("**Parameters** (starting values for training)")
    init = {}
    start = dict(prior.coupling.init) if prior.coupling is not None and prior.coupling.spec == spec else {}
    for p in priors.param_specs(coupling):
        key = f"prior_p_{kind}_{p.name}"
        value = start.get(p.name, DEFAULT_INIT.get(spec, {}).get(p.name, p.default))
        if p.positive:
            ui.bind(key, priors.nearest(p.options, value))
            init[p.name] = st.select_slider(p.label, options=p.options, key=key, format_func=lambda v: f"{v:g}")
        else:
            ui.bind(key, float(min(max(value, priors.FREE_RANGE[0]), priors.FREE_RANGE[1])))
            init[p.name] = st.slider(p.label, *priors.FREE_RANGE, step=0.1, key=key)
    if not init:
        st.caption("This coupling has no parameters.")

    st.markdown("**Where to look**")
    ui.bind("prior_frame", min(view.frame_or_default, cfg.frames - 2))
    frame = st.slider("Frame t", 0, cfg.frames - 2, key="prior_frame")
    ui.bind("prior_ball", min(view.ball, cfg.balls - 1))
    ball = st.radio(
        "Ball",
        list(range(cfg.balls)),
        format_func=lambda k: charts.ball_name(cfg, k),
        horizontal=True,
        key="prior_ball",
    )
    strides = sorted({1, 2, 4, 8, view.stride_or_default} & set(range(1, max(2, cfg.size // 4) + 1)))
    ui.bind("prior_stride", view.stride_or_default if view.stride_or_default in strides else strides[-1])
    stride = st.select_slider(
        "Grid spacing (px)", options=strides, key="prior_stride", help="Finer grids mean more candidates N."
    )

try:
    item = Item.of(spec, **init)
    built = priors.build(item, cfg.balls)
    hm = priors.latent_prior(built, video, int(frame), int(ball), float(stride))
except ValueError as exc:
    with plot:
        st.error(f"No preview for these values: {str(exc).splitlines()[0]}", icon=":material/warning:")
    st.stop()
view = ui.set_view(prior=item, frame=int(frame), ball=int(ball), stride=int(stride))

with plot:
    ui.chart(
        charts.prior_heatmap(video, hm, height=520, title=f"P(z′|z) implied by {item.label}, before training"),
        "prior_chart",
        "prior_preview",
    )
    s = priors.summary(hm)
    a, b, c = st.columns(3)
    a.metric(
        "Mass near ×",
        f"{s['mass_near_true']:.0%}",
        help="Probability within half a step of where the ball really goes (×).",
    )
    b.metric(
        "Peak is off by",
        f"{s['argmax_distance_px']:.1f} px",
        help="Distance from the most likely next position to the true one.",
    )
    c.metric("Peak vs. uniform", f"{s['max_over_uniform']:.0f}×", help="max P · N: 1× means no preference at all.")
    if s["max_over_uniform"] > 0.5 * hm.n:
        where = " (where the ball is now)" if s["argmax_from_now_px"] <= stride else ""
        st.info(
            f"More than half of the probability sits on one grid point{where}: with these values the prior is "
            "almost certain of the next position. Training learns the parameters from here; move the sliders to "
            "see the prior's shape.",
            icon=":material/info:",
        )
    st.caption(
        f"N = {hm.n} candidate positions for the {charts.ball_name(cfg, hm.ball)} ball (grey: positions left out "
        "because the ball would leave the frame or overlap another); the colour runs from 0 "
        f"through 1/N (no preference) to ≥ 4/N. The ball really moves one step ({s['step_px']:.0f} px) per frame, "
        "so a prior that fits this video puts its mass about one step from ○: try θ near the step for RBF. "
        "A linear coupling prefers large coordinates wherever the ball is."
    )

st.divider()
add_col, list_col = st.columns([1, 2])
with add_col:
    if st.button("Add to the training list", type="primary", key="prior_add", icon=":material/add:"):
        if item in view.items:
            st.info(f"{item.label} is already in the training list.")
        else:
            view = ui.set_view(items=view.items + (item,))
            st.success(f"Added {item.label}.")
with list_col:
    st.markdown("**Training list:** " + (", ".join(f"`{i.label}`" for i in view.items) or "empty"))
    st.page_link(ui.PAGES["train"], label="Next: train the encoder with these priors", icon=":material/arrow_forward:")
