"""Priors: pick a coupling f(z, z') (linear, RBF, a preset or an expression) and see the prior P(z'|z) it implies."""

import streamlit as st

from explorer import charts, media, priors, ui
from explorer import priors_widgets as pw
from explorer.state import Item, ViewState
from rpm_engine.expressions import ExpressionError
from rpm_engine.text import first_line

view = ui.page_setup("priors")
lim, ss = ui.limits(), st.session_state
cfg = lim.clamp_video(view.video)

st.title("Priors · what a coupling believes about the next step")
st.markdown(
    "InfoNCE's critic f(z, z′) is a prior over the next latent: **P(z′|z) ∝ R(z′) f(z, z′)** (eq. 21). Here you see "
    "that prior *before any training*, as if the encoder read out the true ball positions: z holds the true "
    "centres of frame t, and z′ those of frame t + 1 with one ball moved to each point of a grid (R uniform). "
    "Lengths here are in true pixels."
)
video = ui.friendly(ui.video, cfg, what="Generating the video")
if video is None:
    st.stop()

controls, plot = st.columns([1, 1.35], gap="large")
with controls:
    kinds, prior = priors.kinds(ui.limits().allow_expressions), view.prior
    start_kind = prior.coupling.spec if (prior.coupling and not prior.is_expression) else priors.CUSTOM
    ui.bind("prior_kind", start_kind if start_kind in kinds else "rbf")
    kind = st.selectbox("Coupling", list(kinds), format_func=kinds.get, key="prior_kind")
    if kind == priors.CUSTOM:
        if not lim.allow_expressions:
            st.warning("Custom expressions are switched off on this server; pick a built-in or a preset.")
            st.stop()
        ui.bind("prior_expr", prior.coupling.spec if prior.is_expression else priors.EXAMPLE)
        text = st.text_input(
            "log f(z, zp) =", key="prior_expr", live="300ms", max_chars=300, placeholder=priors.EXAMPLE,
            help="Checked as you type. z and zp (= z′) are vectors of 2 × balls pixel coordinates; theta, tau, nu … "
            "are learnable scalars.",
        )  # fmt: skip
        with st.expander("The expression language"):
            st.markdown(priors.LANGUAGE_HELP)
    spec = text.strip() if kind == priors.CUSTOM else kind
    params_box, where_box = st.container(), st.container()

with where_box:  # drawn before the coupling is checked, so a broken expression never resets where you look
    st.markdown("**Where to look**")
    lo, hi, value = media.frame_slider(cfg, view.frame)
    ui.bind("prior_frame", value)
    frame = st.slider("Frame t", lo, hi, key="prior_frame")
    ui.bind("prior_ball", min(view.ball, cfg.balls - 1))
    ball = st.radio("Ball", range(cfg.balls), format_func=lambda k: charts.ball_name(cfg, k), horizontal=True,
                    key="prior_ball")  # fmt: skip
    strides = priors.strides(cfg, view.stride_or_default)
    ui.bind("prior_stride", view.stride_or_default if view.stride_or_default in strides else strides[-1])
    stride = st.select_slider(
        "Grid spacing (px)", options=strides, key="prior_stride", help="Finer: more candidates N."
    )
    view = ui.set_view(frame=int(frame), ball=int(ball), stride=int(stride))

with params_box:
    try:
        if not spec:
            raise ValueError("write an expression for log f, for example " + priors.EXAMPLE)
        given = priors.preview_values(view.prior, spec, ViewState().prior)
        specs = priors.param_specs(spec, cfg, given)
    except (ExpressionError, ValueError) as exc:
        st.error(f"**This expression cannot be used:** {first_line(exc)}", icon=":material/warning:")
        pos = getattr(exc, "position", None)
        if kind == priors.CUSTOM and isinstance(pos, int) and 0 <= pos <= len(spec):
            st.code(f"{spec}\n{' ' * pos}^ column {pos + 1}", language=None)
        plot.info("The preview appears as soon as the expression is valid.", icon=":material/info:")
        st.stop()
    if kind == priors.CUSTOM:
        names = ", ".join(s.name for s in specs) or "no parameters"
        st.success(f"Valid: parameters {names}" if specs else "Valid: no parameters", icon=":material/check_circle:")
    st.markdown("**Parameters** (in true pixels, as if z were the ball positions)")
    values = {}
    for p in specs:
        key = f"prior_p_{kind}_{p.name}"
        if key not in ss or ss.get(f"{key}_of") != (spec, p.options):  # a new widget: give it its value
            ss[key], ss[f"{key}_of"] = priors.slider_value(p, given.get(p.name)), (spec, p.options)
        if p.positive:
            values[p.name] = st.select_slider(p.label, p.options, key=key, format_func="{:g}".format, help=p.help)
        else:
            values[p.name] = st.slider(p.label, p.lo, p.hi, step=0.1, key=key, help=p.help)
    if any(p.name == "theta" for p in specs):
        st.caption(f"One step of this video is {cfg.step_px:g} px. " + priors.theta_help(ui.catalog().shipped_fig1()))

try:
    shown = Item.of(spec, **values)
    hm = priors.latent_prior(priors.build(shown, cfg.balls), video, int(frame), int(ball), float(stride))
    les = priors.lesson(video, int(frame), int(ball), float(stride))
except ValueError as exc:
    plot.error(f"No preview for these values: {first_line(exc)}", icon=":material/warning:")
    st.stop()
defaults = {p.name: p.default for p in specs}
view = ui.set_view(prior=Item.of(spec, **{k: v for k, v in values.items() if v != defaults[k]}))

with plot:
    pw.preview(video, hm, shown, cfg, les)

st.divider()
view = pw.training_list(view, priors.training_item(spec, values), values)
