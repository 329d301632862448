"""A stand-in for a job's work, run in the job runner's worker processes (so it lives in an importable module).

``block`` takes the runner's ``work`` arguments plus a folder (bound with ``functools.partial``): it records the
start of each job as ``started-<key>`` and waits for ``release-<key>`` (then fails with "boom": nothing is stored),
honouring cancel at once -- unless ``stubborn-<key>`` exists: then it ignores cancel, like a long loop without a
check, and only terminating the worker stops it. ``until`` polls for what the runner does in the background.
"""

import time
from pathlib import Path

from rpm_engine.train import Cancelled


def block(folder: str, config, store, *, videos, device, progress, cancel):
    key, folder = config.key(), Path(folder)
    (folder / f"started-{key}").touch()
    stubborn = (folder / f"stubborn-{key}").exists()
    while not (folder / f"release-{key}").exists():
        if cancel() and not stubborn:
            raise Cancelled("cancelled")
        time.sleep(0.01)
    raise RuntimeError("boom")


def until(predicate, timeout=20.0) -> bool:
    """True once ``predicate()`` is, False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False
