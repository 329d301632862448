"""RPM Explorer: ``streamlit run app.py``. The Home page: the idea, the flow of the app, and the paper's Fig. 1 from
runs shipped in assets/store. The other steps are in pages/ (Data · Priors · Train · Compare)."""

import streamlit as st

from explorer import charts, home, ui
from explorer import home_widgets as hw
from explorer.catalog import FIG1_METHODS
from explorer.state import default_frame, default_stride

REGENERATE = "python -m rpm_engine reproduce --quick --seeds 5 --cache assets/store --out artifacts/shipped"
METHOD_LABELS = home.METHOD_LABELS

view = ui.page_setup("home")
text = not ui.hidden("text")
st.title("RPM Explorer")
hw.intro()
hw.tour_and_flow()

st.divider()
st.subheader("The paper's Fig. 1 (with an untrained control added), from small runs shipped with the app")
fig1, rows, changes = ui.home_fig1()  # derived once per listing of the stores, not once per visit
if not {"rbf", "linear"} <= set(fig1):
    # Missing, or unreadable by this version of the engine (a run's key includes the engine's schema version).
    st.info(
        f"The shipped example runs are missing or were made by another version of the engine. Recreate them with "
        f"`{REGENERATE}` (a few minutes on a laptop CPU), or train your own on the Train page.",
        icon=":material/info:",
    )
    st.stop()
first = next(iter(fig1.values()))[0]
vcfg = first.config.video
frame, ball, stride = default_frame(vcfg), 0, default_stride(vcfg)
reference = ui.predict_mean_l2(vcfg, first.config.train.train_frac)
c1, c2, c3 = st.container(), st.container(), st.container()  # C, D, E stacked: heatmaps legible at 1024 px too
with c1:
    bars = ui.shared_figure(
        "method_bars",
        rows=rows,
        title="C · Held-out error of a linear read-out",
        reference=reference,
        through=METHOD_LABELS["untrained"],
    )
    ui.chart(bars, "home_bars", "fig1c_l2")
    if text:
        st.caption(home.bar_caption(rows, reference, changes))
# Everything above needs no torch (issue 10 §4: the first chart at once); what follows runs the encoders, and on a
# visitor's first run waits until the first chart is drawn.
drawn = ui.painted("home")
if not drawn:
    for col in (c2, c3):
        col.caption(":material/hourglass_top: Drawing the learned priors…")
elif any(ui.stored_run(runs[0].key) is None for runs in fig1.values()):  # C needs only the listing; D, E, B more
    st.info(
        f"A shipped run could not be read by this engine; recreate them with `{REGENERATE}`.", icon=":material/info:"
    )
else:
    ui.warm_kernels(say=False)  # the first visit starts the fused kernels' build in the background
    maps = {}
    for col, m, letter in ((c2, "rbf", "D"), (c3, "linear", "E")):
        with col:
            maps[m] = ui.heatmap(fig1[m][0].key, frame, ball, stride)
            title = f"{letter} · P(z′|z) learned with the {METHOD_LABELS[m]} critic"
            fig = ui.prior_figure(fig1[m][0].key, frame, ball, stride, title, height=400, legend=False)
            ui.chart(fig, f"home_heatmap_{m}", f"fig1{letter.lower()}_{m}")
    if text:
        curves = home.linear_curves(fig1.get("linear", []), [ui.stored_run(e.key) for e in fig1.get("linear", [])])
        st.caption(
            home.prior_caption(maps["rbf"], maps.get("linear"), vcfg.step_px, charts.ball_name(vcfg, ball), curves)
        )
    lines = tuple(
        (fig1[m][0].key, METHOD_LABELS[m], charts.method_colour(m), "solid") for m in FIG1_METHODS if m in fig1
    )
    title = f"B · The {charts.ball_name(vcfg, ball)} ball's centre read out of each encoder (seed 0), against the truth"
    ui.chart(ui.centres_figure(lines, ball, height=380, title=title), "home_centres", "fig1b_centres")
# Below the fold, and its code block loads a syntax highlighter (~0.4 s of the browser's time): the second run draws it.
if drawn:
    hw.how_made(fig1, first, vcfg, REGENERATE)
