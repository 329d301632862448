"""One queue for a class on a real two-node Ray cluster (separate ``ray start`` processes on 127.0.0.1): app servers
are separate driver processes talking to the one job service. One job per run across servers, limits and shares
class-wide, training spread over the nodes, jobs outliving the server that took them, a lost worker node's task
retried and stored once, and a cluster that does not answer reported in one line within seconds.

Trainings are gated (they wait for a release file, then really train a tiny run), so the checks wait on events and
do not depend on timing. Marked slow: the cluster takes ~20 s to start on two cores.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")

from rpm_engine import RunConfig, RunStore, VideoConfig  # noqa: E402
from rpm_service.limits import Limits  # noqa: E402
from rpm_service.local_cluster import CLIENT_ENV, LocalCluster, free_port  # noqa: E402
from rpm_service.ray_jobs import RayJobRunner, check_reachable  # noqa: E402

pytestmark = pytest.mark.slow
TINY = VideoConfig(frames=24, size=32, diameter=6)
LIMITS = Limits(jobs=2, queue=2, per_client=2, epochs=10, seeds=10)  # the class holds 4 runs, 2 per visitor


def gate(folder, config, video, *, device, callback):
    """A task's work: say it started, wait for ``release-<key>``, then really train (stored by the service)."""
    from rpm_engine.train import train

    key = config.key()
    (Path(folder) / f"started-{key}.{os.getpid()}").touch()
    while not (Path(folder) / f"release-{key}").exists():
        time.sleep(0.02)
    return train(config, video, device=device, callback=callback)


def tiny(seed):
    return RunConfig.of("rbf", video=TINY, epochs=2, seed=seed)


def until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return None


# Another app server: a separate process with its own Ray connection, using the class's service as it finds it.
SERVER = textwrap.dedent("""
    import json, sys, time
    from rpm_engine import RunConfig, VideoConfig
    from rpm_service.ray_jobs import RayJobRunner
    address, requests, hold = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "hold"
    r = RayJobRunner(address=address)
    out = []
    for client, seeds in requests:
        cfgs = [RunConfig.of("rbf", video=VideoConfig(frames=24, size=32, diameter=6), epochs=2, seed=s) for s in seeds]
        try:
            out.append([j.id for j in r.submit_many(cfgs, client)])
        except ValueError as exc:
            out.append(str(exc))
    print(json.dumps(out), flush=True)
    while hold:
        time.sleep(1)
""")


def other_server(address, requests, hold=False):
    """Run requests [(client, seeds)] from another server process; (its output, the process if held)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, address, json.dumps(requests), "hold" if hold else "go"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not hold:
        proc.wait(60)
    assert line, proc.stderr.read()[-2000:]
    return json.loads(line), proc


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    env = pytest.MonkeyPatch()
    for k, v in CLIENT_ENV.items():  # this process and the other servers are clients of the cluster
        env.setenv(k, v)
    c = LocalCluster(folder / "nodes", head_cpus=1, fast_failure_detection=True)
    try:
        c.add_node(cpus=1)
        c.wait_nodes(2)
        if ray.is_initialized():
            ray.shutdown()
        signals = folder / "signals"
        signals.mkdir()
        ray.init(address=c.address, namespace="rpm", log_to_driver=False, logging_level="ERROR")
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the gate runs in the cluster's workers
        store = RunStore(folder / "store")
        runner = RayJobRunner(store, LIMITS, address=c.address, marker_dir=str(folder / "marks"), work=_gate(signals))
        c.runner, c.signals, c.store = runner, signals, store
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.stop()
        env.undo()
    assert not c.pids(), "processes of the cluster were left running"


def _gate(signals):
    import functools

    return functools.partial(gate, str(signals))


def release(c, *seeds):
    for s in seeds:
        (c.signals / f"release-{tiny(s).key()}").touch()


def started(c, seed):
    return sorted(c.signals.glob(f"started-{tiny(seed).key()}.*"))


def test_one_queue_for_the_class_across_servers(cluster):
    c, r = cluster, cluster.runner
    mine = r.submit_many([tiny(0), tiny(1)], "alice")
    assert until(lambda: started(c, 0) and started(c, 1))
    with pytest.raises(ValueError, match="per visitor"):  # her share is 2, whichever tab or server asks
        r.submit(tiny(2), "alice")
    (bob, carol, dave), _ = other_server(c.address, [["bob", [0, 2]], ["carol", [3]], ["dave", [4]]])
    assert bob[0] == mine[0].id  # the same run asked on another server joins the one job
    assert isinstance(carol, list) and len(carol) == 1  # 4 runs held: two training, two waiting
    assert isinstance(dave, str) and "queue is full" in dave  # class-wide: the other server's queue is this one
    assert r.view(bob[1]).position == 1 and r.view(carol[0]).position == 2
    release(c, 0, 1, 2, 3)
    ids = [mine[0].id, mine[1].id, bob[1], carol[0]]
    assert until(lambda: all(v.finished for v in r.views(ids)), 120)
    assert [v.state for v in r.views(ids)] == ["done"] * 4
    stats = r.stats()
    assert stats["jobs"] == 4 and stats["trained"] == 4 and stats["shared"] == 1 and stats["stored_twice"] == 0
    assert all(tiny(s).key() in c.store for s in range(4)) and len(c.store.list_runs()) == 4
    assert len(stats["nodes"]) == 2  # two at once, one CPU per node: both nodes trained
    again = r.submit(tiny(0), "erin")
    assert again.from_store and again.state == "done"  # a stored run opens at once, on any server


def test_jobs_outlive_the_server_that_took_them(cluster):
    c, r = cluster, cluster.runner
    (ids,), server = other_server(c.address, [["frank", [5]]], hold=True)
    server.kill()  # kill -9 the app server that accepted the job
    server.wait(10)
    assert until(lambda: started(c, 5))
    assert r.mine("frank") == ids  # another server finds the visitor's job by their id
    release(c, 5)
    assert until(lambda: r.view(ids[0]).finished, 120)
    assert r.view(ids[0]).state == "done" and tiny(5).key() in c.store


def test_a_lost_worker_node_is_retried_and_stored_once(cluster):
    c, r = cluster, cluster.runner
    jobs = r.submit_many([tiny(6)], "gina") + r.submit_many([tiny(7)], "hal")
    assert until(lambda: started(c, 6) and started(c, 7))
    attempts = {s: r.attempts(j.id) for s, j in zip((6, 7), jobs)}
    head = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "rpm_store" in n["Resources"])
    on_node = [s for s, a in attempts.items() if a and a[0][1] != head]
    assert len(on_node) == 1, attempts
    c.kill(c.nodes[0])  # kill -9 the worker node: its raylet and the training in it
    release(c, 6, 7)
    assert until(lambda: all(v.finished for v in r.views([j.id for j in jobs])), 180)
    assert [v.state for v in r.views([j.id for j in jobs])] == ["done", "done"]
    lost = jobs[(6, 7).index(on_node[0])]
    assert len(r.attempts(lost.id)) == 2  # retried (on the head, the only node left)
    keys = [e["key"] for e in c.store.list_runs()]
    assert r.stats()["stored_twice"] == 0 and len(keys) == len(set(keys))  # each run once in the store
    assert tiny(6).key() in keys and tiny(7).key() in keys


def test_a_sweep_from_the_command_line_queues_with_the_class(cluster):
    from rpm_engine.sweep import Sweep
    from rpm_service.ray_backend import RayBackend
    from rpm_service.sweeps import run_sweep

    c, r = cluster, cluster.runner
    sw = Sweep.of([("rbf", {"theta": "0.5,2"})], seeds=2, video=TINY, epochs=2, references=False)
    for cfg in sw.points():
        (c.signals / f"release-{cfg.key()}").touch()
    before = r.stats()
    result = run_sweep(sw, RayBackend(address=c.address), c.store)  # what `sweep --backend ray` runs
    after = r.stats()
    assert len(result.points) == 4 and all(p.l2_mean is not None for p in result.points)
    assert after["jobs"] - before["jobs"] == 4 and after["trained"] - before["trained"] == 4  # the class's queue
    again = run_sweep(sw, RayBackend(address=c.address), c.store)
    assert all(p.cached for p in again.points)


def test_an_unreachable_cluster_is_one_line():
    port = free_port()  # nothing listens there
    with pytest.raises(ConnectionError, match="no Ray cluster answers at 127.0.0.1:"):
        check_reachable(f"127.0.0.1:{port}")
    with pytest.raises(ConnectionError):
        check_reachable("10.255.255.1:6379", timeout=1.0)  # unroutable: the probe times out (no hang)
