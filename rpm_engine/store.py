"""The persistent, content-addressed run store (the cache).

A run lives in ``<root>/runs/<key>/`` with ``run.json`` (config, metrics, history and the SHA-256 of every other
file), ``z.npy`` (the latents of every frame) and ``model.pt`` (encoder and coupling weights). A run is written
in ``<root>/tmp/`` and moved into place with one rename, so a crash never leaves a half-written run; a file lock
per key makes two requests for one key train once; an entry that fails its checks is reported and rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from .config import RunConfig
from .data import Video, generate_video
from .run import Run
from .train import train

log = logging.getLogger(__name__)
ENV_VAR = "RPM_ENGINE_CACHE"


class CorruptRun(Exception):
    """A store entry that cannot be read or fails its checksums."""


def default_root() -> Path:
    """``$RPM_ENGINE_CACHE`` when set, else the per-user cache directory."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rpm-engine"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RunStore:
    """Runs keyed by the hash of their configuration, under ``root`` (default: ``default_root()``)."""

    def __init__(self, root: str | Path | None = None, lock_timeout: float = 3600.0):
        self.root = Path(root) if root is not None else default_root()
        self.lock_timeout = lock_timeout
        for sub in ("runs", "tmp", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / "runs" / key

    def lock(self, key: str) -> FileLock:
        return FileLock(str(self.root / "locks" / f"{key}.lock"), timeout=self.lock_timeout)

    def __contains__(self, config_or_key) -> bool:
        key = config_or_key if isinstance(config_or_key, str) else config_or_key.key()
        return (self.path(key) / "run.json").exists()

    # -- reading -------------------------------------------------------------------------------------------------
    def load(self, config_or_key) -> Run | None:
        """The stored run, ``None`` if absent; raises ``CorruptRun`` if it is there but broken."""
        key = config_or_key if isinstance(config_or_key, str) else config_or_key.key()
        d = self.path(key)
        if not d.exists():
            return None
        try:
            meta = json.loads((d / "run.json").read_text())
            blobs = {}
            for name, digest in meta["files"].items():
                blobs[name] = (d / name).read_bytes()
                if _sha256(blobs[name]) != digest:
                    raise CorruptRun(f"run {key}: {name} does not match its checksum")
            z = np.load(io.BytesIO(blobs["z.npy"]), allow_pickle=False)
            model = torch.load(io.BytesIO(blobs["model.pt"]), map_location="cpu", weights_only=True)
            config = RunConfig.from_dict(meta["config"])
            if config.key() != key:
                raise CorruptRun(f"run {key}: its config hashes to another key")
            return Run(
                config, meta["metrics"], meta["history"], z, model["encoder"], model.get("coupling"), cached=True
            )
        except CorruptRun:
            raise
        except Exception as exc:  # unreadable JSON, missing file, bad pickle, ...: all mean "corrupt"
            raise CorruptRun(f"run {key} is unreadable ({type(exc).__name__}: {exc})") from exc

    def list_runs(self) -> list[dict]:
        """Summaries of the stored runs (key, label, config, metrics), newest first; broken entries are skipped."""
        out = []
        for d in self.root.joinpath("runs").iterdir():
            try:
                meta = json.loads((d / "run.json").read_text())
                cfg = RunConfig.from_dict(meta["config"])
                if cfg.key() != d.name:  # stale (made under an older key) or damaged: not listed
                    continue
                out.append(
                    {
                        "key": d.name,
                        "label": cfg.label,
                        "config": cfg,
                        "metrics": meta["metrics"],
                        "mtime": (d / "run.json").stat().st_mtime,
                    }
                )
            except Exception:
                continue
        return sorted(out, key=lambda r: -r["mtime"])

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.root.joinpath("runs").rglob("*") if f.is_file())

    # -- writing -------------------------------------------------------------------------------------------------
    def save(self, result: Run) -> Run:
        """Write a finished run atomically: a temporary directory, then one rename into place; returns it."""
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
            if final.exists():  # a corrupt entry being rebuilt: move it aside first, never delete before replacing
                old = self.root / "tmp" / f"{key}.old.{uuid.uuid4().hex}"
                os.replace(final, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return result

    def delete(self, key: str) -> None:
        with self.lock(key):
            d = self.path(key)
            if d.exists():
                old = self.root / "tmp" / f"{key}.del.{uuid.uuid4().hex}"
                os.replace(d, old)
                shutil.rmtree(old, ignore_errors=True)

    def prune(self, max_bytes: int) -> list[str]:
        """Delete least recently written runs until the store holds at most ``max_bytes``; returns deleted keys."""
        removed = []
        runs = sorted(self.list_runs(), key=lambda r: r["mtime"])
        total = self.size_bytes()
        for r in runs:
            if total <= max_bytes:
                break
            size = sum(f.stat().st_size for f in self.path(r["key"]).glob("*"))
            self.delete(r["key"])
            total -= size
            removed.append(r["key"])
        return removed

    def get_or_train(
        self, config: RunConfig, *, video: Video | None = None, device: str = "auto", callback=None, cancel=None
    ) -> Run:
        """The stored run for ``config``, training (once, under a lock) when it is absent or corrupt."""
        key = config.key()
        rebuilt = False
        try:
            run = self.load(key)
            if run is not None:
                return run
        except CorruptRun as exc:
            log.warning("%s; rebuilding it", exc)
            rebuilt = True
        with self.lock(key):
            try:  # another process may have finished it while we waited for the lock
                run = self.load(key)
                if run is not None:
                    return run
            except CorruptRun:
                rebuilt = True
            video = video or generate_video(config.video, cancel=cancel)
            run = self.save(train(config, video, device=device, callback=callback, cancel=cancel))
            run.rebuilt = rebuilt
            return run


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
