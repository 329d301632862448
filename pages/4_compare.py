"""Compare: 2–4 runs side by side, one row per figure kind — decoded vs true centres, learned priors, centres over
time, held-out errors over seeds and learning curves."""

import streamlit as st

from explorer import charts, ui, views
from explorer import compare_widgets as cw
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


style, labels = views.styles(sel), views.labels(sel)
if (mixed := views.video_warning(sel)) is not None:
    st.warning(mixed, icon=":material/movie:")
pooled = {e.key: [s.metrics["l2_mean"] for s in ui.catalog().siblings(e.config, entries)] for e in sel}
cw.cards_row(sel, runs, labels, pooled)
videos = {e.key: ui.video(e.config.video) for e in sel}
cw.decoded_row(sel, videos, frame)
cw.priors_row(sel, videos, frame, ball, stride)
if text:
    st.caption(
        f"Heatmaps (Fig. 1D/E): each run's prior over where the {charts.ball_name(first_cfg, int(ball))} ball (○) goes "
        "next; × is where it really goes. One colour scale for all: 0 · 1/N (no preference) · ≥ 4/N."
    )
cw.centres_rows(sel, videos, labels, style, ball)
cw.errors_and_curves(sel, entries, runs, labels, style, pooled, min_balls, log_y, text)
cw.downloads(sel, frame, ball)
