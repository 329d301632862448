"""A run's numerics provenance (issue 18): what its bits depend on, recorded when it trains, compared when it opens.

On one machine a key gives the same bits whatever the backend or thread count (``numerics``). Across machines the
numbers need not agree, so every run carries its provenance (fused kernels or stock PyTorch, the kernels' source
hash and build flags, the CPU kind, torch and numpy versions, the thread count outside the kernels) in its
``run.json``, and ``provenance_mismatch(run)`` says in one line when this machine would not reproduce it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
from pathlib import Path

from .numerics import RUN_THREADS

# Fields that decide a run's bits, per numerics path ("device" and "fused" are compared first).
_FUSED_FIELDS = (
    "kernel_source_sha256",
    "cflags",
    "cpu_flags_sha256",
    "aten_cpu_capability",
    "threads",
    "torch",
    "numpy",
    "env",
)
_STOCK_FIELDS = ("cpu_flags_sha256", "aten_cpu_capability", "threads", "torch", "numpy", "env")
# Environment variables that change which instructions torch's libraries use (set ones are recorded and compared).
_ENV = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
_CUDA_FIELDS = ("gpu", "cuda", "torch", "numpy")
_NAMES = {
    "kernel_source_sha256": "kernel source",
    "cflags": "kernel build flags",
    "cpu_flags_sha256": "CPU",
    "aten_cpu_capability": "ATen SIMD",
    "threads": "threads",
    "torch": "torch",
    "numpy": "numpy",
    "gpu": "GPU",
    "cuda": "CUDA",
    "env": "environment",
}


@functools.lru_cache(maxsize=1)
def _cpu() -> tuple[str, str]:
    """(model name, sha256 of the machine, model and flags) of this CPU: the kind the kernels are built for
    (-march=native) and the one whose instructions oneDNN, MKL and numpy pick."""
    kind, model = platform.machine(), platform.machine()
    with contextlib.suppress(OSError):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        kind += "".join(sorted({ln for ln in lines if ln.startswith(("flags", "model name", "Features"))}))
        model = next((ln.partition(":")[2].strip() for ln in lines if ln.startswith("model name")), model)
    return model, hashlib.sha256(kind.encode()).hexdigest()[:16]


def _common() -> dict:
    import numpy as np
    import torch

    model, flags = _cpu()
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the SIMD width ATen's ops run at
        "cpu_model": model,
        "cpu_flags_sha256": flags,
        "env": {k: os.environ[k] for k in _ENV if k in os.environ},
    }


def run_provenance(fused: bool, device) -> dict:
    """What a run trained here, now, on ``device`` with (``fused``) or without the fused kernels, depends on:
    ``{"numerics": "fused" | "stock" | "cuda", "device", "fused", torch, numpy, CPU, ...}`` (JSON-ready).

    Call it while the run trains (the kernels are loaded then): ``fast.provenance()`` supplies the kernels' part."""
    import torch

    from . import fast

    dev = str(getattr(device, "type", device))
    out = {"numerics": "cuda" if dev == "cuda" else ("fused" if fused else "stock"), "device": dev, "fused": fused}
    out.update(_common())
    if dev == "cuda":
        out.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda)
    elif fused:
        kernels = fast.provenance() if hasattr(fast, "provenance") else _kernels()
        out.update({k: kernels.get(k) for k in ("kernel_source_sha256", "kernel_name", "cflags")})
    if dev == "cpu":
        out["threads"] = torch.get_num_threads()  # RUN_THREADS inside ``isolated``: the count outside the kernels
    return out


def _fused_here() -> bool | None:
    """Would a CPU run here use the fused kernels? Known without building them: False when disabled, the outcome of
    this process's build when it tried, True when a build for this source is cached; else None (unknown)."""
    from . import fast

    if hasattr(fast, "_disabled") and fast._disabled():
        return False
    if fast._tried:
        return fast._ext is not None
    with contextlib.suppress(Exception):  # no torch build directory, unreadable source...: unknown
        name = fast.extension_name()
        if (fast.build_directory(name) / f"{name}.so").exists():
            return True
    return None


def machine_provenance(device: str | None = None) -> dict:
    """The provenance a run trained here would get, without building anything (``fused`` may be None: unknown).
    ``device``: "cpu" or "cuda"; default: the one ``train(device="auto")`` picks."""
    import torch

    from . import fast

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = {"device": dev, **_common()}
    if dev == "cuda":
        out.update(numerics="cuda", fused=False, gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda)
        return out
    fused = _fused_here()
    out.update(numerics={True: "fused", False: "stock", None: None}[fused], fused=fused, threads=RUN_THREADS)
    with contextlib.suppress(Exception):
        out["kernel_source_sha256"] = fast.source_sha() if hasattr(fast, "source_sha") else _source_sha()
    out["cflags"] = _kernels()["cflags"]
    return out


def _source_sha() -> str:
    from . import fast

    return hashlib.sha256(fast._SOURCE.read_bytes()).hexdigest()


def _kernels() -> dict:
    """The kernels' part of a provenance where ``fast`` has no ``provenance()`` of its own."""
    from . import fast

    flags = getattr(fast, "_CFLAGS", ("-O3", "-march=native", "-fopenmp", "-fno-math-errno"))
    return {"kernel_source_sha256": _source_sha(), "kernel_name": fast.extension_name(), "cflags": " ".join(flags)}


def _short(field: str, value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none set"
    text = str(value)
    return text[:8] if field.endswith("sha256") else text


def provenance_mismatch(run, here: dict | None = None, *, device: str | None = None) -> str | None:
    """One line saying why this machine may not reproduce ``run``'s numbers (its provenance differs from ``here``,
    default ``machine_provenance(device)``), or None when retraining its key here gives the same bits."""
    rec = getattr(run, "provenance", None)
    if not rec:
        return (
            "trained before runs recorded their numerics (issue 18): retraining this key here may not give "
            "these exact numbers"
        )
    here = here or machine_provenance(device)
    why = []
    if rec.get("device") != here.get("device"):
        why.append(f"trained on {rec.get('device')}, this machine trains on {here.get('device')}")
    elif here.get("fused") is not None and bool(rec.get("fused")) != bool(here.get("fused")):
        path = {True: "the fused kernels", False: "stock PyTorch"}
        why.append(f"trained with {path[bool(rec.get('fused'))]}, this machine uses {path[bool(here.get('fused'))]}")
    else:
        fields = _CUDA_FIELDS if rec.get("device") == "cuda" else _FUSED_FIELDS if rec.get("fused") else _STOCK_FIELDS
        for f in fields:
            if rec.get(f) != here.get(f):
                mine, theirs = _short(f, here.get(f)), _short(f, rec.get(f))
                if f == "cpu_flags_sha256":
                    mine, theirs = here.get("cpu_model") or mine, rec.get("cpu_model") or theirs
                    why.append(f"another CPU ({theirs}; here {mine})" if mine != theirs else "another CPU kind")
                else:
                    why.append(f"{_NAMES[f]} {theirs} (here {mine})")
    if not why:
        return None
    return (
        "numerics differ from this machine's: " + "; ".join(why) + " — retraining this key here may give other numbers"
    )


__all__ = ["machine_provenance", "provenance_mismatch", "run_provenance"]
