"""The job runner: training in worker processes, shared by every client of one server process (e.g. every browser
session of a Streamlit server).

The server's interpreter only keeps the books; the work (generating the video, training, evaluating, saving,
pruning) runs in ``limits.jobs`` worker processes started with "spawn", each with ``cores // jobs`` torch threads.
Progress comes back over a pipe. So a training never holds the server's GIL, and a page stays responsive while jobs
run (training in threads of the server starved it: health checks took 7-10 s and pages stayed blank for minutes).

- ``submit(config, client)`` / ``submit_many(configs, client)`` check the hosted-demo limits (``ValueError`` if
  over), then return jobs: ``done`` at once when the run is in a store (it opens at once), joined when an identical
  run (same key) is queued or running, else queued. A request is all or nothing: if it does not fit (the server
  holds ``limits.capacity`` runs, one visitor ``limits.per_client``) nothing is submitted or joined.
- Waiting jobs start round robin across visitors (``fair.FairQueue``), first come first served within one
  visitor: a visitor who asks for many runs (or opens many tabs: one browser is one visitor) does not make the
  others wait for all of them. ``mine(client)`` lists a visitor's jobs.
- ``cancel(job_id, client)`` detaches one client; the job stops only when nobody else waits for it. A stopped job is
  marked cancelled at once and is never joined again (a new request starts a fresh job); its worker is told to stop
  (it checks between steps and frames) and is terminated if it has not stopped after ``cancel_grace`` seconds.
- A job running longer than ``limits.job_seconds`` is stopped the same way and fails with a message.
- Nothing half-written is ever served: a worker writes a run in the store's tmp/ and renames it into place; a
  killed worker leaves at most a tmp entry, which the store removes later. Queued jobs live in this process only:
  if the server is killed they are gone (a visitor asks again; finished runs open from the store).

No Streamlit here: the app keeps one ``JobRunner`` in ``st.cache_resource``; tests and notebooks use it directly.
"""

from __future__ import annotations

import atexit
import collections
import logging
import multiprocessing as mp
import os
import sys
import threading
import time
import types
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_any

from rpm_engine.data import Video, VideoConfig, generate_video
from rpm_engine.obtain import obtain
from rpm_engine.run import RunState
from rpm_engine.store import CorruptRun, Run, RunStore, StoreError, load_first
from rpm_engine.text import first_line
from rpm_engine.train import Cancelled, Progress, RunConfig, TrainingError, resolve_device

from .fair import FairQueue
from .limits import Limits

log = logging.getLogger(__name__)

# The one vocabulary of a run's state (rpm_engine.run.RunState), shared with sweep events and the pages.
WAITING, RUNNING, DONE, FAILED, CANCELLED = (
    RunState.WAITING,
    RunState.RUNNING,
    RunState.DONE,
    RunState.FAILED,
    RunState.CANCELLED,
)
FINISHED = (DONE, FAILED, CANCELLED)


@dataclass
class Job:
    """One training (or one opening of a stored run). Read it through ``JobRunner.view``; the runner mutates it."""

    id: str
    key: str
    config: RunConfig
    state: str = WAITING
    progress: Progress | None = None
    run: Run | None = None
    error: str | None = None
    from_store: bool = False  # opened from the store: nothing was trained
    clients: set = field(default_factory=set)
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
    l2: float | None = None  # a finished run's held-out error, px (from the run itself: no store listing needed)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def job_view(job: Job, position: int | None, device: str) -> JobView:
    """A snapshot of ``job`` (its ``position`` in the queue; ``device``: where it trains unless it says otherwise);
    shared by the job services (this runner and ``ray_jobs``)."""
    p = job.progress
    epochs = job.config.train.epochs if job.config.train.method != "untrained" else 0
    if job.state == DONE and job.run is not None:
        hist = job.run.history
        last = hist[-1] if hist else {}
        loss, mi = last.get("loss"), last.get("mi")
        epoch = len(hist)
        elapsed = job.run.metrics.get("train_seconds")
        device = job.run.metrics.get("device", device)
        l2 = job.run.metrics.get("l2_mean")
    else:
        loss, mi = (p.loss, p.mi) if p else (None, None)
        epoch = p.epoch if p else 0
        elapsed = p.elapsed_s if p else None
        device = p.device if p else device
        l2 = None
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
        l2 if isinstance(l2, (int, float)) else None,
    )


# -- the worker process ---------------------------------------------------------------------------------------------
def train_job(
    config: RunConfig,
    store: RunStore,
    *,
    videos: collections.OrderedDict,
    device: str,
    progress: Callable[[Progress], None],
    cancel: Callable[[], bool],
) -> Run:
    """The work of one job in a worker: the stored run, else generate the video (kept for the next seeds) and train."""
    try:
        run = store.load(config.key())
        if run is not None:
            return run
    except CorruptRun:
        pass  # get_or_train rebuilds it
    video = videos.get(config.video)
    if video is None:
        video = generate_video(config.video, cancel=cancel)
        videos[config.video] = video
        while len(videos) > 2:
            videos.popitem(last=False)
    return obtain(config, store, video=video, device=device, callback=progress, cancel=cancel)


def _worker_main(conn, threads: int, work, store_root: str, max_tasks: int, nice: int = 0) -> None:
    """A worker process: take (job id, config, device, store bytes) tasks from ``conn``, send events back.

    ``nice`` lowers its CPU priority: a training uses every core it is given, and on a small server the pages (the
    Streamlit process) must win the cores whenever a visitor asks for one.

    While a job runs, the work's cancel checks look at the pipe (one ``poll``): a ("cancel", id) message or None
    stops it, and so does a closed pipe, so a killed server never leaves trainings running. Exits on None.
    """
    import torch

    if nice:
        try:
            os.nice(nice)
        except OSError:  # not allowed here: train at the normal priority
            pass
    torch.set_num_threads(threads)
    store = RunStore(store_root)
    videos: collections.OrderedDict[VideoConfig, Video] = collections.OrderedDict()
    flags = {"cancel": False, "exit": False}

    def stop() -> bool:
        if not flags["cancel"]:
            try:
                while conn.poll():
                    msg = conn.recv()
                    flags["cancel"] = True  # ("cancel", id) or None (shut down): nothing else comes while busy
                    flags["exit"] = flags["exit"] or msg is None
            except (EOFError, OSError):  # the server is gone
                flags["cancel"] = flags["exit"] = True
        return flags["cancel"]

    done = 0
    while done < max_tasks and not flags["exit"]:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if task[0] == "cancel":  # for a job that finished before the word arrived
            continue
        flags["cancel"], done = False, done + 1
        job_id, config, device, store_bytes = task

        def progress(p: Progress, job_id=job_id) -> None:
            try:
                conn.send(("progress", job_id, p))
            except OSError:  # the server is gone: stop the work (nothing is stored)
                raise Cancelled("the server is gone") from None

        try:
            run = work(config, store, videos=videos, device=device, progress=progress, cancel=stop)
            msg = ("done", job_id, bool(run.cached))
        except Cancelled:
            msg = ("cancelled", job_id, "cancelled")
        except (TrainingError, ValueError, StoreError) as exc:
            msg = ("failed", job_id, first_line(exc, 500))
        except Exception as exc:  # noqa: BLE001 - one bad job must not kill the worker
            log.exception("job %s failed", job_id)
            msg = ("failed", job_id, f"{type(exc).__name__}: {first_line(exc, 500)}")
        try:
            conn.send(msg)
        except OSError:
            return
        if msg[0] == "done" and not msg[2]:
            try:
                store.prune(store_bytes)
            except Exception:  # noqa: BLE001 - pruning is housekeeping: never fail a job over it
                log.exception("pruning the run store failed")


@dataclass(eq=False)
class _Worker:
    process: object
    conn: object
    job: Job | None = None
    told: bool = False  # the stop word was sent for the current job
    stop_by: float | None = None  # set while stopping: terminate if still busy then

    @property
    def idle(self) -> bool:
        return self.job is None and self.process.is_alive()


# -- the runner -----------------------------------------------------------------------------------------------------
def checked_request(configs: Iterable[RunConfig], limits: Limits, where: str = "this server") -> list[RunConfig]:
    """A request of runs as every job service takes it: RunConfigs only, within the limits of ``where`` ("this
    server", or "the class" on Ray) (ValueError)."""
    configs = list(configs)
    for c in configs:
        if not isinstance(c, RunConfig):
            raise TypeError(f"submit expects a RunConfig, got {type(c).__name__}")
    limits.check_batch(configs, where)
    return configs


class JobTable:
    """What both job services share, the in-process ``JobRunner`` and the class's Ray ``JobService``: the jobs by id
    (a bounded history), the one job under way per run key (``_active``), the fair queue, the counters, and the one
    admission rule (``_admit``). Subclasses set ``limits``, ``device``, ``_jobs``, ``_active``, ``_queue``,
    ``counters`` and ``_history``."""

    def _view(self, job: Job) -> JobView:
        position = None
        if job.state == WAITING:
            position = next((i + 1 for i, j in enumerate(self._queue) if j is job), None)
        return job_view(job, position, self.device)

    def _remember(self, job: Job) -> None:
        self._jobs[job.id] = job
        while len(self._jobs) > self._history:
            old_id, old = next(iter(self._jobs.items()))
            if old.state not in FINISHED:
                break
            del self._jobs[old_id]
            self._forget(old_id)

    def _detach(self, job_id: str, client: str | None) -> Job | None:
        """Detach ``client`` (every client if None) from an unfinished job: the job when nobody waits on it any more
        (the caller stops it), else None."""
        job = self._jobs.get(job_id)
        if job is None or job.state in FINISHED:
            return None
        if client is None:
            job.clients.clear()
        else:
            job.clients.discard(client)
        return None if job.clients else job

    def _forget(self, job_id: str) -> None:
        """A finished job left the history (a subclass drops what else it kept for it)."""

    def _finish(self, job: Job, state: str, run: Run | None = None, error: str | None = None) -> None:
        job.state, job.run, job.error, job.finished = state, run, error, time.time()
        if self._active.get(job.key) is job:
            del self._active[job.key]
        if state == FAILED:
            self.counters["failed"] += 1
        elif state == CANCELLED:
            self.counters["cancelled"] += 1
        self._notify()

    def _notify(self) -> None:
        """A job finished (the in-process runner wakes whoever waits on it)."""

    def _admit(self, wanted: dict[str, RunConfig], stored: dict, client: str, pending: int, holder: str):
        """The one admission rule of a job table (the in-process ``JobRunner`` and the class's Ray ``JobService``), all
        or nothing: a key already under way is joined, a stored run is opened, the rest are queued, within the table's
        capacity (``pending`` runs waiting or training now) and the visitor's share. Returns (jobs by key, the new keys); ``ValueError`` with
        the refusal a visitor reads, naming ``holder`` ("this server", "the class")."""
        joins = {k: self._active[k] for k in wanted if k in self._active}
        opens = {k: stored[k] for k in wanted if k not in joins and stored.get(k) is not None}
        new = [k for k in wanted if k not in joins and k not in opens]
        lim = self.limits
        if new and pending + len(new) > lim.capacity:
            raise ValueError(
                f"the training queue is full: {pending} runs are waiting or training and {holder} holds "
                f"{lim.capacity}; try again shortly"
            )
        held = {j.key for j in self._active.values() if client in j.clients}
        after = held | set(joins) | set(new)
        if len(after) > lim.per_client:
            raise ValueError(
                f"at most {lim.per_client} run(s) per visitor may wait or train at once on {holder} (you have "
                f"{len(held)}, this asks for {len(after) - len(held)} more); wait for them to finish or cancel some"
            )
        jobs = {}
        for k, job in joins.items():
            job.clients.add(client)
            self.counters["shared"] += 1
            jobs[k] = job
        for k, run in opens.items():
            job = Job(_new_id(), k, wanted[k], DONE, run=run, from_store=True, clients={client})
            job.finished = time.time()
            self.counters["opened"] += 1
            self._remember(job)
            jobs[k] = job
        for k in new:
            job = Job(_new_id(), k, wanted[k], clients={client})
            self._active[k] = job
            self._queue.append(job, client)
            self.counters["jobs"] += 1
            self._remember(job)
            jobs[k] = job
        return jobs, new


class JobRunner(JobTable):
    """A bounded pool of training processes over one ``RunStore``; thread-safe.

    ``work`` replaces ``train_job`` (a picklable function with its signature: tests, other backends);
    ``cancel_grace`` is how long a worker may take to stop before it is terminated; a worker is replaced after
    ``max_tasks`` jobs (memory hygiene); workers run at ``nice`` (default: 10 when ``Limits.background_training``,
    so the pages win the cores on a class-only server, else 0, so a machine's other work does not starve them).
    """

    def __init__(
        self,
        store: RunStore | None = None,
        limits: Limits | None = None,
        device: str = "auto",
        history: int = 500,
        also: list[RunStore] | tuple = (),
        *,
        work: Callable = train_job,
        cancel_grace: float = 1.0,
        max_tasks: int = 50,
        nice: int | None = None,
    ):
        self.store = store or RunStore()
        self.also = tuple(also)  # read-only stores searched too (e.g. runs shipped with the app): found = opened
        self.limits = limits or Limits()
        self.device = resolve_device(device).type  # raises ValueError for a device that is not there
        self.cancel_grace = cancel_grace
        if nice is None:  # the limit decides: trainings in the background (nice 10) only when asked for
            nice = 10 if self.limits.background_training else 0
        self._work, self._max_tasks, self._nice = work, max_tasks, nice
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.threads = max(1, cores // self.limits.jobs)
        self._ctx = mp.get_context("spawn")
        self._cond = threading.Condition()
        self._queue = FairQueue()  # waiting jobs, started round robin across visitors (fair.py)
        self._active: dict[str, Job] = {}  # run key -> queued or running job (joinable)
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()  # id -> job, bounded
        self._history = history
        self._stopping = False
        self.counters = collections.Counter(jobs=0, trained=0, opened=0, shared=0, failed=0, cancelled=0)
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._workers = [self._spawn() for _ in range(self.limits.jobs)]
        self._supervisor = threading.Thread(target=self._supervise, name="rpm-jobs", daemon=True)
        self._supervisor.start()
        atexit.register(_stop_replacing, weakref.ref(self))

    # -- requests ------------------------------------------------------------------------------------------------
    def submit(self, config: RunConfig, client: str = "") -> Job:
        """A job for ``config``: done at once if stored, else queued (or joined if an identical job is under way)."""
        return self.submit_many([config], client)[0]

    def submit_many(self, configs: Iterable[RunConfig], client: str = "") -> list[Job]:
        """Several runs at once (couplings x seeds), all or nothing: one job per config, in order."""
        configs = checked_request(configs, self.limits)
        wanted = {c.key(): c for c in configs}
        with self._cond:
            self._refuse_if_stopping()
            to_open = [k for k in wanted if k not in self._active]
        stored = {k: self._load(k) for k in to_open}  # outside the lock: reading runs takes milliseconds
        with self._cond:
            self._refuse_if_stopping()
            pending = len(self._queue) + sum(1 for j in self._active.values() if j.state == RUNNING)
            jobs, new = self._admit(wanted, stored, client, pending, "this server")
        if new:
            self._wake()
        return [jobs[c.key()] for c in configs]

    def cancel(self, job_id: str, client: str | None = None) -> bool:
        """Detach ``client`` (all clients if None); stop the job if nobody else waits. True if the job stops."""
        with self._cond:
            job = self._detach(job_id, client)
            if job is None:
                return False  # finished, unknown, or another session still wants this run: keep training it
            if job.state == WAITING:
                self._queue.remove(job)
                self._finish(job, CANCELLED, error="cancelled before it started")
            else:
                self._stop(job, CANCELLED, "cancelled")
        self._wake()
        return True

    # -- reading -------------------------------------------------------------------------------------------------
    def view(self, job_id: str) -> JobView | None:
        with self._cond:
            job = self._jobs.get(job_id)
            return None if job is None else self._view(job)

    def views(self, job_ids: Iterable[str]) -> list[JobView]:
        with self._cond:
            return [self._view(self._jobs[i]) for i in job_ids if i in self._jobs]

    def mine(self, client: str, limit: int = 40) -> list[str]:
        """The ids of ``client``'s jobs this runner remembers, newest first: a visitor's "my runs" in any tab, and
        after a reconnect (``client`` is the visitor's browser, ``explorer.ui.client_id``)."""
        with self._cond:
            return [j.id for j in reversed(self._jobs.values()) if client in j.clients][:limit]

    def stats(self) -> dict:
        """The counters, what runs and waits now, and ``watchers``: the clients waiting for an unfinished job (the
        app's pages refresh less often as it grows, so their refreshes cost the server a bounded share)."""
        with self._cond:
            return {
                **self.counters,
                "running": sum(1 for j in self._active.values() if j.state == RUNNING),
                "waiting": len(self._queue),
                "watchers": len({c for j in self._active.values() for c in j.clients}),
                "stopping": sum(1 for w in self._workers if w.stop_by is not None),
                "workers": len(self._workers),
                "capacity": self.limits.capacity,
                "per_client": self.limits.per_client,
                "device": self.device,
            }

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (an operator's ``top``; tests check a worker was or was not replaced)."""
        with self._cond:
            return [w.process.pid for w in self._workers]

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

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel everything and stop the worker processes (tests; a server simply exits and its workers with it)."""
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            for job in list(self._queue):
                self._finish(job, CANCELLED, error="the server is shutting down")
            self._queue.clear()
            for job in list(self._active.values()):
                self._finish(job, CANCELLED, error="the server is shutting down")
        self._wake()
        self._supervisor.join(timeout)
        for w in self._workers:  # the supervisor is gone: this thread is the only sender now
            try:
                w.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + min(timeout, self.cancel_grace + 1.0)
        for w in self._workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            _end(w.process)
            w.conn.close()

    # -- internals: bookkeeping (under self._cond) ----------------------------------------------------------------
    def _notify(self) -> None:
        self._cond.notify_all()

    def _refuse_if_stopping(self) -> None:
        if self._stopping:
            raise RuntimeError("the job runner is shut down")

    def _stop(self, job: Job, state: str, error: str) -> None:
        """Finish a running job now (never joined again) and tell its worker to stop; terminated if it lingers."""
        self._finish(job, state, error=error)
        for w in self._workers:
            if w.job is job and w.stop_by is None:
                w.stop_by = time.monotonic() + self.cancel_grace  # the supervisor sends the word (one sender)
                w.told = False

    def _load(self, key: str) -> Run | None:
        return load_first((self.store, *self.also), key)

    # -- internals: the worker processes ------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        here, there = self._ctx.Pipe(duplex=True)
        args = (there, self.threads, self._work, str(self.store.root), self._max_tasks, self._nice)
        process = self._ctx.Process(target=_worker_main, args=args, name="rpm-job-worker", daemon=True)
        _start_without_main(process)
        there.close()
        return _Worker(process, here)

    def _wake(self) -> None:
        try:
            self._wake_w.send(None)
        except OSError:
            pass

    def _supervise(self) -> None:
        """The runner's one thread: start queued jobs, relay events, enforce budgets, replace dead workers."""
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._dispatch()
                lingering = self._enforce(time.monotonic())
                self._tell()
                by_conn = {w.conn: w for w in self._workers}
                by_sentinel = {w.process.sentinel: w for w in self._workers}
            for process in lingering:  # outside the lock: terminating may take a moment
                _end(process)
            ready = wait_any([self._wake_r, *by_conn, *by_sentinel], timeout=0.25)
            for r in sorted(ready, key=lambda r: r in by_sentinel):  # a worker's last words before its death
                if r is self._wake_r:
                    while self._wake_r.poll():
                        self._wake_r.recv()
                elif r in by_conn:
                    self._receive(by_conn[r])
                else:
                    self._replace(by_sentinel[r])

    def _dispatch(self) -> None:
        for w in self._workers:
            if not self._queue:
                return
            if not w.idle or w.stop_by is not None:
                continue
            job = self._queue.popleft()
            try:
                w.conn.send((job.id, job.config, self.device, self.limits.store_bytes))
            except OSError:  # the worker just died: the job goes back to the front, the sentinel replaces it
                self._queue.appendleft(job)
                continue
            w.job, job.state, job.started = job, RUNNING, time.time()
            self._cond.notify_all()

    def _tell(self) -> None:
        """Send the stop word to workers whose job was cancelled or ran over its budget (only this thread sends)."""
        for w in self._workers:
            if w.stop_by is not None and not w.told and w.job is not None:
                w.told = True
                try:
                    w.conn.send(("cancel", w.job.id))
                except OSError:
                    pass  # it died: its sentinel brings a new one

    def _enforce(self, now: float) -> list:
        """Stop jobs over their time budget; returns the processes of workers that did not stop in time."""
        lingering = []
        for w in self._workers:
            job = w.job
            if job is None:
                continue
            if w.stop_by is not None and now > w.stop_by:
                log.warning("job %s did not stop within %.1f s: terminating its worker", job.id, self.cancel_grace)
                w.job = None  # nothing more is expected from it; the sentinel brings a new worker
                lingering.append(w.process)
            elif job.state == RUNNING and job.started and time.time() - job.started > self.limits.job_seconds:
                self._stop(
                    job,
                    FAILED,
                    f"stopped after {self.limits.job_seconds} s, this server's limit per run; nothing was stored",
                )
        return lingering

    def _receive(self, w: _Worker) -> bool:
        """Handle one message from a worker; False when its pipe is closed (it died: its sentinel fires too)."""
        try:
            msg = w.conn.recv()
        except (EOFError, OSError):
            return False
        kind, job_id = msg[0], msg[1]
        job = w.job
        if job is None or job.id != job_id:
            return True  # a late word from a job already given up on
        if kind == "progress":
            if job.state == RUNNING:
                job.progress = msg[2]  # one attribute store: readers see the old or the new event, never half
            return True
        run = self._load(job.key) if kind == "done" else None  # outside the lock: milliseconds
        with self._cond:
            w.job, w.stop_by = None, None
            if job.state in FINISHED:  # cancelled or over budget meanwhile: it stays so
                self._cond.notify_all()
                return True
            if kind == "done" and run is not None:
                self.counters["opened" if msg[2] else "trained"] += 1
                self._finish(job, DONE, run)
            elif kind == "done":
                self._finish(job, FAILED, error="the finished run could not be read back from the store")
            elif kind == "cancelled":
                self._finish(job, CANCELLED, error=msg[2])
            else:
                self._finish(job, FAILED, error=msg[2])
        return True

    def _replace(self, w: _Worker) -> None:
        """A worker process ended (killed, crashed, terminated after a cancel, or retired): start another."""
        while w.conn.poll() and self._receive(w):  # what it said before it ended (e.g. its last job's result)
            pass
        w.process.join(0.1)
        with self._cond:
            if w not in self._workers or self._stopping:
                return
            job, w.job = w.job, None  # stop_by stays: it counts as stopping until its successor is in place
            if job is not None and job.state not in FINISHED:
                code = w.process.exitcode
                self._finish(job, FAILED, error=f"the training process stopped unexpectedly (exit code {code})")
        fresh = self._spawn()  # outside the lock: starting a process takes a moment
        with self._cond:
            w.conn.close()
            self._workers[self._workers.index(w)] = fresh
            self._cond.notify_all()


def _stop_replacing(ref: weakref.ref) -> None:
    """At interpreter exit (before multiprocessing ends the workers): spawn no replacement, whose start would read
    from a parent that is going away (an ``EOFError`` traceback in the log)."""
    runner = ref()
    if runner is not None:
        with runner._cond:
            runner._stopping = True


_SPAWN_LOCK = threading.Lock()


def _start_without_main(process) -> None:
    """Start a spawned process without re-running the parent's ``__main__`` in it.

    "spawn" normally imports the parent's main script in the child; under ``streamlit run`` that script is the app
    page, which would run (and start its own runner) in every worker. The worker needs nothing from ``__main__``
    (its target and ``work`` live in importable modules), so the main module is hidden while the process starts.
    """
    with _SPAWN_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__mp_main__")
        try:
            process.start()
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def _end(process, grace: float = 0.5) -> None:
    """Terminate a worker process (SIGTERM, then SIGKILL)."""
    if process.is_alive():
        process.terminate()
        process.join(grace)
    if process.is_alive():
        process.kill()
        process.join(grace)


def _new_id() -> str:
    return uuid.uuid4().hex[:8]
