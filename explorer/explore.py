"""The Explore page's view model: a sweep as the page defines it (coupling families x a grid of one parameter x
seeds on the current video), its URL, the waves it is submitted in, and its results — L2 against the parameter
with 95 % intervals over seeds, and a leaderboard of every stored run for the video. No Streamlit here.

Every point of a sweep is an ordinary run (``rpm_engine.sweep.Sweep.points``) with its ordinary key, submitted to
the server's one job runner in waves no larger than this visitor's share of the queue (``Limits.per_client``), so
a sweep waits its turn like every other request and points already stored open at once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from rpm_engine.config import RunConfig, VideoConfig
from rpm_engine.coupling_spec import canonical_name, coupling_info
from rpm_engine.evaluate import seeds_summary
from rpm_engine.reproduce import QUICK_EPOCHS
from rpm_engine.sweep import MAX_POINTS, TRAIN_PARAMS, Family, Sweep, parse_grid
from rpm_service.limits import Limits

from .catalog import Entry, group_key
from .charts import method_name
from .priors import training_item
from .state import DEFAULT_TRAIN

# Distinct colours for configurations (Plotly's qualitative "Dark24" and "Light24", which read on white):
# two configurations of one family (two θ values) never share a colour.
PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B", "#511CFB",
    "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1", "#620042", "#1616A7",
    "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)  # fmt: skip
REFERENCE_STYLE = {"supervised": ("#4c4c4c", "dash"), "untrained": ("#9c9c9c", "dot"), "mean": ("#b5651d", "dashdot")}
DEFAULT_GRIDS = {("rbf", "theta"): "0.01,0.03,0.1,0.3,1", ("linear", "w_init"): "0.0001,0.001,0.01"}
TRAIN_LABELS = {
    "epochs": "epochs",
    "lr": "learning rate",
    "batch_size": "batch size",
    "coupling_lr": "the coupling's own learning rate",
}


# -- the sweep as the page defines it --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FamilyRow:
    """One family: a coupling (built-in, preset or expression), the parameter it varies and that parameter's grid
    (``"0.1,1,10"`` or ``"log:0.01:1:5"``); an empty ``param`` is one configuration at the recipe's start."""

    coupling: str
    param: str = ""
    values: str = ""

    def to_text(self) -> str:
        """'rbf;theta=0.01,0.1,1' (';' never occurs in an expression)."""
        return self.coupling + (f";{self.param}={self.values}" if self.param else "")

    @classmethod
    def from_text(cls, text: str) -> FamilyRow:
        spec, sep, grid = text.rpartition(";") if ";" in text else (text, "", "")
        if not sep:
            return cls(text.strip())
        name, eq, values = grid.partition("=")
        if not eq:
            raise ValueError(f"{grid!r} should look like theta=0.1,1,10")
        return cls(spec.strip(), name.strip(), values.strip())


@dataclass(frozen=True)
class ExploreState:
    """What the Explore page shows, as its URL carries it."""

    families: tuple[FamilyRow, ...] = (FamilyRow("rbf", "theta", DEFAULT_GRIDS[("rbf", "theta")]),)
    seeds: str = "0-2"
    epochs: int = QUICK_EPOCHS
    show: tuple[str, ...] = ()  # leaderboard: only these families (empty: all)


def grid_params(spec: str) -> list[str]:
    """What a family can vary: the coupling's own parameters (those a student moves), then training settings."""
    return [p.name for p in coupling_info(spec).user_params] + list(TRAIN_PARAMS)


def param_label(spec: str, name: str) -> str:
    if name in TRAIN_PARAMS:
        return TRAIN_LABELS[name]
    p = coupling_info(spec).param(name)
    return f"{p.label} at the start of training" + (" (encoder units)" if p.unit in ("px of z", "1/px²") else "")


def default_grid(spec: str, name: str) -> str:
    """A grid to start from: the recipe's start value / 10, x1, x10 (or the table above)."""
    key = (canonical_name(spec), name)
    if key in DEFAULT_GRIDS:
        return DEFAULT_GRIDS[key]
    if name == "epochs":
        return "10,30,60"
    if name in TRAIN_PARAMS:
        return {"lr": "0.001,0.005,0.02", "coupling_lr": "0.005,0.05,0.5"}.get(name, "10,30,60")
    p = coupling_info(spec).param(name)
    start = dict(training_item(spec, {}).coupling.init).get(name, p.default)
    if p.positive or p.log:
        return ",".join(f"{start * f:g}" for f in (0.1, 1, 10))
    return ",".join(f"{start + d:g}" for d in (-1, 0, 1))


def parse_seeds(text: str, lim: Limits) -> tuple[int, ...]:
    """'0-2' -> (0, 1, 2); '0,3' -> (0, 3); '4' -> (4,) (one chosen seed). Seeds must be below the server's limit."""
    seeds: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        m = re.fullmatch(r"(\d{1,6})(?:-(\d{1,6}))?", part)
        if not m:
            raise ValueError(f"seeds: {part[:20]!r} is not a seed or a range such as 0-2")
        a, b = int(m[1]), int(m[2] if m[2] is not None else m[1])
        if b < a:
            raise ValueError(f"seeds: the range {part} runs backwards")
        seeds += [s for s in range(a, min(b, a + 10_000) + 1) if s not in seeds]
    too_big = [s for s in seeds if s >= lim.seeds]
    if too_big:
        raise ValueError(f"seeds: {too_big[0]} is over this server's limit (seeds 0 to {lim.seeds - 1})")
    return tuple(seeds)


def wave_size(lim: Limits) -> int:
    """Runs one visitor may have waiting or training at once: the per-session share of the queue."""
    return max(1, lim.per_client)


def max_points(lim: Limits) -> int:
    """The most runs one sweep may hold on this server (it is submitted in waves of ``wave_size``)."""
    return min(MAX_POINTS, 10 * (lim.queue + lim.jobs))


def build_sweep(state: ExploreState, video: VideoConfig, lim: Limits) -> Sweep:
    """The engine's ``Sweep`` for the page's families on ``video``; ValueError (one line) for bad input or a sweep
    over this server's limits. Parameters a family does not vary start where training starts them
    (``priors.training_item``: the recipe's θ₀), so the points are the same runs as the Train page's."""
    if not state.families:
        raise ValueError("add at least one family")
    if not 1 <= state.epochs <= lim.epochs:
        raise ValueError(f"epochs: must be between 1 and this server's limit of {lim.epochs}")
    lim.check_video(video)
    families = []
    for row in state.families:
        item = training_item(row.coupling, {})
        start = dict(item.coupling.init)
        grids = {**start, **DEFAULT_TRAIN.get(item.coupling.spec, {})}  # the recipe's training extras (θ's own lr)
        if row.param:
            if row.param not in grid_params(row.coupling):
                raise ValueError(f"{row.coupling}: has no parameter {row.param!r} (it has {grid_params(row.coupling)})")
            if not row.values.strip():
                raise ValueError(
                    f"{row.coupling}: give values for {row.param}, e.g. {default_grid(row.coupling, row.param)}"
                )
            grids[row.param] = parse_grid(row.values, row.param)
        families.append(Family.of(row.coupling, grids))
    sweep = Sweep.of(families, seeds=parse_seeds(state.seeds, lim), video=video, epochs=state.epochs,
                     max_points=max_points(lim))  # fmt: skip
    for cfg in plan(sweep):
        lim.check_run(cfg)
    return sweep


def within(lim: Limits, video: VideoConfig) -> bool:
    """True if this server allows ``video`` (else ValueError naming the field over its limit)."""
    lim.check_video(video)
    return True


def plan(sweep: Sweep) -> list[RunConfig]:
    """Every run of the sweep: its points, then the supervised and untrained references over the same seeds."""
    refs = [c for cs in sweep.reference_points().values() for c in cs]
    seen, out = set(), []
    for c in [*sweep.points(), *refs]:
        if c.key() not in seen:
            seen.add(c.key())
            out.append(c)
    return out


def next_wave(pending: Sequence[RunConfig], active: int, share: int) -> tuple[list[RunConfig], list[RunConfig]]:
    """(to submit now, still pending): as many as fit beside this visitor's ``active`` runs within its ``share``."""
    room = max(0, share - active)
    return list(pending[:room]), list(pending[room:])


@dataclass
class SweepRun:
    """A sweep under way in one session: runs not yet submitted, the job ids submitted so far."""

    pending: list[RunConfig]
    jobs: list[str] = dataclasses.field(default_factory=list)
    total: int = 0
    started: float = dataclasses.field(default_factory=time.time)
    notice: str | None = None  # why a wave is waiting (e.g. the queue is full)

    @classmethod
    def start(cls, sweep: Sweep, stored: Iterable[str]) -> SweepRun:
        """Runs already stored (any store the runner reads) are not submitted: they are on the plot at once."""
        keys = set(stored)
        todo = [c for c in plan(sweep) if c.key() not in keys]
        return cls(todo, total=len(todo))

    def step(self, runner, client: str, share: int) -> None:
        """Submit the next wave if this visitor has room in its share of the queue."""
        active = sum(not v.finished for v in runner.views(self.jobs))
        wave, rest = next_wave(self.pending, active, share)
        if not wave:
            return
        try:
            jobs = runner.submit_many(wave, client=client)
        except ValueError as exc:  # e.g. the queue is full: the wave waits for the next poll, nothing is lost
            self.notice = str(exc).splitlines()[0]
            return
        self.jobs += [j.id for j in jobs]
        self.pending, self.notice = rest, None

    def counts(self, runner) -> dict[str, int]:
        views = runner.views(self.jobs)
        states = [v.state for v in views]
        return {
            "done": states.count("done"), "failed": states.count("failed"), "cancelled": states.count("cancelled"),
            "running": states.count("running"), "queued": states.count("queued") + len(self.pending),
        }  # fmt: skip

    def finished(self, runner) -> bool:
        return not self.pending and all(v.finished for v in runner.views(self.jobs))

    def cancel(self, runner, client: str) -> None:
        self.pending = []
        for job_id in self.jobs:
            runner.cancel(job_id, client)


def poll_interval(idle_polls: int) -> float:
    """Seconds between refreshes: 1 s while things change, doubling after every 3 polls without news, at most 8 s."""
    return float(min(8, 2 ** (idle_polls // 3)))


# -- the URL ----------------------------------------------------------------------------------------------------------
def explore_to_query(state: ExploreState) -> dict[str, str | list[str]]:
    """URL parameters for ``state`` (only what differs from the defaults): xf (one per family), xseeds, xepochs,
    xshow."""
    d, q = ExploreState(), {}
    if state.families != d.families:
        q["xf"] = [f.to_text() for f in state.families]
    if state.seeds != d.seeds:
        q["xseeds"] = state.seeds
    if state.epochs != d.epochs:
        q["xepochs"] = str(state.epochs)
    if state.show:
        q["xshow"] = list(state.show)
    return q


def explore_from_query(params: Mapping[str, str | list[str]], lim: Limits) -> tuple[ExploreState, list[str]]:
    """The Explore view a URL describes, and a notice for each value that was ignored. Never raises."""
    d, notices = ExploreState(), []

    def values(key: str) -> list[str]:
        v = params.get(key)
        return [] if v is None else [str(x) for x in (v if isinstance(v, (list, tuple)) else [v])]

    families = []
    for text in values("xf")[:8]:
        try:
            row = FamilyRow.from_text(text[:400])
            if row.param and row.param not in grid_params(row.coupling):
                raise ValueError(f"no parameter {row.param!r}")
            families.append(row)
        except ValueError as exc:
            notices.append(f"URL parameter xf: {text[:60]!r} was ignored ({str(exc).splitlines()[0]})")
    seeds = (values("xseeds") or [d.seeds])[-1][:40]
    try:
        parse_seeds(seeds, lim)
    except ValueError as exc:
        notices.append(f"URL parameter xseeds: {exc}; using {d.seeds}")
        seeds = d.seeds
    epochs = d.epochs
    if values("xepochs"):
        raw = values("xepochs")[-1]
        if raw.isdigit() and 1 <= int(raw) <= lim.epochs:
            epochs = int(raw)
        else:
            notices.append(f"URL parameter xepochs: {raw[:20]!r} is not 1 to {lim.epochs}; using {d.epochs}")
    state = ExploreState(tuple(families) or d.families, seeds, epochs, tuple(v[:200] for v in values("xshow")[:8]))
    return state, notices


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


__all__ = [
    "ExploreState",
    "FamilyRow",
    "Group",
    "best_keys",
    "build_sweep",
    "colours",
    "curves",
    "explore_from_query",
    "explore_to_query",
    "groups",
    "l2_figure",
    "leaderboard",
    "next_wave",
    "parse_seeds",
    "plan",
    "references",
]
