"""Obtaining a run: open it from the store, or train it once and store it. The only copy of "load or train".

Every way a run is asked for — the CLI's ``train`` and ``reproduce``, a sweep's executors, the app's job runner, a
Ray task — comes here, so a run is trained at most once per store (under the store's per-key lock) and a corrupt
entry is rebuilt the same way everywhere.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .config import RunConfig
from .run import Run
from .store import CorruptRun, RunStore

if TYPE_CHECKING:
    from .data import Video

log = logging.getLogger(__name__)


def obtain(
    config: RunConfig,
    store: RunStore,
    *,
    video: Video | None = None,
    device: str = "auto",
    callback=None,
    cancel=None,
) -> Run:
    """The stored run of ``config``, training it (once, under the store's lock for its key) when it is absent or
    corrupt. ``run.cached`` says it was opened; ``run.rebuilt`` that a corrupt entry was replaced."""
    key = config.key()
    rebuilt = False
    try:
        run = store.load(key)
        if run is not None:
            return run
    except CorruptRun as exc:
        log.warning("%s; rebuilding it", exc)
        rebuilt = True
    store.require_writable("train and save a run")
    with store.lock(key):
        try:  # another process may have finished it while we waited for the lock
            run = store.load(key)
            if run is not None:
                return run
        except CorruptRun:
            rebuilt = True
        from .data import generate_video
        from .train import train

        video = video or generate_video(config.video, cancel=cancel)
        run = store.save(train(config, video, device=device, callback=callback, cancel=cancel))
        run.rebuilt = rebuilt
        return run


def save_once(store: RunStore, run: Run) -> tuple[Run, bool]:
    """Store a run trained elsewhere (a Ray task returns it to its driver, the store's one writer) unless its key is
    stored already: ``(the stored run, True if this call stored it)``; never two copies. ``obtain``'s second half."""
    key = run.config.key()
    with store.lock(key):
        try:
            existing = store.load(key)
        except CorruptRun:
            existing = None
        if existing is not None:
            return existing, False  # another process stored it meanwhile: keep its copy (cached=True)
        return store.save(run), True


__all__ = ["obtain", "save_once"]
