"""Sweeps: coupling families x parameter grids x seeds on one video, as data; running them; ranking the results.

A ``Sweep`` is a frozen description (families, grids, seeds, video, base training settings). Every point is an
ordinary run (``RunConfig``) with its ordinary key, so a sweep shares the run store with everything else and is
resumable: a point already stored is opened, not trained (``cached``). ``run_sweep`` runs the points on a backend
(``"local"``: in this process, one after another; ``"ray"``: one Ray task per point, see
``rpm_service.ray_backend``) and ``rank`` orders the configurations (points differing only by seed) by their mean
held-out L2, with a 95 % Student-t interval over seeds.

    sweep = Sweep.of([("rbf", {"theta": "log:0.1:10:5"}), ("linear", {"w_init": [1e-3, 1.0]})],
                     seeds=3, video=VideoConfig(frames=128, size=64, diameter=8), epochs=30)
    result = run_sweep(sweep, store=RunStore())
    result.ranking[0]["label"], result.ranking[0]["l2_mean"]
"""

from __future__ import annotations

import importlib
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from . import (  # the package's public names only: the modules behind them may move
    Cancelled,
    CorruptRun,
    Run,
    RunConfig,
    RunStore,
    TrainConfig,
    TrainingError,
    Video,
    VideoConfig,
    generate_video,
    make_coupling,
    mean_predictor_l2,
    seeds_summary,
)
from .couplings import canonical_name

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
def _num(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text.strip()!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{what}: {text.strip()!r} is not a finite number")
    return v


def _tidy(v: float) -> float:
    """6 significant digits: a log range's values get short labels and keys that do not depend on float noise."""
    return float(f"{v:.6g}")


def parse_grid(text, name: str = "param") -> tuple:
    """A grid's values from text: ``"0.1,1,10"``, ``"log:0.1:10:5"`` (5 values, geometric), ``"lin:0:1:3"``
    (linear), or one value. Numbers and lists/tuples of numbers pass through. Integer settings (``epochs``,
    ``batch_size``) must be whole numbers (a log/lin range is rounded, duplicates dropped)."""
    kind = TRAIN_PARAMS.get(name, float)
    what = f"--param {name}"
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        values = [float(text)]
        ranged = False
    elif isinstance(text, (list, tuple)):
        values = [_num(str(v), what) for v in text]
        ranged = False
    elif isinstance(text, str):
        s = text.strip()
        low = s.lower()
        ranged = low.startswith(("log:", "lin:"))
        if ranged:
            parts = s.split(":")
            if len(parts) != 4:
                raise ValueError(f"{what}: a range is {parts[0]}:START:STOP:COUNT (e.g. log:0.1:10:5), got {s!r}")
            a, b = _num(parts[1], what), _num(parts[2], what)
            try:
                n = int(parts[3])
            except ValueError:
                raise ValueError(f"{what}: COUNT must be a whole number, got {parts[3]!r}") from None
            if n < 1:
                raise ValueError(f"{what}: an empty grid (COUNT {n}); give at least one value")
            if low.startswith("log:"):
                if a <= 0 or b <= 0:
                    raise ValueError(f"{what}: a log range needs positive ends, got {a:g} and {b:g}")
                values = list(np.geomspace(a, b, n)) if n > 1 else [a]
            else:
                values = list(np.linspace(a, b, n)) if n > 1 else [a]
        else:
            items = [t.strip() for t in s.split(",")]
            if not s or all(not t for t in items):
                raise ValueError(f"{what}: an empty grid; give values such as {name}=0.1,1 or {name}=log:0.1:10:5")
            if any(not t for t in items):
                raise ValueError(f"{what}: an empty value in {s!r}")
            values = [_num(t, what) for t in items]
    else:
        raise ValueError(f"{what}: expected a number, a list or text such as '0.1,1' or 'log:0.1:10:5', got {text!r}")
    if not values:
        raise ValueError(f"{what}: an empty grid")
    if kind is int:
        out = []
        for v in values:
            r = round(v)
            if not ranged and r != v:
                raise ValueError(f"{what}: must be a whole number, got {v:g}")
            out.append(int(r))
    else:
        out = [_tidy(v) for v in values]
    seen, uniq = set(), []
    for v in out:
        if v not in seen:
            seen.add(v)
            uniq.append(v)
    return tuple(uniq)


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
    init: tuple[tuple[str, float], ...]  # the coupling's parameters set by the sweep
    train: tuple[tuple[str, float], ...]  # training settings set by the sweep's grid (not the base)
    method: str = "infonce"

    @property
    def params(self) -> dict:
        return {**dict(self.init), **dict(self.train)}

    @property
    def label(self) -> str:
        if self.method != "infonce":
            return self.method
        extra = ", ".join(f"{k}={v:g}" for k, v in self.init + self.train)
        return f"{self.coupling} ({extra})" if extra else self.coupling


@dataclass(frozen=True)
class Sweep:
    """Coupling families x grids x seeds on one video; ``points()`` are ordinary runs (ordinary keys)."""

    families: tuple[Family, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    video: VideoConfig = field(default_factory=VideoConfig)
    epochs: int = 30  # base training settings (App. D); a family's grid overrides them
    lr: float = 0.005
    batch_size: int = 30
    references: bool = True  # supervised and untrained runs over the same seeds
    max_points: int = MAX_POINTS

    @classmethod
    def of(
        cls,
        families: Iterable,
        *,
        seeds: int | Iterable[int] = 3,
        video: VideoConfig | None = None,
        **settings,
    ) -> Sweep:
        """``families``: ``Family`` objects, ``(coupling, {name: values})`` pairs or coupling names;
        ``seeds``: a count (0..n-1) or the seeds themselves; ``settings``: epochs, lr, batch_size, references, ..."""
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
        return cls(tuple(fams), tuple(int(s) for s in seeds), video or VideoConfig(), **settings)

    def __post_init__(self):
        if not self.families:
            raise ValueError("a sweep needs at least one --coupling")
        if not self.seeds:
            raise ValueError("--seeds: a sweep needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ValueError(f"--seeds: seeds must be distinct and >= 0, got {list(self.seeds)}")
        TrainConfig(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size)  # ValueError names a bad setting
        n = self.size
        if n > self.max_points:
            raise ValueError(
                f"the sweep has {n} runs ({len(self.settings())} configurations x {len(self.seeds)} seeds"
                + (" + references" if self.references else "")
                + f"), more than the limit of {self.max_points}; use fewer values or seeds"
            )
        dim = 2 * self.video.balls
        for fam in self.families:  # refuse bad couplings and parameters now, not after an hour of training
            for combo in fam.combinations():
                init = {k: v for k, v in combo.items() if k not in TRAIN_PARAMS}
                make_coupling(fam.coupling, dim, **init)
                self._train_config(combo, 0)

    @property
    def size(self) -> int:
        """Runs to do (sweep points + references), before removing duplicates."""
        configs = sum(f.size for f in self.families)
        return (configs + (len(REFERENCE_METHODS) if self.references else 0)) * len(self.seeds)

    def _train_config(self, combo: Mapping, seed: int, method: str = "infonce") -> TrainConfig:
        base = {"epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size}
        base.update({k: v for k, v in combo.items() if k in TRAIN_PARAMS})
        return TrainConfig(method=method, seed=seed, **base)

    def settings(self) -> list[Setting]:
        """The configurations (points differing only by seed), in the order given, without duplicates."""
        out = []
        for fam in self.families:
            for combo in fam.combinations():
                init = tuple((k, float(v)) for k, v in combo.items() if k not in TRAIN_PARAMS)
                tr = tuple((k, v) for k, v in combo.items() if k in TRAIN_PARAMS)
                s = Setting(fam.coupling, init, tr)
                if s not in out:
                    out.append(s)
        return out

    def config(self, setting: Setting, seed: int) -> RunConfig:
        tc = self._train_config(dict(setting.train), seed, setting.method)
        train = {"epochs": tc.epochs, "lr": tc.lr, "batch_size": tc.batch_size, "seed": seed}
        if tc.coupling_lr is not None:
            train["coupling_lr"] = tc.coupling_lr  # the coupling's own learning rate (None: App. D's one lr)
        if setting.method != "infonce":
            return RunConfig.of(None, video=self.video, method=setting.method, **train)
        return RunConfig.of(setting.coupling, video=self.video, **dict(setting.init), **train)

    def points(self) -> list[RunConfig]:
        """Every sweep run: configurations x seeds (seeds innermost), duplicates (same key) removed."""
        return _unique([self.config(s, seed) for s in self.settings() for seed in self.seeds])

    def reference_settings(self) -> list[Setting]:
        return [Setting(m, (), (), method=m) for m in REFERENCE_METHODS] if self.references else []

    def reference_points(self) -> dict[str, list[RunConfig]]:
        """Supervised and untrained runs over the same seeds, with the base training settings."""
        return {s.method: [self.config(s, seed) for seed in self.seeds] for s in self.reference_settings()}

    def describe(self) -> str:
        v = self.video
        return (
            f"{len(self.settings())} configurations x {len(self.seeds)} seeds on {v.frames} frames of {v.size} px "
            f"({v.balls} balls of {v.diameter:g} px), {self.epochs} epochs unless gridded"
        )

    def to_dict(self) -> dict:
        return {
            "families": [{"coupling": f.coupling, "params": {k: list(v) for k, v in f.params}} for f in self.families],
            "seeds": list(self.seeds),
            "video": self.video.to_dict(),
            "epochs": self.epochs,
            "lr": self.lr,
            "batch_size": self.batch_size,
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


# -- running -----------------------------------------------------------------------------------------------------
@dataclass
class PointResult:
    """One run of a sweep, as finished (trained, opened from the store, or failed)."""

    config: RunConfig
    key: str
    setting: Setting
    seed: int
    l2_mean: float | None
    cached: bool
    train_seconds: float  # the trainer's own clock (0 when cached)
    wall_seconds: float  # from start to stored, as the backend saw it
    error: str | None = None
    metrics: dict = field(default_factory=dict, repr=False)
    reference: bool = False

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.setting.label,
            "coupling": self.setting.coupling if self.setting.method == "infonce" else None,
            "method": self.setting.method,
            "params": self.setting.params,
            "seed": self.seed,
            "l2_mean": self.l2_mean,
            "l2_per_ball": self.metrics.get("l2_per_ball"),
            "cached": self.cached,
            "train_seconds": self.train_seconds,
            "wall_seconds": self.wall_seconds,
            "coupling_values": self.metrics.get("coupling_values"),
            "error": self.error,
        }


@dataclass(frozen=True)
class SweepEvent:
    """Progress: a point ``started`` or ``finished`` (``point`` set), with counts over the whole sweep."""

    kind: str  # "started" | "finished"
    config: RunConfig
    point: PointResult | None
    done: int
    total: int
    running: int
    cached: int
    failed: int


@dataclass(frozen=True)
class Outcome:
    """What a backend reports for one config: started (run None, error None) or finished (run or error)."""

    config: RunConfig
    finished: bool
    run: Run | None = None
    error: str | None = None
    wall_seconds: float = 0.0
    running: int = 0


@dataclass
class SweepResult:
    sweep: Sweep
    points: list[PointResult]  # the sweep's runs, in the order of ``Sweep.points()``
    references: dict  # supervised / untrained summaries + predict_mean
    ranking: list[dict]  # best first
    backend: str
    wall_seconds: float
    reference_runs: list[PointResult] = field(default_factory=list)  # the supervised / untrained runs

    @property
    def trained(self) -> int:
        return sum(1 for p in self.points if not p.cached and p.error is None)

    def to_dict(self) -> dict:
        return {
            "sweep": self.sweep.to_dict(),
            "backend": self.backend,
            "wall_seconds": self.wall_seconds,
            "points": [_json_safe(p.to_dict()) for p in self.points],
            "ranking": [_json_safe(r) for r in self.ranking],
            "references": _json_safe(self.references),
        }


def _json_safe(obj):
    """NaN/inf -> None, so the JSON is valid for every reader (a 1-seed interval is undefined)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


class LocalBackend:
    """In this process, one point after another, through ``RunStore.get_or_train`` (store lock, atomic write)."""

    name = "local"

    def __init__(self, device: str = "auto", threads: int | None = None):
        self.device = device
        self.threads = threads  # torch threads while the sweep runs (None: leave torch's setting alone)

    def run(self, configs: list[RunConfig], video: Video, store: RunStore, cancel=None) -> Iterator[Outcome]:
        import torch

        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            for cfg in configs:
                if _is_cancelled(cancel):
                    raise Cancelled("sweep cancelled")
                yield Outcome(cfg, False, running=1)
                t0 = time.perf_counter()
                try:
                    run = obtain(cfg, store, video=video, device=self.device, cancel=cancel)
                except TrainingError as exc:
                    yield Outcome(cfg, True, error=_first_line(exc), wall_seconds=time.perf_counter() - t0)
                    continue
                yield Outcome(cfg, True, run=run, wall_seconds=time.perf_counter() - t0)
        finally:
            torch.set_num_threads(before)


def _first_line(exc: BaseException) -> str:
    s = str(exc)
    return s.splitlines()[0] if s else type(exc).__name__


BACKENDS = {"local": "rpm_engine.sweep:LocalBackend", "ray": "rpm_service.ray_backend:RayBackend"}


def make_backend(name: str = "local", **options):
    """A backend by name. ``ray`` lives in ``rpm_service`` (imported only when asked for; needs ``ray``)."""
    if name not in BACKENDS:
        raise ValueError(f"--backend: unknown backend {name!r} (choose {', '.join(BACKENDS)})")
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)(**options)


def run_sweep(
    sweep: Sweep,
    backend="local",
    store: RunStore | None = None,
    *,
    on_point: Callable[[SweepEvent], None] | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    video: Video | None = None,
) -> SweepResult:
    """Run every point (and the references) that is not stored yet, then rank.

    Stored points are opened first (``cached=True``); the rest go to ``backend`` ("local", "ray" or a backend
    object with ``run(configs, video, store, cancel)`` yielding ``Outcome``s). ``on_point`` gets a ``SweepEvent``
    when a point starts and when it finishes. ``cancel`` (an Event or a callable) stops the sweep between and
    within points: ``Cancelled`` is raised, and every point finished so far is already in the store, so running the
    same sweep again resumes. A point whose training fails (non-finite loss) is recorded with its error; the sweep
    goes on.
    """
    t_start = time.perf_counter()
    store = store or RunStore()
    backend = make_backend(backend) if isinstance(backend, str) else backend
    video = video or generate_video(sweep.video)

    settings = {}  # key -> (setting, seed, is_reference)
    for s in sweep.settings():
        for seed in sweep.seeds:
            settings.setdefault(sweep.config(s, seed).key(), (s, seed, False))
    for s in sweep.reference_settings():
        for seed in sweep.seeds:
            settings.setdefault(sweep.config(s, seed).key(), (s, seed, True))
    configs = _unique([sweep.config(s, seed) for s in sweep.settings() for seed in sweep.seeds])
    configs += _unique(c for cs in sweep.reference_points().values() for c in cs)
    configs = _unique(configs)
    total = len(configs)
    results: dict[str, PointResult] = {}
    counts = {"running": 0, "cached": 0, "failed": 0}

    def finish(cfg: RunConfig, run: Run | None, error: str | None, wall: float, cached: bool) -> None:
        key = cfg.key()
        s, seed, ref = settings[key]
        m = run.metrics if run is not None else {}
        p = PointResult(
            cfg,
            key,
            s,
            seed,
            float(m["l2_mean"]) if run is not None else None,
            cached,
            0.0 if cached or run is None else float(m.get("train_seconds", 0.0)),
            wall,
            error,
            dict(m),
            ref,
        )
        results[key] = p
        counts["cached"] += cached
        counts["failed"] += error is not None
        if on_point:
            on_point(SweepEvent("finished", cfg, p, len(results), total, counts["running"], **_cf(counts)))

    todo = []
    for cfg in configs:  # open what the store has: a resumed sweep shows its finished points at once
        t0 = time.perf_counter()
        try:
            run = store.load(cfg.key())
        except CorruptRun:
            run = None  # trained again (get_or_train / the backend rebuilds it)
        if run is None:
            todo.append(cfg)
        else:
            finish(cfg, run, None, time.perf_counter() - t0, True)

    if todo:
        if _is_cancelled(cancel):
            raise Cancelled("sweep cancelled")
        stream = backend.run(todo, video, store, cancel=cancel)
        try:
            for out in stream:
                counts["running"] = out.running
                if not out.finished:
                    if on_point:
                        ev = SweepEvent("started", out.config, None, len(results), total, out.running, **_cf(counts))
                        on_point(ev)
                    continue
                cached = bool(out.run is not None and out.run.cached)  # e.g. stored meanwhile by another process
                finish(out.config, out.run, out.error, out.wall_seconds, cached)
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()  # a backend's clean-up (e.g. cancelling Ray tasks) runs on error or Ctrl-C too

    points = [results[c.key()] for c in configs if not settings[c.key()][2]]
    refs = [results[c.key()] for c in configs if settings[c.key()][2]]
    references = _references(refs, sweep.reference_settings())
    references["predict_mean"] = {
        "label": "predict the mean",
        "l2_mean": mean_predictor_l2(video.centres, TrainConfig().train_frac),
    }
    return SweepResult(
        sweep,
        points,
        references,
        rank(points),
        getattr(backend, "name", "custom"),
        time.perf_counter() - t_start,
        refs,
    )


def _cf(counts: dict) -> dict:
    return {"cached": counts["cached"], "failed": counts["failed"]}


# -- ranking -----------------------------------------------------------------------------------------------------
def _summary(points: list[PointResult]) -> dict:
    ok = [p.l2_mean for p in points if p.l2_mean is not None]
    if ok:
        s = seeds_summary(ok)
        mean, half = s["mean"], s["ci95"]
        ci = [s["lo"], s["hi"]]
    else:
        mean, half, ci = None, None, [None, None]
    return {
        "l2_mean": mean,
        "l2_ci95": ci,
        "l2_ci95_halfwidth": half,
        "l2_per_seed": [p.l2_mean for p in points],
        "seeds": [p.seed for p in points],
        "keys": [p.key for p in points],
        "failed": sum(1 for p in points if p.error is not None),
        "errors": sorted({p.error for p in points if p.error}),
    }


def rank(points: Iterable[PointResult]) -> list[dict]:
    """Configurations (points differing only by seed), best (lowest mean held-out L2) first.

    Each entry: label, coupling, params, l2_mean, l2_ci95 ([lo, hi], 95 % Student-t over seeds, as
    ``evaluate.seeds_summary``), l2_ci95_halfwidth, l2_per_seed (None where a seed failed), seeds, keys, failed.
    A configuration whose every seed failed comes last with l2_mean None.
    """
    groups: dict[Setting, list[PointResult]] = {}
    for p in points:
        groups.setdefault(p.setting, []).append(p)
    out = []
    for s, ps in groups.items():
        ps = sorted(ps, key=lambda p: p.seed)
        out.append({"label": s.label, "coupling": s.coupling, "params": s.params, **_summary(ps)})
    out.sort(key=lambda r: (r["l2_mean"] is None, r["l2_mean"] if r["l2_mean"] is not None else 0.0))
    for i, r in enumerate(out, 1):
        r["rank"] = i
    return out


def _references(points: list[PointResult], settings: list[Setting]) -> dict:
    out = {}
    for s in settings:
        ps = sorted((p for p in points if p.setting == s), key=lambda p: p.seed)
        if ps:
            out[s.method] = {"label": s.label, **_summary(ps)}
    return out


def format_table(result: SweepResult) -> str:
    """The ranking as printed by ``sweep``: rank, configuration, mean, 95 % interval, per-seed values; references."""
    sw = result.sweep
    n_trained = result.trained
    n_cached = sum(p.cached for p in result.points)
    width = max([len(r["label"]) for r in result.ranking] + [24]) + 2
    lines = [
        f"Held-out mean L2 of a linear read-out (px): {sw.describe()}; {len(result.points)} points "
        f"({n_trained} trained, {n_cached} from the store), {result.backend} backend, {result.wall_seconds:.1f} s",
        f"{'rank':<6}{'configuration':<{width}}{'mean':>9}{'95% interval':>22}   per seed",
    ]

    def row(rank: str, r: dict) -> str:
        mean = "failed" if r["l2_mean"] is None else f"{r['l2_mean']:.3f}"
        lo, hi = r.get("l2_ci95", [None, None])
        ci = f"[{lo:.3f}, {hi:.3f}]" if (lo is not None and math.isfinite(lo)) else "n/a"
        per = ", ".join("failed" if v is None else f"{v:.3f}" for v in r.get("l2_per_seed", []))
        if r.get("failed"):
            per += f"  ({r['failed']} failed: {r['errors'][0]})"
        return f"{rank:<6}{r['label']:<{width}}{mean:>9}{ci:>22}   {per}".rstrip()

    for r in result.ranking:
        lines.append(row(str(r["rank"]), r))
    lines.append("references")
    for name in (*REFERENCE_METHODS, "predict_mean"):
        r = result.references.get(name)
        if r is not None:
            lines.append(row("-", {"l2_ci95": [None, None], **r}))
    return "\n".join(lines)


__all__ = [
    "BACKENDS",
    "MAX_POINTS",
    "TRAIN_PARAMS",
    "Family",
    "LocalBackend",
    "Outcome",
    "PointResult",
    "Setting",
    "Sweep",
    "SweepEvent",
    "SweepResult",
    "format_table",
    "make_backend",
    "parse_grid",
    "rank",
    "run_sweep",
]
