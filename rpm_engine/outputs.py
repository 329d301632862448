"""A command's output files: checked before any training starts, and written whole (issue 16, "Bounded before
expanded": the CLI checks its output paths first, writes through symlinks safely).

    check_outputs({"--json": a.json, "--csv": a.csv})   # ValueError, one line, before an hour of training
    write_atomic(a.json, text)                           # a reader sees the old file or the new one, never half

``check_outputs`` refuses two outputs that name one file (however spelled: relative, ``..``, a symlink, a hard
link), a directory, something that is not a regular file (``/dev/null``: replacing it would replace the device), a
path whose folder does not exist (or, with ``make_dirs``, whose nearest existing folder is not one) and a folder it
may not write in. ``write_atomic`` writes a temporary file beside the *target* of a symlink and renames it onto the
target, so a symlink stays a symlink and the file it points to is replaced whole.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path

from .text import clip


def _resolve(path: str | os.PathLike) -> Path:
    """The file a path names: ``~`` expanded, made absolute, every symlink followed (a dangling one to its target)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def _writable_dir(folder: Path, flag: str, make_dirs: bool) -> None:
    probe = folder
    if make_dirs:
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent  # the nearest folder that exists: the rest is created
    if not probe.exists():
        raise ValueError(f"{flag}: the folder {clip(str(folder), 80)} does not exist")
    if not probe.is_dir():
        raise ValueError(f"{flag}: {clip(str(probe), 80)} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"{flag}: cannot write in {clip(str(probe), 80)} (permission denied)")


def check_outputs(outputs: Mapping[str, str | os.PathLike | None], *, make_dirs: bool = False) -> dict[str, Path]:
    """Check a command's output paths (flag -> path; ``None`` skips an output that was not asked for) before it
    runs; returns flag -> the resolved file. ValueError, one line naming the flag, for: an empty path, a directory,
    an existing path that is not a regular file, a read-only file, a missing folder (with ``make_dirs`` the folders
    may be missing if the nearest existing one is writable), a folder that cannot be written, and two flags that name
    one file."""
    resolved: dict[str, Path] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        if not str(path).strip():
            raise ValueError(f"{flag}: an empty path")
        target = _resolve(path)
        shown = clip(str(path), 80)
        if target.is_dir():
            raise ValueError(f"{flag}: {shown} is a directory; give a file name inside it")
        if target.exists():
            if not stat.S_ISREG(target.stat().st_mode):
                raise ValueError(f"{flag}: {shown} is not a regular file")
            if not os.access(target, os.W_OK):
                raise ValueError(f"{flag}: {shown} is read-only")
        _writable_dir(target.parent, flag, make_dirs)
        for other, seen in resolved.items():
            same = seen == target or (seen.exists() and target.exists() and os.path.samefile(seen, target))
            if same:
                raise ValueError(f"{flag}: {shown} is the same file as {other}; give each output its own file")
        resolved[flag] = target
    return resolved


def write_atomic(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` whole: a temporary file beside the target (the symlink's target when ``path`` is a
    symlink), flushed to disk, then renamed onto it; the file's permission bits are kept. Creates missing folders.
    Returns the file written. OSError (e.g. the target is a directory or a device) leaves nothing behind."""
    target = _resolve(path)
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        kind = IsADirectoryError if target.is_dir() else OSError
        raise kind(f"{clip(str(path), 80)} is not a regular file")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding=encoding) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            shutil.copymode(target, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


MEMORY_MESSAGE = (
    "out of memory: this command needs more memory than the machine has; try a smaller video, batch or sweep"
)


def out_of_memory(exc: BaseException) -> bool:
    """True for Python's ``MemoryError`` (numpy's allocation failures are one) and for torch's out-of-memory errors,
    which are ``RuntimeError``s (``torch.OutOfMemoryError`` on a GPU, "can't allocate memory" on a CPU)."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and (
        type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in str(exc).split("\n", 1)[0]
    )


__all__ = ["MEMORY_MESSAGE", "check_outputs", "out_of_memory", "write_atomic"]
