"""The bound: InfoNCE's I_N against log N, the ELBO's terms (eqs. 17-20), an invertible warp of z, and R(z′) in the
prior (eqs. 11, 21), all from the shipped runs; nothing trains. The logic is in explorer/bound.py. Each view (figure
and caption) is built once per server for its inputs, as Home's figures are; figures are never modified."""

import streamlit as st

from explorer import bound as vm
from explorer import charts, ui
from explorer.state import default_frame, default_stride
from rpm_engine.data import simulate


def _runs(runs: tuple) -> dict:
    out = {}
    for method, key in runs:
        out.setdefault(method, []).append(ui.stored_run(key))
    return out


@st.cache_resource(max_entries=8, show_spinner="Computing I_N for every run…")
def curve_view(runs: tuple, pair_set: str):
    rows = vm.curves(_runs(runs), pair_set)
    return vm.curve_figure(rows), vm.curve_caption(rows, pair_set)


@st.cache_resource(max_entries=8, show_spinner="Computing the ELBO's terms…")
def elbo_view(runs: tuple, pair_set: str, prior: str):
    rows = vm.elbo_rows(_runs(runs), pair_set, prior)
    return vm.elbo_figure(rows), vm.elbo_caption(rows, prior)


@st.cache_resource(max_entries=64, show_spinner="Warping z…")
def warp_row(key: str, p: float, pair_set: str):
    run = ui.stored_run(key)
    return vm.warp_row(run, simulate(run.config.video)[0], p, pair_set)


@st.cache_resource(max_entries=64, show_spinner=False)
def warp_view(key: str, p: float, pair_set: str):
    one, at = warp_row(key, 1.0, pair_set), warp_row(key, p, pair_set)
    return vm.warp_figure(one, at), vm.warp_caption(one, at, charts.method_name(ui.stored_run(key).config))


@st.cache_resource(max_entries=16, show_spinner="Encoding every candidate next frame…")
def priors_of(key: str, frame: int, ball: int, stride: int):
    run = ui.stored_run(key)
    return vm.priors_of(run, ui.video(run.config.video), frame, ball, stride)


@st.cache_resource(max_entries=32, show_spinner=False)
def prior_view(key: str, frame: int, ball: int, stride: int, weighting: str):
    got, run = priors_of(key, frame, ball, stride), ui.stored_run(key)
    title = f"D · P(z′|z), R(z′) {'= the latents’ marginal' if weighting == 'marginal' else 'uniform'}"
    heat = charts.prior_heatmap(ui.video(run.config.video), got[weighting], title=title, height=440, legend=False)
    return heat, vm.prior_caption(got, run.config.video.step_px, weighting, charts.method_name(run.config))


view = ui.page_setup("bound")
text = not ui.hidden("text")
st.title("The bound · InfoNCE is an ELBO")
fig1 = ui.catalog().shipped_fig1()
if not {"rbf", "linear"} <= set(fig1) or any(ui.stored_run(e.key) is None for g in fig1.values() for e in g):
    st.info("The shipped runs are missing or unreadable by this engine; see Home for the command that recreates them.",
            icon=":material/info:")  # fmt: skip
    st.stop()
order = ["rbf", "linear"] + [m for m in fig1 if m not in ("rbf", "linear")]  # the critics first
runs = tuple((m, e.key) for m in order for e in fig1[m])
vcfg = fig1["rbf"][0].config.video
st.markdown(
    "InfoNCE's estimate on a batch of N pairs is a bound on the mutual information (eq. 6), and read as a "
    "recognition-parameterised model the same number is an ELBO (eqs. 23–25), whose gap to the MI is how badly the "
    "prior fits the latents (eq. 18). The four views below compute both from the shipped runs "
    f"({ui.video_caption(vcfg)})."
)
st.latex(r"I_N = \log N + \frac{1}{N}\sum_{i} \log \frac{f(z_i, z'_i)}{\sum_{j} f(z_i, z'_j)} \;\le\; \log N")
st.latex(r"\mathcal{L} - \text{const} = \mathrm{MI} - D_{\mathrm{KL}}\big(R(z, z') \,\|\, P_\theta(z, z')\big)")
a, b = st.columns(2, gap="large")
pair_set = a.radio("Pairs", list(vm.PAIR_SETS), format_func=vm.PAIR_SETS.get, key="b_pairs")
prior = b.radio("Prior in B", list(vm.PRIORS), format_func=vm.PRIORS.get, key="b_prior")
views = (("curve", curve_view(runs, pair_set)), ("elbo", elbo_view(runs, pair_set, prior)))
for col, (name, (fig, caption)) in zip(st.columns(2, gap="large"), views):
    with col:
        ui.chart(fig, f"b_{name}", f"bound_{name}")
        if text:
            st.caption(caption)

st.divider()
keys = {f"{vm.label(m)} · seed {ui.stored_run(k).config.train.seed}": (m, k) for m, k in runs}  # label -> run
st.markdown("**C · Warp z: the MI stays, the prior's fit and the read-out move**")
c1, c2, _ = st.columns([1, 1.5, 1.5])
key = keys[c1.selectbox("Run", list(keys), key="b_warp_run")][1]
p = c2.select_slider("Warp power p", vm.WARP_POWERS, value=2.0, key="b_warp_p",
                     help="Each coordinate u of standardised z becomes sign(u)·|u|^p: invertible for any p > 0.")  # fmt: skip
fig, caption = warp_view(key, float(p), pair_set)
ui.chart(fig, "b_warp", "bound_warp")
if text:
    st.caption(caption)

st.divider()
st.markdown("**D · R(z′) in the prior: uniform candidates or the latents' marginal (eqs. 11, 21)**")
critics = [label for label, (m, _) in keys.items() if m in vm.CRITIC_METHODS]
c1, c2, _ = st.columns([1, 1.5, 1], vertical_alignment="bottom")
pkey = keys[c1.selectbox("Run", critics, key="b_prior_run")][1]
weighted = c2.toggle("Weight by R(z′)", value=False, key="b_marginal",
                     help="On: each candidate weighs R(z′), the latents' marginal. Off: all weigh the same (R uniform, "
                     "as on Home and Priors).")  # fmt: skip
weighting = "marginal" if weighted else "uniform"
got = ui.friendly(prior_view, pkey, default_frame(vcfg), 0, default_stride(vcfg), weighting, what="This prior")
if got is not None:
    left, right = st.columns([1.6, 1], gap="large")
    with left:
        ui.chart(got[0], "b_heat", "bound_prior")
    if text:
        right.caption(got[1])
