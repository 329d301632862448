"""Plotly figure builders for the explorer (no Streamlit): frames with true and decoded centres, conditional-prior
heatmaps (Fig. 1D/E), held-out L2 bars (Fig. 1C), centres over time (Fig. 1B) and learning curves.

Conventions: pixel coordinates as in data.py (x right, y down, pixel (r, c) covers [c, c+1) x [r, r+1)); every ball
keeps its video colour; every coupling keeps one colour in every figure (``method_colour``).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from rpm_engine.data import COLOUR_NAMES, DEFAULT_COLOURS, Video
from rpm_engine.evaluate import Heatmap, log_summary
from rpm_engine.figures import METHOD_COLOURS  # one table for the app's and the command line's figures

from . import paired
from .catalog import method_name  # re-exported: the charts name runs by it

_EXTRA = ("#118ab2", "#8d5524", "#ef476f", "#06a77d", "#5e548e", "#bc6c25")  # custom expressions, by hash
DASHES = ("solid", "dash", "dot", "dashdot")
# Inferno (near-black · purple · orange · yellow), spelled out; it starts at #0c0826, not pure black, because
# Streamlit's Plotly renderer recolours near-black colours.
HEAT = ["#0c0826", "#1b0c41", "#4a0c6b", "#781c6d", "#a52c60", "#cf4446", "#ed6925", "#fb9b06", "#f7d13d", "#fcffa4"]
FONT = dict(family="Inter, Helvetica, Arial, sans-serif", size=13)


class FrozenFigure(go.Figure):
    """A figure that is never modified once built (the figures a server builds once and shows to every visitor):
    the dict that ``st.plotly_chart`` serialises is made on first use and reused by every later page run, where a
    plain figure deep-copies its data and re-encodes its arrays each time (issue 20: a page run's server CPU)."""

    def to_dict(self) -> dict:
        cached = self.__dict__.get("_frozen_dict")
        if cached is None:
            cached = super().to_dict()
            object.__setattr__(self, "_frozen_dict", cached)
        return cached


def frozen(fig: go.Figure) -> FrozenFigure:
    """``fig`` itself, from now on a ``FrozenFigure`` (no copy: its JSON stays byte for byte what it was)."""
    object.__setattr__(fig, "__class__", FrozenFigure)
    return fig


def export_config(filename: str) -> dict:
    """Plotly's modebar: its camera button downloads the figure as a PNG named ``filename``.png at 2x scale."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def method_colour(name_or_config) -> str:
    name = name_or_config if isinstance(name_or_config, str) else method_name(name_or_config)
    if name in METHOD_COLOURS:
        return METHOD_COLOURS[name]
    return _EXTRA[int(hashlib.sha1(name.encode()).hexdigest(), 16) % len(_EXTRA)]


def ball_hex(video_config, k: int) -> str:
    r, g, b = video_config.ball_colours[k]
    return f"#{r:02x}{g:02x}{b:02x}"


def ball_name(video_config, k: int) -> str:
    """'coral' for the default colours, else 'ball 1', 'ball 2', ..."""
    colours = tuple(map(tuple, video_config.ball_colours))
    if k < len(DEFAULT_COLOURS) and colours[k] == DEFAULT_COLOURS[k]:
        return COLOUR_NAMES[k]
    return f"ball {k + 1}"


def _frame_axes(fig: go.Figure, size: int, row=None, col=None, title_x="x (px)", title_y="y (px)") -> None:
    kw = {} if row is None else {"row": row, "col": col}
    fig.update_xaxes(range=[0, size], title_text=title_x, constrain="domain", showgrid=False, zeroline=False, **kw)
    fig.update_yaxes(
        range=[size, 0],
        title_text=title_y,
        scaleanchor="x" if row is None else None,
        constrain="domain",
        showgrid=False,
        zeroline=False,
        **kw,
    )


def _layout(fig: go.Figure, title: str | None, height: int, legend: bool = True, below: bool = False) -> go.Figure:
    """Title at the top left; the legend in a row just above the plot, or (``below``) under the x-axis title."""
    top = (80 if legend and not below else 50) if title else (40 if legend and not below else 20)
    fig.update_layout(
        title=dict(text=title, font=dict(size=15), x=0, xanchor="left", y=0.98, yanchor="top") if title else None,
        height=height,
        margin=dict(l=60, r=20, t=top, b=110 if (legend and below) else 50),
        font=FONT,
        showlegend=legend,
        legend=dict(
            orientation="h",
            yanchor="bottom",
            # below: at the foot of the figure (in its bottom margin), never over the x axis's title
            **({"yref": "container", "y": 0.01} if below else {"y": 1.0}),
            xanchor="left",
            x=0,
            font=dict(size=12),
        ),
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    return fig


def _legend_marker(fig: go.Figure, name: str, symbol: str, colour: str = "#222", size: int = 11) -> None:
    """A legend entry only: the real markers are white (to show on the dark frame) and would vanish in the legend."""
    fig.add_scatter(
        x=[None],
        y=[None],
        mode="markers",
        name=name,
        hoverinfo="skip",
        marker=dict(symbol=symbol, size=size, color=colour, line=dict(width=2, color=colour)),
    )


def _image(frame: np.ndarray, opacity: float = 1.0) -> go.Image:
    # Pixel (r, c) is centred at (c + 0.5, r + 0.5), data.py's convention.
    return go.Image(z=frame, x0=0.5, dx=1, y0=0.5, dy=1, opacity=opacity, hoverinfo="skip", name="frame")


# -- the video -----------------------------------------------------------------------------------------------------
def frame_figure(
    video: Video, t: int, *, centres: bool = True, trail: int | None = 16, title: str | None = None, height: int = 460
) -> go.Figure:
    """Frame t with the true centres (dots) and each ball's path over the last ``trail`` frames (None: the whole
    video, 0: none)."""
    cfg = video.config
    fig = go.Figure(_image(video.frames[t]))
    for k in range(cfg.balls):
        colour, name = ball_hex(cfg, k), ball_name(cfg, k)
        if trail != 0:
            lo = 0 if trail is None else max(0, t - trail)
            hi = len(video.centres) if trail is None else t + 1
            path = video.centres[lo:hi, k]
            fig.add_scatter(
                x=path[:, 0],
                y=path[:, 1],
                mode="lines",
                line=dict(color=colour, width=1.5),
                opacity=0.85,
                name=f"{name} path",
                legendgroup=name,
                hovertemplate="x %{x:.1f} px, y %{y:.1f} px<extra>" + name + " path</extra>",
            )
        if centres:
            x, y = video.centres[t, k]
            fig.add_scatter(
                x=[x],
                y=[y],
                mode="markers",
                name=f"{name} centre",
                legendgroup=name,
                showlegend=False,
                marker=dict(symbol="circle-open", size=12, color="white", line=dict(width=2)),
                hovertemplate="true centre x %{x:.1f} px, y %{y:.1f} px<extra>" + name + "</extra>",
            )
    if centres:
        _legend_marker(fig, "true centre", "circle-open")
    _frame_axes(fig, cfg.size)
    return _layout(
        fig, title or f"Frame {t} of {len(video.frames)}", height, below=True
    )  # a wrapped legend: not over the title


# -- priors (Fig. 1D/E) --------------------------------------------------------------------------------------------
def prior_heatmap(
    video: Video, hm: Heatmap, title: str | None = None, height: int = 460, show_scale: bool = True, legend: bool = True
) -> go.Figure:
    """P(z'|z) over a grid of one ball's next position, on frame t+1, colour scale 0 · 1/N · >= 4/N as in Fig. 1D/E;
    the ball's current position (open circle) and its true next position (cross) are marked."""
    cfg = video.config
    fig = go.Figure(_image(video.frames[hm.frame + 1], opacity=0.55))
    top = 4.0 / hm.n
    fig.add_trace(
        go.Heatmap(
            x=hm.xs,
            y=hm.ys,
            z=np.minimum(hm.prob, top),
            zmin=0,
            zmax=top,
            colorscale=HEAT,
            opacity=0.9,
            customdata=hm.prob,
            hoverongaps=False,
            showscale=show_scale,
            colorbar=dict(
                title=dict(text="P(z′|z)", side="right"),
                tickvals=[0, 1.0 / hm.n, top],
                ticktext=["0", "1/N", "≥ 4/N"],
                len=0.8,
                thickness=14,
            ),
            hovertemplate="next x %{x:.0f} px, y %{y:.0f} px<br>P = %{customdata:.4f}<extra></extra>",
            name="P(z′|z)",
        )
    )
    name = ball_name(cfg, hm.ball)
    fig.add_scatter(
        x=[hm.current[0]],
        y=[hm.current[1]],
        mode="markers",
        name=f"{name} now (frame {hm.frame})",
        showlegend=False,
        hovertemplate="now: x %{x:.1f}, y %{y:.1f} px<extra></extra>",
        marker=dict(symbol="circle-open", size=14, color="white", line=dict(width=3)),
    )
    _legend_marker(fig, f"{name} now (frame {hm.frame})", "circle-open")
    fig.add_scatter(
        x=[hm.true_next[0]],
        y=[hm.true_next[1]],
        mode="markers",
        name="true next position",
        hovertemplate="true next: x %{x:.1f}, y %{y:.1f} px<extra></extra>",
        marker=dict(symbol="x-thin", size=14, color="#00e5ff", line=dict(width=3, color="#00e5ff")),
    )
    _frame_axes(fig, cfg.size)
    return _layout(
        fig,
        title or f"P(z′|z) for the {name} ball, frame {hm.frame} → {hm.frame + 1}, N = {hm.n}",
        height,
        legend=legend,
    )


# -- read-out of the latents (Fig. 1B) -----------------------------------------------------------------------------
def decoded_frame_figure(
    video: Video, decoded: np.ndarray, t: int, title: str | None = None, height: int = 420
) -> go.Figure:
    """Frame t with the true centres (open circles) and the linearly decoded centres (crosses) of every ball."""
    cfg = video.config
    fig = go.Figure(_image(video.frames[t]))
    for k in range(cfg.balls):
        colour, name = ball_hex(cfg, k), ball_name(cfg, k)
        tx, ty = video.centres[t, k]
        dx, dy = decoded[t, k]
        fig.add_scatter(
            x=[tx, dx],
            y=[ty, dy],
            mode="lines",
            line=dict(color="white", width=1, dash="dot"),
            showlegend=False,
            hoverinfo="skip",
        )
        fig.add_scatter(
            x=[tx],
            y=[ty],
            mode="markers",
            name="true centre",
            legendgroup="true",
            showlegend=False,
            marker=dict(symbol="circle-open", size=13, color="white", line=dict(width=2)),
            hovertemplate=f"{name} true: x %{{x:.1f}}, y %{{y:.1f}} px<extra></extra>",
        )
        fig.add_scatter(
            x=[dx],
            y=[dy],
            mode="markers",
            name="decoded centre",
            legendgroup="decoded",
            showlegend=k == 0,
            marker=dict(symbol="x", size=11, color=colour, line=dict(width=1.5, color="black")),
            hovertemplate=f"{name} decoded: x %{{x:.1f}}, y %{{y:.1f}} px<extra></extra>",
        )
    _legend_marker(fig, "true centre", "circle-open")
    _frame_axes(fig, cfg.size)
    return _layout(fig, title or f"Frame {t}: true (○) and decoded (×) centres", height)


def centres_over_time(
    video: Video,
    decoded: dict[str, tuple[np.ndarray, str, str]],
    ball: int,
    train_frac: float = 0.8,
    height: int = 420,
    title: str | None = None,
) -> go.Figure:
    """x(t) and y(t) of one ball: the truth (black) and each run's decoded centre (its colour); the held-out frames
    (where the decoder was not fitted) are shaded. ``decoded`` maps a label to (T, K, 2) centres, colour, dash."""
    cfg = video.config
    T = len(video.centres)
    n = int(round(train_frac * T))
    t = np.arange(T)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for row, (axis, name) in enumerate((("x", 0), ("y", 1)), start=1):
        fig.add_vrect(
            x0=n - 0.5,
            x1=T - 0.5,
            fillcolor="rgba(0,0,0,0.07)",
            line_width=0,
            layer="below",
            row=row,
            exclude_empty_subplots=False,
            col=1,
        )
        fig.add_scatter(
            x=t,
            y=video.centres[:, ball, name],
            mode="lines",
            line=dict(color="black", width=2),
            name="true",
            showlegend=row == 1,
            legendgroup="true",
            row=row,
            col=1,
            hovertemplate="frame %{x}: %{y:.1f} px<extra>true</extra>",
        )
        for raw_label, (dec, colour, dash) in decoded.items():
            label = safe(raw_label)
            fig.add_scatter(
                x=t,
                y=dec[:, ball, name],
                mode="lines",
                line=dict(color=colour, width=1.5, dash=dash),
                name=label,
                showlegend=row == 1,
                legendgroup=label,
                row=row,
                col=1,
                hovertemplate="frame %{x}: %{y:.1f} px<extra>" + label + "</extra>",
            )
        fig.update_yaxes(title_text=f"{axis} (px)", range=[0, cfg.size], row=row, col=1, gridcolor="#e5e5e5")
    fig.update_xaxes(title_text="frame", row=2, col=1, gridcolor="#e5e5e5")
    fig.update_xaxes(gridcolor="#e5e5e5", row=1, col=1)
    fig.add_annotation(
        x=(n + T) / 2,
        y=1.0,
        xref="x",
        yref="paper",
        text="held out",
        showarrow=False,
        yanchor="bottom",
        font=dict(size=11, color="#666"),
    )
    return _layout(
        fig, title or f"Centre of the {ball_name(cfg, ball)} ball over time: true vs decoded", height, below=True
    )


def l2_bars(
    groups: list[dict],
    ball_names: list[str],
    log_y: bool = False,
    height: int = 400,
    title: str | None = None,
    reference: float | None = None,
) -> go.Figure:
    """Held-out mean L2 error per ball (and over all balls), one bar per run group, 95 % intervals over seeds.

    Each group: {label, colour, per_ball: [summary...], overall: summary, per_seed: [[...per ball...], ...]} where a
    summary is ``evaluate.seeds_summary``'s dict (n, mean, lo, hi; lo/hi NaN for one seed)."""
    fig = go.Figure()
    cats = list(ball_names) + ["all balls"]
    for g in groups:
        summaries = list(g["per_ball"]) + [g["overall"]]
        if log_y:  # a positive error's interval on the log scale: both ends above 0, nothing clipped
            values = [[p[k] for p in g["per_seed"]] for k in range(len(g["per_ball"]))] + [g["overall_per_seed"]]
            summaries = [_bar_summary(s, v, log_y) for s, v in zip(summaries, values)]
        means = [s["mean"] for s in summaries]
        up = [(s["hi"] - s["mean"]) if _finite(s["hi"]) else 0 for s in summaries]
        down = [(s["mean"] - s["lo"]) if _finite(s["lo"]) else 0 for s in summaries]
        n = summaries[0]["n"]
        fig.add_bar(
            x=cats,
            y=means,
            name=f"{safe(g['label'])} ({n} seed{'s' if n != 1 else ''})",
            marker_color=g["colour"],
            marker_line=dict(color="black", width=0.5),
            error_y=dict(type="data", array=up, arrayminus=down, visible=n > 1, thickness=1.5, width=5),
            hovertemplate="%{x}: " + _MEAN[log_y] + " %{y:.2f} px<extra>" + safe(g["label"]) + "</extra>",
        )
    _reference_line(fig, reference, log_y)
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(
        title_text="held-out mean L2 error (px)",
        gridcolor="#e5e5e5",
        **({"type": "log", "dtick": 1} if log_y else {"type": "linear", "rangemode": "tozero"}),
    )
    fig.update_xaxes(title_text="ball")
    # the legend under the plot, one configuration a line: above it, a wrapped legend ran into the title at 1024 px
    fig = _layout(fig, title or "Linear read-out error on held-out frames (95 % interval over seeds)",
                  height + 22 * len(groups), below=True)  # fmt: skip
    fig.update_layout(legend=dict(orientation="v"), margin=dict(b=70 + 22 * len(groups)))
    return fig


def safe(text: str) -> str:
    """User text (a run's label) for Plotly, whose titles, names and hover texts read a subset of HTML: escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _reference_line(fig: go.Figure, reference: float | None, log_y: bool) -> None:
    """The predict-the-mean error (``evaluate.mean_predictor_l2``): what no information at all gives. (On a log axis
    a shape takes the value itself but an annotation its log10.)"""
    if reference is None or not _finite(reference) or reference <= 0:
        return
    fig.add_hline(y=reference, line=dict(color="#555", dash="dot"))
    fig.add_annotation(
        x=0,
        xref="paper",
        xanchor="left",
        y=math.log10(reference) if log_y else reference,
        yref="y",
        yanchor="bottom",
        text=f"predict the mean: {reference:.1f} px",
        showarrow=False,
        font=dict(size=11, color="#555"),
    )


def method_bars(
    rows: list[dict],
    log_y: bool = True,
    height: int = 380,
    title: str | None = None,
    reference: float | None = None,
    through: str | None = None,
) -> go.Figure:
    """Fig. 1C: one bar per method (mean over seeds, 95 % interval; on a log axis the geometric mean and the interval
    of log L2) with every seed as a dot; ``reference``: the predict-the-mean error as a dotted line; ``through``: the
    label of a row (the untrained start) through which each seed's dots are joined (``paired.seed_lines``).

    Each row: {label, colour, summary (seeds_summary dict), per_seed: [values], seeds: [seed of each value]}."""
    fig = go.Figure()
    _reference_line(fig, reference, log_y)
    for r in rows:
        s = _bar_summary(r["summary"], r["per_seed"], log_y)
        up = [(s["hi"] - s["mean"]) if _finite(s["hi"]) else 0]
        down = [(s["mean"] - s["lo"]) if _finite(s["lo"]) else 0]
        fig.add_bar(
            x=[r["label"]],
            y=[s["mean"]],
            marker_color=r["colour"],
            showlegend=False,
            name=r["label"],
            error_y=dict(type="data", array=up, arrayminus=down, visible=s["n"] > 1, width=6),
            hovertemplate="%{x}: " + _MEAN[log_y] + " %{y:.2f} px<extra></extra>",
        )
        fig.add_scatter(
            x=[r["label"]] * len(r["per_seed"]),
            y=r["per_seed"],
            mode="markers",
            showlegend=False,
            marker=dict(color="black", size=6),
            name="seeds",
            hovertemplate="one seed: %{y:.2f} px<extra></extra>",
        )
    if through:  # after the bars, which fix the categories' order
        paired.seed_lines(fig, rows, through)
    fig.update_xaxes(automargin=True)  # a narrow column tilts the method names: make room rather than cut them
    fig.update_yaxes(
        title_text="held-out mean L2 error (px)",
        gridcolor="#e5e5e5",
        **({"type": "log", "dtick": 1} if log_y else {"type": "linear", "rangemode": "tozero"}),
    )
    return _layout(fig, title or "Held-out error of a linear read-out (Fig. 1C)", height, legend=False)


def curves(runs: list[dict], batch_size: int = 30, height: int = 380, title: str | None = None) -> go.Figure:
    """Training loss and I_N = log N − loss per epoch; each run: {label, colour, dash, history, method}.

    Contrastive runs share one loss scale (nats); supervised runs' loss is a squared error in px² and is drawn on
    the left only if it is the only kind shown."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12)
    contrastive = [r for r in runs if r.get("method") == "infonce" and r["history"]]
    for r in contrastive:
        ep = [h["epoch"] for h in r["history"]]
        for col, field in ((1, "loss"), (2, "mi")):  # loss on the left, I_N on the right; one legend entry
            fig.add_scatter(
                x=ep,
                y=[h[field] for h in r["history"]],
                mode="lines+markers",
                name=safe(r["label"]),
                line=dict(color=r["colour"], dash=r.get("dash", "solid")),
                marker=dict(size=4),
                legendgroup=safe(r["label"]),
                showlegend=col == 1,
                row=1,
                col=col,
                hovertemplate="epoch %{x}: %{y:.3f} nats<extra></extra>",
            )
    if contrastive:
        fig.add_hline(
            y=math.log(batch_size),
            line=dict(color="#888", dash="dot"),
            row=1,
            col=2,
            annotation_text=f"log N = {math.log(batch_size):.2f}",
            annotation_position="bottom left",
            annotation_font=dict(size=11, color="#666"),
        )
    fig.update_xaxes(title_text="epoch", gridcolor="#e5e5e5")
    fig.update_yaxes(title_text="InfoNCE loss (nats)", row=1, col=1, gridcolor="#e5e5e5")
    fig.update_yaxes(title_text="I_N = log N − loss (nats)", row=1, col=2, gridcolor="#e5e5e5")
    return _layout(fig, title, height, below=True)


_MEAN = {True: "geometric mean", False: "mean"}


def _bar_summary(summary: dict, per_seed, log_y: bool) -> dict:
    """A bar's centre and interval: on a log axis the geometric mean and the 95 % interval of log L2
    (``evaluate.log_summary``: an error is positive, so its interval is too), else the mean and its t-interval."""
    values = list(per_seed or [])
    if log_y and values and all(_finite(v) and v > 0 for v in values):
        return log_summary(values)
    return summary


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)
