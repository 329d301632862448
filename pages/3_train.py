"""Train: launch the chosen couplings (and baselines) on the chosen video, several seeds at once; live progress."""

import streamlit as st

from explorer import ui
from explorer.state import BASELINES, Item, default_item
from rpm_engine.couplings import PRESETS
from rpm_service.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING

view = ui.page_setup("train")
lim = ui.limits()
runner = ui.runner()
client = ui.client_id()
ss = st.session_state
ss.setdefault("my_jobs", [])

st.title("Train · fit the encoder with each prior")
st.caption(
    "Each run trains the paper's small convolutional encoder with InfoNCE under one coupling (App. D: batches "
    "of 30 consecutive-frame pairs, SGD with learning rate 0.005), then fits a linear read-out of the ball "
    "positions on the first 80 % of the frames and measures its error on the rest. Finished runs are stored: "
    "asking again opens them at once."
)
st.info(f"**Video:** {ui.video_caption(view.video)}.", icon=":material/movie:")
st.page_link(ui.PAGES["data"], label="Change the video on the Data page", icon=":material/movie:")

# The options: the paper's couplings and baselines, the presets, and whatever the Priors page added.
catalogue = [
    default_item("rbf"),
    default_item("linear"),
    *(default_item(p) for p in PRESETS),
    *(Item.of(b) for b in BASELINES),
]
options = {}
for it in (*view.items, view.prior, *catalogue):
    options.setdefault(it.to_text(), it)
HELP = {
    "supervised": "supervised — the encoder trained on the true centres (the best a read-out can do)",
    "untrained": "untrained — a random encoder (the floor)",
}

ui.bind("train_items", [i.to_text() for i in view.items if i.to_text() in options])
chosen = st.multiselect(
    "What to train",
    list(options),
    key="train_items",
    format_func=lambda t: HELP.get(t, options[t].label),
    help="Couplings (priors) and the two baselines of Fig. 1. Add your own on the Priors page.",
)
view = ui.set_view(items=tuple(options[t] for t in chosen))
c1, c2, c3 = st.columns([1, 1, 2])
ui.bind("train_epochs", min(view.epochs, lim.epochs))
ui.bind("train_seeds", min(view.seeds, lim.seeds))
epochs = c1.number_input(
    "Epochs",
    min_value=1,
    max_value=lim.epochs,
    step=1,
    key="train_epochs",
    help="One epoch shows every consecutive pair once (App. D: 30).",
)
seeds = c2.number_input(
    "Seeds",
    min_value=1,
    max_value=lim.seeds,
    step=1,
    key="train_seeds",
    help="Training seeds 0, 1, …: the Compare page shows 95 % intervals over them.",
)
view = ui.set_view(epochs=int(epochs), seeds=int(seeds))
n_runs = len(chosen) * int(seeds)
c3.markdown(
    f"<br>**{n_runs} run{'s' if n_runs != 1 else ''}**: {len(chosen)} × {int(seeds)} seed{'s' if seeds != 1 else ''}",
    unsafe_allow_html=True,
)

if st.button("Train", type="primary", key="train_start", icon=":material/play_arrow:", disabled=not chosen):
    configs = [options[t].run_config(view.video, int(epochs), s) for t in chosen for s in range(int(seeds))]
    jobs = ui.friendly(runner.submit_many, configs, client, what="Starting the training")
    if jobs is not None:
        ids = [j.id for j in jobs]
        ss["my_jobs"] = list(dict.fromkeys(ids + [i for i in ss["my_jobs"] if i not in ids]))[:40]
        ss["train_batch"] = ids
        opened = sum(j.from_store for j in jobs)
        if opened:
            st.toast(
                f"{opened} run{'s' if opened != 1 else ''} opened from the store: no training needed",
                icon=":material/inventory_2:",
            )

STATE_ICON = {
    QUEUED: ":material/hourglass_top:",
    RUNNING: ":orange[:material/directions_run:]",
    DONE: ":green[:material/check_circle:]",
    FAILED: ":red[:material/error:]",
    CANCELLED: ":gray[:material/cancel:]",
}


def describe(v) -> str:
    if v.state == QUEUED:
        return f"waiting: number {v.position} in the queue" if v.position else "waiting"
    if v.state == RUNNING:
        bits = [f"epoch {v.epoch}/{v.epochs}" if v.epoch else f"first of {v.epochs} epochs under way"]
        if v.loss is not None:
            bits += [f"loss {v.loss:.3f}", f"I_N {v.mi:.2f} nats" if v.mi == v.mi else ""]
        if v.eta_s is not None:
            bits.append(f"about {v.eta_s:.0f} s left")
        bits.append(f"on {'GPU' if v.device == 'cuda' else 'CPU'}")
        return " · ".join(b for b in bits if b)
    if v.state == DONE:
        if v.from_store:
            return "opened from the store (trained earlier)"
        took = f" in {v.elapsed_s:.1f} s" if v.elapsed_s is not None else ""
        return f"trained{took} on {'GPU' if v.device == 'cuda' else 'CPU'} · final loss {v.loss:.3f}" + (
            f" · I_N {v.mi:.2f} nats" if v.mi is not None and v.mi == v.mi else ""
        )
    if v.state == FAILED:
        return f"failed: {v.error}"
    return "cancelled: nothing was stored"


def jobs_panel() -> None:
    views = runner.views(ss["my_jobs"])
    if not views:
        st.caption("No runs yet in this session. Pick what to train and press **Train**.")
    for v in views:
        with st.container(border=True, key=f"train_job_{v.id}"):
            a, b = st.columns([5, 1], vertical_alignment="center")
            a.markdown(f"{STATE_ICON[v.state]} **{v.label}** — {describe(v)}")
            if v.state == RUNNING and v.epochs:
                a.progress(min(1.0, v.epoch / v.epochs))
            if not v.finished:
                if b.button(
                    "Cancel",
                    key=f"train_cancel_{v.id}",
                    help="Stops the job unless another visitor is "
                    "waiting for the same run; then it trains on for them and you just stop watching.",
                ):
                    stopped = runner.cancel(v.id, client)
                    ss["my_jobs"] = [i for i in ss["my_jobs"] if i != v.id] if not stopped else ss["my_jobs"]
                    st.rerun()
            if v.clients > 1 and not v.finished:
                a.caption(f"Shared with {v.clients - 1} other request(s) for the same run: it trains once.")
    stats = runner.stats()

    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    st.container(key="train_runner_stats").caption(
        f"Job runner shared by every visitor of this server: **{n(stats['jobs'], 'training job')} so far**, "
        f"{n(stats['trained'], 'run')} trained, {n(stats['shared'], 'identical request')} joined a job, "
        f"{n(stats['opened'], 'run')} opened from the store · now {stats['running']} running and "
        f"{stats['queued']} queued (at most {stats['workers']} at once) · device "
        f"{'GPU' if stats['device'] == 'cuda' else 'CPU'}",
        help="Identical requests (same video, coupling, settings and seed) share one job.",
    )
    done = [v for v in views if v.state == DONE]
    if views:
        buttons = st.container(horizontal=True, key="train_buttons")
        if any(not v.finished for v in views) and buttons.button(
            "Cancel all", key="train_cancel_all", icon=":material/stop:"
        ):
            for v in views:
                if not v.finished:
                    runner.cancel(v.id, client)
            st.rerun()
        if done and buttons.button(
            "Compare these runs", type="primary", key="train_compare", icon=":material/compare:"
        ):
            batch = [v for v in views if v.state == DONE and v.id in ss.get("train_batch", [])] or done
            keys = list(dict.fromkeys(v.key for v in batch))[:4]
            if len(keys) < 2:  # a single run: compare it with a shipped example (RBF, else linear)
                shipped = ui.catalog().shipped_fig1()
                keys += [shipped[m][0].key for m in ("rbf", "linear") if m in shipped][: 2 - len(keys)]
            ui.set_view(runs=tuple(keys))
            ss["train_go_compare"] = True  # switch pages from a whole-page run, not from inside the fragment
            st.rerun()
        if buttons.button("Clear finished from this list", key="train_clear"):
            ss["my_jobs"] = [v.id for v in views if not v.finished]
            st.rerun()


if ss.pop("train_go_compare", False):
    st.switch_page(ui.PAGES["compare"])
st.subheader("Runs")
# The job list and its buttons refresh together every second while a job runs (one fragment, one snapshot of jobs).
active_now = any(not v.finished for v in runner.views(ss["my_jobs"]))
st.fragment(jobs_panel, run_every=1.0 if active_now else None)()
