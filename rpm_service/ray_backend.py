"""A sweep backend on a Ray cluster: one Ray task per run, one writer for the store (the driver).

    from rpm_engine.sweep import Sweep
    from rpm_service.sweeps import run_sweep
    from rpm_service.ray_backend import RayBackend
    run_sweep(sweep, RayBackend(address="auto"), store)      # or: python -m rpm_engine sweep ... --backend ray

- Each point is a task asking for ``num_cpus`` CPUs (torch uses that many threads in it), or one GPU when the run
  asks for CUDA (``device="cuda"``, or ``"auto"`` on a cluster that has GPUs).
- The video is generated once by the driver and put in Ray's object store; tasks read it from there (zero copy on a
  node). A task trains and returns what ``train`` returns (weights, latents, curve, metrics); the driver writes it into
  the ``RunStore`` (under the store's per-key lock, atomically). Workers never touch the store, so it can live on the
  driver's disk only; no shared file system is needed.
- A task whose worker dies (OOM-killed, node lost, ``kill -9``) is retried up to ``max_retries`` times.
- Progress comes back per point as each task completes (``ray.wait``); cancelling (the sweep's ``cancel``, an
  exception or Ctrl-C in the driver) reaches every pending task through ``ray.cancel``.
- Where: ``address`` ("auto" = the cluster started on this machine with ``ray start``, or "HOST:PORT" of a head
  node, or "ray://HOST:10001" for Ray Client), else ``$RPM_RAY_ADDRESS``, else a Ray started here for this process.
  If Ray is already initialised (a notebook or test called ``ray.init``), that connection is used as it is.
- Every node needs the same Python environment with this project installed (``pip install -e .`` and
  ``pip install -r requirements-ray.txt``), since tasks import ``rpm_engine``; or pass
  ``runtime_env={"py_modules": [...]}``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from rpm_engine import Cancelled, RunConfig, RunStore, TrainingError, Video
from rpm_engine.obtain import save_once
from rpm_engine.text import first_line, is_cancelled

from .ray_jobs import ServiceExecutor, check_reachable, class_service, gcs_alive
from .sweeps import Outcome

ADDRESS_ENV = "RPM_RAY_ADDRESS"
INSTALL_HINT = "the ray backend needs Ray: pip install -r requirements-ray.txt"


def available() -> bool:
    """True when ``ray`` can be imported."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _train_task(
    config: RunConfig, video: Video, device: str, threads: int, marker_dir: str | None
) -> tuple[object, dict]:
    """Runs in a Ray worker: train one point and return what ``train`` returns (weights, latents, curve, metrics)
    for the driver to store; a worker never writes the store."""
    import torch

    from rpm_engine import train

    torch.set_num_threads(max(1, threads))
    pid = os.getpid()
    if marker_dir:  # for tests and monitoring: which worker process runs which point
        Path(marker_dir).mkdir(parents=True, exist_ok=True)
        (Path(marker_dir) / f"{config.key()}.{pid}.start").write_text(str(pid))
    t0 = time.perf_counter()
    result = train(config, video, device=device)
    return result, {"pid": pid, "task_seconds": time.perf_counter() - t0, "node": os.uname().nodename}


class RayBackend:
    """``run(configs, video, store, cancel)`` yields an ``Outcome`` per point as the cluster finishes them."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        device: str = "auto",
        num_cpus: float = 1,
        max_retries: int = 3,
        local_cpus: int | None = None,
        runtime_env: dict | None = None,
        marker_dir: str | None = None,
        poll_s: float = 0.2,
    ):
        if not available():
            raise ValueError(INSTALL_HINT)
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
        self.address = address or os.environ.get(ADDRESS_ENV) or None
        self.device = device
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.local_cpus = local_cpus  # CPUs of a Ray started here (default: all of this machine's)
        self.runtime_env = runtime_env
        self.marker_dir = marker_dir
        self.poll_s = poll_s
        self.started_here = False
        self.lost = False  # the cluster's head stopped answering during a run
        self.last_info: dict[str, dict] = {}  # key -> {pid, task_seconds, node} of the last run

    # -- the cluster ---------------------------------------------------------------------------------------------
    def connect(self):
        """The ``ray`` module, initialised: the existing connection, the cluster at ``address``, or a local Ray."""
        import ray

        if ray.is_initialized():
            return ray
        kwargs = {"ignore_reinit_error": True, "log_to_driver": False, "logging_level": logging.ERROR}
        if self.runtime_env:
            kwargs["runtime_env"] = self.runtime_env
        try:
            if self.address:
                check_reachable(self.address)  # one line within seconds (ray.init waits 150 s and more)
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=self.local_cpus, include_dashboard=False, **kwargs)
                self.started_here = True
        except ConnectionError as exc:
            raise RuntimeError(f"could not reach the Ray cluster at {self.address!r}: {exc}") from None
        return ray

    def shutdown(self) -> None:
        """Disconnect (and stop the Ray this backend started, if any)."""
        import ray

        if ray.is_initialized():
            ray.shutdown()
        self.started_here = False

    def _placement(self, ray) -> tuple[str, dict, int]:
        """(device for train(), task resources, how many tasks the cluster runs at once)."""
        res = ray.cluster_resources()
        gpus = res.get("GPU", 0)
        if self.device == "cuda" and gpus < 1:
            raise ValueError("device 'cuda' was asked for, but the Ray cluster has no GPU")
        if self.device == "cuda" or (self.device == "auto" and gpus >= 1):
            return "cuda", {"num_cpus": 1, "num_gpus": 1}, max(1, int(gpus))
        slots = max(1, int(res.get("CPU", 1) // self.num_cpus))
        return "cpu", {"num_cpus": self.num_cpus}, slots

    # -- running -------------------------------------------------------------------------------------------------
    def run(self, configs: list[RunConfig], video: Video, store: RunStore, cancel=None) -> Iterator[Outcome]:
        ray = self.connect()
        if class_service(ray) is not None:  # the cluster runs a class's job service: the sweep queues with the class
            yield from ServiceExecutor(self.address, poll_s=max(self.poll_s, 0.5)).run(configs, video, store, cancel)
            return
        device, resources, slots = self._placement(ray)
        remote = ray.remote(_train_task)
        video_ref = ray.put(video)
        threads = int(resources.get("num_cpus", 1)) or 1
        pending: dict = {}  # ObjectRef -> config
        order: list = []  # submission order: the first `slots` pending ones are (about) the running ones
        start: dict = {}  # key -> when it (about) started
        try:
            for cfg in configs:
                ref = remote.options(
                    **resources, max_retries=self.max_retries, retry_exceptions=False, name=f"rpm:{cfg.label}"
                ).remote(cfg, video_ref, device, threads, self.marker_dir)
                pending[ref] = cfg
                order.append(ref)
            now = time.perf_counter()
            for ref in order[:slots]:  # Ray starts tasks about in submission order
                start[pending[ref].key()] = now
                yield Outcome(pending[ref], False, running=min(len(pending), slots))
            gcs, checked = ray.get_runtime_context().gcs_address, time.monotonic()
            while pending:
                if is_cancelled(cancel):
                    raise Cancelled("sweep cancelled")
                if time.monotonic() - checked > 1.0:  # a lost head: said now, not after Ray's 60 s of retrying
                    checked = time.monotonic()
                    if not gcs_alive(gcs):
                        self.lost = True
                        raise RuntimeError(
                            f"lost the Ray cluster (its head at {gcs} stopped answering) with {len(pending)} runs "
                            "unfinished; finished runs are in the store: run the same command again to resume"
                        )
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.poll_s)
                for ref in ready:
                    cfg = pending.pop(ref)
                    order.remove(ref)
                    run, error = None, None
                    try:
                        result, info = ray.get(ref)
                        self.last_info[cfg.key()] = info
                        run = self._store(store, result)
                    except ray.exceptions.RayTaskError as exc:
                        cause = getattr(exc, "cause", None)
                        if isinstance(cause, TrainingError):
                            error = first_line(cause)
                        else:
                            what = (
                                f"{type(cause).__name__}: {first_line(cause)}" if cause is not None else first_line(exc)
                            )
                            raise RuntimeError(f"{cfg.label} (seed {cfg.train.seed}) failed on Ray: {what}") from exc
                    except ray.exceptions.RayError as exc:  # e.g. its worker died more than max_retries times
                        raise RuntimeError(
                            f"{cfg.label} (seed {cfg.train.seed}) failed on Ray: {type(exc).__name__}: {first_line(exc)}"
                        ) from exc
                    wall = time.perf_counter() - start.pop(cfg.key(), time.perf_counter())
                    running = min(len(pending), slots)
                    yield Outcome(cfg, True, run=run, error=error, wall_seconds=wall, running=running)
                    if len(order) >= slots:  # the next queued task takes the freed slot
                        nxt = pending[order[slots - 1]]
                        if nxt.key() not in start:
                            start[nxt.key()] = time.perf_counter()
                            yield Outcome(nxt, False, running=running)
        finally:
            for ref in [] if self.lost else list(pending):  # cancelled, failed or interrupted: stop the rest
                try:
                    ray.cancel(ref, force=False)
                except Exception:
                    pass

    @staticmethod
    def _store(store: RunStore, result):
        """One writer: the driver saves each result (``obtain.save_once``: kept if already there)."""
        return save_once(store, result)[0]


__all__ = ["ADDRESS_ENV", "INSTALL_HINT", "RayBackend", "available"]
