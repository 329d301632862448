"""The Compare page's Streamlit rows: the run cards, decoded frames, learned priors (Fig. 1D/E), centres over time,
errors over seeds beside the learning curves, and the exports. The numbers come from ``explorer.views``,
``explorer.catalog`` and ``explorer.paired``; this module only draws them."""

from __future__ import annotations

import streamlit as st

from . import charts, paired, ui, views
from .catalog import l2_summary, metrics_table


def views_grid(n: int) -> list:
    """One column per run, at most two to a row (3-4 runs: two rows), so cards and figures read at 1024 px."""
    per_row = min(n, 2)
    return [c for _ in range(0, n, per_row) for c in st.columns(per_row, gap="small")][:n]


def cards_row(sel: list, runs: dict, labels: dict, pooled: dict) -> None:
    """Row 1: who is who, and the numbers that matter."""
    for col, e in zip(views_grid(len(sel)), sel):
        with col.container(border=True, key=f"cmp_card_{e.key}"):
            st.markdown(f"**{views.md_escape(labels[e.key])}**")
            st.markdown(
                "  \n".join(
                    f"{name}: **{value}**" for name, value in views.run_summary(e, runs[e.key].metrics, pooled[e.key])
                )
            )
            st.caption(views.numerics_caption(runs[e.key]))


def decoded_row(sel: list, videos: dict, frame: int) -> None:
    """Row 2: decoded against true centres."""
    for col, e in zip(views_grid(len(sel)), sel):
        with col:
            fig = charts.decoded_frame_figure(
                videos[e.key], ui.decoded(e.key), int(frame), height=340, title=f"Frame {frame}"
            )
            ui.chart(fig, f"cmp_frame_{e.key}", f"decoded_{e.key[:6]}_f{frame}")


def priors_row(sel: list, videos: dict, frame: int, ball: int, stride: int) -> None:
    """Row 3: the learned priors P(z′|z) (Fig. 1D/E), one colour bar and one legend for the row."""
    with_prior = [e.key for e in sel if e.config.coupling is not None]
    for col, e in zip(views_grid(len(sel)), sel):
        with col:
            if e.config.coupling is None:
                st.info(
                    f"The {e.method} baseline has no coupling, so it implies no prior P(z′|z).", icon=":material/info:"
                )
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


def centres_rows(sel: list, videos: dict, labels: dict, style: dict, ball: int) -> None:
    """Row 4: centres over time, one chart per video."""
    by_video = {}
    for e in sel:
        by_video.setdefault(e.config.video, []).append(e)
    for i, (vcfg, group) in enumerate(by_video.items()):
        decoded = {labels[e.key]: (ui.decoded(e.key), *style[e.key]) for e in group}
        title = f"{charts.ball_name(vcfg, int(ball))} ball: true vs decoded" + (
            f" ({vcfg.frames} frames × {vcfg.size} px)" if len(by_video) > 1 else ""
        )
        ui.chart(
            charts.centres_over_time(videos[group[0].key], decoded, int(ball), height=400, title=title),
            f"cmp_time_{i}",
            f"centres_over_time_{i}",
        )


def errors_and_curves(
    sel: list,
    entries: list,
    runs: dict,
    labels: dict,
    style: dict,
    pooled: dict,
    min_balls: int,
    log_y: bool,
    text: bool,
) -> None:
    """Row 5, stacked: held-out errors over seeds (with the paired change against the untrained start), then the
    learning curves."""
    first_cfg = sel[0].config.video
    left, right = st.container(), st.container()
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
                groups,
                names,
                log_y=log_y,
                title="Held-out L2 error per ball (95 % interval over seeds)",
                reference=mean_px,
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


def downloads(sel: list, frame: int, ball: int) -> None:
    """The metrics of the compared runs as CSV and JSON."""
    rows = metrics_table(sel, ui.catalog())
    d1, d2, _ = st.columns([1, 1, 2])
    d1.download_button(
        "Metrics as CSV", views.metrics_csv(rows), "rpm_compare.csv", "text/csv", key="cmp_dl_csv", width="stretch"
    )
    d2.download_button(
        "Metrics as JSON", views.metrics_json(rows, int(frame), int(ball)), "rpm_compare.json", "application/json", key="cmp_dl_json", width="stretch"
    )  # fmt: skip
