"""The job runner: training off the caller's thread, shared by every client of one process (e.g. every browser
session of a Streamlit server).

- ``submit(config, client)`` checks the hosted-demo limits (``ValueError`` if over), then returns a ``Job``:
  already ``done`` when the run is in the store (it opens at once), else queued. A request identical to a queued or
  running job (same run key) joins that job instead of starting another.
- At most ``limits.jobs`` jobs train at once (that many worker threads); at most ``limits.queue`` wait.
- ``cancel(job_id, client)`` detaches one client; the job itself stops only when no client is left waiting for it,
  so one visitor's cancel never throws away another's run. A cancelled or failed job writes nothing to the store
  (the store only ever moves finished runs into place).
- After a run is trained the store is pruned to ``limits.store_mb`` (oldest runs first).

No Streamlit here: the app keeps one ``JobRunner`` in ``st.cache_resource``; tests and notebooks use it directly.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from rpm_engine.data import Video, VideoConfig, generate_video
from rpm_engine.store import Run, RunStore
from rpm_engine.train import Cancelled, Progress, RunConfig, TrainingError, resolve_device

from .limits import Limits

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


@dataclass
class Job:
    """One training (or one opening of a stored run). Read it through ``JobRunner.view``; the runner mutates it."""

    id: str
    key: str
    config: RunConfig
    state: str = QUEUED
    progress: Progress | None = None
    run: Run | None = None
    error: str | None = None
    from_store: bool = False  # opened from the store: nothing was trained
    clients: set = field(default_factory=set)
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    @property
    def label(self) -> str:
        return f"{self.config.label} · seed {self.config.train.seed}"


@dataclass(frozen=True)
class JobView:
    """A consistent snapshot of a job for display: nothing in it changes under the reader."""

    id: str
    key: str
    label: str
    state: str
    position: int | None  # 1 = next to start; None unless queued
    epoch: int
    epochs: int
    loss: float | None
    mi: float | None  # I_N, nats
    elapsed_s: float | None
    eta_s: float | None
    device: str
    error: str | None
    from_store: bool
    clients: int

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class JobRunner:
    """A bounded pool of training threads over one ``RunStore``; thread-safe."""

    def __init__(
        self,
        store: RunStore | None = None,
        limits: Limits | None = None,
        device: str = "auto",
        history: int = 500,
        also: list[RunStore] | tuple = (),
    ):
        self.store = store or RunStore()
        self.also = tuple(also)  # read-only stores searched too (e.g. runs shipped with the app): found = opened
        self.limits = limits or Limits()
        self.device = resolve_device(device).type  # raises ValueError for a device that is not there
        self._cond = threading.Condition()
        self._queue: collections.deque[Job] = collections.deque()
        self._active: dict[str, Job] = {}  # run key -> queued or running job
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()  # id -> job, bounded
        self._history = history
        self._videos: collections.OrderedDict[VideoConfig, Video] = collections.OrderedDict()
        self._videos_lock = threading.Lock()
        self._stopping = False
        self.counters = collections.Counter(jobs=0, trained=0, opened=0, shared=0, failed=0, cancelled=0)
        self._workers = [
            threading.Thread(target=self._work, name=f"rpm-job-{i}", daemon=True) for i in range(self.limits.jobs)
        ]
        for w in self._workers:
            w.start()

    # -- requests ------------------------------------------------------------------------------------------------
    def submit(self, config: RunConfig, client: str = "") -> Job:
        """A job for ``config``: done at once if stored, else queued (or joined if an identical job is under way)."""
        if not isinstance(config, RunConfig):
            raise TypeError(f"submit expects a RunConfig, got {type(config).__name__}")
        self.limits.check_run(config)
        key = config.key()
        with self._cond:
            if self._stopping:
                raise RuntimeError("the job runner is shut down")
            job = self._active.get(key)
            if job is not None:
                job.clients.add(client)
                self.counters["shared"] += 1
                return job
        run = self._load(key)  # outside the lock: reading a run takes milliseconds, but other callers need not wait
        with self._cond:
            job = self._active.get(key)  # someone may have queued it meanwhile
            if job is not None:
                job.clients.add(client)
                self.counters["shared"] += 1
                return job
            if run is not None:
                job = Job(
                    uuid.uuid4().hex[:8],
                    key,
                    config,
                    DONE,
                    run=run,
                    from_store=True,
                    clients={client},
                    finished=time.time(),
                )
                self.counters["opened"] += 1
                self._remember(job)
                return job
            if len(self._queue) >= self.limits.queue:
                raise ValueError(f"the training queue is full ({self.limits.queue} jobs waiting); try again shortly")
            job = Job(uuid.uuid4().hex[:8], key, config, clients={client})
            self._active[key] = job
            self._queue.append(job)
            self.counters["jobs"] += 1
            self._remember(job)
            self._cond.notify()
            return job

    def submit_many(self, configs, client: str = "") -> list[Job]:
        """Several runs at once (couplings x seeds), checked as one request first so none is half-submitted."""
        configs = list(configs)
        self.limits.check_batch(configs)
        return [self.submit(c, client) for c in configs]

    def cancel(self, job_id: str, client: str | None = None) -> bool:
        """Detach ``client`` (all clients if None); stop the job if nobody else waits. True if the job stops."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or job.state in FINISHED:
                return False
            if client is None:
                job.clients.clear()
            else:
                job.clients.discard(client)
            if job.clients:
                return False  # another session still wants this run: keep training it
            if job.state == QUEUED:
                self._queue.remove(job)
                self._finish(job, CANCELLED, error="cancelled before it started")
            else:
                job.cancel_event.set()  # the trainer checks it between steps; the worker marks it cancelled
            return True

    # -- reading -------------------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._cond:
            return self._jobs.get(job_id)

    def view(self, job_id: str) -> JobView | None:
        with self._cond:
            job = self._jobs.get(job_id)
            return None if job is None else self._view(job)

    def views(self, job_ids) -> list[JobView]:
        with self._cond:
            return [self._view(self._jobs[i]) for i in job_ids if i in self._jobs]

    def stats(self) -> dict:
        with self._cond:
            running = sum(1 for j in self._active.values() if j.state == RUNNING)
            return {
                **self.counters,
                "running": running,
                "queued": len(self._queue),
                "workers": len(self._workers),
                "device": self.device,
            }

    def wait(self, job_id: str, timeout: float | None = None) -> JobView:
        """Block until the job is finished (or ``timeout`` seconds pass); returns its view."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                job = self._jobs[job_id]
                if job.state in FINISHED:
                    return self._view(job)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return self._view(job)
                self._cond.wait(timeout=0.2 if left is None else min(left, 0.2))

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel everything and stop the workers (tests; a server simply exits)."""
        with self._cond:
            self._stopping = True
            for job in list(self._queue):
                self._finish(job, CANCELLED, error="the server is shutting down")
            self._queue.clear()
            for job in self._active.values():
                job.cancel_event.set()
            self._cond.notify_all()
        for w in self._workers:
            w.join(timeout)

    # -- internals -----------------------------------------------------------------------------------------------
    def _view(self, job: Job) -> JobView:
        p = job.progress
        position = None
        if job.state == QUEUED:
            position = next((i + 1 for i, j in enumerate(self._queue) if j is job), None)
        epochs = job.config.train.epochs if job.config.train.method != "untrained" else 0
        if job.state == DONE and job.run is not None:
            hist = job.run.history
            last = hist[-1] if hist else {}
            loss, mi = last.get("loss"), last.get("mi")
            epoch = len(hist)
            elapsed = job.run.metrics.get("train_seconds")
            device = job.run.metrics.get("device", self.device)
        else:
            loss, mi = (p.loss, p.mi) if p else (None, None)
            epoch = p.epoch if p else 0
            elapsed = p.elapsed_s if p else None
            device = p.device if p else self.device
        return JobView(
            job.id,
            job.key,
            job.label,
            job.state,
            position,
            epoch,
            epochs,
            loss,
            mi,
            elapsed,
            p.eta_s if (p and job.state == RUNNING) else None,
            device,
            job.error,
            job.from_store,
            len(job.clients),
        )

    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        while len(self._jobs) > self._history:
            old_id, old = next(iter(self._jobs.items()))
            if old.state not in FINISHED:
                break
            del self._jobs[old_id]

    def _finish(self, job: Job, state: str, run: Run | None = None, error: str | None = None) -> None:
        job.state, job.run, job.error, job.finished = state, run, error, time.time()
        self._active.pop(job.key, None)
        if state == FAILED:
            self.counters["failed"] += 1
        elif state == CANCELLED:
            self.counters["cancelled"] += 1
        self._cond.notify_all()

    def _load(self, key: str) -> Run | None:
        for store in (self.store, *self.also):
            try:
                run = store.load(key)
            except Exception as exc:  # CorruptRun and friends: the worker's get_or_train rebuilds it
                log.warning("stored run %s is unreadable (%s); it will be trained again", key, exc)
                continue
            if run is not None:
                return run
        return None

    def _video(self, config: VideoConfig) -> Video:
        with self._videos_lock:
            video = self._videos.get(config)
            if video is None:
                video = generate_video(config)
                self._videos[config] = video
                while len(self._videos) > 4:
                    self._videos.popitem(last=False)
            return video

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._queue.popleft()
                job.state, job.started = RUNNING, time.time()
                self._cond.notify_all()

            def on_progress(p: Progress, job=job) -> None:
                job.progress = p  # one attribute store: readers see the old or the new event, never half of one

            state, run, error = DONE, None, None
            try:
                run = self.store.get_or_train(
                    job.config,
                    video=self._video(job.config.video),
                    device=self.device,
                    callback=on_progress,
                    cancel=job.cancel_event,
                )
            except Cancelled:
                state, error = CANCELLED, "cancelled"
            except (TrainingError, ValueError) as exc:
                state, error = FAILED, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            except Exception as exc:  # never let one bad job kill the worker thread
                log.exception("job %s (%s) failed", job.id, job.label)
                state, error = FAILED, f"{type(exc).__name__}: {exc}"
            with self._cond:
                if run is not None:
                    self.counters["trained" if not run.cached else "opened"] += 1
                self._finish(job, state, run, error)
            if run is not None and not run.cached:
                self._prune()

    def _prune(self) -> None:
        try:
            removed = self.store.prune(self.limits.store_bytes)
            if removed:
                log.info("pruned %d old run(s) to keep the store under %d MB", len(removed), self.limits.store_mb)
        except Exception:  # pruning is housekeeping: never fail a job over it
            log.exception("pruning the run store failed")
