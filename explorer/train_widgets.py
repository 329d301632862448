"""The Train page's Streamlit pieces: submitting the pending runs wave by wave, and the live job list with its
buttons. The texts and numbers come from ``explorer.views``; this module only draws them."""

from __future__ import annotations

import streamlit as st

from . import ui, views


def next_wave(runner, client: str, lim) -> None:
    """Submit the pending runs that fit in this visitor's share of the queue (the rest as earlier ones finish)."""
    ss = st.session_state
    if runner is None or not ss.get("train_pending"):
        return
    jobs, ss["train_pending"], ss["train_wait"] = views.submit_wave(
        runner, ss["train_pending"], ss["my_jobs"], client, lim.per_client
    )
    ids = [j.id for j in jobs]
    ss["my_jobs"] = list(dict.fromkeys(ids + [i for i in ss["my_jobs"] if i not in ids]))[:40]
    ss["train_batch"] = ss.get("train_batch", []) + ids
    if opened := sum(j.from_store for j in jobs):
        st.toast(
            f"{views.n_of(opened, 'run')} opened from the store: no training needed", icon=":material/inventory_2:"
        )


def jobs_panel(every: float | None, runner, client: str, lim) -> None:
    """The job list and its buttons; refreshes every ``every`` s while a job of this session is unfinished (slower
    as nothing changes and as more visitors wait: ``views.refresh_interval``)."""
    ss = st.session_state
    next_wave(runner, client, lim)
    job_views, stats = runner.views(ss["my_jobs"]), runner.stats()
    if waiting := ss.get("train_pending"):
        st.caption(views.pending_text(len(waiting), lim.per_client, ss.get("train_wait"), views.holder(stats)))
    if not ss.pop("train_full_run", False):  # a refresh of the list alone: count quiet polls, maybe change the rate
        sig = views.jobs_signature(job_views)
        ss["train_quiet"] = ss.get("train_quiet", 0) + 1 if sig == ss.get("train_sig") else 0
        ss["train_sig"] = sig
        if views.refresh_interval(job_views, ss["train_quiet"], stats["watchers"]) != every:
            st.rerun(scope="app")  # a new refresh rate (or none: everything finished) is set by a whole-page run
    if not job_views:
        st.caption("No runs yet in this session. Pick what to train and press **Train**.")
    for v in job_views:
        with st.container(border=True, key=f"train_job_{v.id}"):
            a, b = st.columns([5, 1], vertical_alignment="center")
            a.markdown(views.job_line(v, v.l2))
            if v.state == views.RUNNING and v.epochs:
                a.progress(min(1.0, v.epoch / v.epochs))
            if not v.finished and b.button("Cancel", key=f"train_cancel_{v.id}", help=views.CANCEL_HELP):
                if not runner.cancel(v.id, client):
                    ss["my_jobs"] = [i for i in ss["my_jobs"] if i != v.id]
                st.rerun()
            if v.clients > 1 and not v.finished:
                a.caption(f"Shared with {v.clients - 1} other request(s) for the same run: it trains once.")
    st.container(key="train_runner_stats").caption(
        views.runner_line(stats),
        help="Identical requests (same video, coupling, settings and seed) share one job.",
    )
    done = [v for v in job_views if v.state == views.DONE]
    buttons = st.container(horizontal=True, key="train_buttons")
    if any(not v.finished for v in job_views) and buttons.button(
        "Cancel all", key="train_cancel_all", icon=":material/stop:"
    ):
        for v in job_views:
            if not v.finished:
                runner.cancel(v.id, client)
        st.rerun()
    batch = [v for v in done if v.id in ss.get("train_batch", [])]  # the runs just trained, and only those
    keys = views.compare_keys(batch, {e.key: e for e in ui.entries()})
    if keys and buttons.button("Compare these runs", type="primary", key="train_compare", icon=":material/compare:"):
        ui.set_view(runs=tuple(keys))
        ss["train_go_compare"] = True  # switch pages from a whole-page run, not from inside the fragment
        st.rerun()
    if job_views and buttons.button("Clear finished from this list", key="train_clear"):
        ss["my_jobs"] = [v.id for v in job_views if not v.finished]
        st.rerun()
