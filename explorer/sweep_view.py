"""The Explore page's results: stored runs grouped by configuration, the leaderboard and its exports, the curves of
L2 against each family's parameter and their figure. No Streamlit here. (The sweep as the page defines it, its URL
and its waves live in ``explorer.explore``.)"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from rpm_engine import exports
from rpm_engine.config import RunConfig, VideoConfig, recipe_of
from rpm_engine.evaluate import seeds_summary
from rpm_engine.ranking import Ranking, Trial, log_t_interval, rank
from rpm_engine.sweep import Sweep

from .catalog import Entry, group_key, method_name
from .state import FamilyRow, param_label

# Distinct colours for configurations (Plotly's qualitative "Dark24" and "Light24", which read on white):
# two configurations of one family (two θ values) never share a colour.
PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B", "#511CFB",
    "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1", "#620042", "#1616A7",
    "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)  # fmt: skip
REFERENCE_STYLE = {"supervised": ("#4c4c4c", "dash"), "untrained": ("#9c9c9c", "dot"), "mean": ("#b5651d", "dashdot")}


# -- results ----------------------------------------------------------------------------------------------------------
REFERENCES = ("supervised", "untrained")


@dataclass(frozen=True)
class Group:
    """Stored runs that differ only by seed: one configuration, its seeds and their held-out L2."""

    key: str  # group_key: the run key with seed 0
    label: str
    family: str  # 'rbf', 'linear', a preset, an expression, 'supervised', 'untrained'
    config: RunConfig  # the lowest seed's
    seeds: tuple[int, ...]
    keys: tuple[str, ...]
    l2: tuple[float, ...]
    recipe: str = "custom"  # recipe_of(config): "quick", "paper" or "custom"
    shipped: bool = False  # every seed is a shipped example (assets/store)
    entries: tuple[Entry, ...] = ()

    @property
    def summary(self) -> dict:
        return seeds_summary(self.l2)

    @property
    def epochs(self) -> int:
        return self.config.train.epochs

    @property
    def reference(self) -> bool:
        return self.family in REFERENCES


def _train_label(config: RunConfig) -> str:
    t = config.train
    return f"{t.epochs} ep" + ("" if (t.lr, t.batch_size) == (0.005, 30) else f", lr {t.lr:g}, batch {t.batch_size}")


def groups(entries: Iterable[Entry], video: VideoConfig) -> list[Group]:
    """Every stored run of ``video`` grouped by configuration (seeds pooled; one run per seed), lowest geometric mean
    L2 first (the order of ``rpm_engine.ranking``'s centre; the leaderboard ranks them properly)."""
    by: dict[str, dict[int, Entry]] = {}
    for e in entries:
        l2 = e.metrics.get("l2_mean")
        if e.config.video != video or not isinstance(l2, (int, float)) or not math.isfinite(l2) or l2 <= 0:
            continue
        by.setdefault(group_key(e.config), {}).setdefault(e.seed, e)
    out = []
    for g, seeds in by.items():
        es = tuple(seeds[s] for s in sorted(seeds))
        cfg = es[0].config
        label = f"{cfg.label} · {_train_label(cfg)}"
        out.append(Group(g, label, method_name(cfg), cfg, tuple(sorted(seeds)), tuple(e.key for e in es),
                         tuple(float(e.metrics["l2_mean"]) for e in es), recipe_of(cfg),
                         all(e.source == "shipped" for e in es), es))  # fmt: skip
    return sorted(out, key=lambda g: (log_t_interval(g.l2)[0], g.label))


def colours(labels: Iterable[str]) -> dict[str, str]:
    """One distinct colour per configuration label, in order (cycling only beyond the palette's 24)."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(dict.fromkeys(labels))}


def sig3(v: float | None) -> float | None:
    """``v`` to 3 significant digits (None stays None)."""
    return None if v is None or not math.isfinite(v) else float(f"{v:.3g}")


@dataclass(frozen=True)
class Filters:
    """What the leaderboard ranks: families, recipes and epochs (empty: all), and whether shipped examples and the
    reference runs (supervised, untrained) are listed."""

    families: tuple[str, ...] = ()
    recipes: tuple[str, ...] = ()
    epochs: tuple[int, ...] = ()
    shipped: bool = True
    references: bool = True

    def keep(self, g: Group) -> bool:
        return (
            (not self.families or g.family in self.families or g.reference)
            and (not self.recipes or g.recipe in self.recipes)
            and (not self.epochs or g.epochs in self.epochs)
            and (self.shipped or not g.shipped)
            and (self.references or not g.reference)
        )


def default_epochs(gs: Sequence[Group], wanted: int) -> tuple[int, ...]:
    """The epochs the leaderboard ranks unless asked otherwise: the sweep's (``wanted``) where some stored run has
    them, else the most common; runs of 3 epochs are never ranked against 30-epoch runs by default."""
    have = [g.epochs for g in gs if not g.reference]
    if not have:
        return ()
    return (wanted,) if wanted in have else (max(set(have), key=have.count),)


@dataclass(frozen=True)
class Board:
    """The leaderboard: rows for the table, the ranking they follow (``rpm_engine.ranking``) and its verdict."""

    rows: tuple[dict, ...]
    ranking: Ranking
    groups: tuple[Group, ...]  # the ranked configurations, best first (references not among them)
    references: tuple[Group, ...]

    @property
    def verdict(self) -> str:
        return self.ranking.verdict

    @property
    def best(self) -> Group | None:
        """The best configuration, only when the ranking separates it from every other (Holm)."""
        return next((g for g in self.groups if g.key == self.ranking.best), None)

    def compare_keys(self, n: int = 4) -> tuple[str, ...]:
        """What "open in Compare" opens, as the verdict has it: the separated best and the runner-up, or the
        configurations not separated from the top (at most ``n``); one key per configuration (Compare pools seeds)."""
        if len(self.groups) < 2:
            return ()
        if self.best is not None:
            return (self.groups[0].keys[0], self.groups[1].keys[0])
        loose = {r.config for r in self.ranking.rows[1:] if r.comparison is not None and not r.comparison.separated}
        top = [self.groups[0]] + [g for g in self.groups[1:] if g.key in loose]
        return tuple(g.keys[0] for g in top[: max(2, n)])


COLUMNS = {
    "rank": "rank",
    "configuration": "configuration",
    "family": "family",
    "recipe": "recipe",
    "epochs": "epochs",
    "seeds": "seeds",
    "l2": "L2 (px)",
    "interval": "95 % interval (px)",
    "vs_best": "against the best",
    "per_seed": "per seed (px)",
    "source": "source",
    "key": "key",
}


def leaderboard(gs: Sequence[Group], filters: Filters = Filters()) -> Board:
    """The leaderboard of the groups ``filters`` keeps: the trained configurations ranked by ``rpm_engine.ranking``
    (geometric mean over seeds, t interval on the log scale, paired comparison with the top, Holm), then the
    reference runs unranked. Numbers to 3 significant digits; headers as ``COLUMNS`` names them."""
    kept = [g for g in gs if filters.keep(g)]
    trained = {g.key: g for g in kept if not g.reference}
    trials = [Trial(g.key, s, v, g.label) for g in trained.values() for s, v in zip(g.seeds, g.l2)]
    ranking = rank(trials)
    ordered = tuple(trained[r.config] for r in ranking.rows)
    refs = tuple(g for g in kept if g.reference)
    rows = []
    for r, g in zip(ranking.rows, ordered):
        c = r.comparison
        vs = "top" if c is None else (f"{'separated' if c.separated else 'not separated'}"
                                      + (f" (×{c.ratio:.3g})" if c.ratio is not None else ""))  # fmt: skip
        rows.append(_row(g, r.rank, r.centre, r.interval, vs))
    for g in refs:
        centre, interval = log_t_interval(g.l2)
        rows.append(_row(g, None, centre, interval, "reference"))
    return Board(tuple(rows), ranking, ordered, refs)


def _row(g: Group, rank_: int | None, centre: float, interval, vs: str) -> dict:
    source = "shipped" if g.shipped else ("yours" if not any(e.source == "shipped" for e in g.entries) else "both")
    c = COLUMNS
    return {
        c["rank"]: rank_, c["configuration"]: g.label, c["family"]: g.family, c["recipe"]: g.recipe,
        c["epochs"]: g.epochs, c["seeds"]: len(g.seeds), c["l2"]: sig3(centre),
        c["interval"]: f"{interval[0]:.3g} – {interval[1]:.3g}" if interval else "one seed",
        c["vs_best"]: vs, c["per_seed"]: ", ".join(f"{seed}: {v:.3g}" for seed, v in zip(g.seeds, g.l2)),
        c["source"]: source, c["key"]: g.keys[0],
    }  # fmt: skip


def export_rows(groups_: Sequence[Group]) -> list[dict]:
    """One row per run of ``groups_`` (``rpm_engine.exports``: the CLI's ``sweep --csv/--json`` rows)."""
    return exports.run_rows((e.key, e.config, e.metrics) for g in groups_ for e in g.entries)


def to_csv(rows: Sequence[dict]) -> str:
    return exports.to_csv(rows)


def to_json(rows: Sequence[dict], video: VideoConfig) -> str:
    return exports.to_json(rows, video=video.to_dict())


def best_keys(gs: Sequence[Group], n: int = 4, filters: Filters = Filters()) -> tuple[str, ...]:
    """What "open in Compare" opens for these groups, as the ranking's verdict has it (``Board.compare_keys``)."""
    return leaderboard(gs, filters).compare_keys(n)


@dataclass(frozen=True)
class Curve:
    """One family's L2 against its parameter: x values, and for each the seeds' L2 (empty where none is stored).
    ``labels`` name each x's configuration (its colour everywhere); ``axis`` titles the parameter's axis."""

    name: str
    param: str
    x: tuple[float, ...]
    l2: tuple[tuple[float, ...], ...]
    labels: tuple[str, ...]
    axis: str = ""


def curves(sweep: Sweep, rows: Sequence[FamilyRow], gs: Sequence[Group]) -> list[Curve]:
    """The sweep's families as curves over their varied parameter, from whatever is stored (so far)."""
    by_key = {g.key: g for g in gs}
    seeds = set(sweep.seeds)
    out = []
    settings = sweep.settings()
    for fam, row in zip(sweep.families, rows):
        xs, ls, labels = [], [], []
        for s in settings:
            if s.coupling != fam.coupling or dict(s.params).keys() != dict(fam.params).keys():
                continue
            if any(v not in dict(fam.params)[k] for k, v in s.params.items()):
                continue
            g = by_key.get(group_key(sweep.config(s, sweep.seeds[0])))
            x = s.params.get(row.param, float("nan")) if row.param else 0.0
            xs.append(float(x))
            ls.append(tuple(v for seed, v in zip(g.seeds, g.l2) if seed in seeds) if g else ())
            labels.append(s.label)
        name = fam.coupling if len(fam.coupling) <= 40 else fam.coupling[:39] + "…"
        try:
            axis = f"{param_label(fam.coupling, row.param)} ({row.param})" if row.param else ""
        except ValueError:
            axis = row.param
        out.append(Curve(name, row.param, tuple(xs), tuple(ls), tuple(labels), axis))
    return out


def references(sweep: Sweep, gs: Sequence[Group], mean_l2: float | None) -> dict[str, float]:
    """Reference levels (mean over the sweep's seeds that are stored): supervised, untrained, predict-the-mean."""
    by_key = {g.key: g for g in gs}
    out = {}
    for method, cfgs in sweep.reference_points().items():
        g = by_key.get(group_key(cfgs[0]))
        vals = [v for seed, v in zip(g.seeds, g.l2) if seed in sweep.seeds] if g else []
        if vals:
            out[method] = float(np.mean(vals))
    if mean_l2 is not None and math.isfinite(mean_l2):
        out["mean"] = float(mean_l2)
    return out


def progress(cs: Sequence[Curve], n_seeds: int) -> tuple[int, int]:
    """(stored, total) points of the curves."""
    total = sum(len(c.x) for c in cs) * n_seeds
    return sum(len(v) for c in cs for v in c.l2), total


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
