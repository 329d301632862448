"""The Explore page's results: stored runs grouped by configuration, the leaderboard and its exports, the curves of
L2 against each family's parameter and their figure. No Streamlit here. (The sweep as the page defines it, its URL
and its waves live in ``explorer.explore``.)"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from rpm_engine.config import RunConfig, VideoConfig
from rpm_engine.evaluate import seeds_summary
from rpm_engine.sweep import Sweep

from .catalog import Entry, group_key
from .charts import method_name

if TYPE_CHECKING:
    from .explore import FamilyRow

# Distinct colours for configurations (Plotly's qualitative "Dark24" and "Light24", which read on white):
# two configurations of one family (two θ values) never share a colour.
PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B", "#511CFB",
    "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1", "#620042", "#1616A7",
    "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)  # fmt: skip
REFERENCE_STYLE = {"supervised": ("#4c4c4c", "dash"), "untrained": ("#9c9c9c", "dot"), "mean": ("#b5651d", "dashdot")}


# -- results ----------------------------------------------------------------------------------------------------------
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

    @property
    def summary(self) -> dict:
        return seeds_summary(self.l2)


def _train_label(config: RunConfig) -> str:
    t = config.train
    return f"{t.epochs} ep" + ("" if (t.lr, t.batch_size) == (0.005, 30) else f", lr {t.lr:g}, batch {t.batch_size}")


def groups(entries: Iterable[Entry], video: VideoConfig) -> list[Group]:
    """Every stored run of ``video`` grouped by configuration (seeds pooled; one run per seed), best mean L2 first."""
    by: dict[str, dict[int, Entry]] = {}
    for e in entries:
        l2 = e.metrics.get("l2_mean")
        if e.config.video != video or not isinstance(l2, (int, float)) or not math.isfinite(l2):
            continue
        by.setdefault(group_key(e.config), {}).setdefault(e.seed, e)
    out = []
    for g, seeds in by.items():
        es = [seeds[s] for s in sorted(seeds)]
        cfg = es[0].config
        label = f"{cfg.label} · {_train_label(cfg)}"
        out.append(Group(g, label, method_name(cfg), cfg, tuple(sorted(seeds)), tuple(e.key for e in es),
                         tuple(float(e.metrics["l2_mean"]) for e in es)))  # fmt: skip
    return sorted(out, key=lambda g: (g.summary["mean"], g.label))


def colours(labels: Iterable[str]) -> dict[str, str]:
    """One distinct colour per configuration label, in order (cycling only beyond the palette's 24)."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(dict.fromkeys(labels))}


def leaderboard(gs: Sequence[Group], show: Sequence[str] = ()) -> list[dict]:
    """Rows for the table (and the CSV/JSON exports): rank, configuration, family, mean, 95 % interval, per-seed."""
    rows = []
    for rank, g in enumerate(gs, 1):
        if show and g.family not in show:
            continue
        s = g.summary
        finite = math.isfinite(s["ci95"])
        rows.append({
            "rank": rank, "configuration": g.label, "family": g.family, "seeds": len(g.seeds),
            "l2_mean_px": round(s["mean"], 4),
            "ci95_lo_px": round(s["lo"], 4) if finite else None, "ci95_hi_px": round(s["hi"], 4) if finite else None,
            "l2_per_seed_px": ", ".join(f"{seed}: {v:.3g}" for seed, v in zip(g.seeds, g.l2)),
            "epochs": g.config.train.epochs, "key": g.keys[0],
        })  # fmt: skip
    return rows


def to_csv(rows: Sequence[dict]) -> str:
    import csv
    import io

    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def to_json(rows: Sequence[dict], video: VideoConfig) -> str:
    return json.dumps({"video": video.to_dict(), "leaderboard": list(rows)}, indent=1)


def best_keys(gs: Sequence[Group], n: int = 4, show: Sequence[str] = ()) -> tuple[str, ...]:
    """One run key per configuration (its lowest seed; Compare pools the seeds), the best ``n`` trained ones."""
    pick = [g for g in gs if g.family not in ("supervised", "untrained") and (not show or g.family in show)]
    return tuple(g.keys[0] for g in pick[: max(2, min(n, 4))])


@dataclass(frozen=True)
class Curve:
    """One family's L2 against its parameter: x values, and for each the seeds' L2 (empty where none is stored)."""

    name: str
    param: str
    x: tuple[float, ...]
    l2: tuple[tuple[float, ...], ...]
    labels: tuple[str, ...]


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
        out.append(Curve(name, row.param, tuple(xs), tuple(ls), tuple(labels)))
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


def l2_figure(cs: Sequence[Curve], refs: Mapping[str, float], height: int = 420) -> go.Figure:
    """Held-out L2 against each family's parameter: mean over seeds with a 95 % band, every seed as a dot coloured by
    configuration, reference lines (supervised, untrained, predict the mean); log axes where the values allow."""
    fig = go.Figure()
    cols = colours(label for c in cs for label in c.labels)
    all_x = [x for c in cs for x in c.x if c.param]
    for i, c in enumerate(cs):
        line_colour = PALETTE[i % len(PALETTE)] if len(cs) > 1 else "#444444"
        done = [(x, v) for x, v in zip(c.x, c.l2) if v]
        if len(done) > 0:
            stats = [seeds_summary(v) for _, v in done]
            xs = [x for x, _ in done]
            lo = [s["lo"] if math.isfinite(s["ci95"]) else s["mean"] for s in stats]
            hi = [s["hi"] if math.isfinite(s["ci95"]) else s["mean"] for s in stats]
            fig.add_scatter(x=xs + xs[::-1], y=hi + lo[::-1], fill="toself", fillcolor=_rgba(line_colour, 0.15),
                            line=dict(width=0), hoverinfo="skip", showlegend=False, name=f"{c.name} 95 %")  # fmt: skip
            fig.add_scatter(x=xs, y=[s["mean"] for s in stats], mode="lines+markers", name=f"{c.name} (mean, 95 %)",
                            line=dict(color=line_colour, width=2), marker=dict(size=7, color=line_colour),
                            hovertemplate=f"{c.param or c.name} %{{x:g}}<br>mean L2 %{{y:.3g}} px<extra></extra>")  # fmt: skip
        for x, v, label in zip(c.x, c.l2, c.labels):
            if v:
                fig.add_scatter(x=[x] * len(v), y=list(v), mode="markers", name=label, showlegend=False,
                                marker=dict(size=6, color=cols[label], opacity=0.7, line=dict(width=0)),
                                hovertemplate=f"{label}<br>one seed: %{{y:.3g}} px<extra></extra>")  # fmt: skip
    names = {"supervised": "supervised", "untrained": "untrained encoder", "mean": "predict the mean"}
    for ref, y in refs.items():
        colour, dash = REFERENCE_STYLE[ref]
        fig.add_hline(y=y, line=dict(color=colour, dash=dash, width=1.5), annotation_text=f"{names[ref]} {y:.3g} px",
                      annotation_position="top left", annotation_font=dict(size=11, color=colour))  # fmt: skip
    ys = [v for c in cs for vs in c.l2 for v in vs] + list(refs.values())
    params = {c.param for c in cs if c.param}
    fig.update_xaxes(type="log" if all_x and min(all_x) > 0 else "linear",
                     title=" / ".join(sorted(params)) or "configuration")  # fmt: skip
    fig.update_yaxes(type="log" if ys and min(ys) > 0 else "linear", title="held-out L2 (px)")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), template="plotly_white",
                      legend=dict(orientation="h", y=-0.2))  # fmt: skip
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"
