"""Running a sweep: its executors and the driver that opens what is stored, runs the rest and reports progress.

The sweep itself is data (``rpm_engine.sweep``: ``Sweep``, ``plan``); its ranking is ``rpm_engine.ranking``. Here are
the executors a sweep's runs can go to, all over the one ``rpm_engine.obtain`` (load or train once, under the
store's lock): ``LocalExecutor`` (in this process, one run after another), ``rpm_service.ray_backend.RayBackend``
(one Ray task per run) and, for the app, ``SweepRun``: waves on the server's job service under each visitor's
share. ``run_sweep`` drives
one of them and reports each run's state with the one vocabulary ``RunState``.
"""

from __future__ import annotations

import importlib
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from rpm_engine import (
    Cancelled,
    CorruptRun,
    Run,
    RunConfig,
    RunStore,
    TrainConfig,
    TrainingError,
    Video,
    generate_video,
    mean_predictor_l2,
    obtain,
)
from rpm_engine.ranking import Ranking, Trial, log_t_interval
from rpm_engine.ranking import rank as rank_trials
from rpm_engine.run import RunState
from rpm_engine.sweep import REFERENCE_METHODS, Setting, Sweep, plan
from rpm_engine.text import first_line, is_cancelled


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
    """Progress: a run ``started`` or ``finished`` (``point`` set), with counts over the whole sweep; ``state`` in
    the one vocabulary (running, then done or failed)."""

    kind: str  # "started" | "finished"
    config: RunConfig
    point: PointResult | None
    done: int
    total: int
    running: int
    cached: int
    failed: int

    @property
    def state(self) -> RunState:
        if self.kind == "started":
            return RunState.RUNNING
        return RunState.FAILED if self.point is not None and self.point.error else RunState.DONE


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
    verdict: str = ""  # the one ranking's: which configuration is best, or "not separated at n seeds"

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
            "verdict": self.verdict,
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


class LocalExecutor:
    """In this process, one run after another, through ``rpm_engine.obtain`` (store lock, atomic write)."""

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
                if is_cancelled(cancel):
                    raise Cancelled("sweep cancelled")
                yield Outcome(cfg, False, running=1)
                t0 = time.perf_counter()
                try:
                    run = obtain(cfg, store, video=video, device=self.device, cancel=cancel)
                except TrainingError as exc:
                    yield Outcome(cfg, True, error=first_line(exc), wall_seconds=time.perf_counter() - t0)
                    continue
                yield Outcome(cfg, True, run=run, wall_seconds=time.perf_counter() - t0)
        finally:
            torch.set_num_threads(before)


EXECUTORS = {"local": "rpm_service.sweeps:LocalExecutor", "ray": "rpm_service.ray_backend:RayBackend"}


def make_backend(name: str = "local", **options):
    """An executor by name: ``local`` or ``ray`` (imported only when asked for; needs ``ray``)."""
    if name not in EXECUTORS:
        raise ValueError(f"--backend: unknown backend {name!r} (choose {', '.join(EXECUTORS)})")
    module, _, cls = EXECUTORS[name].partition(":")
    return getattr(importlib.import_module(module), cls)(**options)


# -- the app's executor: waves under each visitor's share of the job runner ---------------------------------------
def wave_size(lim) -> int:
    """Runs one visitor may have waiting or training at once: its share of the queue (``Limits.per_client``)."""
    return max(1, lim.per_client)


def next_wave(pending: Sequence[RunConfig], active: int, share: int) -> tuple[list[RunConfig], list[RunConfig]]:
    """(to submit now, still pending): as many as fit beside this visitor's ``active`` runs within its ``share``."""
    room = max(0, share - active)
    return list(pending[:room]), list(pending[room:])


@dataclass
class SweepRun:
    """A sweep under way in one app session, the app's executor: the runs of ``plan(sweep)`` not yet submitted, and
    the job ids submitted so far to the server's job service (the in-process runner or the class's Ray service),
    in waves no larger than this visitor's share, so a sweep waits its turn like every other request."""

    pending: list[RunConfig]
    jobs: list[str] = field(default_factory=list)
    total: int = 0
    started: float = field(default_factory=time.time)
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
            self.notice = first_line(exc)
            return
        self.jobs += [j.id for j in jobs]
        self.pending, self.notice = rest, None

    def counts(self, runner) -> dict[str, int]:
        views = runner.views(self.jobs)
        states = [RunState(v.state) for v in views]
        counts = {s.value: states.count(s) for s in RunState}
        counts[RunState.WAITING.value] += len(self.pending)
        return counts

    def finished(self, runner) -> bool:
        return not self.pending and all(v.finished for v in runner.views(self.jobs))

    def cancel(self, runner, client: str) -> None:
        self.pending = []
        for job_id in self.jobs:
            runner.cancel(job_id, client)


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
    configs = plan(sweep)
    total = len(configs)
    results: dict[str, PointResult] = {}
    counts = {"running": 0, "cached": 0, "failed": 0}

    def finish(cfg: RunConfig, run: Run | None, error: str | None, wall: float, cached: bool) -> None:
        key = cfg.key()
        s, seed, ref = settings[key]
        m = run.metrics if run is not None else {}
        p = PointResult(
            config=cfg,
            key=key,
            setting=s,
            seed=seed,
            l2_mean=float(m["l2_mean"]) if run is not None else None,
            cached=cached,
            train_seconds=0.0 if cached or run is None else float(m.get("train_seconds", 0.0)),
            wall_seconds=wall,
            error=error,
            metrics=dict(m),
            reference=ref,
        )
        results[key] = p
        counts["cached"] += cached
        counts["failed"] += error is not None
        if on_point:
            on_point(SweepEvent(kind="finished", config=cfg, point=p, done=len(results), total=total,
                                running=counts["running"], **_cf(counts)))  # fmt: skip

    todo = []
    for cfg in configs:  # open what the store has: a resumed sweep shows its finished points at once
        t0 = time.perf_counter()
        try:
            run = store.load(cfg.key())
        except CorruptRun:
            run = None  # trained again (obtain rebuilds it)
        if run is None:
            todo.append(cfg)
        else:
            finish(cfg, run, None, time.perf_counter() - t0, True)

    if todo:
        if is_cancelled(cancel):
            raise Cancelled("sweep cancelled")
        stream = backend.run(todo, video, store, cancel=cancel)
        try:
            for out in stream:
                counts["running"] = out.running
                if not out.finished:
                    if on_point:
                        ev = SweepEvent(kind="started", config=out.config, point=None, done=len(results), total=total,
                                        running=out.running, **_cf(counts))  # fmt: skip
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
    rows, ranking = rank(points)
    return SweepResult(
        sweep=sweep,
        points=points,
        references=references,
        ranking=rows,
        backend=getattr(backend, "name", "custom"),
        wall_seconds=time.perf_counter() - t_start,
        reference_runs=refs,
        verdict=ranking.verdict,
    )


def _cf(counts: dict) -> dict:
    return {"cached": counts["cached"], "failed": counts["failed"]}


# -- ranking -----------------------------------------------------------------------------------------------------
def _summary(points: list[PointResult]) -> dict:
    """One configuration's seeds: the arithmetic mean, the geometric centre and its log-scale t-interval (the one
    ranking's, ``rpm_engine.ranking.log_t_interval``: never below zero), per-seed values and failures."""
    ok = [p.l2_mean for p in points if p.l2_mean is not None]
    mean = float(sum(ok) / len(ok)) if ok else None
    centre, interval = log_t_interval(ok) if ok else (None, None)
    return {
        "l2_mean": mean,
        "l2_centre": centre,
        "l2_ci95": list(interval) if interval else [None, None],
        "l2_per_seed": [p.l2_mean for p in points],
        "seeds": [p.seed for p in points],
        "keys": [p.key for p in points],
        "failed": sum(1 for p in points if p.error is not None),
        "errors": sorted({p.error for p in points if p.error}),
    }


def rank(points: Iterable[PointResult]) -> tuple[list[dict], Ranking]:
    """Configurations (points differing only by seed), ranked by the one ranking (``rpm_engine.ranking.rank``:
    paired seeds, Holm, failures count), as SPEC §4's rows (label, coupling, params, l2_mean, l2_ci95,
    l2_per_seed; plus rank, the recipe, the geometric centre and the comparison with the best), and the ranking."""
    groups: dict[Setting, list[PointResult]] = {}
    for p in points:
        groups.setdefault(p.setting, []).append(p)
    ids = {s: s.name for s in groups}
    ranking = rank_trials(
        Trial(ids[s], p.seed, p.l2_mean if p.error is None else None, label=s.name, error=p.error)
        for s, ps in groups.items()
        for p in ps
    )
    by_id = {ids[s]: (s, sorted(ps, key=lambda p: p.seed)) for s, ps in groups.items()}
    out = []
    for row in ranking.rows:
        s, ps = by_id[row.config]
        out.append({
            "rank": row.rank,
            "label": s.name,
            "coupling": s.coupling,
            "params": s.params,
            "recipe": s.recipe,
            **_summary(ps),
            "comparison": row.comparison.to_dict() if row.comparison else None,
        })  # fmt: skip
    return out, ranking


def _references(points: list[PointResult], settings: list[Setting]) -> dict:
    out = {}
    for s in settings:
        ps = sorted((p for p in points if p.setting == s), key=lambda p: p.seed)
        if ps:
            out[s.method] = {"label": s.label, **_summary(ps)}
    return out


def format_table(result: SweepResult) -> str:
    """The ranking as printed by ``sweep``: rank, configuration (with its recipe), geometric centre and its 95 %
    log-scale interval, arithmetic mean, per-seed values; the verdict; references."""
    sw = result.sweep
    n_trained = result.trained
    n_cached = sum(p.cached for p in result.points)
    width = max([len(r["label"]) for r in result.ranking] + [24]) + 2
    lines = [
        f"Held-out L2 of a linear read-out (px): {sw.describe()}; {len(result.points)} points "
        f"({n_trained} trained, {n_cached} from the store), {result.backend} backend, {result.wall_seconds:.1f} s",
        f"{'rank':<6}{'configuration':<{width}}{'centre':>9}{'95% interval':>22}{'mean':>9}   per seed",
    ]

    def row(rank: str, r: dict) -> str:
        centre = r.get("l2_centre")
        shown = "failed" if centre is None else f"{centre:.3f}"
        mean = "" if r.get("l2_mean") is None else f"{r['l2_mean']:.3f}"
        lo, hi = r.get("l2_ci95") or [None, None]
        ci = f"[{lo:.3f}, {hi:.3f}]" if lo is not None else "n/a"
        per = ", ".join("failed" if v is None else f"{v:.3f}" for v in r.get("l2_per_seed", []))
        if r.get("failed"):
            per += f"  ({r['failed']} failed: {r['errors'][0]})"
        return f"{rank:<6}{r['label']:<{width}}{shown:>9}{ci:>22}{mean:>9}   {per}".rstrip()

    for r in result.ranking:
        lines.append(row(str(r["rank"]), r))
    lines.append(f"verdict: {result.verdict}")
    lines.append("references (centre: geometric mean over seeds; interval: Student-t on the log scale)")
    for name in (*REFERENCE_METHODS, "predict_mean"):
        r = result.references.get(name)
        if r is not None:
            lines.append(row("-", {"l2_centre": r.get("l2_centre", r.get("l2_mean")), **r}))
    return "\n".join(lines)


__all__ = [
    "EXECUTORS",
    "LocalExecutor",
    "Outcome",
    "PointResult",
    "SweepEvent",
    "SweepResult",
    "SweepRun",
    "format_table",
    "make_backend",
    "next_wave",
    "rank",
    "run_sweep",
    "wave_size",
]
