"""rpm_service: what a shared server needs above the library — the job runner and the hosted-demo limits.

The library (``rpm_engine``) is the paper's experiment and knows nothing of visitors, queues or limits; the app
(``explorer`` + ``pages``) talks to the engine for maths and to this package for training on a shared server.
Names are imported on first use (PEP 562): reading the limits needs no torch, the job runner does.
"""

from __future__ import annotations

from rpm_engine.lazy import lazy_package

_EXPORTS = {
    **dict.fromkeys(
        ("CANCELLED", "DONE", "FAILED", "FINISHED", "WAITING", "RUNNING", "Job", "JobRunner", "JobView"), "jobs"
    ),
    "Limits": "limits",
}
__all__ = lazy_package(__name__, _EXPORTS)
