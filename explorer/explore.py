"""The Explore page's view model: a sweep as the page defines it (coupling families x a grid of one parameter x
seeds on the current video), its URL, the waves it is submitted in, and its results — L2 against the parameter
with 95 % intervals over seeds, and a leaderboard of every stored run for the video. No Streamlit here.

Every point of a sweep is an ordinary run (``rpm_engine.sweep.Sweep.points``) with its ordinary key, submitted to
the server's one job runner in waves no larger than this visitor's share of the queue (``Limits.per_client``), so
a sweep waits its turn like every other request and points already stored open at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rpm_engine import grids
from rpm_engine.config import VideoConfig
from rpm_engine.coupling_spec import canonical_name, coupling_info
from rpm_engine.sweep import MAX_POINTS, TRAIN_PARAMS, Family, Sweep, parse_grid, plan
from rpm_engine.text import parse_assignment
from rpm_service.limits import Limits
from rpm_service.sweeps import SweepRun, next_wave, wave_size  # the app's executor lives in the service

from .priors import training_item
from .state import RECIPE

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
        name, values = parse_assignment(grid, "a family's grid", example="NAME=VALUES (e.g. theta=0.1,1,10)")
        return cls(spec.strip(), name, values.strip())


@dataclass(frozen=True)
class ExploreState:
    """What the Explore page shows, as its URL carries it."""

    families: tuple[FamilyRow, ...] = (FamilyRow("rbf", "theta", DEFAULT_GRIDS[("rbf", "theta")]),)
    seeds: str = "0-2"
    epochs: int = RECIPE.epochs
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
    """'0-2' -> (0, 1, 2); '0,3' -> (0, 3); '4' -> (4,) (one chosen seed). Seeds must be below the server's limit:
    ``rpm_engine.grids.parse_seeds``, which refuses from the text alone, before listing a seed."""
    return grids.parse_seeds(text, max_seed=lim.seeds - 1, limit="this server's limit")


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
        grids = {}  # the recipe gives every other parameter its start (θ₀) and θ its own learning rate
        if row.param:
            if row.param not in grid_params(row.coupling):
                raise ValueError(f"{row.coupling}: has no parameter {row.param!r} (it has {grid_params(row.coupling)})")
            if not row.values.strip():
                raise ValueError(
                    f"{row.coupling}: give values for {row.param}, e.g. {default_grid(row.coupling, row.param)}"
                )
            grids[row.param] = parse_grid(row.values, row.param)
        families.append(Family.of(row.coupling, grids))
    sweep = Sweep.of(families, seeds=parse_seeds(state.seeds, lim), video=video, recipe=RECIPE, epochs=state.epochs,
                     max_points=max_points(lim))  # fmt: skip
    for cfg in plan(sweep):
        lim.check_run(cfg)
    return sweep


def within(lim: Limits, video: VideoConfig) -> bool:
    """True if this server allows ``video`` (else ValueError naming the field over its limit)."""
    lim.check_video(video)
    return True


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


# -- results: moved to explorer.sweep_view (re-exported here so older imports keep working) ---------------------------
from .sweep_view import (  # noqa: E402, F401
    PALETTE,
    REFERENCE_STYLE,
    Curve,
    Group,
    best_keys,
    colours,
    curves,
    groups,
    l2_figure,
    leaderboard,
    progress,
    references,
    to_csv,
    to_json,
)

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
    "SweepRun",
    "next_wave",
    "wave_size",
    "parse_seeds",
    "plan",
    "references",
]
