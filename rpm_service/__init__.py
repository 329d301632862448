"""rpm_service: what a shared server needs above the library — the job runner and the hosted-demo limits.

The library (``rpm_engine``) is the paper's experiment and knows nothing of visitors, queues or limits; the app
(``explorer`` + ``pages``) talks to the engine for maths and to this package for training on a shared server.
"""

from .jobs import CANCELLED, DONE, FAILED, FINISHED, QUEUED, RUNNING, Job, JobRunner, JobView
from .limits import Limits

__all__ = ["CANCELLED", "DONE", "FAILED", "FINISHED", "QUEUED", "RUNNING", "Job", "JobRunner", "JobView", "Limits"]
