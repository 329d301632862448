"""Data: generate the moving-balls video with every generator option, play it, inspect the ground truth, download."""

import streamlit as st

from explorer import charts, ui
from explorer.state import normalise_video
from rpm_engine.data import COLOUR_NAMES, DEFAULT_BACKGROUND, DEFAULT_COLOURS, VideoConfig


def hex_of(rgb) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def rgb_of(h: str) -> tuple[int, int, int]:
    h = h.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


view = ui.page_setup("data")
lim = ui.limits()
cfg = view.video

st.title("Data · the moving-balls video")
st.caption(
    "One continuous video (App. D): every ball moves one step per frame in its previous direction plus a little "
    "noise; a move that would leave the frame or hit another ball is re-drawn with the noise range doubled, and "
    "a ball boxed in after the last draw stays put for that frame."
)

with st.form("video_form", border=True):
    st.markdown(
        "**Generator options** — the defaults are the quick scale: the paper's geometry shrunk 4×, so a "
        "run trains in seconds on a laptop CPU (the paper: 900 frames of 256 px, diameter 32)."
    )
    c1, c2, c3, c4 = st.columns(4)
    ui.bind("data_frames", cfg.frames)
    ui.bind("data_size", cfg.size)
    ui.bind("data_balls", cfg.balls)
    ui.bind("data_diameter", float(cfg.diameter))
    ui.bind("data_step", 0.0 if cfg.step is None else float(cfg.step))
    ui.bind("data_noise", float(cfg.noise_deg))
    ui.bind("data_vseed", cfg.seed)
    ui.bind("data_draws", cfg.max_draws)
    c1.number_input(
        "Frames",
        min_value=2,
        max_value=lim.frames,
        step=16,
        key="data_frames",
        help="Length of the video; consecutive frames make the training pairs.",
    )
    c1.number_input(
        "Frame size (px)",
        min_value=8,
        max_value=lim.size,
        step=8,
        key="data_size",
        help="Width = height of every frame.",
    )
    c2.number_input(
        "Balls",
        min_value=1,
        max_value=min(lim.balls, 6),
        step=1,
        key="data_balls",
        help="Each ball gets one output map of the encoder, so z has 2 × balls numbers.",
    )
    c2.number_input("Diameter (px)", min_value=2.0, max_value=float(lim.size) / 2, step=1.0, key="data_diameter")
    c3.number_input(
        "Step per frame (px; 0 = one diameter)",
        min_value=0.0,
        step=1.0,
        key="data_step",
        help="0 means one full diameter per frame, as in the paper.",
    )
    c3.number_input(
        "Direction noise (±°)",
        min_value=0.0,
        max_value=180.0,
        step=1.0,
        key="data_noise",
        help="The new direction is the previous one plus uniform noise in ±this angle (paper: 2°).",
    )
    c4.number_input("Video seed", min_value=0, max_value=2**31 - 1, step=1, key="data_vseed")
    c4.number_input(
        "Draws before a ball stays put",
        min_value=1,
        max_value=1000,
        step=1,
        key="data_draws",
        help="Each re-draw doubles the noise range; after this many a boxed-in ball skips the frame.",
    )
    with st.expander("Colours"):
        cols = st.columns(7)
        colours = cfg.ball_colours
        for k in range(6):
            ui.bind(f"data_colour_{k}", hex_of(colours[k] if k < len(colours) else DEFAULT_COLOURS[k]))
            cols[k].color_picker(f"Ball {k + 1} ({COLOUR_NAMES[k]} by default)", key=f"data_colour_{k}")
        ui.bind("data_bg", hex_of(cfg.background))
        cols[6].color_picker("Background", key="data_bg")
        st.caption(
            "Only the first *balls* colours are used. Ball colours must be distinct and differ from the "
            f"background (default {hex_of(DEFAULT_BACKGROUND)})."
        )
    submitted = st.form_submit_button("Generate video", type="primary", key="data_generate")

if submitted:
    ss = st.session_state
    balls = int(ss["data_balls"])

    def make() -> VideoConfig:
        new = VideoConfig(
            frames=int(ss["data_frames"]),
            size=int(ss["data_size"]),
            balls=balls,
            diameter=float(ss["data_diameter"]),
            step=float(ss["data_step"]) or None,
            noise_deg=float(ss["data_noise"]),
            seed=int(ss["data_vseed"]),
            max_draws=int(ss["data_draws"]),
            colours=tuple(rgb_of(ss[f"data_colour_{k}"]) for k in range(balls)),
            background=rgb_of(ss["data_bg"]),
        )
        lim.check_video(new)
        return normalise_video(new)

    new = ui.friendly(make, what="Generating this video")
    if new is not None:
        view = ui.set_view(video=new)
        cfg = new
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
        width=360,
    )
with right:
    st.subheader("Step through frames")
    ui.bind("data_frame", min(view.frame_or_default, cfg.frames - 2))
    t = st.slider(
        "Frame",
        0,
        cfg.frames - 2,
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
d1.download_button(
    "Video as .npz (frames, centres, config)",
    data=ui.npz(cfg),
    file_name="balls.npz",
    mime="application/octet-stream",
    key="data_dl_npz",
    width="stretch",
)
d2.download_button(
    "Animated GIF",
    data=ui.gif(cfg, overlay),
    file_name="balls.gif",
    mime="image/gif",
    key="data_dl_gif",
    width="stretch",
)
d3.download_button(
    "True centres as CSV",
    data=ui.centres_csv(cfg),
    file_name="centres.csv",
    mime="text/csv",
    key="data_dl_csv",
    width="stretch",
)
st.page_link(ui.PAGES["priors"], label="Next: choose a prior for this video", icon=":material/arrow_forward:")
