"""A sweep as data: coupling families x parameter grids x seeds on one video, under one recipe.

A ``Sweep`` is a frozen description (families, grids, seeds, video, recipe). Every point is an ordinary run
(``RunConfig``) built by the recipe's one factory (``Recipe.run_config``), with its ordinary key, so a sweep shares
the run store with everything else and the same sweep from the app and from the command line is the same runs.
``plan(sweep)`` lists them (points, then the supervised and untrained references, without duplicates); ranking the
results is ``rpm_engine.ranking``; running them is the service's (``rpm_service.sweeps``: in this process, on the
app's job runner or on Ray). The engine knows no backend.

    sweep = Sweep.of([("rbf", {"theta": "log:0.1:10:5"}), ("linear", {"w_init": [1e-3, 1.0]})], seeds=3,
                     recipe="quick")
    [c.key() for c in plan(sweep)]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from . import grids
from .config import RECIPES, Recipe, RunConfig, TrainConfig, VideoConfig
from .coupling_spec import canonical_name  # no torch: the app lists sweeps without loading it

MAX_POINTS = 500  # a sweep larger than this is refused (runs, references included)
TRAIN_PARAMS: dict[str, type] = {
    "epochs": int,
    "lr": float,
    "batch_size": int,
    "coupling_lr": float,
}  # training settings
_ALIASES = {"batch-size": "batch_size", "learning_rate": "lr"}
REFERENCE_METHODS = ("supervised", "untrained")


# -- grids -------------------------------------------------------------------------------------------------------
def parse_grid(text, name: str = "param") -> tuple:
    """A grid's values from text (``rpm_engine.grids.parse_grid``: bounded before expanded), with the integer
    training settings (``epochs``, ``batch_size``) rounded to whole numbers."""
    return grids.parse_grid(text, name, integer=TRAIN_PARAMS.get(name, float) is int)


def _param_name(name: str) -> str:
    n = str(name).strip()
    n = _ALIASES.get(n, n)
    if not n.isidentifier():
        raise ValueError(f"--param: {name!r} is not a parameter name (expected NAME=VALUES, e.g. theta=0.1,1)")
    return n


# -- the sweep as data -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """One coupling and its grids: ``params`` maps a name to its values (a coupling's starting value such as
    ``theta``, or a training setting in ``TRAIN_PARAMS``). One value = fixed; several = a grid axis."""

    coupling: str
    params: tuple[tuple[str, tuple], ...] = ()

    @classmethod
    def of(cls, coupling: str, params: Mapping | Iterable | None = None, **grids) -> Family:
        items = list(params.items() if isinstance(params, Mapping) else (params or [])) + list(grids.items())
        if not isinstance(coupling, str) or not coupling.strip():
            raise ValueError("--coupling: a coupling name or expression is required")
        out: dict[str, tuple] = {}
        for name, values in items:
            n = _param_name(name)
            grid = parse_grid(values, n)
            out[n] = tuple(dict.fromkeys(out.get(n, ()) + grid))  # a name given twice: the union of its values
        return cls(canonical_name(coupling), tuple(out.items()))

    @property
    def size(self) -> int:
        return math.prod(len(v) for _, v in self.params)

    def combinations(self) -> Iterator[dict]:
        names = [n for n, _ in self.params]
        for values in itertools.product(*(v for _, v in self.params)):
            yield dict(zip(names, values))


@dataclass(frozen=True)
class Setting:
    """One configuration of a sweep: a coupling with its starting values and training settings (all seeds)."""

    coupling: str
    init: tuple[tuple[str, float], ...]  # the coupling's starting values: the recipe's, then the sweep's
    train: tuple[tuple[str, float], ...]  # training settings set by the sweep's grid (not the base)
    method: str = "infonce"
    recipe: str = "quick"

    @property
    def params(self) -> dict:
        return {**dict(self.init), **dict(self.train)}

    @property
    def label(self) -> str:
        if self.method != "infonce":
            return self.method
        extra = ", ".join(f"{k}={v:g}" for k, v in self.init + self.train)
        return f"{self.coupling} ({extra})" if extra else self.coupling

    @property
    def name(self) -> str:
        """The label with its recipe, as every list names a run: 'rbf (theta=0.1) · quick recipe'."""
        return f"{self.label} · {self.recipe} recipe"


@dataclass(frozen=True)
class Sweep:
    """Coupling families x grids x seeds on one video; ``points()`` are ordinary runs (ordinary keys)."""

    families: tuple[Family, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    video: VideoConfig = field(default_factory=lambda: RECIPES["quick"].video)
    recipe: Recipe = field(default_factory=lambda: RECIPES["quick"])  # starting values, epochs, SGD, θ's rate
    epochs: int | None = None  # base training settings: None -> the recipe's; a family's grid overrides them
    lr: float | None = None
    batch_size: int | None = None
    references: bool = True  # supervised and untrained runs over the same seeds
    max_points: int = MAX_POINTS

    @classmethod
    def of(
        cls,
        families: Iterable,
        *,
        seeds: int | Iterable[int] = 3,
        video: VideoConfig | None = None,
        recipe: str | Recipe = "quick",
        **settings,
    ) -> Sweep:
        """``families``: ``Family`` objects, ``(coupling, {name: values})`` pairs or coupling names;
        ``seeds``: a count (0..n-1) or the seeds themselves; ``recipe``: "quick", "paper" or a ``Recipe`` (its video
        unless ``video`` is given); ``settings``: epochs, lr, batch_size, references, max_points."""
        limit = settings.get("max_points", MAX_POINTS)
        for what, many in (("--coupling", families), ("--seeds", seeds)):  # counted before anything is built
            n = many if isinstance(many, int) else len(many) if hasattr(many, "__len__") else 0
            if n > limit:
                raise ValueError(f"{what}: {n:,} given, more than the limit of {limit:,} runs in one sweep")
        if isinstance(recipe, str):
            if recipe not in RECIPES:
                raise ValueError(f"--recipe: unknown recipe {recipe!r} (choose {', '.join(RECIPES)})")
            recipe = RECIPES[recipe]
        fams = []
        for f in families:
            if isinstance(f, Family):
                fams.append(f)
            elif isinstance(f, str):
                fams.append(Family.of(f))
            else:
                name, params = f
                fams.append(Family.of(name, params))
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise ValueError(f"--seeds: must be at least 1, got {seeds}")
            seeds = range(seeds)
        return cls(tuple(fams), tuple(int(s) for s in seeds), video or recipe.video, recipe, **settings)

    def __post_init__(self):
        if not self.families:
            raise ValueError("a sweep needs at least one --coupling")
        if not self.seeds:
            raise ValueError("--seeds: a sweep needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ValueError(f"--seeds: seeds must be distinct and >= 0, got {list(self.seeds)}")
        TrainConfig(**self._base())  # ValueError names a bad setting
        n = self.size
        if n > self.max_points:
            raise ValueError(
                f"the sweep has {n:,} runs ({sum(f.size for f in self.families):,} configurations x "
                f"{len(self.seeds)} seeds"
                + (" + references" if self.references else "")
                + f"), more than the limit of {self.max_points}; use fewer values or seeds"
            )
        from .couplings import make_coupling  # torch: only to check each coupling once, before any training

        dim = 2 * self.video.balls
        for fam in self.families:  # refuse bad couplings and parameters now, not after an hour of training
            start = self.recipe.starting_values(fam.coupling)  # an unknown name or a bad expression: refused here
            for combo in fam.combinations():
                init = {**start, **{k: v for k, v in combo.items() if k not in TRAIN_PARAMS}}
                make_coupling(fam.coupling, dim, **init)
                self._train_config(combo, 0)

    @property
    def size(self) -> int:
        """Runs to do (sweep points + references), before removing duplicates."""
        configs = sum(f.size for f in self.families)
        return (configs + (len(REFERENCE_METHODS) if self.references else 0)) * len(self.seeds)

    def _base(self) -> dict:
        """The training settings every point starts from: the recipe's, where the sweep sets none."""
        r = self.recipe
        return {
            "epochs": r.epochs if self.epochs is None else self.epochs,
            "lr": r.lr if self.lr is None else self.lr,
            "batch_size": r.batch_size if self.batch_size is None else self.batch_size,
        }

    def _train_config(self, combo: Mapping, seed: int, method: str = "infonce") -> TrainConfig:
        base = {**self._base(), **{k: v for k, v in combo.items() if k in TRAIN_PARAMS}}
        return TrainConfig(method=method, seed=seed, **base)

    def settings(self) -> list[Setting]:
        """The configurations (points differing only by seed), in the order given, without duplicates."""
        out = []
        for fam in self.families:
            start = self.recipe.starting_values(fam.coupling)
            for combo in fam.combinations():
                init = {**start, **{k: float(v) for k, v in combo.items() if k not in TRAIN_PARAMS}}
                tr = tuple((k, v) for k, v in combo.items() if k in TRAIN_PARAMS)
                s = Setting(fam.coupling, tuple(sorted(init.items())), tr, recipe=self.recipe.name)
                if s not in out:
                    out.append(s)
        return out

    def config(self, setting: Setting, seed: int) -> RunConfig:
        """The run of ``setting`` and ``seed``: the recipe's factory, with the sweep's base settings and grid."""
        train = {**self._base(), **dict(setting.train)}
        epochs = train.pop("epochs")
        if setting.method != "infonce":
            return self.recipe.run_config(None, method=setting.method, seed=seed, video=self.video, epochs=epochs,
                                          **train)  # fmt: skip
        return self.recipe.run_config(setting.coupling, seed=seed, video=self.video, epochs=epochs,
                                      **dict(setting.init), **train)  # fmt: skip

    def points(self) -> list[RunConfig]:
        """Every sweep run: configurations x seeds (seeds innermost), duplicates (same key) removed."""
        return _unique([self.config(s, seed) for s in self.settings() for seed in self.seeds])

    def reference_settings(self) -> list[Setting]:
        if not self.references:
            return []
        return [Setting(m, (), (), method=m, recipe=self.recipe.name) for m in REFERENCE_METHODS]

    def reference_points(self) -> dict[str, list[RunConfig]]:
        """Supervised and untrained runs over the same seeds, with the base training settings."""
        return {s.method: [self.config(s, seed) for seed in self.seeds] for s in self.reference_settings()}

    def describe(self) -> str:
        v = self.video
        return (
            f"{len(self.settings())} configurations x {len(self.seeds)} seeds on {v.frames} frames of {v.size} px "
            f"({v.balls} balls of {v.diameter:g} px), {self.recipe.label}, {self._base()['epochs']} epochs unless gridded"
        )

    def to_dict(self) -> dict:
        return {
            "families": [{"coupling": f.coupling, "params": {k: list(v) for k, v in f.params}} for f in self.families],
            "seeds": list(self.seeds),
            "video": self.video.to_dict(),
            "recipe": self.recipe.name,
            **self._base(),
            "references": self.references,
        }


def _unique(configs: Iterable[RunConfig]) -> list[RunConfig]:
    seen, out = set(), []
    for c in configs:
        k = c.key()
        if k not in seen:
            seen.add(k)
            out.append(c)
    return out


def plan(sweep: Sweep) -> list[RunConfig]:
    """Every run of ``sweep``: its points (configurations x seeds), then the supervised and untrained references
    over the same seeds, without duplicates (one key once). What every executor runs, in this order."""
    refs = [c for cs in sweep.reference_points().values() for c in cs]
    return _unique([*sweep.points(), *refs])


__all__ = [
    "MAX_POINTS",
    "REFERENCE_METHODS",
    "TRAIN_PARAMS",
    "Family",
    "Setting",
    "Sweep",
    "parse_grid",
    "plan",
]
