"""Train: launch the chosen couplings (and baselines) on the chosen video, several seeds at once; live progress."""

import streamlit as st

from explorer import sweep_widgets as xw
from explorer import train_widgets as tw
from explorer import ui, views
from explorer.state import BASELINES, Item, default_item
from rpm_engine.config import QUICK_RECIPE
from rpm_engine.couplings import PRESETS

view = ui.page_setup("train")
lim = ui.limits()
runner = ui.runner()  # None (with a message) when the limits are misconfigured: nothing trains then
client = ui.client_id()
ss = st.session_state
if "my_jobs" not in ss:  # this visitor's runs from any tab or server (a new tab, a reconnect after a server died)
    ss["my_jobs"] = ui.friendly(runner.mine, client, what="Finding your runs") or [] if runner is not None else []

st.title("Train · fit the encoder with each prior")
if not ui.hidden("text"):
    st.caption(
        "Each run trains the paper's small convolutional encoder with InfoNCE under one coupling, by the "
        f"{QUICK_RECIPE.label} (App. D's plain SGD at learning rate {QUICK_RECIPE.lr:g} on batches of "
        f"{QUICK_RECIPE.batch_size} consecutive-frame pairs; a learnable length-scale such as RBF's log θ trains at "
        f"its own rate, {QUICK_RECIPE.length_scale_lr:g}), then fits a linear read-out of the ball positions on the "
        "first 80 % of the frames and measures its error on the rest. Finished runs are stored: asking again opens "
        "them at once."
    )
v1, v2 = st.columns([2, 1], vertical_alignment="center")
v1.markdown(f":material/movie: **Video:** {ui.video_caption(view.video)}.")
v2.page_link(ui.PAGES["data"], label="Change it on Data", icon=":material/movie:")
ui.warm_kernels()  # the fused kernels compile once per server (about a minute): started now, said while it runs

# The options: the paper's couplings and baselines, the presets, and whatever the Priors page added.
catalogue = [default_item("rbf"), default_item("linear"), *(default_item(p) for p in PRESETS)]
options = {}
for it in (*view.items, view.prior, *catalogue, *(Item.of(b) for b in BASELINES)):
    options.setdefault(it.to_text(), it)
ui.bind("train_items", [i.to_text() for i in view.items if i.to_text() in options])
chosen = st.multiselect(
    "What to train",
    list(options),
    key="train_items",
    format_func=lambda t: views.BASELINE_HELP.get(t, options[t].label),
    help="Couplings (priors) and the two baselines of Fig. 1. Add your own on the Priors page.",
)
view = ui.set_view(items=tuple(options[t] for t in chosen))
c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
ui.bind("train_epochs", min(view.epochs, lim.epochs))
ui.bind("train_seeds", min(view.seeds, lim.seeds))
epochs = c1.number_input(
    "Epochs",
    1,
    lim.epochs,
    step=1,
    key="train_epochs",
    help="One epoch shows every consecutive pair once (App. D: 30).",
)
seeds = c2.number_input(
    "Seeds", 1, lim.seeds, step=1, key="train_seeds", help="Training seeds 0, 1, …: Compare shows intervals over them."
)
view = ui.set_view(epochs=int(epochs), seeds=int(seeds))
c3.markdown(views.batch_text(len(chosen), int(seeds)))
if runner is not None:
    c3.caption(views.speed_text(ui.entries(), view.video, int(epochs), runner.stats()))

if st.button(
    "Train", type="primary", key="train_start", icon=":material/play_arrow:", disabled=not chosen or runner is None
):
    ss["train_pending"] = [options[t].run_config(view.video, int(epochs), s) for t in chosen for s in range(int(seeds))]
    ss["train_batch"], ss["train_quiet"], ss["train_scroll"] = [], 0, True

tw.next_wave(runner, client, lim)

if ss.pop("train_go_compare", False):
    st.switch_page(ui.PAGES["compare"])
if ss.pop("train_scroll", False):  # right after a press: the run list and its progress in view, on any screen
    xw.scroll_to("train_runs")
with st.container(key="train_runs"):
    st.subheader("Runs")
    if runner is not None:
        every = views.refresh_interval(
            runner.views(ss["my_jobs"]), ss.get("train_quiet", 0), runner.stats()["watchers"]
        )
        every = every or (2.0 if ss.get("train_pending") else None)  # runs waiting for this visitor's share
        ss["train_full_run"] = True  # the panel's first call below belongs to this run: no back-off step, no rerun
        st.fragment(tw.jobs_panel, run_every=every)(every, runner, client, lim)
