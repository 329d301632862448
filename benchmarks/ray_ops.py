"""Ray operations from the command line, on a loopback cluster (separate `ray start` processes, stopped by session):
an unreachable address, the head killed mid-sweep, and the same command rerun on a new cluster (resume).

    python benchmarks/ray_ops.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rpm_service.local_cluster import CLIENT_ENV, LocalCluster, free_port


def sweep(tmp: Path, address: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rpm_engine", "sweep", "--coupling", "rbf", "--param", "theta=log:0.1:10:6",
           "--seeds", "2", "--frames", "64", "--size", "32", "--diameter", "6", "--epochs", "15", "--no-references",
           "--backend", "ray", "--address", address, "--json", str(tmp / "s.json"), "--cache", str(tmp / "store"),
           "--quiet"]  # fmt: skip
    env = {**os.environ, **CLIENT_ENV}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=env)  # fmt: skip


def stored(tmp: Path) -> int:
    runs = tmp / "store" / "runs"
    return len(list(runs.iterdir())) if runs.exists() else 0


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="rpm_rayops_"))
    print(f"load average {os.getloadavg()[0]:.2f}")
    t = time.monotonic()
    p = sweep(tmp, f"127.0.0.1:{free_port()}")
    _, err = p.communicate(timeout=300)
    print(f"unreachable address: exit {p.returncode} after {time.monotonic() - t:.1f} s; stderr: {err.strip()!r}")
    with LocalCluster(tmp / "ray", fast_failure_detection=True) as c:
        c.add_node(1)
        c.wait_nodes(2)
        p = sweep(tmp, c.address)
        deadline = time.monotonic() + 300
        while stored(tmp) < 2 and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.3)
        n0 = stored(tmp)
        c.kill(c.head)
        t = time.monotonic()
        _, err = p.communicate(timeout=300)
        print(f"head killed with {n0} runs stored: exit {p.returncode} after {time.monotonic() - t:.1f} s; "
              f"stderr: {err.strip()[-600:]!r}")  # fmt: skip
        time.sleep(2)
        left = LocalCluster._session(p.pid)
        print(f"processes left in the CLI's session: {left}")
    with LocalCluster(tmp / "ray2") as c:
        c.add_node(1)
        c.wait_nodes(2)
        t = time.monotonic()
        p = sweep(tmp, c.address)
        _, err = p.communicate(timeout=600)
        points = json.loads((tmp / "s.json").read_text())["points"] if p.returncode == 0 else []
        print(f"rerun on a new cluster: exit {p.returncode} in {time.monotonic() - t:.0f} s; "
              f"{sum(x['cached'] for x in points)} of {len(points)} points found in the store")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
