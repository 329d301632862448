"""A Ray cluster of separate node processes on one machine, over loopback: the head and worker nodes each started with
``ray start --block`` in a session of its own, on explicit free ports, and stopped by that session's processes (never
``ray stop``, which would stop every Ray on the machine). For tests, benchmarks and trying the class setup on a
laptop; a real cluster is started by hand (docs/HOSTING.md).

    with LocalCluster(tmp) as c:
        c.add_node(cpus=1)
        os.environ["RPM_RAY_ADDRESS"] = c.address
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .ray_jobs import STORE_RESOURCE

FAST_HEALTH_CHECKS = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


# What every process of the cluster and every client of it needs in its environment. Ray turns token authentication
# on by itself when RAY_AUTH_MODE is unset and ~/.ray/auth_token exists (another user's experiment on a shared
# machine is enough), and then a node or client without the token is refused. A loopback cluster says so explicitly.
CLIENT_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class LocalCluster:
    """A head node (with the store resource: the class's job service runs there) and ``add_node`` worker nodes."""

    def __init__(
        self,
        folder: str | Path,
        head_cpus: int = 1,
        store_node: bool = True,
        python: str = sys.executable,
        fast_failure_detection: bool = False,
    ):
        self.folder = Path(folder)
        # A lost node is noticed in ~3 s instead of Ray's default ~30 s (tests that kill one).
        self.head_env = dict(FAST_HEALTH_CHECKS) if fast_failure_detection else {}
        self.folder.mkdir(parents=True, exist_ok=True)
        self.python = python
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen] = []
        self.temp = Path(f"/tmp/rpmray_{os.getpid()}_{self.port}")  # short: Ray's socket paths must fit 107 chars
        resources = {STORE_RESOURCE: 1} if store_node else {}
        self.head = self._start(["--head", "--port", str(self.port)], head_cpus, resources, "head")

    def _start(self, role: list[str], cpus: int, resources: dict, name: str) -> subprocess.Popen:
        ray = [str(Path(self.python).parent / "ray"), "start"]  # the venv's ray, next to its python
        ports = ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
                 "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
                 "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port())]  # fmt: skip
        if "--head" in role:
            ports += ["--ray-client-server-port", str(free_port()), "--include-dashboard", "false"]
        cmd = [*ray, *role, "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus), "--num-gpus", "0",
               "--resources", json.dumps(resources), "--disable-usage-stats", "--block", *ports]  # fmt: skip
        if "--head" in role:
            cmd += ["--temp-dir", str(self.temp)]
        env = {**os.environ, **CLIENT_ENV, **(self.head_env if "--head" in role else {})}
        env.pop("RPM_RAY_ADDRESS", None)
        log = open(self.folder / f"ray-{name}.log", "w")  # noqa: SIM115 - the node writes it while it lives
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        proc.log = log
        return proc

    def add_node(self, cpus: int = 1) -> subprocess.Popen:
        """Start a worker node joined to the head; returns its ``ray start`` process (its group holds the node)."""
        node = self._start(["--address", self.address], cpus, {}, f"node{len(self.nodes) + 1}")
        self.nodes.append(node)
        return node

    def wait_nodes(self, n: int, timeout: float = 90.0) -> None:
        """Wait until ``n`` nodes (the head included) are alive in the cluster."""
        deadline = time.monotonic() + timeout
        code = (
            "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
            "print(sum(1 for n in ray.nodes() if n['Alive']))"
        )
        last = ""
        while time.monotonic() < deadline:
            out = subprocess.run(
                [self.python, "-c", code, self.address],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={**os.environ, **CLIENT_ENV},
            )
            last = (out.stdout + out.stderr).strip()
            if out.returncode == 0 and out.stdout.strip().isdigit() and int(out.stdout.strip()) >= n:
                return
            time.sleep(1.0)
        raise RuntimeError(f"the local Ray cluster did not reach {n} nodes: {last[-500:]}")

    @staticmethod
    def _session(sid: int) -> list[int]:
        """Live processes of session ``sid`` (a node: its ``ray start``, raylet, GCS and workers, which Ray puts in
        process groups of their own but leaves in the session)."""
        out = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if os.getsid(int(d.name)) == sid and _alive(int(d.name)):
                        out.append(int(d.name))
                except OSError:
                    pass
        return out

    def kill(self, node: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Kill a node: every process of its session (``kill -9`` a node: its raylet and the trainings in it)."""
        for pid in self._session(node.pid):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        try:
            node.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def pids(self) -> list[int]:
        """Processes left in the nodes' sessions (none once stopped)."""
        return [pid for node in (self.head, *self.nodes) for pid in self._session(node.pid)]

    def stop(self) -> None:
        """Stop every node (SIGTERM to each node's processes, then SIGKILL to what is left)."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + 15
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        for node in (*self.nodes, self.head):
            self.kill(node)
            node.log.close()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
