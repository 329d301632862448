"""The Explore page's results: stored runs grouped by configuration, the leaderboard and its exports, the curves of
L2 against each family's parameter. No Streamlit and no Plotly here (the figures are ``explorer.sweep_charts``). (The sweep as the page defines it, its URL
and its waves live in ``explorer.explore``.)"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

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
