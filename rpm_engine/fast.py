"""Fused CPU encoder kernels (Fig. 2 encoder, App. D recipe) with a clean fallback to stock PyTorch.

The C++ source ``kernels/encoder_cpu.cpp`` is compiled once per machine with ``torch.utils.cpp_extension`` (needs a C++
compiler and ``ninja``) and cached by PyTorch (``TORCH_EXTENSIONS_DIR``). When it cannot be built or loaded, or when
``RPM_ENGINE_FAST=0``, ``usable()`` is False and the engine runs the eager encoder instead; the failure is logged once.
Only CPU tensors ever reach the kernels; CUDA always runs stock ops.

Builds are serialised by our own ``filelock`` in the build directory (an OS lock: a killed builder releases it). Under
it a torch build baton (``<build dir>/lock``) can only be a leftover of a builder killed mid-compile (``kill -9``), which
would otherwise make every later load wait for ever, so it is removed, and the ``ninja`` and compilers that killed
builder left running are waited for (they would write the same object files as the new build). A process that has to
wait says so in the log and gives up after ``RPM_ENGINE_BUILD_TIMEOUT`` seconds (default 900), falling back to stock
PyTorch.

Training step (one call of ``train_encode``): three forward passes over the batch (conv1's BN statistics; BN1, ReLU,
conv2 + statistics; BN2, sigmoid, centre of mass and the moments the backward needs) and one backward pass (BN2's
backward, dW2, dh, and the pieces of BN1's backward and of dW1, combined once the batch's sums are known). Only conv2's
output is kept for backward at every scale; conv1's is kept when it fits in cache (``STORE_Y1_BYTES``) and its rows are
recomputed from the frames otherwise. Every buffer is held by a ``Workspace`` and reused from step to step (fresh
large temporaries cost as much as the arithmetic: the OS zero-fills each new page).
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from . import numerics

log = logging.getLogger(__name__)
ENV_VAR = "RPM_ENGINE_FAST"  # "0" forces the stock PyTorch path
BUILD_TIMEOUT_VAR = "RPM_ENGINE_BUILD_TIMEOUT"  # seconds a process waits for another one's build of the kernels
DEFAULT_BUILD_TIMEOUT_S = 900.0  # a full compile takes ~1 min on 2 idle cores, several minutes on a busy box
_WAIT_LOG_EVERY_S = 30.0
_OUR_LOCK = "rpm_build.lock"  # our filelock, beside torch's baton "lock" in the build directory
_SOURCE = Path(__file__).with_name("kernels") / "encoder_cpu.cpp"
_lock = threading.Lock()
_ext = None
_tried = False


LANES_VAR = "RPM_ENGINE_LANES"  # "8": 8-lane vectors even where the CPU has AVX-512 (the bits of 8-lane machines)
_BASE_CFLAGS = ("-O3", "-march=native", "-fopenmp", "-fno-math-errno")


def _cflags() -> tuple[str, ...]:
    """The compiler flags of the kernels' build (part of its name): ``RPM_ENGINE_LANES=8`` adds ``-DRPM_VW=8``."""
    return _BASE_CFLAGS + (("-DRPM_VW=8",) if os.environ.get(LANES_VAR, "").strip() == "8" else ())


_error: str | None = None  # the build's failure, as logged (provenance() reports it)


def source_sha(source: Path | None = None) -> str:
    """sha256 of the kernels' C++ source bytes (``kernels/encoder_cpu.cpp`` unless ``source`` is given)."""
    return hashlib.sha256(Path(source or _SOURCE).read_bytes()).hexdigest()


def cpu_kind() -> str:
    """The CPU the kernels are built for (-march=native): machine, model name and flags from /proc/cpuinfo."""
    info = platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        info += "".join(sorted({ln for ln in lines if ln.startswith(("flags", "model name", "Features"))}))
    except OSError:
        pass
    return info


def extension_name(source: Path | None = None) -> str:
    """The kernels' name for torch, hence their build directory: one build per source text and torch version (a
    build directory shared by two versions of the code must never hand one the other's ``.so``: ninja compares file
    times, not contents), per CPU kind (they are built with -march=native: a hash of the CPU's model and flags) and
    per checkout (torch's build.ninja names the source by its absolute path, so two checkouts sharing a build
    directory rebuilt each other's kernels and waited on each other)."""
    source = Path(source or _SOURCE)
    info = "\n".join((os.path.realpath(source), source_sha(source), torch.__version__, " ".join(_cflags()), cpu_kind()))
    return f"rpm_encoder_cpu_{hashlib.sha256(info.encode()).hexdigest()[:10]}"


def compiler_message(text: str, lines: int = 4) -> str:
    """The compiler's own words from a failed build's output: the first ``error`` line and the lines after it
    (``lines`` in all), else the output's last line; ninja's and torch's framing are left out."""
    rows = [ln.rstrip() for ln in str(text).splitlines() if ln.strip()]
    for i, ln in enumerate(rows):
        if re.search(r"\b(fatal )?error\b:", ln) and not ln.lstrip().startswith(("FAILED:", "ninja:")):
            keep = [r for r in rows[i:] if not r.lstrip().startswith(("ninja:", "FAILED:", "["))]
            return " | ".join(r.strip() for r in keep[:lines])
    return rows[-1].strip() if rows else ""


def provenance() -> dict:
    """The numerics a training run on this process gets from the encoder (issue 18): whether the fused kernels run,
    the sha256 of their source, the torch version, the CPU kind they were built for (-march=native) and the thread
    count (the fused kernels' results do not depend on it; stock PyTorch's may). Builds the kernels if needed."""
    fused = extension() is not None
    try:
        sha = source_sha()
    except OSError:
        sha = None
    kind = cpu_kind()
    out = {
        "fused": fused,
        "kernel_source_sha256": sha,
        "kernel_name": extension_name() if sha else None,
        "torch": torch.__version__,
        "cpu": platform.machine(),
        "cpu_flags_sha256": hashlib.sha256(kind.encode()).hexdigest()[:16],
        "cflags": " ".join(_cflags()),
        "threads": torch.get_num_threads(),
    }
    if not fused:
        out["reason"] = "disabled" if _disabled() else (_error or "not built")
    return out


class BuildLockTimeout(TimeoutError):
    """Another process held the kernels' build lock for longer than ``RPM_ENGINE_BUILD_TIMEOUT`` seconds."""


def build_timeout() -> float:
    """Seconds to wait for another process's build (``RPM_ENGINE_BUILD_TIMEOUT``; default 900; bad values: default)."""
    raw = os.environ.get(BUILD_TIMEOUT_VAR, "").strip()
    if not raw:
        return DEFAULT_BUILD_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:  # also NaN
        log.warning(
            "rpm_engine: %s=%r is not a positive number of seconds; using %g",
            BUILD_TIMEOUT_VAR,
            raw,
            DEFAULT_BUILD_TIMEOUT_S,
        )
        return DEFAULT_BUILD_TIMEOUT_S
    return value


def build_directory(name: str) -> Path:
    """The directory torch builds ``name`` in: ``$TORCH_EXTENSIONS_DIR/<name>`` when that is set, else
    ``~/.cache/torch_extensions/py311_cpu/<name>`` (Python and accelerator tag); created if missing."""
    from torch.utils.cpp_extension import _get_build_directory

    return Path(_get_build_directory(name, verbose=False))


@contextmanager
def _build_lock(build_dir: Path, timeout: float) -> Iterator[None]:
    """Hold our build lock for ``build_dir``; log while waiting for another process, give up after ``timeout`` s."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(build_dir / _OUR_LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        start = time.monotonic()
        log.warning(
            "rpm_engine: another process is building the fused CPU kernels in %s; waiting (up to %g s, %s)",
            build_dir,
            timeout,
            BUILD_TIMEOUT_VAR,
        )
        while True:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                raise BuildLockTimeout(
                    f"waited {timeout:g} s for another process building the fused CPU kernels in {build_dir}; "
                    f"gave up (set {BUILD_TIMEOUT_VAR} to wait longer)"
                ) from None
            try:
                lock.acquire(timeout=min(left, _WAIT_LOG_EVERY_S))
                break
            except Timeout:
                log.warning(
                    "rpm_engine: still waiting for the fused CPU kernels' build (%.0f s)", time.monotonic() - start
                )
        log.warning("rpm_engine: the other build finished after %.0f s; loading the kernels", time.monotonic() - start)
    try:
        yield
    finally:
        lock.release()


def _clear_stale_baton(build_dir: Path) -> None:
    """Remove torch's build baton ``<build_dir>/lock``: called under our build lock, so its owner is dead (a build
    killed mid-compile), and torch's ``FileBaton.wait()`` would otherwise poll it for ever."""
    baton = build_dir / "lock"
    try:
        baton.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:  # torch would wait on it for ever: fail now, with the path
        raise RuntimeError(
            f"stale build lock {baton} could not be removed ({exc.strerror}); delete it by hand"
        ) from None
    log.warning("rpm_engine: removed the stale build lock %s left by an interrupted build", baton)


def leftover_builders(build_dir: Path) -> list[int]:
    """Processes working in ``build_dir``: torch runs ``ninja`` there and the compilers inherit it, so under our build
    lock they can only be left over from a builder killed mid-compile (Linux ``/proc``; elsewhere: none seen)."""
    target, me, out = os.path.realpath(build_dir), os.getpid(), []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(proc.name) != me and os.readlink(proc / "cwd") == target:
                out.append(int(proc.name))
        except (OSError, ValueError):  # gone, a zombie, or another user's
            continue
    return sorted(out)


def _wait_for_leftover_builders(build_dir: Path, timeout: float) -> None:
    """Let an interrupted build's compilers finish before ours starts: two compilers writing one object file can leave
    a broken one. Theirs is the same compile, so ours then finds most of the work done."""
    pids = leftover_builders(build_dir)
    if not pids:
        return
    log.warning(
        "rpm_engine: %d process(es) of an interrupted build are still compiling in %s (pid %s); waiting for them",
        len(pids),
        build_dir,
        ", ".join(map(str, pids[:5])),
    )
    deadline = time.monotonic() + timeout
    while pids:
        if time.monotonic() > deadline:
            raise BuildLockTimeout(
                f"waited {timeout:g} s for an interrupted build's compilers in {build_dir} (pid "
                f"{', '.join(map(str, pids[:5]))}); gave up (set {BUILD_TIMEOUT_VAR} to wait longer)"
            )
        time.sleep(0.2)
        pids = leftover_builders(build_dir)


def _build(source: Path | None = None):
    """Compile (or load the cached build of) ``source`` (default: the kernels) under the build lock."""
    from torch.utils.cpp_extension import load

    source = Path(source or _SOURCE)
    name = extension_name(source)
    build_dir = build_directory(name)
    with _build_lock(build_dir, build_timeout()):
        _clear_stale_baton(build_dir)
        _wait_for_leftover_builders(build_dir, build_timeout())
        return load(
            name=name,
            sources=[str(source)],
            extra_cflags=list(_cflags()),
            extra_ldflags=["-fopenmp"],
            build_directory=str(build_dir),  # the directory whose baton was just cleared, whatever the env says
            verbose=False,
        )


def _disabled() -> bool:
    return os.environ.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off")


def extension():
    """The compiled module, or None (disabled by ``RPM_ENGINE_FAST=0``, or the build failed: logged once with the
    compiler's own message)."""
    global _ext, _tried, _error
    if _disabled():
        return None
    if _tried:
        return _ext
    with _lock:
        if not _tried:
            try:
                _ext = _build()
            except Exception as exc:  # no compiler, no ninja, read-only cache, a compile error...: run the stock path
                _error = f"{type(exc).__name__}: {compiler_message(str(exc))}"
                log.warning("rpm_engine: fused CPU kernels unavailable (%s); using stock PyTorch", _error)
                _ext = None
            _tried = True
    return _ext


def usable(encoder: nn.Module, frames: torch.Tensor) -> bool:
    """True when the fused kernels can run this encoder on these frames (CPU, float32, the Fig. 2 shapes)."""
    from .encoder import Encoder

    if not isinstance(encoder, Encoder) or frames.device.type != "cpu" or frames.dtype != torch.uint8:
        return False
    c1, c2, b1, b2 = encoder.conv1, encoder.conv2, encoder.bn1, encoder.bn2
    shapes_ok = (
        c1.in_channels == 3
        and c1.out_channels == 6
        and 1 <= c2.out_channels <= 6
        and c2.in_channels == 6
        and all(
            c.kernel_size == (3, 3)
            and c.padding == (1, 1)
            and c.stride == (1, 1)
            and c.dilation == (1, 1)
            and c.groups == 1
            and c.bias is not None
            and c.padding_mode == "zeros"
            for c in (c1, c2)
        )
        and all(b.affine and b.track_running_stats and b.momentum is not None for b in (b1, b2))
    )
    on_cpu = all(p.device.type == "cpu" and p.dtype == torch.float32 for p in encoder.parameters())
    return shapes_ok and on_cpu and frames.dim() == 4 and frames.shape[-1] == 3 and extension() is not None


STORE_Y1_BYTES = 32 << 20  # y1 kept up to the size of the L3 of the machines we measure on (quick: 6 MB; paper: 94 MB)
_NONE = torch.empty(0)


class Workspace:
    """Buffers reused across steps: activations (B, C, H, W) saved for backward and per-thread scratch.

    One per training run (not shared between threads). ``version`` guards against a second forward overwriting
    the activations before the first one's backward has run.
    """

    def __init__(self):
        self._bufs: dict[str, torch.Tensor] = {}
        self.version = 0

    def buffer(self, name: str, numel: int) -> torch.Tensor:
        buf = self._bufs.get(name)
        if buf is None or buf.numel() < numel:
            buf = self._bufs[name] = torch.empty(numel, dtype=torch.float32)
        return buf

    def y1(self, n: int, h: int, w: int) -> torch.Tensor:
        """The conv1 output (B, 6, H, W) kept for backward when it is small (it stays in cache; the kernels then read
        it), else an empty tensor: the kernels recompute its rows from the frames (94 MB a paper-scale step)."""
        numel = n * 6 * h * w
        return self.buffer("y1", numel) if numel * 4 <= STORE_Y1_BYTES else _NONE

    def scratch(self, h: int, w: int) -> torch.Tensor:
        """Per-thread padded planes; zero-filled once (their borders are the convolutions' zero padding)."""
        need = torch.get_num_threads() * extension().scratch_size(h, w)
        key = f"scratch{h}x{w}"
        buf = self._bufs.get(key)
        if buf is None or buf.numel() < need:
            buf = self._bufs[key] = torch.zeros(need, dtype=torch.float32)
        return buf


class _FusedTrain(torch.autograd.Function):
    """z = g(frames[idx]) with BatchNorm in training mode; backward by the fused kernels (the eager graph's math)."""

    @staticmethod
    @numerics.kernel_threads()  # inside a run: the caller's threads (issue 18)
    def forward(ctx, frames, idx, ws, eps, w1, b1, g1, be1, w2, b2, g2, be2):
        ext = extension()
        n, h, w = len(idx), frames.shape[1], frames.shape[2]
        k = w2.shape[0]
        y2 = ws.buffer("y2", n * k * h * w)  # (B, K, H, W) conv2 output, kept for backward
        y1 = ws.y1(n, h, w)
        z, stats, com = ext.train_forward(frames, idx, w1, b1, g1, be1, w2, b2, g2, be2, eps, y1, y2, ws.scratch(h, w))
        ws.version += 1
        ctx.version, ctx.ws, ctx.frames, ctx.idx = ws.version, ws, frames, idx
        ctx.save_for_backward(w1, b1, g1, be1, w2, g2, be2, stats, com)
        ctx.mark_non_differentiable(stats)
        return z, stats

    @staticmethod
    @numerics.kernel_threads()
    def backward(ctx, gz, _gstats):
        ws = ctx.ws
        if ws.version != ctx.version:
            raise RuntimeError("fused encoder: a second forward ran before this backward (one workspace per step)")
        w1, b1, g1, be1, w2, g2, be2, stats, com = ctx.saved_tensors
        n, h, w = len(ctx.idx), ctx.frames.shape[1], ctx.frames.shape[2]
        k = w2.shape[0]
        grads = extension().train_backward(
            gz.contiguous().float(),
            ctx.frames,
            ctx.idx,
            w1,
            b1,
            g1,
            be1,
            w2,
            g2,
            be2,
            stats,
            com,
            ws.y1(n, h, w),
            ws.buffer("y2", n * k * h * w),
            ws.scratch(h, w),
        )
        return (None, None, None, None, *grads)


SPLIT_SMALL_VAR = "RPM_ENGINE_SPLIT_SMALL"  # "1": always split small frames over threads, "0": never; unset: when idle
_SMALL_TASK_PX, _LARGE_TASK_PX = 1 << 12, 1 << 18
_grain_checked = [0.0, None]  # when the policy last looked at the load, and what it set


def machine_idle() -> bool:
    """Whether this machine has cores to spare: the 1-minute load average (which counts this process's own
    threads) is below the cores plus a half. Unknown (no load average): not idle."""
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1) + 0.5
    except OSError:
        return False


def tune_task_size(ext) -> None:
    """Let small frames (quick scale) split over threads only while the machine is idle (see the kernels' ``grain``:
    under load every pass's barrier waits for a descheduled thread). Looked at once a second; the results do not
    depend on it (each image's sums are added in image order whatever the split)."""
    now = time.monotonic()
    if now - _grain_checked[0] < 1.0:
        return
    forced = os.environ.get(SPLIT_SMALL_VAR, "").strip()
    split = forced == "1" or (forced != "0" and machine_idle())
    px = _SMALL_TASK_PX if split else _LARGE_TASK_PX
    _grain_checked[0] = now
    if px != _grain_checked[1]:
        ext.set_min_task_pixels(px)
        _grain_checked[1] = px


def train_encode(encoder, frames: torch.Tensor, idx: torch.Tensor, ws: Workspace) -> torch.Tensor:
    """(T, H, W, 3) uint8 frames, (B,) indices -> z (B, 2K), BatchNorm in training mode (updates running stats)."""
    tune_task_size(extension())
    b1, b2 = encoder.bn1, encoder.bn2
    idx = idx.contiguous().long()
    z, stats = _FusedTrain.apply(
        frames.contiguous(),
        idx,
        ws,
        float(b1.eps),
        encoder.conv1.weight,
        encoder.conv1.bias,
        b1.weight,
        b1.bias,
        encoder.conv2.weight,
        encoder.conv2.bias,
        b2.weight,
        b2.bias,
    )
    n = len(idx) * frames.shape[1] * frames.shape[2]
    k = encoder.conv2.out_channels
    with torch.no_grad():  # running statistics as nn.BatchNorm2d keeps them (unbiased variance)
        for bn, mean, var in ((b1, stats[0:6], stats[6:12]), (b2, stats[18 : 18 + k], stats[18 + k : 18 + 2 * k])):
            m = bn.momentum
            bn.running_mean.mul_(1 - m).add_(mean.float(), alpha=m)
            bn.running_var.mul_(1 - m).add_((var * (n / max(n - 1, 1))).float(), alpha=m)
            bn.num_batches_tracked.add_(1)
    return z


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d):
    """Eval-mode BatchNorm as y * scale + shift (applied after the conv bias)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return conv.weight.detach(), conv.bias.detach(), scale.detach(), (bn.bias - bn.running_mean * scale).detach()


@numerics.kernel_threads()
def eval_encode(encoder, frames: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> z (B, 2K) for frames[idx] (all when None), BatchNorm in eval mode; nothing is kept."""
    if idx is None:
        idx = torch.arange(len(frames))
    tune_task_size(extension())  # small frames split only while idle, as in training (a class server's heatmaps too)
    scratch = torch.zeros(torch.get_num_threads() * extension().scratch_size(frames.shape[1], frames.shape[2]))
    with torch.no_grad():
        return extension().eval_forward(
            frames.contiguous(),
            idx.contiguous().long(),
            *_fold(encoder.conv1, encoder.bn1),
            *_fold(encoder.conv2, encoder.bn2),
            scratch,
        )
