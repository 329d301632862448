"""Data: generate the moving-balls video with every generator option, play it, inspect the ground truth, download."""

import streamlit as st

from explorer import charts, media, ui, views
from rpm_engine.config import COLOUR_NAMES, DEFAULT_COLOURS, QUICK_RECIPE, VIDEO_FIELDS

view = ui.page_setup("data")
lim = ui.limits()
cfg = lim.clamp_video(view.video)
if cfg != view.video:  # a server whose limits are below this video shows the largest one it allows
    view = ui.set_view(video=cfg)

st.title("Data · the moving-balls video")
st.caption(
    "One continuous video (App. D): every ball moves one step per frame in its previous direction plus a little "
    "noise; a move that would leave the frame or hit another ball is re-drawn with the noise range doubled, and "
    "a ball boxed in after the last draw stays put for that frame."
)

with st.form("video_form", border=True):
    speed = f" {views.speed_text(ui.entries(), cfg, QUICK_RECIPE.epochs)}" if ui.training_on() else ""
    st.markdown(
        "**Generator options** — the defaults are the quick scale: the paper's geometry shrunk 4× (the paper: 900 "
        f"frames of 256 px, diameter 32).{speed}"
    )
    columns = st.columns(4)
    for i, f in enumerate(VIDEO_FIELDS):  # one widget per schema row: label, unit, help, bounds, the server's limit
        ui.bind(f"data_{f.url}", media.widget_value(f, cfg, lim))
        columns[i // 2].number_input(key=f"data_{f.url}", **media.widget_args(f, lim))
    with st.expander("Colours"):
        cols = st.columns(7)
        for k in range(len(DEFAULT_COLOURS)):
            rgb = cfg.ball_colours[k] if k < cfg.balls else DEFAULT_COLOURS[k]
            ui.bind(f"data_colour_{k}", media.hex_colour(rgb))
            cols[k].color_picker(f"Ball {k + 1} ({COLOUR_NAMES[k]} by default)", key=f"data_colour_{k}")
        ui.bind("data_bg", media.hex_colour(cfg.background))
        cols[6].color_picker("Background", key="data_bg")
        st.caption("Only the first *balls* colours are used; they must be distinct and differ from the background.")
    submitted = st.form_submit_button("Generate video", type="primary", key="data_generate")

if submitted:
    ss = st.session_state

    def make():
        new = media.video_from_form(
            {f.name: ss[f"data_{f.url}"] for f in VIDEO_FIELDS},
            [ss[f"data_colour_{k}"] for k in range(len(DEFAULT_COLOURS))],
            ss["data_bg"],
        )
        lim.check_video(new)
        return new

    new = ui.friendly(make, what="Generating this video")
    if new is not None:
        view, cfg = ui.set_view(video=new), new
        st.toast("Video ready", icon=":material/movie:")

video = ui.friendly(ui.video, cfg, what="Generating the video")
if video is None:
    st.stop()

m1, m2, m3, m4 = st.columns(4)
m1.metric("Frames", f"{len(video.frames)}", help=ui.video_caption(cfg))
m2.metric("Step per frame", f"{cfg.step_px:g} px")
m3.metric("Re-draws", f"{video.redraws}", help="Moves drawn again because the first direction collided.")
m4.metric("Stuck ball-frames", f"{video.stuck}", help="Frames in which a boxed-in ball stayed put.")
st.caption(ui.video_caption(cfg) + ". Shared links carry these settings.")

left, right = st.columns([1, 1.25], gap="large")
with left:
    st.subheader("Play")
    overlay = st.toggle("Draw the true centres and their trails", value=True, key="data_overlay")
    st.image(
        ui.gif(cfg, overlay),
        caption="Animated GIF (12 frames per second" + (", first 300 frames)" if cfg.frames > 300 else ")"),
        width="stretch",
    )
with right:
    st.subheader("Step through frames")
    lo, hi, value = media.frame_slider(cfg, view.frame)
    if st.session_state.get("data_frame_of") != cfg:  # a new video: its slider is a new widget, set its value
        st.session_state["data_frame"], st.session_state["data_frame_of"] = value, cfg
    t = st.slider(
        "Frame",
        lo,
        hi,
        key="data_frame",
        help="The last frame has no successor, so frames run to T − 2 here and everywhere else.",
    )
    view = ui.set_view(frame=int(t))
    a, b = st.columns(2)
    trail_options = {"none": 0, "last 8 frames": 8, "last 32 frames": 32, "whole video": None}
    trail = a.selectbox("Trajectory", list(trail_options), index=2, key="data_trail")
    centres = b.toggle("True centres", value=True, key="data_centres")
    ui.chart(
        charts.frame_figure(video, t, centres=centres, trail=trail_options[trail], height=430),
        "data_frame_chart",
        f"frame_{t}",
    )
    st.caption(
        "Pixel (row r, column c) covers [c, c+1) × [r, r+1), so the centre of the top-left pixel is "
        "(0.5, 0.5); y grows downwards, as in an image."
    )

st.subheader("Download")
d1, d2, d3 = st.columns(3)
downloads = (
    (d1, "Video as .npz (frames, centres, config)", ui.npz(cfg), "balls.npz", "application/octet-stream", "npz"),
    (d2, "Animated GIF", ui.gif(cfg, overlay), "balls.gif", "image/gif", "gif"),
    (d3, "True centres as CSV", ui.centres_csv(cfg), "centres.csv", "text/csv", "csv"),
)
for col, label, data, name, mime, key in downloads:
    col.download_button(label, data=data, file_name=name, mime=mime, key=f"data_dl_{key}", width="stretch")
st.page_link(ui.PAGES["priors"], label="Next: choose a prior for this video", icon=":material/arrow_forward:")
