"""One queue for a whole class on a Ray cluster: a named, detached actor owns the job table; every app server talks
to it through ``RayJobRunner``, which has the in-process ``JobRunner``'s interface (``rpm_service.service`` picks
one: this when ``RPM_RAY_ADDRESS`` is set).

The actor (``JobService``, named ``rpm-jobs`` in Ray namespace ``rpm``) is created by the first server that connects
and outlives it (``lifetime="detached"``), so:

- one job per run key across every server (a run asked for on two servers trains once), class-wide capacity
  (``Limits.jobs`` training at once, ``Limits.queue`` waiting) and per-visitor shares (``Limits.per_client``),
  waiting jobs started round robin across visitors (``fair.FairQueue``), a visitor being a browser
  (``identity``);
- jobs outlive the server that accepted them: a visitor whose server dies reconnects through the balancer to
  another server, which finds their jobs by visitor id (``mine``);
- each training is a Ray task with its resource request (``num_cpus``, or one GPU), spread over the nodes and
  retried on a lost worker or node (``max_retries``); the per-run time limit and cancel stop the task
  (``ray.cancel(force=True)``: a cancelled task is never retried);
- the actor is the store's single writer: tasks return what ``train`` returns and the actor saves it under the
  store's lock (a retried task that also finished cannot store a second copy), then prunes. The actor runs on the
  node that owns the store: the node started with the custom resource ``rpm_store`` (``ray start --head
  --resources '{"rpm_store": 1}'``), else the node of the server that created it.

One truth for the class's limits: the actor is created with the limits of the server that created it, and they are
in force for every server (``RayJobRunner.limits``; its pages show them: ``service.in_force``). A server started with
other ``RPM_*`` settings logs one warning naming each differing variable, the value in force and its own, and uses
the class's; presentation mode (``training``) and ``background_training`` stay per server. To change the class's
limits, stop the servers, end the service (``stop_service``) and start them with the new settings: the first to
connect creates it afresh. A service that died (ended, or lost with its node) is created afresh at a server's next
call, with that server's limits.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from rpm_engine.obtain import save_once
from rpm_engine.store import CorruptRun, RunStore, load_first
from rpm_engine.text import first_line
from rpm_engine.train import RunConfig

from .fair import FairQueue
from .jobs import CANCELLED, DONE, FAILED, FINISHED, RUNNING, Job, JobTable, JobView, checked_request
from .limits import Limits, differences

log = logging.getLogger(__name__)

ADDRESS_ENV = "RPM_RAY_ADDRESS"
SERVICE = "rpm-jobs"
NAMESPACE = "rpm"
STORE_RESOURCE = "rpm_store"
WAITING = Job.__dataclass_fields__["state"].default  # the job vocabulary's waiting state (CONTRACTS §2)
CALL_TIMEOUT_S = 15.0  # a call to the actor that takes longer means the cluster is in trouble
START_TIMEOUT_S = 60.0  # its first answer: a new actor is a process importing torch (20 s on a busy 2-core box)
RECENT_VIDEOS = 2
CLASS = "the class"  # whose limits a refusal names (``Limits.check_batch``'s ``where``)


# -- reaching the cluster -------------------------------------------------------------------------------------------
def gcs_address(address: str) -> tuple[str, int] | None:
    """(host, port) to probe for ``address`` ("HOST:PORT", "ray://HOST:PORT"; "auto": the cluster this machine
    started, from Ray's own record of it), or None when there is nothing to probe (e.g. "local")."""
    if address == "auto":
        try:
            address = Path("/tmp/ray/ray_current_cluster").read_text().strip()
        except OSError:
            raise ConnectionError("no Ray cluster was started on this machine (ray start --head ...)") from None
    address = address.removeprefix("ray://")
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host or "127.0.0.1", int(port)


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """``ConnectionError`` with one line within ``timeout`` s when nothing answers at ``address``'s GCS port (Ray's
    own ``init`` waits far longer, 150 s and more, before it gives up)."""
    where = gcs_address(address)
    if where is None:
        return
    try:
        with socket.create_connection(where, timeout=timeout) as sock:
            # Ray's GCS is a gRPC (HTTP/2) server: it answers a client preface with a SETTINGS frame. Something that
            # only accepts the connection (a proxy, another service) is not a Ray cluster.
            sock.settimeout(timeout)
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
            head = b""
            while len(head) < 9:
                chunk = sock.recv(9 - len(head))
                if not chunk:
                    raise ConnectionResetError(0, "closed without answering as a Ray cluster does")
                head += chunk
            if head[3] != 4:
                raise ConnectionError(0, "it does not answer as a Ray cluster does")
        if not address.startswith("ray://"):  # Ray Client's port speaks gRPC, but not as a GCS
            _ask_gcs(f"{where[0]}:{where[1]}", timeout)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConnectionError(
            f"no Ray cluster answers at {address} ({where[0]}:{where[1]}: {reason}); start one with "
            "'ray start --head' or check RPM_RAY_ADDRESS"
        ) from None


def gcs_alive(address: str, timeout: float = 1.0) -> bool:
    """True while something accepts connections at a connected cluster's GCS (``HOST:PORT``): a quick check between
    waits, so a lost head is said in seconds instead of Ray's 60 s of reconnecting."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


_GCS_PROBE = """
import sys
from ray._raylet import GcsClient
try:
    GcsClient(address=sys.argv[1])
except Exception as exc:
    print(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    sys.exit(1)
"""


def _ask_gcs(host_port: str, timeout: float) -> None:
    """Ask the GCS for the cluster's id (Ray's own client, in a child process: its C++ log lines stay out of the
    caller's output); ``ConnectionError`` unless it answers within ``timeout`` s (a proxy in the way answers HTTP/2
    but not as a GCS)."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _GCS_PROBE, host_port], capture_output=True, text=True, timeout=timeout + 10
        )
    except subprocess.TimeoutExpired:
        raise ConnectionError(0, "no answer from Ray's GCS") from None
    if out.returncode != 0:
        raise ConnectionError(0, f"not a Ray cluster: {(out.stdout.strip() or 'no answer')[:120]}")


def connect(address: str):
    """The ``ray`` module connected to the cluster at ``address`` (checked first: one line if it is unreachable)."""
    import ray

    if ray.is_initialized():
        return ray
    check_reachable(address)
    ray.init(
        address=address,
        namespace=NAMESPACE,
        ignore_reinit_error=True,
        log_to_driver=False,
        logging_level=logging.ERROR,
        configure_logging=False,
    )
    return ray


# -- the task: one training on some node ----------------------------------------------------------------------------
_videos: collections.OrderedDict = collections.OrderedDict()


def _video(config):
    from rpm_engine.data import generate_video

    v = _videos.get(config)
    if v is None:
        v = _videos[config] = generate_video(config)
        while len(_videos) > RECENT_VIDEOS:
            _videos.popitem(last=False)
    return v


def _train_task(job_id: str, config: RunConfig, device: str, threads: int, marker_dir: str | None, work=None):
    """Runs in a Ray worker: train one run and return (what ``train`` returns, where it ran); never writes the store.
    Tells the service when it starts (a retried task starts again) and how it progresses (at most twice a second).
    ``work`` replaces ``train`` (same arguments; tests)."""
    import ray
    import torch

    from rpm_engine.train import train

    torch.set_num_threads(max(1, threads))
    pid, node = os.getpid(), ray.get_runtime_context().get_node_id()
    if marker_dir:  # tests and monitoring: which process trains which run, attempt by attempt
        Path(marker_dir).mkdir(parents=True, exist_ok=True)
        (Path(marker_dir) / f"{config.key()}.{pid}.start").write_text(node)
    service = ray.get_actor(SERVICE, namespace=NAMESPACE)
    service.started.remote(job_id, pid, node)
    last = [0.0]

    def progress(p) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or p.event == "run_end":
            last[0] = now
            service.progress.remote(job_id, p)

    t0 = time.perf_counter()
    result = (work or train)(config, _video(config.video), device=device, callback=progress)
    return result, {"pid": pid, "node": node, "task_seconds": time.perf_counter() - t0}


# -- the actor: the class's job table ------------------------------------------------------------------------------
class JobService(JobTable):
    """The job table of a class (a Ray async actor: its methods run one at a time on one event loop, so the table
    needs no lock). Clients call it through ``RayJobRunner``; tasks call ``started`` and ``progress``."""

    def __init__(
        self,
        store_root: str,
        limits: Limits,
        also: tuple[str, ...] = (),
        device: str = "auto",
        num_cpus: float = 1,
        max_retries: int = 3,
        marker_dir: str | None = None,
        history: int = 2000,
        work=None,
    ):
        import ray

        self.store = RunStore(store_root)
        self.also = tuple(RunStore(r, read_only=True) for r in also)
        self.limits = limits
        gpus = ray.cluster_resources().get("GPU", 0)
        if device == "cuda" and gpus < 1:
            raise ValueError("device 'cuda' was asked for, but the Ray cluster has no GPU")
        self.device = "cuda" if device == "cuda" or (device == "auto" and gpus >= 1) else "cpu"
        self.resources = {"num_cpus": 1, "num_gpus": 1} if self.device == "cuda" else {"num_cpus": num_cpus}
        self.threads = max(1, int(num_cpus))
        self.max_retries = max_retries
        self.marker_dir = marker_dir
        self.work = work
        self._history = history
        self._queue = FairQueue()
        self._active: dict[str, Job] = {}  # run key -> waiting or running job (joinable)
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._refs: dict[str, object] = {}  # job id -> the ObjectRef of its task
        self._starts: dict[str, list] = collections.defaultdict(list)  # job id -> [(pid, node)] per attempt
        self._nodes: collections.Counter = collections.Counter()  # node id -> runs trained there
        self.counters = collections.Counter(jobs=0, trained=0, opened=0, shared=0, failed=0, cancelled=0)
        self.counters.update(task_starts=0, retried=0, stored_twice=0)
        self._loop: asyncio.Task | None = None
        self._remote = ray.remote(_train_task)

    def _kick(self) -> None:
        if self._loop is None or self._loop.done():
            self._loop = asyncio.get_running_loop().create_task(self._supervise())

    async def info(self) -> dict:
        self._kick()
        return {"store": str(self.store.root), "limits": self.limits, "device": self.device, "pid": os.getpid()}

    # -- requests ------------------------------------------------------------------------------------------------
    async def submit_many(self, configs: list[RunConfig], client: str) -> list[JobView] | str:
        """As ``JobRunner.submit_many``, class-wide; a refusal comes back as its message (a str)."""
        self._kick()
        try:
            self.limits.check_batch(configs, CLASS)
        except ValueError as exc:
            return first_line(exc)
        wanted = {c.key(): c for c in configs}
        stored = {}
        for k in wanted:
            if k not in self._active:
                try:
                    stored[k] = load_first((self.store, *self.also), k)
                except CorruptRun:
                    stored[k] = None
        try:
            jobs, _ = self._admit(wanted, stored, client, len(self._active), "the class")
        except ValueError as exc:
            return first_line(exc)
        self._dispatch()
        return [self._view(jobs[c.key()]) for c in configs]

    async def cancel(self, job_id: str, client: str | None = None) -> bool:
        job = self._detach(job_id, client)
        if job is None:
            return False
        if job in self._queue:
            self._queue.remove(job)
            self._finish(job, CANCELLED, error="cancelled before it started")
        else:
            self._stop(job, CANCELLED, "cancelled")
        self._dispatch()
        return True

    # -- reading -------------------------------------------------------------------------------------------------
    async def views(self, job_ids: list[str]) -> list[JobView]:
        self._kick()
        return [self._view(self._jobs[i]) for i in job_ids if i in self._jobs]

    async def mine(self, client: str, limit: int = 40) -> list[str]:
        return [j.id for j in reversed(self._jobs.values()) if client in j.clients][:limit]

    async def stats(self) -> dict:
        self._kick()
        return {
            **self.counters,
            "running": sum(1 for j in self._active.values() if j.state == RUNNING),
            "waiting": len(self._queue),
            "watchers": len({c for j in self._active.values() for c in j.clients}),
            "stopping": 0,
            "workers": self.limits.jobs,
            "capacity": self.limits.capacity,
            "per_client": self.limits.per_client,
            "device": self.device,
            "nodes": dict(self._nodes),
            "backend": "ray",
        }

    async def attempts(self, job_id: str) -> list:
        """[(pid, node id)] of every start of the job's task (more than one: it was retried)."""
        return list(self._starts.get(job_id, ()))

    # -- from the tasks ------------------------------------------------------------------------------------------
    async def started(self, job_id: str, pid: int, node: str) -> None:
        self._starts[job_id].append((pid, node))
        self.counters["task_starts"] += 1
        if len(self._starts[job_id]) == 2:
            self.counters["retried"] += 1
        job = self._jobs.get(job_id)
        if job is not None and job.state == RUNNING:
            job.progress = None  # a retry starts over

    async def progress(self, job_id: str, p) -> None:
        job = self._jobs.get(job_id)
        if job is not None and job.state == RUNNING and job.id in self._refs:
            job.progress = p

    # -- internals -----------------------------------------------------------------------------------------------
    def _forget(self, job_id: str) -> None:
        self._starts.pop(job_id, None)

    def _stop(self, job: Job, state: str, error: str) -> None:
        """Finish a running job now and end its task (force: its worker process is killed; never retried)."""
        import ray

        self._finish(job, state, error=error)
        ref = self._refs.pop(job.id, None)
        if ref is not None:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - it may have finished meanwhile
                pass

    def _dispatch(self) -> None:
        running = sum(1 for j in self._active.values() if j.state == RUNNING)
        while self._queue and running < self.limits.jobs:
            job = self._queue.popleft()
            opts = dict(self.resources, max_retries=self.max_retries, retry_exceptions=False)
            ref = self._remote.options(**opts, scheduling_strategy="SPREAD", name=f"rpm:{job.label}"[:100]).remote(
                job.id, job.config, self.device, self.threads, self.marker_dir, self.work
            )
            self._refs[job.id] = ref
            job.state, job.started = RUNNING, time.time()
            running += 1

    async def _supervise(self) -> None:
        import ray

        while True:
            try:
                now = time.time()
                for job in [j for j in self._active.values() if j.state == RUNNING and j.id in self._refs]:
                    if job.started and now - job.started > self.limits.job_seconds:
                        self._stop(
                            job,
                            FAILED,
                            f"stopped after {self.limits.job_seconds} s, the limit per run; nothing was stored",
                        )
                refs = dict(self._refs)
                if refs:
                    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=0)
                    ready = set(ready)
                    for job_id, ref in refs.items():
                        if ref in ready and self._refs.get(job_id) is ref:
                            del self._refs[job_id]
                            await self._collect(self._jobs[job_id], ref)
                self._dispatch()
            except Exception:  # noqa: BLE001 - the table must keep serving whatever one task did
                log.exception("job service: supervision step failed")
            await asyncio.sleep(0.1)

    async def _collect(self, job: Job, ref) -> None:
        import ray

        try:
            result, info = await ref
        except ray.exceptions.TaskCancelledError:
            if job.state not in FINISHED:
                self._finish(job, CANCELLED, error="cancelled")
            return
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None) or exc
            if job.state not in FINISHED:
                self._finish(job, FAILED, error=first_line(cause, 500))
            return
        except ray.exceptions.RayError as exc:  # its worker or node was lost more than max_retries times
            if job.state not in FINISHED:
                self._finish(job, FAILED, error=f"the training was lost ({type(exc).__name__}) after retries")
            return
        if job.state in FINISHED:  # cancelled or over its time meanwhile: nothing is stored
            return
        try:
            run, fresh = await asyncio.to_thread(self._save, result)
        except Exception as exc:  # noqa: BLE001 - a store error fails this job, not the service
            log.exception("storing %s failed", job.key)
            self._finish(job, FAILED, error=f"the run could not be stored: {first_line(exc, 500)}")
            return
        if job.state in FINISHED:
            return
        self.counters["trained" if fresh else "opened"] += 1
        self.counters["stored_twice"] += 0 if fresh else 1
        self._nodes[info["node"]] += 1
        self._finish(job, DONE, run)

    def _save(self, result) -> tuple[object, bool]:
        """The one writer: save atomically under the store's lock, unless the run is there already (then the stored
        copy is kept: never two); prune the store to its size limit."""
        run, fresh = save_once(self.store, result)
        if not fresh:
            return run, False
        try:
            self.store.prune(self.limits.store_bytes)
        except Exception:  # noqa: BLE001 - housekeeping never fails a job
            log.exception("pruning the run store failed")
        return run, True


# -- the client every server uses -----------------------------------------------------------------------------------
class RayJobRunner:
    """The in-process ``JobRunner``'s interface over the class's ``JobService`` actor (created if it is not there).

    ``address``: the cluster ("HOST:PORT", "auto", "ray://..."), default ``$RPM_RAY_ADDRESS``. Every call waits at
    most ``timeout`` s for the actor and then raises ``RuntimeError`` with one line (the cluster is in trouble).
    The other arguments configure the service when this client creates it (``work``: a stand-in for ``train``).

    ``limits``: this server's own; the class's service keeps those it was created with, and they are the ones in
    force here too (``self.limits``). When they differ, ``self.differs`` names them and one warning is logged.
    None (a command-line sweep): no settings of its own to compare; a service it creates gets ``Limits()``.
    """

    backend = "ray"

    def __init__(
        self,
        store: RunStore | None = None,
        limits: Limits | None = None,
        device: str = "auto",
        also: Iterable[RunStore] = (),
        *,
        address: str | None = None,
        num_cpus: float = 1,
        max_retries: int = 3,
        marker_dir: str | None = None,
        timeout: float = CALL_TIMEOUT_S,
        work=None,
    ):
        self.address = address or os.environ.get(ADDRESS_ENV) or "auto"
        self.store = store or RunStore()
        self.own_limits = limits
        self.limits = limits or Limits()
        self.timeout = timeout
        self._answered = 0.0  # when the service last answered (time.monotonic)
        self._ray = connect(self.address)
        # what a service this server creates gets (the first to connect creates it; after it died, the next caller)
        self._spec = (str(self.store.root), self.limits, tuple(str(s.root) for s in also), device, num_cpus,
                      max_retries, marker_dir, work)  # fmt: skip
        self._attach()

    def _attach(self) -> None:
        """Find the class's service by name, or create it; take its limits (the class's) and say how they differ."""
        self._actor = _service(self._ray, *self._spec)
        self.info = self._call("info", again=False, timeout=max(self.timeout, START_TIMEOUT_S))
        self.limits = self.info["limits"]  # the class's limits: those of the server that created the service
        self.device = self.info["device"]
        self.differs = differences(self.own_limits, self.limits) if self.own_limits is not None else ""
        if self.differs:
            log.warning(
                "this server's limits differ from the class's job service on Ray, whose limits are in force for every "
                "server: %s. Start every server with the same RPM_* settings, or end the service to change them "
                "(docs/HOSTING.md)",
                self.differs,
            )
        if Path(self.info["store"]) != self.store.root:
            log.warning("the class's job service writes %s, not this server's %s", self.info["store"], self.store.root)

    def problem(self, every: float = 2.0) -> str | None:
        """Why the class's service cannot be used now (one line), or None. Asks the service at most every ``every``
        s (a page calls this on each run; any answered call counts): pages then say "training is unavailable"
        instead of failing when the cluster's head is lost."""
        if time.monotonic() - self._answered < every:
            return None
        try:
            self._call("info", timeout=min(self.timeout, 3.0))
        except RuntimeError as exc:
            return str(exc)
        return None

    def _call(self, method: str, *args, timeout: float | None = None, again: bool = True):
        """Call the service; a service that died for good (ended, or lost with its node, e.g. the head) is found by
        name or created afresh, once, and the call made there (``again``): its jobs were lost with it."""
        ray, timeout = self._ray, timeout or self.timeout
        try:
            out = ray.get(getattr(self._actor, method).remote(*args), timeout=timeout)
            self._answered = time.monotonic()
            return out
        except ray.exceptions.GetTimeoutError:
            raise RuntimeError(f"the class's job service on Ray did not answer within {timeout:g} s") from None
        except ray.exceptions.RayActorError as exc:
            gone = f"the class's job service on Ray is gone ({type(exc).__name__})"
            if not (again and isinstance(exc, ray.exceptions.ActorDiedError)):  # unavailable: the head may come back
                raise RuntimeError(gone) from None
        old = self.info.get("pid")
        try:
            self._attach()
        except Exception as exc:  # noqa: BLE001 - whatever stops it, the service is unavailable now
            raise RuntimeError(f"{gone}, and it could not be started again: {first_line(exc, 200)}") from None
        log.warning("the class's job service on Ray had died (pid %s); this server now uses pid %s", old,
                    self.info["pid"])  # fmt: skip
        return self._call(method, *args, timeout=timeout, again=False)

    def submit(self, config: RunConfig, client: str = "") -> JobView:
        return self.submit_many([config], client)[0]

    def submit_many(self, configs: Iterable[RunConfig], client: str = "") -> list[JobView]:
        configs = checked_request(configs, self.limits, CLASS)
        out = self._call("submit_many", configs, client)
        if isinstance(out, str):
            raise ValueError(out)
        return out

    def cancel(self, job_id: str, client: str | None = None) -> bool:
        return self._call("cancel", job_id, client)

    def view(self, job_id: str) -> JobView | None:
        got = self.views([job_id])
        return got[0] if got else None

    def views(self, job_ids: Iterable[str]) -> list[JobView]:
        return self._call("views", list(job_ids))

    def mine(self, client: str, limit: int = 40) -> list[str]:
        return self._call("mine", client, limit)

    def stats(self) -> dict:
        return self._call("stats")

    def attempts(self, job_id: str) -> list:
        return self._call("attempts", job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobView:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            v = self.view(job_id)
            if v is None or v.finished or (deadline is not None and time.monotonic() >= deadline):
                return v
            time.sleep(0.2)

    def shutdown(self, timeout: float = 10.0) -> None:
        """This server stops using the service; the service and the class's jobs go on (``stop_service`` ends it)."""
        self._actor = None


class ServiceExecutor:
    """A sweep executor over the class's job service (``run(configs, video, store, cancel)`` yields
    ``sweeps.Outcome``s): a sweep from the command line waits its turn in the class's queue like the Explore page's
    sweeps, in waves within one visitor's share (``Limits.per_client``), so a lecturer's sweep and a class share the
    cluster fairly and a run asked for by both trains once. ``RayBackend`` uses it when the cluster runs the service.
    The store must be the service's (run the sweep on the store's node, with the same ``RPM_ENGINE_CACHE``)."""

    name = "ray"

    def __init__(self, address: str | None = None, *, client: str | None = None, poll_s: float = 0.5):
        import getpass

        self.address = address
        self.client = client or f"cli:{getpass.getuser()}@{socket.gethostname()}"
        self.poll_s = poll_s

    def run(self, configs: list[RunConfig], video, store: RunStore, cancel=None):
        from rpm_engine.text import is_cancelled

        from .sweeps import Outcome

        r = RayJobRunner(store, address=self.address)
        if Path(r.info["store"]).resolve() != store.root.resolve():
            raise ValueError(
                f"the class's job service on this cluster writes {r.info['store']}: run the sweep on that node with "
                f"--cache {r.info['store']} (this store: {store.root})"
            )
        share, pending, active, started = max(1, r.limits.per_client), list(configs), {}, set()
        try:
            while pending or active:
                if is_cancelled(cancel):
                    from rpm_engine.data import Cancelled

                    raise Cancelled("sweep cancelled")
                if pending and len(active) < share:
                    wave = pending[: share - len(active)]
                    try:
                        jobs = r.submit_many(wave, self.client)
                    except ValueError:  # the class's queue is full: this wave waits for the next poll
                        jobs = None
                    if jobs:
                        pending = pending[len(wave) :]
                        active.update({j.id: (c, time.perf_counter()) for j, c in zip(jobs, wave)})
                for v in r.views(list(active)):
                    cfg, t0 = active[v.id]
                    running = sum(1 for i in active if i in started)
                    if v.state == RUNNING and v.id not in started:
                        started.add(v.id)
                        yield Outcome(cfg, False, running=running + 1)
                    elif v.finished:
                        del active[v.id]
                        run = store.load(cfg.key()) if v.state == DONE else None
                        error = None if run is not None else (v.error or f"the job ended {v.state}")
                        yield Outcome(cfg, True, run=run, error=error, wall_seconds=time.perf_counter() - t0)
                if active or pending:
                    time.sleep(self.poll_s)
        except RuntimeError as exc:  # the service or the cluster's head is gone
            active.clear()
            raise RuntimeError(f"{exc}; finished runs are in the store: run the same command again to resume") from None
        finally:
            for job_id in list(active):  # interrupted or failed: this sweep's unfinished jobs are not wanted
                try:
                    r.cancel(job_id, self.client)
                except RuntimeError:
                    break


def class_service(ray):
    """The class's job service actor on the connected cluster, or None."""
    try:
        return ray.get_actor(SERVICE, namespace=NAMESPACE)
    except ValueError:
        return None


def _service(ray, store_root, limits, also, device, num_cpus, max_retries, marker_dir, work=None):
    """The class's actor: the one that exists, else a new one on the node that owns the store."""
    try:
        return ray.get_actor(SERVICE, namespace=NAMESPACE)
    except ValueError:
        pass
    if any(STORE_RESOURCE in n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")):
        where = {"resources": {STORE_RESOURCE: 0.001}}
    else:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.get_runtime_context().get_node_id()
        where = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=here, soft=False)}
    cls = ray.remote(JobService)
    return cls.options(
        name=SERVICE, namespace=NAMESPACE, lifetime="detached", get_if_exists=True, num_cpus=0, **where
    ).remote(store_root, limits, also, device, num_cpus, max_retries, marker_dir, work=work)


def stop_service(address: str | None = None, wait: float = 10.0) -> bool:
    """End the class's job service (its unfinished jobs with it); True if there was one. Returns once the service is
    gone (a call to it fails as lost, and its name is free), or after ``wait`` s."""
    ray = connect(address or os.environ.get(ADDRESS_ENV) or "auto")
    try:
        actor = ray.get_actor(SERVICE, namespace=NAMESPACE)
    except ValueError:
        return False
    ray.kill(actor, no_restart=True)  # asynchronous: a call made at once could still be answered by it
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:  # ended when a call fails as lost and its name is free
        try:
            ray.get(actor.info.remote(), timeout=1.0)
        except ray.exceptions.RayActorError:
            try:
                ray.get_actor(SERVICE, namespace=NAMESPACE)
            except ValueError:
                break
        except ray.exceptions.GetTimeoutError:
            pass
        time.sleep(0.05)
    return True


def _new_id() -> str:
    return uuid.uuid4().hex[:8]


__all__ = [
    "ADDRESS_ENV",
    "JobService",
    "RayJobRunner",
    "ServiceExecutor",
    "class_service",
    "check_reachable",
    "connect",
    "gcs_alive",
    "stop_service",
]
