"""The one place that picks a server's job service: the class's queue on Ray when ``RPM_RAY_ADDRESS`` is set, else
the in-process ``JobRunner`` (the embedded default). Both have one interface (``submit_many``, ``cancel``, ``views``,
``view``, ``mine``, ``stats``, ``wait``, ``shutdown``), so pages and sweeps do not care which they got.

    runner = job_service(Limits.load(), default_root(), also=[shipped_store])

On Ray the class's limits are one truth: those the class's service was created with. ``in_force`` gives a server's
pages the limits to show and use: the class's once this process has connected to its service, else its own.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterable
from pathlib import Path

from rpm_engine.store import RunStore

from .limits import PER_SERVER, Limits

ADDRESS_ENV = "RPM_RAY_ADDRESS"
_class_limits: dict[str, Limits] = {}  # cluster address -> the limits of the class's service there (once connected)


def ray_address(env=None) -> str | None:
    """The configured cluster (``$RPM_RAY_ADDRESS``), None when the server trains in its own processes."""
    value = (os.environ if env is None else env).get(ADDRESS_ENV, "").strip()
    return value or None


def job_service(lim: Limits, store_root: str | Path, also: Iterable[RunStore] = (), *, device: str = "auto"):
    """A ``RayJobRunner`` connected to the class's service when ``RPM_RAY_ADDRESS`` is set (``ConnectionError`` with
    one line within seconds if nothing answers there), else an in-process ``JobRunner`` over ``store_root``."""
    store = RunStore(store_root)
    address = ray_address()
    if address:
        from .ray_jobs import RayJobRunner

        runner = RayJobRunner(store, lim, device, also=tuple(also), address=address)
        _class_limits[address] = runner.limits
        return runner
    from .jobs import JobRunner

    return JobRunner(store, lim, device, also=list(also))


def class_limits() -> Limits | None:
    """The limits of the class's job service on Ray (``$RPM_RAY_ADDRESS``) once this process has connected to it
    (``job_service``), else None."""
    address = ray_address()
    return _class_limits.get(address) if address else None


def in_force(own: Limits) -> Limits:
    """The limits a server's pages show and check: ``own`` (the server's settings), or on Ray, once connected, the
    class's (what its service enforces for every server), with this server's own per-server switches
    (presentation mode, ``background_training``)."""
    cls = class_limits()
    return own if cls is None else _merged(cls, own)


@functools.lru_cache(maxsize=8)
def _merged(cls: Limits, own: Limits) -> Limits:
    """The class's limits with ``own``'s per-server switches (pages ask on every run: made once)."""
    return dataclasses.replace(cls, **{name: getattr(own, name) for name in PER_SERVER})
