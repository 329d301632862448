"""The Explore page's view model: a sweep as the page defines it (coupling families x a grid of one parameter x
seeds on the current video), its URL, the waves it is submitted in, and its results — L2 against the parameter
with 95 % intervals over seeds, and a leaderboard of every stored run for the video. No Streamlit here.

Every point of a sweep is an ordinary run (``rpm_engine.sweep.Sweep.points``) with its ordinary key, submitted to
the server's one job runner in waves no larger than this visitor's share of the queue (``Limits.per_client``), so
a sweep waits its turn like every other request and points already stored open at once.
"""

from __future__ import annotations

from rpm_engine import grids
from rpm_engine.config import VideoConfig
from rpm_engine.coupling_spec import canonical_name, coupling_info
from rpm_engine.sweep import MAX_POINTS, TRAIN_PARAMS, Family, Sweep, parse_grid, plan
from rpm_service.limits import Limits
from rpm_service.sweeps import SweepRun, next_wave, wave_size  # the app's executor lives in the service

from .priors import training_item
from .state import DEFAULT_GRIDS, MAX_FAMILIES, RECIPE, ExploreState, FamilyRow, grid_params, param_label


# -- the sweep as the page defines it --------------------------------------------------------------------------------
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
    if len(state.families) > MAX_FAMILIES:
        raise ValueError(f"families: {len(state.families)} is more than the {MAX_FAMILIES} one sweep may hold")
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


def poll_interval(idle_polls: int, pending: bool = False) -> float:
    """Seconds between refreshes: 1 s while things change or while runs wait to be submitted (``pending``: the next
    wave goes in as soon as a run of this visitor finishes), else doubling after every 3 polls without news, at most
    8 s."""
    return 1.0 if pending else float(min(8, 2 ** (idle_polls // 3)))


__all__ = [
    "param_label",
    "ExploreState",
    "FamilyRow",
    "build_sweep",
    "SweepRun",
    "next_wave",
    "wave_size",
    "parse_seeds",
    "plan",
]
