"""Compare: 2–4 runs side by side, one row per figure kind — decoded vs true centres, learned priors, centres over
time, held-out errors over seeds and learning curves."""

import streamlit as st

from explorer import charts, paired, ui, views
from explorer.catalog import l2_summary, metrics_table
from explorer.state import default_stride, heatmap_strides

view = ui.page_setup("compare")
st.title("Compare · what did each prior make the encoder learn?")
text = not ui.hidden("text")
if text:
    st.caption(
        "A linear read-out (least squares) maps each run's latents z to the true ball positions, fitted on the first "
        "80 % of the frames; its error on the last 20 % measures the position information that can be read out of z "
        "*linearly* — much of which an untrained encoder already carries (the paired view below)."
    )
entries = ui.entries()
by_key = {e.key: e for e in entries}
if not entries:
    st.info("No runs yet: train some on the Train page (the shipped examples are missing too).", icon=":material/info:")
    st.stop()
if any(k not in by_key for k in view.runs):
    st.warning(
        "Some runs in the link are not in this server's store (pruned, or trained elsewhere); train them again on the "
        "Train page to see them.",
        icon=":material/link:",
    )
wanted = [k for k in view.runs if k in by_key]
if not wanted:
    shipped = ui.catalog().shipped_fig1()
    wanted = [shipped[m][0].key for m in ("rbf", "linear") if m in shipped] or [e.key for e in entries[:2]]
if "cmp_runs" in st.session_state:  # a run pruned from the store since the last rerun drops out quietly
    st.session_state["cmp_runs"] = [k for k in st.session_state["cmp_runs"] if k in by_key]
ui.bind("cmp_runs", wanted)
keys = st.multiselect(
    "Runs to compare (2 to 4)",
    [e.key for e in entries],
    key="cmp_runs",
    max_selections=4,
    format_func=lambda k: by_key[k].long_label,
    help="Your runs first, then the examples shipped with the app. Runs that differ only in their seed are pooled "
    "for the error bars.",
)
view = ui.set_view(runs=tuple(keys))
runs = {k: r for k in keys if (r := ui.stored_run(k)) is not None}
if len(runs) < len(keys):
    st.warning("A run could not be read and was left out (training it again rebuilds it).", icon=":material/warning:")
if len(runs) < 2:
    st.info("Pick at least two runs to compare.", icon=":material/info:")
    st.stop()
sel = [by_key[k] for k in runs]
first_cfg = sel[0].config.video
min_frames = min(e.config.video.frames for e in sel)
min_balls = min(e.config.video.balls for e in sel)
sizes = [e.config.video.size for e in sel]
strides = heatmap_strides(min(sizes), max(sizes))

c1, c2, c3, c4 = st.columns([1.6, 1.6, 1, 1], vertical_alignment="bottom")
ui.bind("cmp_frame", min(view.frame_or_default, min_frames - 2))
frame = c1.slider("Frame", 0, min_frames - 2, key="cmp_frame", help="Frames after 80 % of the video are held out.")
ui.bind("cmp_ball", min(view.ball, min_balls - 1))
ball = c2.radio(
    "Ball",
    list(range(min_balls)),
    format_func=lambda k: charts.ball_name(first_cfg, k),
    horizontal=True,
    key="cmp_ball",
)
near = min(strides, key=lambda s: abs(s - default_stride(first_cfg)))
ui.bind("cmp_stride", view.stride if view.stride in strides else near)
stride = c3.selectbox("Heatmap grid (px)", strides, key="cmp_stride", help="Each grid point is a rendered candidate.")
ui.bind("cmp_log", view.log_y)
log_y = c4.toggle("Log scale for errors", key="cmp_log")
view = ui.set_view(frame=int(frame), ball=int(ball), stride=int(stride), log_y=bool(log_y))


def views_grid(n: int) -> list:
    """One column per run, at most two to a row (3-4 runs: two rows), so cards and figures read at 1024 px."""
    per_row = min(n, 2)
    return [c for _ in range(0, n, per_row) for c in st.columns(per_row, gap="small")][:n]


style, labels = views.styles(sel), views.labels(sel)
if (mixed := views.video_warning(sel)) is not None:
    st.warning(mixed, icon=":material/movie:")
pooled = {e.key: [s.metrics["l2_mean"] for s in ui.catalog().siblings(e.config, entries)] for e in sel}
cols = views_grid(len(sel))
for col, e in zip(cols, sel):  # row 1: who is who, and the numbers that matter
    with col.container(border=True, key=f"cmp_card_{e.key}"):
        st.markdown(f"**{views.md_escape(labels[e.key])}**")
        st.markdown(
            "  \n".join(
                f"{name}: **{value}**" for name, value in views.run_summary(e, runs[e.key].metrics, pooled[e.key])
            )
        )
        st.caption(views.numerics_caption(runs[e.key]))
videos = {e.key: ui.video(e.config.video) for e in sel}
for col, e in zip(views_grid(len(sel)), sel):  # row 2: decoded against true centres
    with col:
        fig = charts.decoded_frame_figure(
            videos[e.key], ui.decoded(e.key), int(frame), height=340, title=f"Frame {frame}"
        )
        ui.chart(fig, f"cmp_frame_{e.key}", f"decoded_{e.key[:6]}_f{frame}")
with_prior = [e.key for e in sel if e.config.coupling is not None]
for col, e in zip(views_grid(len(sel)), sel):  # row 3: the learned priors
    with col:
        if e.config.coupling is None:
            st.info(f"The {e.method} baseline has no coupling, so it implies no prior P(z′|z).", icon=":material/info:")
            continue
        hm = ui.friendly(ui.heatmap, e.key, int(frame), int(ball), int(stride), what="The heatmap")
        if hm is not None:
            last = e.key == with_prior[-1]  # one colour bar and one legend for the row: the scale is shared
            fig = charts.prior_heatmap(
                videos[e.key],
                hm,
                height=360,
                title=f"P(z′|z), N = {hm.n}",
                show_scale=last,
                legend=e.key == with_prior[0],
            )
            ui.chart(fig, f"cmp_heatmap_{e.key}", f"prior_{e.key[:6]}_f{frame}")
if text:
    st.caption(
        f"Heatmaps (Fig. 1D/E): each run's prior over where the {charts.ball_name(first_cfg, int(ball))} ball (○) goes "
        "next; × is where it really goes. One colour scale for all: 0 · 1/N (no preference) · ≥ 4/N."
    )

by_video = {}
for e in sel:
    by_video.setdefault(e.config.video, []).append(e)
for i, (vcfg, group) in enumerate(by_video.items()):  # row 4: centres over time, one chart per video
    decoded = {labels[e.key]: (ui.decoded(e.key), *style[e.key]) for e in group}
    title = f"{charts.ball_name(vcfg, int(ball))} ball: true vs decoded" + (
        f" ({vcfg.frames} frames × {vcfg.size} px)" if len(by_video) > 1 else ""
    )
    ui.chart(
        charts.centres_over_time(videos[group[0].key], decoded, int(ball), height=400, title=title),
        f"cmp_time_{i}",
        f"centres_over_time_{i}",
    )

left, right = st.container(), st.container()  # row 5, stacked: errors over seeds, learning curves
groups = [
    {
        "label": views.group_label(e, len(pooled[e.key])),
        "colour": style[e.key][0],
        **l2_summary(ui.catalog().siblings(e.config, entries), min_balls),
    }
    for e in sel
]
names = [charts.ball_name(first_cfg, k) for k in range(min_balls)]
one_video = all(e.config.video == first_cfg for e in sel)  # the predict-the-mean line belongs to one video
mean_px = ui.predict_mean_l2(first_cfg, sel[0].config.train.train_frac) if one_video else None
with left:
    ui.chart(
        charts.l2_bars(
            groups, names, log_y=log_y, title="Held-out L2 error per ball (95 % interval over seeds)", reference=mean_px
        ),
        "cmp_bars",
        "l2_per_ball",
    )
    if text:
        st.caption(
            "Each bar pools every stored seed of that configuration (the count is in the legend); on the log scale "
            "bars are geometric means with the 95 % interval of log L2."
        )
    pairs, unpaired = paired.compare_groups(sel, entries, {k: v[0] for k, v in style.items()})
    if pairs:  # each trained run against its own untrained start (issue 18: the control at the centre)
        ui.chart(paired.figure(pairs, log_y=log_y), "cmp_paired", "paired_change")
    if text and (pairs or unpaired):
        st.caption(paired.compare_caption(pairs, unpaired))
with right:
    curve_runs = [
        {"label": labels[e.key], "colour": style[e.key][0], "dash": style[e.key][1], "history": runs[e.key].history, "method": e.config.train.method}
        for e in sel
    ]  # fmt: skip
    ui.chart(
        charts.curves(curve_runs, batch_size=sel[0].config.train.batch_size, title="Learning curves"),
        "cmp_curves",
        "learning_curves",
    )
    if text:
        st.caption(views.mi_caption([(labels[e.key], runs[e.key].metrics) for e in sel]))

rows = metrics_table(sel, ui.catalog())
d1, d2, _ = st.columns([1, 1, 2])
d1.download_button(
    "Metrics as CSV", views.metrics_csv(rows), "rpm_compare.csv", "text/csv", key="cmp_dl_csv", width="stretch"
)
d2.download_button(
    "Metrics as JSON", views.metrics_json(rows, int(frame), int(ball)), "rpm_compare.json", "application/json", key="cmp_dl_json", width="stretch"
)  # fmt: skip
