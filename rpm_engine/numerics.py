"""Same key, same numbers (issue 18): what a run's numerics depend on, pinned while it trains and recorded with it.

On one machine a run's metrics are a function of its key alone, whatever the backend (in this process, the job
runner's workers, Ray), the thread count or what ran before in the process:

- The fused CPU kernels (``fast``) split work over images and add per-image sums in image order: the same bits at
  any thread count. Stock PyTorch does not: its reductions and oneDNN's convolutions split work by thread (quick-scale
  linear, seed 0: 13.11 px at 1 thread, 13.45 px at 2), and MKL's small matrix products (a linear coupling's
  ``z W z'ᵀ``) differ from 3 threads on. So a run does all its arithmetic at ``RUN_THREADS`` thread, except inside
  the fused kernels (``kernel_threads``), which get the caller's threads back: they are where the time goes.
- ``isolated`` (around ``train``) sets that up, pins what a process may have left behind that would change the
  arithmetic (the default dtype: float32; oneDNN: on) and gives the caller its thread count back. The random state
  is already a run's own (``train`` seeds its own generators).

Across machines the numbers need not agree: ``provenance`` records what a run's depend on.
"""

from __future__ import annotations

import contextlib
import functools
import threading

RUN_THREADS = 1  # a run's arithmetic outside the fused kernels: the one count every machine and backend can give
_local = threading.local()  # .kernel_threads: the caller's thread count while a run trains in this thread


# -- pinning ----------------------------------------------------------------------------------------------------------
def isolated(fn):
    """Run ``fn`` (``train``) at ``RUN_THREADS`` thread (the fused kernels at the caller's count, see
    ``kernel_threads``), with float32 as the default dtype and oneDNN on; the caller gets its own state back."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import torch

        threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
        outer = getattr(_local, "kernel_threads", None)
        with contextlib.ExitStack() as stack:
            if dtype != torch.float32:
                torch.set_default_dtype(torch.float32)
                stack.callback(torch.set_default_dtype, dtype)
            if torch.backends.mkldnn.is_available() and not torch.backends.mkldnn.enabled:
                torch.backends.mkldnn.enabled = True
                stack.callback(setattr, torch.backends.mkldnn, "enabled", False)
            _local.kernel_threads = outer or threads  # a run inside a run keeps the outermost caller's count
            if threads != RUN_THREADS:
                torch.set_num_threads(RUN_THREADS)
            try:
                return fn(*args, **kwargs)
            finally:
                _local.kernel_threads = outer
                if torch.get_num_threads() != threads:
                    torch.set_num_threads(threads)

    return wrapper


@contextlib.contextmanager
def kernel_threads():
    """Inside a run (``isolated``), give the fused kernels the caller's threads back for their duration (their
    results do not depend on the count); elsewhere nothing changes. Usable as a decorator."""
    n = getattr(_local, "kernel_threads", None)
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != before:
            torch.set_num_threads(before)


__all__ = ["RUN_THREADS", "isolated", "kernel_threads"]
