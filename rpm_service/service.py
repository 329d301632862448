"""The one place that picks a server's job service: the class's queue on Ray when ``RPM_RAY_ADDRESS`` is set, else
the in-process ``JobRunner`` (the embedded default). Both have one interface (``submit_many``, ``cancel``, ``views``,
``view``, ``mine``, ``stats``, ``wait``, ``shutdown``), so pages and sweeps do not care which they got.

    runner = job_service(Limits.load(), default_root(), also=[shipped_store])
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rpm_engine.store import RunStore

from .limits import Limits

ADDRESS_ENV = "RPM_RAY_ADDRESS"


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

        return RayJobRunner(store, lim, device, also=tuple(also), address=address)
    from .jobs import JobRunner

    return JobRunner(store, lim, device, also=list(also))
