"""The container's health check: the app answers (/_stcore/health) and the run store can be written.

A store that turned read-only (a full disk, a remount, a bind mount that lost its permissions) makes the container
unhealthy, so the balancer and the orchestrator stop sending it visitors whose training would fail.
"""

import os
import sys
import tempfile
import urllib.request

store = os.environ.get("RPM_ENGINE_CACHE", "/data/runs")
if os.getuid() == 0:  # Docker runs the check as the image's user (root): test the store as the app's user, uid 1000
    os.setgid(0)
    os.setuid(1000)
try:
    with urllib.request.urlopen("http://127.0.0.1:8501/_stcore/health", timeout=4) as r:
        if r.status != 200:
            sys.exit(f"unhealthy: /_stcore/health answered {r.status}")
    with tempfile.NamedTemporaryFile(dir=store, prefix=".health-"):
        pass
except OSError as exc:
    sys.exit(f"unhealthy: {exc}")
