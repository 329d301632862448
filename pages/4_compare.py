"""Compare: 2–4 runs side by side — decoded vs true centres, held-out errors over seeds, learned priors, curves."""

import csv
import io
import json

import streamlit as st

from explorer import charts, ui
from explorer.catalog import l2_summary, metrics_table
from explorer.state import default_frame, default_stride

view = ui.page_setup("compare")
st.title("Compare · what did each prior make the encoder learn?")
st.caption(
    "A linear read-out (least squares) maps each run's latents z to the true ball positions, fitted on the first "
    "80 % of the frames; its error on the last 20 % says how much position information the encoder extracted."
)

entries = ui.entries()
by_key = {e.key: e for e in entries}
if not entries:
    st.info("No runs yet: train some on the Train page (the shipped examples are missing too).", icon=":material/info:")
    st.page_link(ui.PAGES["train"], label="Go to the Train page", icon=":material/model_training:")
    st.stop()

missing = [k for k in view.runs if k not in by_key]
if missing:
    st.warning(
        f"{len(missing)} run(s) in the link are not in this server's store (they may have been pruned or "
        "trained elsewhere); train them again on the Train page to see them.",
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
    help="Your runs first, then the examples shipped with the app. Runs that differ only in "
    "their seed are pooled for the error bars.",
)
view = ui.set_view(runs=tuple(keys))
if len(keys) < 2:
    st.info("Pick at least two runs to compare.", icon=":material/info:")
    st.stop()

runs = {}
for k in keys:
    r = ui.run(k)
    if r is None:
        st.warning(
            f"Run {by_key[k].label} [{k[:6]}] could not be read; it was left out (training it again rebuilds it).",
            icon=":material/warning:",
        )
    else:
        runs[k] = r
if len(runs) < 2:
    st.stop()
sel = [by_key[k] for k in runs]
videos = {k: ui.video(r.config.video) for k, r in runs.items()}
min_frames = min(r.config.video.frames for r in runs.values())
min_balls = min(r.config.video.balls for r in runs.values())
first_cfg = sel[0].config.video

c1, c2, c3, c4 = st.columns([1.6, 1.6, 1, 1])
ui.bind("cmp_frame", min(view.frame if view.frame is not None else default_frame(first_cfg), min_frames - 2))
frame = c1.slider(
    "Frame",
    0,
    min_frames - 2,
    key="cmp_frame",
    help="Frames after 80 % of the video are held out from the read-out's fit.",
)
ui.bind("cmp_ball", min(view.ball, min_balls - 1))
ball = c2.radio(
    "Ball",
    list(range(min_balls)),
    format_func=lambda k: charts.ball_name(first_cfg, k),
    horizontal=True,
    key="cmp_ball",
)
sizes = [r.config.video.size for r in runs.values()]
strides = ui.heatmap_strides(min(sizes), max(sizes))
ui.bind(
    "cmp_stride",
    view.stride if view.stride in strides else min(strides, key=lambda s: abs(s - default_stride(first_cfg))),
)
stride = c3.selectbox(
    "Heatmap grid (px)",
    strides,
    key="cmp_stride",
    help="Every grid point is a rendered candidate frame passed through the encoder.",
)
log_y = c4.toggle("Log scale for errors", value=True, key="cmp_log")
view = ui.set_view(frame=int(frame), ball=int(ball), stride=int(stride))

# Colours: one per coupling; a second run of the same coupling gets a dashed line.
style, used = {}, {}
for e in sel:
    colour = charts.method_colour(e.config)
    style[e.key] = (colour, charts.DASHES[used.get(colour, 0) % len(charts.DASHES)])
    used[colour] = used.get(colour, 0) + 1
labels = {}
for e in sel:
    lab = e.label + (" · shipped" if e.source == "shipped" else "")
    labels[e.key] = lab if lab not in labels.values() else f"{lab} [{e.key[:6]}]"

cols = st.columns(len(sel), gap="medium")
for col, e in zip(cols, sel):
    r, video = runs[e.key], videos[e.key]
    colour = style[e.key][0]
    with col:
        st.markdown(
            f"<span style='color:{colour};font-size:1.4em'>■</span> **{labels[e.key]}**", unsafe_allow_html=True
        )
        m = r.metrics
        a, b = st.columns(2)
        a.metric(
            "Held-out L2",
            f"{m['l2_mean']:.2f} px",
            help="Mean distance between decoded and true centres on the last 20 % of frames.",
        )
        if r.config.train.method == "infonce":
            b.metric("Final I_N", f"{m['final_mi']:.2f} nats", help="log N − loss in the last epoch (N = 30).")
        learned = ", ".join(f"{k} = {v:.3g}" for k, v in (m.get("coupling_values") or {}).items())
        st.caption(
            f"{ui.video_caption(r.config.video)}; {r.config.train.epochs} epochs, seed {e.seed}"
            + (f"; learned {learned}" if learned else "")
        )
        ui.chart(
            charts.decoded_frame_figure(
                video, ui.decoded(e.key), int(frame), height=380, title=f"Frame {frame}: true ○ and decoded ×"
            ),
            f"cmp_frame_{e.key}",
            f"decoded_{e.key[:6]}_f{frame}",
        )
        if r.config.coupling is None:
            st.info(f"The {e.method} baseline has no coupling, so it implies no prior P(z′|z).", icon=":material/info:")
        else:
            hm = ui.friendly(ui.heatmap, e.key, int(frame), int(ball), int(stride), what="The heatmap")
            if hm is not None:
                ui.chart(
                    charts.prior_heatmap(video, hm, height=400, title=f"Learned P(z′|z), N = {hm.n}"),
                    f"cmp_heatmap_{e.key}",
                    f"prior_{e.key[:6]}_f{frame}",
                )
st.caption(
    f"Heatmaps (Fig. 1D/E): the trained encoder and coupling's prior over where the "
    f"{charts.ball_name(first_cfg, int(ball))} ball (○) goes next; × is where it really goes. Colour: 0 · 1/N "
    "(no preference) · ≥ 4/N. Every figure's camera button (top right, on hover) downloads it as a PNG."
)

st.subheader("Centres over time")
by_video = {}
for e in sel:
    by_video.setdefault(e.config.video, []).append(e)
for i, (vcfg, group) in enumerate(by_video.items()):
    decoded = {labels[e.key]: (ui.decoded(e.key), *style[e.key]) for e in group}
    ui.chart(
        charts.centres_over_time(
            videos[group[0].key],
            decoded,
            int(ball),
            height=420,
            title=f"{charts.ball_name(vcfg, int(ball))} ball: true vs decoded"
            + (f" ({vcfg.frames} frames × {vcfg.size} px)" if len(by_video) > 1 else ""),
        ),
        f"cmp_time_{i}",
        f"centres_over_time_{i}",
    )
st.caption(
    "Shaded: held-out frames, where the read-out was not fitted. A good encoder's decoded line follows the "
    "black one there too."
)

left, right = st.columns(2, gap="large")
groups = []
for e in sel:
    seeds = ui.catalog().siblings(e.config, entries)
    s = l2_summary(seeds, min_balls)
    groups.append({"label": labels[e.key], "colour": style[e.key][0], **s})
with left:
    ui.chart(
        charts.l2_bars(
            groups,
            [charts.ball_name(first_cfg, k) for k in range(min_balls)],
            log_y=log_y,
            title="Held-out L2 error per ball (95 % interval over seeds)",
        ),
        "cmp_bars",
        "l2_per_ball",
    )
    st.caption(
        "Each bar pools every stored seed of that configuration (the count is in the legend); train more "
        "seeds on the Train page for tighter intervals. One seed: no interval."
    )
with right:
    curve_runs = [
        {
            "label": labels[e.key],
            "colour": style[e.key][0],
            "dash": style[e.key][1],
            "history": runs[e.key].history,
            "method": runs[e.key].config.train.method,
        }
        for e in sel
    ]
    ui.chart(
        charts.curves(
            curve_runs, batch_size=sel[0].config.train.batch_size, title="Learning curves (contrastive runs)"
        ),
        "cmp_curves",
        "learning_curves",
    )
    st.caption(
        "I_N = log N − loss is InfoNCE's bound on the mutual information; it can never exceed log N. A "
        "higher I_N does not mean better positions: compare the linear and RBF runs."
    )

st.subheader("Export")
rows = metrics_table(sel, ui.catalog())
buf = io.StringIO()
fields = list(dict.fromkeys(k for row in rows for k in row))
writer = csv.DictWriter(buf, fieldnames=fields)
writer.writeheader()
writer.writerows(rows)
d1, d2, _ = st.columns([1, 1, 2])
d1.download_button(
    "Metrics as CSV", buf.getvalue(), file_name="rpm_compare.csv", mime="text/csv", key="cmp_dl_csv", width="stretch"
)
d2.download_button(
    "Metrics as JSON",
    json.dumps({"runs": rows, "frame": int(frame), "ball": int(ball)}, indent=2),
    file_name="rpm_compare.json",
    mime="application/json",
    key="cmp_dl_json",
    width="stretch",
)
st.caption(
    "Figures: use the camera button on each figure (Plotly's PNG download). The link in your address bar "
    "reopens this exact comparison."
)
