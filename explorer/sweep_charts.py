"""The Explore page's figures (Plotly): held-out L2 against each family's parameter, and the configurations in
parallel coordinates. The numbers come from the view model (``explorer.sweep_view``) and the one ranking."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from rpm_engine.ranking import log_t_interval

from .sweep_view import REFERENCE_STYLE, Curve, Group, colours

FIXED = "one configuration"  # the panel of families that vary nothing: one point each, by name
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
REFERENCE_NAMES = {"supervised": "supervised", "untrained": "untrained encoder", "mean": "predict the mean"}


def axis_range(values: Sequence[float], log: bool, pad: float = 0.08) -> list[float]:
    """A Plotly axis range around ``values`` in the axis's own units: log10 of the values on a log axis (Plotly's
    convention), the values themselves on a linear one; a linear axis of positive values starts at 0."""
    lo, hi = min(values), max(values)
    if log:
        a, b = math.log10(lo), math.log10(hi)
        span = max(b - a, 0.3)
        return [a - pad * span, b + pad * span]
    lo = 0.0 if lo >= 0 else lo
    span = (hi - lo) or abs(hi) or 1.0
    return [lo - (pad * span if lo < 0 else 0.0), hi + pad * span]


def _log_axis(values: Sequence[float], ratio: float) -> bool:
    return bool(values) and min(values) > 0 and max(values) / min(values) >= ratio


def l2_figure(cs: Sequence[Curve], refs: Mapping[str, float], height: int | None = None) -> go.Figure:
    """Held-out L2 against each family's parameter, one panel per parameter (families varying the same parameter
    share its panel; families varying nothing share a panel by name): the geometric mean over seeds and its 95 %
    t interval on the log scale (``rpm_engine.ranking``'s numbers; a band is never below 0; a line per family, dashed
    differently), and every seed as a dot; each configuration has one colour for its
    mean marker and its seeds' dots. Reference levels (supervised, untrained, predict the mean) cross every panel.
    The x axis is logarithmic where a parameter spans a decade or more; L2 shares one axis across panels, linear from
    0 unless the values span 20x or more. Ranges are set in each axis's own units (log10 on a log axis)."""
    from plotly.subplots import make_subplots

    panels = list(dict.fromkeys(c.param or FIXED for c in cs)) or [FIXED]
    titles = {c.param or FIXED: c.axis or c.param or FIXED for c in cs}
    ncols = 1 if len(panels) == 1 else 2
    nrows = math.ceil(len(panels) / ncols)
    fig = make_subplots(rows=nrows, cols=ncols, shared_yaxes=False, horizontal_spacing=0.08,
                        vertical_spacing=0.18 if nrows > 1 else 0.1)  # fmt: skip
    cols = colours(label for c in cs for label in c.labels)
    ys = [v for c in cs for vs in c.l2 for v in vs] + [v for v in refs.values() if math.isfinite(v)]
    ylog = _log_axis(ys, 20.0)
    for n, panel in enumerate(panels):
        row, col = n // ncols + 1, n % ncols + 1
        members = [c for c in cs if (c.param or FIXED) == panel]
        for i, c in enumerate(members):
            _add_curve(fig, c, cols, i, row, col, fixed=panel == FIXED, ylog=ylog, ys=ys)
        xs = [x for c in members for x, v in zip(c.x, c.l2) if v] or [x for c in members for x in c.x]
        xlog = panel != FIXED and _log_axis(xs, 10.0)
        fig.update_xaxes(row=row, col=col, title_text=titles.get(panel, panel), automargin=True)
        if panel != FIXED and xs:
            ticks = sorted(set(xs))
            fig.update_xaxes(row=row, col=col, type="log" if xlog else "linear", range=axis_range(xs, xlog),
                             tickvals=ticks if len(ticks) <= 8 else None, ticktext=[f"{t:g}" for t in ticks][:8])  # fmt: skip
        fig.update_yaxes(row=row, col=col, title_text="held-out L2 (px)" if col == 1 else None, automargin=True,
                         type="log" if ylog else "linear", range=axis_range(ys, ylog) if ys else None)  # fmt: skip
    for ref, y in refs.items():
        colour, dash = REFERENCE_STYLE[ref]
        fig.add_hline(y=y, row="all", col="all", line=dict(color=colour, dash=dash, width=1.5))
        fig.add_scatter(x=[None], y=[None], mode="lines", name=f"{REFERENCE_NAMES[ref]}: {y:.3g} px",
                        line=dict(color=colour, dash=dash, width=1.5), row=1, col=1)  # fmt: skip
    fig.update_layout(height=height or 140 + 340 * nrows, margin=dict(l=10, r=10, t=60, b=10), template="plotly_white",
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),  # above: never over an axis title
                      font=dict(size=13))  # fmt: skip
    return fig


def _add_curve(fig: go.Figure, c: Curve, cols: Mapping[str, str], i: int, row: int, col: int, *, fixed: bool,
               ylog: bool, ys: Sequence[float]) -> None:  # fmt: skip
    done = [(x if not fixed else c.name, v, label) for x, v, label in zip(c.x, c.l2, c.labels) if v]
    if not done:
        return
    stats = [log_t_interval(v) for _, v, _ in done]  # the ranking's centre and interval: the leaderboard's numbers
    xs = [x for x, _, _ in done]
    means = [centre for centre, _ in stats]
    floor = 10 ** axis_range(ys, True)[0] if ylog else 0.0  # a band never reaches below the axis (or 0)
    lo = [max(floor, iv[0]) if iv else centre for centre, iv in stats]
    hi = [iv[1] if iv else centre for centre, iv in stats]
    kw = dict(row=row, col=col)
    if not fixed and len(done) > 1:
        fig.add_scatter(x=xs + xs[::-1], y=hi + lo[::-1], mode="lines", fill="toself", fillcolor="rgba(90,90,90,0.13)",
                        line=dict(width=0), hoverinfo="skip", showlegend=False, name=f"{c.name} 95 %", **kw)  # fmt: skip
    marker_colours = [cols[label] for _, _, label in done]
    fig.add_scatter(x=xs, y=means, mode="markers" if fixed or len(done) == 1 else "lines+markers",
                    name=f"{c.name}: geometric mean over seeds, 95 %", line=dict(color="#333333", width=1.5, dash=DASHES[i % 6]),
                    marker=dict(size=11, color=marker_colours, symbol="diamond", line=dict(width=1, color="#333")),
                    error_y=dict(type="data", symmetric=False, array=[h - m for h, m in zip(hi, means)],
                                 arrayminus=[m - lo_ for m, lo_ in zip(means, lo)], color="#555", thickness=1, width=4,
                                 visible=fixed or len(done) == 1),
                    customdata=[label for _, _, label in done],
                    hovertemplate="%{customdata}<br>L2 %{y:.3g} px (geometric mean over seeds)<extra></extra>", **kw)  # fmt: skip
    for (x, v, label), colour in zip(done, marker_colours):
        fig.add_scatter(x=[x] * len(v), y=list(v), mode="markers", name=label, showlegend=False,
                        marker=dict(size=6, color=colour, opacity=0.75, line=dict(width=0)),
                        hovertemplate=f"{label}<br>one seed: %{{y:.3g}} px<extra></extra>", **kw)  # fmt: skip


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def parallel_figure(gs: Sequence[Group], height: int = 380) -> go.Figure | None:
    """Parallel coordinates over the configurations of ``gs`` (the trained ones): one axis per parameter that varies
    among them (log10 where it spans a decade; a configuration without that parameter sits at the axis's foot,
    marked "—"), then epochs where they vary, then L2; each line coloured by its L2 (geometric mean over seeds).
    None when fewer than 2 configurations or nothing varies."""
    trained = [g for g in gs if not g.reference]
    if len(trained) < 2:
        return None
    values = [dict(g.config.coupling.init) if g.config.coupling else {} for g in trained]
    for v, g in zip(values, trained):
        t = g.config.train
        v.update(lr=t.lr, batch_size=float(t.batch_size), epochs=float(t.epochs))
        if t.coupling_lr is not None:
            v["coupling_lr"] = t.coupling_lr
    names = [n for n in dict.fromkeys(k for v in values for k in v) if len({v.get(n) for v in values}) > 1]
    centres = [log_t_interval(g.l2)[0] for g in trained]
    dims = []
    families = list(dict.fromkeys(g.family for g in trained))
    if len(families) > 1:
        dims.append(dict(label="family", values=[families.index(g.family) for g in trained],
                         tickvals=list(range(len(families))), ticktext=[f[:18] for f in families]))  # fmt: skip
    for n in names:
        present = [v[n] for v in values if n in v]
        log = _log_axis(present, 10.0)
        tr = (lambda x: math.log10(x)) if log else (lambda x: x)  # noqa: E731
        lo = min(tr(x) for x in present)
        foot = lo - 0.15 * ((max(tr(x) for x in present) - lo) or 1.0)
        ticks = sorted(set(present))[:8]
        dims.append(dict(label=n + (" (log)" if log else ""), values=[tr(v[n]) if n in v else foot for v in values],
                         tickvals=[tr(x) for x in ticks] + ([foot] if len(present) < len(values) else []),
                         ticktext=[f"{x:g}" for x in ticks] + (["—"] if len(present) < len(values) else [])))  # fmt: skip
    if not dims:
        return None
    dims.append(dict(label="L2 (px)", values=centres))
    fig = go.Figure(go.Parcoords(line=dict(color=centres, colorscale="Viridis", showscale=True,
                                           colorbar=dict(title="L2 px")), dimensions=dims))  # fmt: skip
    fig.update_layout(height=height, margin=dict(l=60, r=40, t=50, b=20), font=dict(size=13))
    return fig


__all__ = ["axis_range", "l2_figure", "parallel_figure"]
