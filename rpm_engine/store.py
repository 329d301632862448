"""The persistent, content-addressed run store (the cache).

A run lives in ``<root>/runs/<key>/`` with ``run.json`` (config, metrics, history and the SHA-256 of every other
file), ``z.npy`` (the latents of every frame) and ``model.pt`` (encoder and coupling weights). A run is written
in ``<root>/tmp/`` and moved into place with one rename, so a crash never leaves a half-written run; a file lock
per key makes two requests for one key train once; an entry that fails its checks is reported and rebuilt.

Housekeeping for a shared server:

- ``index.json`` summarises every run (config, metrics, size), so ``list_runs`` reads one file, not every
  ``run.json``; it is a cache, rebuilt when missing, damaged or stale (an entry whose ``run.json`` changed is re-read).
- ``used/<key>`` is touched on every load: ``prune`` deletes the least recently *used* runs first, never a run a
  reader holds (readers take a shared lock, prune an exclusive one without waiting) and never a pinned run
  (``pins/<key>``: ``store.pin(key)``, or ``touch <root>/pins/<key>`` by hand).
- ``tmp/`` entries older than ``TMP_MAX_AGE_S`` (left by a killed writer) are removed when the store is opened and
  before pruning; the rest count in ``size_bytes``.
- A root that cannot be created or written (a shipped, read-only volume) opens read-only: it loads and lists, and
  every write raises ``StoreError`` with a message that names no server path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from filelock import FileLock

from .config import RunConfig
from .run import Run

log = logging.getLogger(__name__)
ENV_VAR = "RPM_ENGINE_CACHE"
INDEX_VERSION = 1
TMP_MAX_AGE_S = 300.0  # a save takes seconds; a tmp entry this old was left by a killed writer
# Metrics every reader relies on (Compare, Home, the job list); a run without them is unreadable.
REQUIRED_METRICS = ("l2_mean", "l2_per_ball", "final_loss", "final_mi", "train_seconds")


class CorruptRun(Exception):
    """A store entry that cannot be read or fails its checksums."""


class StoreError(OSError):
    """The store cannot do that here (e.g. it is read-only). The message never names a server path."""


def default_root() -> Path:
    """``$RPM_ENGINE_CACHE`` when set, else the per-user cache directory."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rpm-engine"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_meta(d: Path) -> dict:
    """A run's ``run.json`` (one function, so tests can count the reads)."""
    return json.loads((d / "run.json").read_text())


def _stamp(path: Path) -> list[int] | None:
    """(mtime_ns, size) of a file, None if absent: an index entry is current while its run.json's stamp is."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def _number(v, finite: bool) -> bool:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    return ok and (math.isfinite(v) or not finite)


def check_metrics(metrics, config: RunConfig) -> None:
    """Raise ``ValueError`` naming the first metric a reader needs that is missing or malformed."""
    if not isinstance(metrics, dict):
        raise ValueError("metrics are not a mapping")
    for name in REQUIRED_METRICS:
        if name not in metrics:
            raise ValueError(f"metrics lack '{name}'")
    if not _number(metrics["l2_mean"], finite=True):
        raise ValueError("metric 'l2_mean' is not a finite number")
    per_ball = metrics["l2_per_ball"]
    if (
        not isinstance(per_ball, list)
        or len(per_ball) != config.video.balls
        or not all(_number(v, finite=True) for v in per_ball)
    ):
        raise ValueError(f"metric 'l2_per_ball' is not {config.video.balls} finite numbers")
    for name in ("final_loss", "final_mi", "train_seconds"):  # NaN is a value (an untrained run has no loss)
        if not _number(metrics[name], finite=False):
            raise ValueError(f"metric '{name}' is not a number")


def _provenance(meta: dict) -> dict | None:
    """A run.json's numerics provenance (issue 18); None for runs stored before it was recorded."""
    prov = meta.get("provenance")
    return prov if isinstance(prov, dict) else None


def _summary(key: str, meta: dict) -> tuple[RunConfig, dict]:
    """(config, metrics) of a run.json, or ValueError/KeyError/TypeError if it does not describe run ``key``."""
    cfg = RunConfig.from_dict(meta["config"])
    if cfg.key() != key:
        raise ValueError("its config hashes to another key (made by another engine version?)")
    check_metrics(meta["metrics"], cfg)
    if not isinstance(meta.get("history"), list) or not isinstance(meta.get("files"), dict):
        raise ValueError("history or file list missing")
    return cfg, meta["metrics"]


class RunStore:
    """Runs keyed by the hash of their configuration, under ``root`` (default: ``default_root()``).

    ``read_only``: True never writes (loads and lists only); None (default) opens read-only when the root cannot
    be created or written, False raises ``StoreError`` then.
    """

    def __init__(self, root: str | Path | None = None, lock_timeout: float = 3600.0, read_only: bool | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.lock_timeout = lock_timeout
        self._cache: tuple | None = None  # (signature, {key: entry}) of the last list
        self._cache_lock = threading.Lock()
        self.read_only = bool(read_only)
        if not self.read_only:
            try:
                for sub in ("runs", "tmp", "locks", "used", "pins"):
                    (self.root / sub).mkdir(parents=True, exist_ok=True)
                if not os.access(self.root / "runs", os.W_OK | os.X_OK):
                    raise PermissionError("runs/ is not writable")
            except OSError as exc:
                if read_only is False:
                    raise StoreError("the run store cannot be created or written on this server") from exc
                log.warning("run store %s is not writable (%s): opened read-only", self.root, exc)
                self.read_only = True
        if not self.read_only:
            self.clean_tmp()

    # -- paths and locks -----------------------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        return self.root / "runs" / key

    def lock(self, key: str) -> FileLock:
        """The per-key training lock (exclusive): two requests for one key train once."""
        return FileLock(str(self.root / "locks" / f"{key}.lock"), timeout=self.lock_timeout)

    @contextlib.contextmanager
    def _rw(self, key: str, exclusive: bool, wait: bool = True):
        """The per-key reader/deleter lock: readers share it, delete and prune hold it alone. Yields False when
        ``wait`` is False and a reader holds it (and on a read-only store, where nothing deletes)."""
        if self.read_only:
            yield not exclusive
            return
        fd = os.open(self.root / "locks" / f"{key}.rw", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
            try:
                fcntl.flock(fd, flags)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the flock

    def require_writable(self, what: str) -> None:
        if self.read_only:
            raise StoreError(f"this run store is read-only: cannot {what}")

    def __contains__(self, config_or_key) -> bool:
        key = config_or_key if isinstance(config_or_key, str) else config_or_key.key()
        return (self.path(key) / "run.json").exists()

    # -- reading -------------------------------------------------------------------------------------------------
    def load(self, config_or_key) -> Run | None:
        """The stored run, ``None`` if absent; raises ``CorruptRun`` if it is there but broken.

        Holds the run's shared lock while reading (prune skips it) and records the use (prune goes by last use).
        """
        key = config_or_key if isinstance(config_or_key, str) else config_or_key.key()
        d = self.path(key)
        if not d.exists():
            return None
        with self._rw(key, exclusive=False):
            if not d.exists():  # pruned while we waited for the lock
                return None
            run = self._read(key, d)
        self._touch(key)
        return run

    def _read(self, key: str, d: Path) -> Run:
        try:
            meta = _read_meta(d)
            blobs = {}
            for name, digest in meta["files"].items():
                blobs[name] = (d / name).read_bytes()
                if _sha256(blobs[name]) != digest:
                    raise CorruptRun(f"run {key}: {name} does not match its checksum")
            config, metrics = _summary(key, meta)
            z = np.load(io.BytesIO(blobs["z.npy"]), allow_pickle=False)
            import torch  # listing runs needs no torch; opening one does

            model = torch.load(io.BytesIO(blobs["model.pt"]), map_location="cpu", weights_only=True)
            coupling = model.get("coupling")
            return Run(
                config, metrics, meta["history"], z, model["encoder"], coupling, True, provenance=_provenance(meta)
            )
        except CorruptRun:
            raise
        except Exception as exc:  # unreadable JSON, missing file or metric, bad pickle, ...: all mean "corrupt"
            raise CorruptRun(f"run {key} is unreadable ({type(exc).__name__}: {exc})") from exc

    def _touch(self, key: str) -> None:
        if self.read_only:
            return
        with contextlib.suppress(OSError):
            marker = self.root / "used" / key
            marker.touch()
            os.utime(marker)

    def last_used(self, key: str) -> float:
        """When the run was last loaded or saved (seconds since the epoch); its write time if never recorded."""
        for p in (self.root / "used" / key, self.path(key) / "run.json"):
            with contextlib.suppress(OSError):
                return p.stat().st_mtime
        return 0.0

    def list_runs(self) -> list[dict]:
        """Summaries of the readable runs (key, label, config, metrics, mtime, bytes), newest first.

        One ``listdir`` and two ``stat`` calls when nothing changed; then only new or changed entries are read, and
        a fresh process reads ``index.json`` instead of every ``run.json``. Broken entries are left out (see
        ``list_broken``).
        """
        return list(self._listing()[1])

    def list_broken(self) -> list[dict]:
        """Entries that cannot be read (key, reason): listed so an operator sees them; training rebuilds them."""
        return sorted(
            ({"key": k, "reason": e["broken"]} for k, e in self._listing()[0].items() if e["broken"] is not None),
            key=lambda r: r["key"],
        )

    def _signature(self, names: list[str]) -> tuple:
        return (_stamp(self.root / "runs"), _stamp(self.root / "index.json"), frozenset(names))

    def _listing(self) -> tuple[dict[str, dict], list[dict]]:
        """({key: entry} of every entry, broken ones included; the sorted summaries of the readable ones)."""
        try:
            names = os.listdir(self.root / "runs")
        except OSError:
            return {}, []
        sig = self._signature(names)
        with self._cache_lock:
            if self._cache is not None and self._cache[0] == sig:
                return self._cache[1], self._cache[2]
            previous = self._cache[1] if self._cache is not None else {}
        # A fresh process reads the index once; a running one knows its entries and reads only what is new.
        index = self._read_index() if not previous else None
        entries, changed = {}, set(index if index is not None else previous) != set(names)
        for key in names:
            d = self.path(key)
            stamp = _stamp(d / "run.json")
            known = previous.get(key)
            if known is not None and known["stamp"] == stamp:
                entries[key] = known
                continue
            raw = index.get(key) if index is not None else None
            if raw is None or raw.get("stamp") != stamp:
                raw = self._index_entry(key, d, stamp)
                changed = True
            entries[key] = self._parse_entry(key, raw)
        if changed and (entries or (self.root / "index.json").exists()):
            self._write_index(entries)
            sig = self._signature(names)
        summaries = sorted(
            (
                {
                    "key": k,
                    "label": e["config"].label,
                    "config": e["config"],
                    "metrics": e["metrics"],
                    "mtime": e["mtime"],
                    "bytes": e["bytes"],
                }
                for k, e in entries.items()
                if e["broken"] is None
            ),
            key=lambda r: -r["mtime"],
        )
        with self._cache_lock:
            self._cache = (sig, entries, summaries)
        return entries, summaries

    def _entries(self) -> dict[str, dict]:
        return self._listing()[0]

    def _index_entry(self, key: str, d: Path, stamp) -> dict:
        """The index's record of one run, from its run.json (the only place list_runs reads a run's files)."""
        raw = {"stamp": stamp, "bytes": _tree_bytes(d), "mtime": stamp[0] / 1e9 if stamp else 0.0}
        try:
            meta = _read_meta(d)
            _summary(key, meta)
            raw.update(config=meta["config"], metrics=meta["metrics"], broken=None)
        except Exception as exc:  # noqa: BLE001 - any damage means "broken", never an error for the lister
            raw["broken"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return raw

    @staticmethod
    def _parse_entry(key: str, raw: dict) -> dict:
        entry = {k: raw.get(k) for k in ("stamp", "bytes", "mtime", "broken")}
        entry["raw"] = raw
        entry["config"], entry["metrics"] = None, None
        if entry["broken"] is None:
            try:
                entry["config"] = RunConfig.from_dict(raw["config"])
                entry["metrics"] = raw["metrics"]
                check_metrics(entry["metrics"], entry["config"])
            except Exception as exc:  # noqa: BLE001 - a damaged index entry: the run is reported broken
                entry["broken"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return entry

    def _read_index(self) -> dict:
        try:
            data = json.loads((self.root / "index.json").read_text())
            if data.get("version") != INDEX_VERSION or not isinstance(data.get("runs"), dict):
                return {}
            return {k: v for k, v in data["runs"].items() if isinstance(v, dict)}
        except (OSError, ValueError, AttributeError):
            return {}  # missing or damaged: rebuilt from the run.json files

    def _write_index(self, entries: dict[str, dict]) -> None:
        """Rewrite index.json atomically (a temporary file, then one rename) under the index lock."""
        if self.read_only:
            return
        data = {"version": INDEX_VERSION, "runs": {k: e["raw"] for k, e in entries.items()}}
        tmp = self.root / "tmp" / f"index.{uuid.uuid4().hex}.json"
        try:
            with FileLock(str(self.root / "locks" / "index.lock"), timeout=30):
                _write(tmp, json.dumps(data, separators=(",", ":")).encode())
                os.replace(tmp, self.root / "index.json")
        except Exception as exc:  # noqa: BLE001 - the index is a cache: listing works without it
            log.warning("could not write the run index (%s)", exc)
            with contextlib.suppress(OSError):
                tmp.unlink()

    def size_bytes(self) -> int:
        """Bytes of every run (readable or not), of leftover tmp/ entries and of the index."""
        runs = sum(e["bytes"] or 0 for e in self._entries().values())
        tmp = _tree_bytes(self.root / "tmp")
        index = (_stamp(self.root / "index.json") or [0, 0])[1]
        return runs + tmp + index

    # -- writing -------------------------------------------------------------------------------------------------
    def save(self, result: Run) -> Run:
        """Write a finished run atomically: a temporary directory, then one rename into place; returns it."""
        import torch

        self.require_writable("save a run")
        key = result.config.key()
        buf = io.BytesIO()
        torch.save({"encoder": result.encoder_state, "coupling": result.coupling_state}, buf)
        zbuf = io.BytesIO()
        np.save(zbuf, result.z, allow_pickle=False)
        blobs = {"z.npy": zbuf.getvalue(), "model.pt": buf.getvalue()}
        meta = {
            "key": key,
            "config": result.config.to_dict(),
            "metrics": result.metrics,
            "history": result.history,
            "provenance": result.provenance,
            "files": {name: _sha256(b) for name, b in blobs.items()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        tmp = self.root / "tmp" / f"{key}.{uuid.uuid4().hex}"
        tmp.mkdir(parents=True)
        try:
            for name, b in blobs.items():
                _write(tmp / name, b)
            _write(tmp / "run.json", json.dumps(meta, indent=1).encode())  # written last: marks completeness
            final = self.path(key)
            with self._rw(key, exclusive=True):
                if final.exists():  # a corrupt entry being rebuilt: move it aside first, never delete before replacing
                    old = self.root / "tmp" / f"{key}.old.{uuid.uuid4().hex}"
                    os.replace(final, old)
                    shutil.rmtree(old, ignore_errors=True)
                os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._touch(key)
        return result

    def delete(self, key: str) -> None:
        """Remove a run (waiting for its readers); its pin and last-use marker go with it."""
        self.require_writable("delete a run")
        self._delete(key, wait=True)

    def _delete(self, key: str, wait: bool) -> bool:
        """Move the run aside and remove it; False (nothing done) if ``wait`` is False and a reader holds it."""
        with self._rw(key, exclusive=True, wait=wait) as held:
            if not held:
                return False
            d = self.path(key)
            if d.exists():
                old = self.root / "tmp" / f"{key}.del.{uuid.uuid4().hex}"
                os.replace(d, old)
                shutil.rmtree(old, ignore_errors=True)
        for marker in (self.root / "used" / key, self.root / "pins" / key):
            with contextlib.suppress(OSError):
                marker.unlink()
        return True

    def pin(self, key: str) -> None:
        """Never prune this run (a lecturer's pre-trained run): a marker file ``pins/<key>``."""
        self.require_writable("pin a run")
        if key not in self:
            raise KeyError(f"no stored run has the key {key[:40]!r}")
        (self.root / "pins" / key).touch()

    def unpin(self, key: str) -> None:
        self.require_writable("unpin a run")
        with contextlib.suppress(FileNotFoundError):
            (self.root / "pins" / key).unlink()

    def pinned(self) -> set[str]:
        try:
            return set(os.listdir(self.root / "pins"))
        except OSError:
            return set()

    def clean_tmp(self, max_age_s: float = TMP_MAX_AGE_S) -> list[str]:
        """Remove tmp/ entries older than ``max_age_s`` (left by a killed writer); returns their names."""
        if self.read_only:
            return []
        removed, now = [], time.time()
        try:
            names = os.listdir(self.root / "tmp")
        except OSError:
            return []
        for name in names:
            p = self.root / "tmp" / name
            try:
                newest = max([p.lstat().st_mtime] + [f.lstat().st_mtime for f in p.glob("*")])
            except OSError:
                continue
            if now - newest > max_age_s:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        p.unlink()
                removed.append(name)
        if removed:
            log.info(
                "removed %d leftover tmp entr%s from the run store", len(removed), "y" if len(removed) == 1 else "ies"
            )
        return removed

    def prune(self, max_bytes: int) -> list[str]:
        """Delete the least recently used runs until the store holds at most ``max_bytes``; returns deleted keys.

        Pinned runs and runs a reader holds at this moment are skipped; old tmp/ leftovers go first.
        """
        self.require_writable("prune")
        removed = []
        with FileLock(str(self.root / "locks" / "prune.lock"), timeout=self.lock_timeout):
            self.clean_tmp()
            total = self.size_bytes()
            if total <= max_bytes:
                return removed
            pins = self.pinned()
            entries = self._entries()
            order = sorted((k for k in entries if k not in pins), key=self.last_used)
            for key in order:
                if total <= max_bytes:
                    break
                if self._delete(key, wait=False):
                    total -= entries[key]["bytes"] or 0
                    removed.append(key)
        return removed


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def load_first(stores, key: str) -> Run | None:
    """The run ``key`` from the first of ``stores`` that holds a readable copy; None if none does.

    An unreadable copy is logged and skipped (training rebuilds it). The one way the app and the job runner open a
    run from several stores (the visitor's store, then the shipped examples).
    """
    for store in stores:
        try:
            run = store.load(key)
        except (CorruptRun, OSError) as exc:
            log.warning("stored run %s is unreadable (%s); it will be trained again", key, exc)
            continue
        if run is not None:
            return run
    return None
