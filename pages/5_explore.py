"""Explore: sweep coupling families over a parameter grid and seeds, watch L2 against the parameter fill in, rank
every stored run of this video."""

import streamlit as st

from explorer import explore as ex
from explorer import priors, ui
from explorer import sweep_charts as xc
from explorer import sweep_view as sv
from explorer import sweep_widgets as xw
from rpm_engine.config import PAPER_VIDEO, QUICK_VIDEO

ss, lim = st.session_state, ui.limits()
view = ui.page_setup("explore")
state, runner, client = view.explore, ui.runner(), ui.client_id()  # the sweep is part of the one view (its URL)

st.title("Explore · which prior, with which settings, and how sure?")
st.caption(f"Every point is an ordinary run of this video ({ui.video_caption(view.video)}), trained through the "
           "server's one job queue; runs already stored appear at once. Error bands: 95 % intervals over seeds.")  # fmt: skip
scale = st.container(horizontal=True)
for name, video in (("Quick scale", QUICK_VIDEO), ("Paper scale (App. D: 900 frames of 256 px)", PAPER_VIDEO)):
    if scale.button(name, key=f"x_scale_{video.size}", disabled=view.video == video):
        if ui.friendly(ex.within, lim, video, what="This scale"):
            ui.set_view(video=video)
            st.rerun()

rows = xw.family_rows(state.families, priors.kinds(lim.allow_expressions))
a, b, c = st.columns([1, 1, 2])
ui.bind("x_seeds", state.seeds)
seeds = a.text_input("Seeds", key="x_seeds", help="0-2 trains seeds 0, 1, 2; 0,3 two seeds; 4 only seed 4.")
ui.bind("x_epochs", min(state.epochs, lim.epochs))
epochs = b.number_input("Epochs", 1, lim.epochs, key="x_epochs", help="App. D: 30.")
new = ex.ExploreState(tuple(rows), seeds.strip(), int(epochs), state.show)
if new != state:
    for k in [k for k in ss if k.startswith(("x_kind_", "x_expr_", "x_param_", "x_values_", "x_was_"))]:
        del ss[k]  # rows moved: the widgets start again from the state
    ui.set_view(explore=new)
    st.rerun()

sweep = ui.friendly(ex.build_sweep, state, view.video, lim, what="This sweep")
entries = ui.entries()
if sweep is not None:
    stored = {e.key for e in entries}
    todo = [cfg for cfg in ex.plan(sweep) if cfg.key() not in stored]
    c.caption(f"**{len(ex.plan(sweep))} runs** ({sweep.describe()}, with supervised and untrained references): "
              f"{len(todo)} to train, at most {ex.wave_size(lim)} of yours waiting at once.")  # fmt: skip
    busy = ss.get("x_sweep") is not None
    go = c.button("Run the sweep", type="primary", key="x_run", icon=":material/play_arrow:", disabled=not todo or busy,
                  help="A sweep is running: stop it, or wait for it, before starting another." if busy else None)  # fmt: skip
    if go and runner is not None and not busy:
        ss["x_sweep"], ss["x_idle"] = ex.SweepRun.start(sweep, stored), 0
        xw.remember(client, state)
xw.reopen_past(client, state)


def live() -> None:
    job, entries = ss.get("x_sweep"), ui.entries()
    if job is not None:
        job.step(runner, client, ex.wave_size(lim))
        n = job.counts(runner)
        done = n["done"] + n["failed"] + n["cancelled"]
        st.progress(done / max(job.total, 1), text=f"{done} of {job.total} runs finished · {n['running']} "
                    f"running · {n['waiting']} waiting" + (f" · {n['failed']} failed" if n["failed"] else ""))  # fmt: skip
        if job.notice:
            st.caption(f"Waiting: {job.notice}")
        if st.button("Stop the sweep", key="x_stop", icon=":material/stop:"):
            job.cancel(runner, client)
        news = (done, n["running"])
        ss["x_idle"] = 0 if news != ss.get("x_news") else ss.get("x_idle", 0) + 1
        ss["x_news"] = news
        if job.finished(runner) or ex.poll_interval(ss["x_idle"], bool(job.pending)) != ss.get("x_every"):
            ss["x_sweep"] = None if job.finished(runner) else job
            st.rerun(scope="app")  # a new refresh interval (backing off), or none once the sweep is done
    if sweep is not None:
        gs = sv.groups(entries, view.video)
        cs = sv.curves(sweep, state.families, gs)
        got, total = sv.progress(cs, len(sweep.seeds))
        refs = sv.references(sweep, gs, ui.predict_mean_l2(view.video))
        st.markdown(f"**Held-out L2 against the parameter** · {got} of {total} points stored")
        ui.chart(xc.l2_figure(cs, refs), "x_plot", "l2_vs_parameter")
        xw.png_button("x_plot")


running = ss.get("x_sweep") is not None
ss["x_every"] = ex.poll_interval(ss.get("x_idle", 0), bool(ss["x_sweep"].pending)) if running else None
st.fragment(live, run_every=ss["x_every"])()

st.subheader("Leaderboard: every stored run of this video")
gs = sv.groups(entries, view.video)
if not gs:
    st.info("No stored runs of this video yet: run a sweep above, or train on the Train page.", icon=":material/info:")
    st.stop()
f = xw.filters(gs, state.epochs, state.show)
if f.families != state.show:
    ui.set_view(explore=ex.ExploreState(state.families, state.seeds, state.epochs, f.families))
board = sv.leaderboard(gs, f)
if not board.rows:
    st.info("No stored run matches these filters.", icon=":material/filter_alt:")
    st.stop()
xw.table(board)
xw.actions(board, [*board.groups, *board.references], view.video)
parallel = xc.parallel_figure(board.groups)
if parallel is not None:
    with st.expander("Every configuration across its parameters (parallel coordinates)"):
        ui.chart(parallel, "x_parallel", "parameters")
