"""GCS fault tolerance, tried over loopback (docs/HOSTING.md, "When the head dies"): what survives when the head's GCS
is killed and the head restarted with the same external Redis.

    python benchmarks/gcs_ft.py            # needs redis-server (Debian: apt-get install redis-server) and Ray

It starts, each as its own process on 127.0.0.1 and free ports:
- redis-server (the GCS's external storage);
- a Ray head with GCS fault tolerance (``RAY_REDIS_ADDRESS=127.0.0.1:PORT ray start --head ...``; the store node, 1 CPU);
- a Ray worker node (1 CPU) and an app server's 0-CPU node (on 127.0.0.2, so that the app server attaches to it);
- an app server (a driver attached to its 0-CPU node, as in the recipe) that creates the class's job service and
  submits two gated trainings (one lands on each CPU node), then asks the service for its jobs every second.

Then it kills -9 the GCS server process, restarts the head with the same command, releases the trainings and reports:
which head processes outlived the GCS, whether the training on the worker node kept running and finished, whether
the app server's next calls succeeded, whether the service is still reachable by name, and whether a fresh server can
train and store a run. Only the processes it started are stopped, by pid (never ``ray stop``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rpm_engine.store import RunStore
from rpm_service.local_cluster import CLIENT_ENV, LocalCluster, free_port

VENV_RAY = str(Path(sys.executable).parent / "ray")
TINY = {"frames": 24, "size": 32, "diameter": 6}
APP_IP = "127.0.0.2"  # the app server's 0-CPU node: another loopback address (a driver prefers the head on its host)


# -- the app server's side (run as a subprocess of this script) ------------------------------------------------------
def gate(folder, config, video, *, device, callback):
    """A training that says it started, waits for ``release``, then really trains and says it finished."""
    from rpm_engine.train import train

    marks = Path(folder)
    (marks / f"started-{config.key()}.{os.getpid()}").touch()
    while not (marks / "release").exists():
        time.sleep(0.05)
    out = train(config, video, device=device, callback=callback)
    (marks / f"finished-{config.key()}.{os.getpid()}").touch()
    return out


def say(**kw) -> None:
    print(json.dumps({"t": round(time.time(), 2), **kw}), flush=True)


def server(address: str, folder: str, store: str, mode: str) -> None:
    """An app server: attached to its own 0-CPU node, as each app server is in the recipe."""
    import functools

    import ray

    from rpm_engine import RunConfig, RunStore, VideoConfig
    from rpm_service.limits import Limits
    from rpm_service.ray_jobs import NAMESPACE, RayJobRunner, class_service

    # the app server's own node: 127.0.0.2 (loopback too), so that the driver attaches to it and not to the head
    ray.init(address=address, namespace=NAMESPACE, _node_ip_address=APP_IP, log_to_driver=False, logging_level="ERROR")
    video = VideoConfig(**TINY)
    if mode == "probe":  # a fresh server after the restart: is the service there by name, and does it answer?
        found = class_service(ray)
        alive = None
        if found is not None:
            try:
                info = ray.get(found.info.remote(), timeout=10)
                alive = f"answered (pid {info['pid']})"
            except Exception as exc:  # noqa: BLE001 - what happened is the observation
                alive = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        say(event="probe", found_by_name=found is not None, call=alive)
        t0 = time.time()
        r = RayJobRunner(RunStore(store), Limits(jobs=2, queue=4, per_client=2), address=address)
        job = r.submit(RunConfig.of("rbf", video=video, epochs=2, seed=9), "bob")
        v = r.wait(job.id, timeout=120)
        say(event="fresh_run", state=v.state, stored=RunConfig.of("rbf", video=video, epochs=2, seed=9).key()
            in RunStore(store), service_pid=r.info["pid"], seconds=round(time.time() - t0, 1))  # fmt: skip
        return
    r = RayJobRunner(
        RunStore(store), Limits(jobs=2, queue=4, per_client=2), address=address, work=functools.partial(gate, folder)
    )
    jobs = r.submit_many([RunConfig.of("rbf", video=video, epochs=2, seed=s) for s in (0, 1)], "alice")
    say(event="submitted", ids=[j.id for j in jobs], service_pid=r.info["pid"])
    while True:  # the server's calls, once a second, through the outage
        try:
            views = r.views([j.id for j in jobs])
            say(event="call", ok=True, states=[v.state for v in views])
        except Exception as exc:  # noqa: BLE001 - what happened is the observation
            say(event="call", ok=False, error=str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        time.sleep(1.0)


# -- the experiment ---------------------------------------------------------------------------------------------------
class Experiment:
    def __init__(self, tmp: Path, store_node: str = "head", ft: bool = True):
        self.tmp, self.ft = tmp, ft
        self.store_node = store_node
        self.procs: list[subprocess.Popen] = []
        self.env = {**os.environ, **CLIENT_ENV}
        self.env.pop("RPM_RAY_ADDRESS", None)
        self.env["RPM_ENGINE_FAST"] = "0"  # stock PyTorch: no build of the fused kernels in the way of the trainings
        self.redis_port, self.gcs_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.gcs_port}"
        self.head_ports = self._ports(head=True)
        self.commands: list[str] = []
        self.last_probe = ""

    @staticmethod
    def _ports(head: bool = False) -> list[str]:
        ports = ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
                 "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
                 "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port())]  # fmt: skip
        if head:
            ports += ["--ray-client-server-port", str(free_port()), "--include-dashboard", "false"]
        return ports

    def start(self, cmd: list[str], name: str, env: dict | None = None) -> subprocess.Popen:
        shown = " ".join(f"{k}={v}" for k, v in (env or {}).items())
        self.commands.append(f"{shown} {' '.join(cmd)}".strip())
        log = open(self.tmp / f"{name}.log", "a")  # noqa: SIM115 - the process writes it while it lives
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**self.env, **(env or {})},
                                start_new_session=True)  # fmt: skip
        proc.name = name
        self.procs.append(proc)
        return proc

    def redis(self) -> subprocess.Popen:
        cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
               "--appendonly", "no", "--dir", str(self.tmp)]  # fmt: skip
        return self.start(cmd, "redis")

    def resources(self, node: str) -> dict:
        """The store's node holds the custom resource ``rpm_store``: the class's job service runs there."""
        return {"rpm_store": 1} if node == self.store_node else {}

    def head(self) -> subprocess.Popen:
        cmd = [VENV_RAY, "start", "--head", "--block", "--port", str(self.gcs_port), "--node-ip-address", "127.0.0.1",
               "--num-cpus", "1", "--num-gpus", "0", "--resources", json.dumps(self.resources("head")),
               "--disable-usage-stats", "--temp-dir", str(self.tmp / "ray"), *self.head_ports]  # fmt: skip
        return self.start(cmd, "head", {"RAY_REDIS_ADDRESS": f"127.0.0.1:{self.redis_port}"} if self.ft else {})

    def node(self, name: str, cpus: int, ip: str = "127.0.0.1") -> subprocess.Popen:
        cmd = [VENV_RAY, "start", "--block", "--address", self.address, "--node-ip-address", ip,
               "--num-cpus", str(cpus), "--num-gpus", "0", "--node-name", name, "--disable-usage-stats",
               "--resources", json.dumps(self.resources(name)), *self._ports()]  # fmt: skip
        return self.start(cmd, name)

    def alive_nodes(self) -> int:
        code = "import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
        out = subprocess.run([sys.executable, "-c", code, self.address], capture_output=True, text=True, env=self.env,
                             timeout=120, check=False)  # fmt: skip
        if not out.stdout.strip().isdigit():
            self.last_probe = (out.stdout + out.stderr).strip()[-300:]
            return -1
        return int(out.stdout.strip())

    def wait_nodes(self, n: int, timeout: float = 120) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.alive_nodes() >= n:
                return time.monotonic() - t0
            time.sleep(1)
        raise RuntimeError(
            f"the cluster did not reach {n} nodes in {timeout:.0f} s: {self.last_probe} (logs in {self.tmp})"
        )

    def session(self, proc: subprocess.Popen) -> dict[int, str]:
        out = {}
        for pid in LocalCluster._session(proc.pid):
            try:
                out[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
            except OSError:
                pass
        return out

    def stop(self) -> None:
        for proc in reversed(self.procs):
            for pid in LocalCluster._session(proc.pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(LocalCluster._session(p.pid) for p in self.procs):
            time.sleep(0.3)
        for proc in self.procs:
            for pid in LocalCluster._session(proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", nargs=4, metavar=("ADDRESS", "FOLDER", "STORE", "MODE"), help=argparse.SUPPRESS)
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    p.add_argument("--store-node", choices=("head", "worker"), default="head",
                   help="the node that owns the store, where the class's job service runs (default: the head)")  # fmt: skip
    p.add_argument("--no-redis", action="store_true", help="the control: the same without GCS fault tolerance")
    a = p.parse_args()
    if a.server:
        server(*a.server)
        return 0
    if shutil.which("redis-server") is None:
        print("error: redis-server is not installed (Debian: apt-get install redis-server)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="rpm_gcsft_", dir="/tmp"))  # short: Ray's socket paths must fit 107 chars
    marks, store = tmp / "marks", tmp / "store"
    marks.mkdir()
    x = Experiment(tmp, a.store_node, not a.no_redis)
    lines: list[dict] = []
    t0 = time.time()

    def at() -> str:
        return f"{time.time() - t0:6.1f} s"

    try:
        if x.ft:
            x.redis()
        head = x.head()
        x.node("worker", 1)
        x.wait_nodes(2)  # one node joining at a time (two at once on one host: one timed out registering)
        x.node("rpm-app", 0, APP_IP)
        print(
            f"{at()}  cluster up: 3 nodes in {x.wait_nodes(3):.1f} s (GCS at {x.address}, {f'Redis at 127.0.0.1:{x.redis_port}' if x.ft else 'no Redis'}; the store and the job service on the {x.store_node})"
        )
        app = subprocess.Popen([sys.executable, __file__, "--server", x.address, str(marks), str(store), "hold"],
                               stdout=subprocess.PIPE, stderr=open(tmp / "server.log", "w"), text=True, env=x.env,
                               start_new_session=True)  # fmt: skip
        x.procs.append(app)
        threading.Thread(target=lambda: [lines.append(json.loads(s)) for s in app.stdout], daemon=True).start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(marks.glob("started-*"))) < 2:
            time.sleep(0.2)
        started = {m.name.split(".")[1]: m for m in marks.glob("started-*")}
        sub = next((d for d in lines if d["event"] == "submitted"), {})
        print(
            f"{at()}  server submitted 2 gated trainings; started in processes {sorted(started)}; service pid {sub.get('service_pid')}"
        )
        if len(started) < 2:
            print("error: the trainings did not start; see", tmp)
            return 1
        head_procs = x.session(head)
        where = {pid: ("head" if int(pid) in head_procs else "worker node") for pid in started}
        print(f"{at()}  trainings run on: {where}")
        gcs = [pid for pid, cmd in head_procs.items() if "gcs_server" in cmd]
        print(f"{at()}  kill -9 the GCS server (pid {gcs[0]})")
        kill_t = time.time()
        os.kill(gcs[0], signal.SIGKILL)
        time.sleep(5)
        left = x.session(head)
        print(f"{at()}  5 s later, the head's `ray start --block` {'exited' if head.poll() is not None else 'still runs'}"
              f" (code {head.poll()}); head processes left: {sorted({c.split()[0].rsplit('/', 1)[-1] for c in left.values()}) or 'none'}")  # fmt: skip
        print(
            f"{at()}  trainings alive: " + ", ".join(f"{where[p]} {'yes' if alive(int(p)) else 'no'}" for p in started)
        )
        if head.poll() is None:  # the documented restart is a new head: stop what is left of this one, by pid
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            head.wait(10)
        # On one host only: `ray start --head` refuses to start where its temp dir names this GCS address as the
        # last cluster and a local process (here: the worker node's raylet) still names it. A head restarted on its
        # own machine does not meet this; the record is removed, as a fresh head host would not have it.
        (tmp / "ray" / "ray_current_cluster").unlink(missing_ok=True)
        restart_t = time.time()
        x.head()
        try:
            up = x.wait_nodes(3, timeout=90)
            print(f"{at()}  head restarted with the same command (--port {x.gcs_port}{', RAY_REDIS_ADDRESS' * x.ft}); "
                  f"3 nodes alive after {up:.1f} s ({time.time() - kill_t:.1f} s after the kill)")  # fmt: skip
        except RuntimeError:
            up = time.time() - restart_t
            print(f"{at()}  head restarted with the same command (--port {x.gcs_port}{', RAY_REDIS_ADDRESS' * x.ft}); "
                  f"after {up:.0f} s {x.alive_nodes()} node(s) alive, not 3")  # fmt: skip
        back = restart_t + up
        deadline = time.monotonic() + 30  # the server's next answered call, if any
        while time.monotonic() < deadline and not any(
            d["event"] == "call" and d["ok"] and d["t"] > back for d in lines
        ):
            time.sleep(0.5)
        print(
            f"{at()}  trainings alive: " + ", ".join(f"{where[p]} {'yes' if alive(int(p)) else 'no'}" for p in started)
        )
        (marks / "release").touch()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(alive(int(p)) for p in started):
            if len(list(marks.glob("finished-*"))) == len(started):
                break
            time.sleep(0.5)
        finished = sorted(m.name.split(".")[1] for m in marks.glob("finished-*"))
        print(f"{at()}  released; trainings that finished: "
              f"{[where.get(p, f'a retry (pid {p})') for p in finished] or 'none'}")  # fmt: skip
        print(f"{at()}  runs in the store: {len(RunStore(store).list_runs()) if store.exists() else 0}")
        calls = [d for d in lines if d["event"] == "call"]
        before = [d for d in calls if d["t"] < kill_t]
        during = [d for d in calls if kill_t <= d["t"] < back]
        after = [d for d in calls if d["t"] >= back]
        for name, group in (
            ("before the kill", before),
            ("while the head was down", during),
            ("after the restart", after),
        ):
            ok = sum(d["ok"] for d in group)
            last = group[-1] if group else {}
            print(f"{at()}  server's calls {name}: {ok}/{len(group)} answered; last: "
                  f"{last['states'] if 'states' in last else last.get('error', '-')}")  # fmt: skip
        print(f"{at()}  the server process {'still runs' if app.poll() is None else f'exited ({app.poll()})'}")
        probe = subprocess.run([sys.executable, __file__, "--server", x.address, str(marks), str(store), "probe"],
                               capture_output=True, text=True, env=x.env, timeout=300, check=False)  # fmt: skip
        for s in probe.stdout.splitlines():
            d = json.loads(s)
            if d["event"] == "probe":
                print(f"{at()}  a fresh server: service found by name: {d['found_by_name']}; its call: {d['call']}")
            else:
                print(f"{at()}  a fresh server's run: {d['state']}, stored: {d['stored']}, service pid "
                      f"{d['service_pid']} (before: {sub.get('service_pid')}), {d['seconds']} s")  # fmt: skip
        if probe.returncode:
            print(f"{at()}  the fresh server failed: {probe.stderr.strip().splitlines()[-1:]}")
        print("commands:")
        for c in x.commands:
            print("  " + c)
    finally:
        x.stop()
        left = [pid for proc in x.procs for pid in LocalCluster._session(proc.pid)]
        print(f"stopped every process started here ({len(left)} left)")
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("logs in", tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
