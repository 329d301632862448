"""A class on two app servers behind haproxy and one queue on a two-node Ray cluster, all on this machine over loopback.

Started as separate processes: a Ray head (with the store: the class's job service runs there) and a worker node
(``ray start``, one CPU each, explicit free ports, stopped by their sessions, never ``ray stop``), two
``streamlit run app.py`` servers with ``RPM_RAY_ADDRESS`` set, and haproxy in front (cookie stickiness, health check
on ``/_stcore/health``, redispatch). Visitors are ``st_client.Visitor`` websocket tabs that first load ``/`` through
the balancer and keep its cookies, as a browser does (haproxy's ``RPMSRV``, Streamlit's ``_streamlit_xsrf``).

Phases, each with its figures:
1. unloaded: Home and Train opened one at a time through the balancer (the baseline);
2. the class: ``--sessions`` visitors over ``--ramp`` s, each opens Home, then Train, presses Train (half the same
   run, the others one each) and waits until its row is done; mid-class one app server is killed with SIGKILL
   (its visitors reconnect through the balancer and must find their jobs; one who sees none presses Train, as a
   student would, and the service says whether it ever had that press) and then the Ray worker node (its task
   must be retried, nothing stored twice). Checked: jobs == distinct runs == trained == stored, runs per node,
   page p50/p95 against unloaded, job waits, server CPU per page visit;
3. four tabs of one browser (two on each server) ask for a run each: the visitor's share (2) holds, class-wide;
4. media through the balancer: the Data page's GIF and download with the sticky cookie, and without it;
5. the head killed: what the app servers and a page do.

    python benchmarks/class_cluster.py --ramp 30
    python benchmarks/class_cluster.py --ramp 0 --sessions 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from explorer.st_client import SHARED, TINY, Visitor, cpu_seconds, jobs_done, pct
from explorer.st_client import serve as start_server
from rpm_service.identity import visitor_from_cookies  # noqa: E402
from rpm_service.local_cluster import CLIENT_ENV, LocalCluster, free_port  # noqa: E402

TIMEOUT_S = 600.0
LIMITS = {"RPM_MAX_JOBS": "2", "RPM_MAX_QUEUE": "32", "RPM_MAX_PER_CLIENT": "2"}
OWN = {**SHARED, "frames": "512", "epochs": "30"}  # the other half's runs, one each: seconds, still training mid-class
LONG = {
    **SHARED,
    "frames": "1024",
    "epochs": "150",
}  # the four tabs' runs: minutes, still training when the next tab asks

HAPROXY = """global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    option redispatch
    retries 3
frontend class
    bind 127.0.0.1:{port}
    default_backend apps
backend apps
    balance roundrobin
    cookie RPMSRV insert indirect nocache
    option httpchk GET /_stcore/health
    http-check expect status 200
{servers}
"""


class Balancer:
    """haproxy in front of ``backends`` (ports), written to ``folder``, stopped by its pid."""

    def __init__(self, folder: Path, backends: list[int]):
        self.port = free_port()
        servers = "\n".join(
            f"    server app{i} 127.0.0.1:{p} check inter 1s fall 2 rise 2 cookie app{i}"
            for i, p in enumerate(backends)
        )
        cfg = folder / "haproxy.cfg"
        cfg.write_text(HAPROXY.format(port=self.port, servers=servers))
        self.log = open(folder / "haproxy.log", "w")  # noqa: SIM115 - open while haproxy runs
        self.proc = subprocess.Popen(["haproxy", "-f", str(cfg), "-db"], stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("haproxy did not start: " + (folder / "haproxy.log").read_text()[-1000:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def browser_cookies(url: str) -> dict[str, str]:
    """Load ``/`` and then ``/_stcore/health`` as a browser's Streamlit frontend does, keeping the cookies set: the
    balancer's ``RPMSRV`` and Streamlit's ``_streamlit_xsrf`` (set by the health endpoint)."""
    out: dict[str, str] = {}
    for path in ("/", "/_stcore/health"):
        req = urllib.request.Request(url + path, headers=cookie_header(out) if out else {})
        with urllib.request.urlopen(req, timeout=60) as resp:
            for h in resp.headers.get_all("Set-Cookie") or []:
                name, _, value = h.split(";", 1)[0].partition("=")
                out[name.strip()] = value.strip()
    return out


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


async def retrying(what, result: dict, tries: int = 4):
    """Run ``what()`` (a visit); a socket closed by a dying server is retried through the balancer (reconnect)."""
    for attempt in range(tries):
        try:
            return await what()
        except TimeoutError:  # an OSError too, but not a dying server: the page never showed it; a figure, not a retry
            raise
        except (ConnectionError, OSError) as exc:
            if attempt == tries - 1:
                raise
            result["reconnects"] = result.get("reconnects", 0) + 1
            result.setdefault("reconnect_errors", []).append(type(exc).__name__)
            await asyncio.sleep(1.0)


async def home_visit(url: str, headers: dict) -> float:
    async with Visitor(url, headers=headers) as v:
        t0 = await v.open("")
        await v.until(lambda v: "plotly_chart" in v.first_kind, TIMEOUT_S)
        took = v.first_kind["plotly_chart"] - t0
        await v.settle(TIMEOUT_S)
        return took


async def train_visit(url: str, headers: dict, query: dict, press: bool, result: dict | None = None) -> float:
    """Train: seconds to the runner's line; ``press``: press Train; with ``result``: wait until the rows are done.
    A visitor back after a reconnect presses only if the page shows no job of theirs, as a student would: one whose
    server died before it pressed, or before its press reached the class's service (``pressed_again``)."""
    async with Visitor(url, headers=headers) as v:
        t0 = await v.open("train", query)
        await v.until(lambda v: "train_runner_stats" in v.first_key, TIMEOUT_S)
        took = v.first_key["train_runner_stats"] - t0
        await v.settle(TIMEOUT_S)
        if result is not None and not press and not v.texts_under("train_job_"):
            press = True
            if "pressed_at" in result:
                result["pressed_again"] = result.get("pressed_again", 0) + 1
                # the class's service's own answer, before pressing again: did it ever get this visitor's press?
                result["had_jobs"] = len(await asyncio.to_thread(result["mine"]))
        if press:
            at = await v.click("train_start")
            result.setdefault("pressed_at", at)
            result["pressed"].set()
        if result is not None:
            await v.until(jobs_done, TIMEOUT_S)
            result["rows"] = len(v.texts_under("train_job_"))
            result.setdefault("exceptions", []).extend(v.exceptions)
        return took


async def student(url: str, i: int, query: dict, result: dict, delay: float, svc) -> None:
    await asyncio.sleep(delay)
    try:
        cookies = await asyncio.to_thread(browser_cookies, url)
        result["server"] = cookies.get("RPMSRV")
        client = visitor_from_cookies(cookies)
        result["mine"] = lambda: svc.mine(client)
        headers = cookie_header(cookies)
        result["home"] = await retrying(lambda: home_visit(url, headers), result)
        result["visits"] = 1
        first = [True]

        async def train():
            press, first[0] = first[0], False  # a reconnect opens the page again and looks for the job first
            result["visits"] += 1
            return await train_visit(url, headers, query, press, result)

        result["train"] = await retrying(train, result)
        result["job_wait"] = time.perf_counter() - result["pressed_at"]
    except Exception as exc:  # noqa: BLE001 - a failed visitor is a figure
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    finally:
        result["pressed"].set()
        result["done"], result["done_at"] = True, time.perf_counter()


def service(address: str, store: Path):
    from rpm_engine.store import RunStore
    from rpm_service.ray_jobs import RayJobRunner

    return RayJobRunner(RunStore(store), address=address)


async def watch_and_kill(results, servers, cluster, svc, kill_server: bool, kill_node: bool, log: dict) -> None:
    """Mid-class: SIGKILL app server 2 once half the class has pressed Train and three of its visitors wait for their
    job (or all but two have pressed), then the Ray worker node once both nodes have trained runs, five runs are
    trained and two train now (one of them on it)."""
    n = len(results)
    while not all(r.get("done") for r in results):
        pressed = sum(r["pressed"].is_set() for r in results)
        # visitors of server 2 who pressed and still wait for their job: they must find it after the kill
        waiting = sum(1 for r in results if r.get("server") == "app1" and "pressed_at" in r and not r.get("done"))
        if kill_server and "server_killed" not in log and pressed >= n // 2 and (waiting >= 3 or pressed >= n - 2):
            log["killed_cpu"] = cpu_seconds(servers[1][0].pid)
            servers[1][0].kill()
            log["server_killed"] = time.perf_counter()
            log["pressed_at_server_kill"] = pressed
        if kill_node and "node_killed" not in log and "server_killed" in log:
            st = await asyncio.to_thread(svc.stats)
            if len(st["nodes"]) >= 2 and st["trained"] >= 5 and st["running"] >= 2:  # both nodes have trained
                cluster.kill(cluster.nodes[0])
                log["node_killed"] = time.perf_counter()
                log["trained_at_node_kill"] = st["trained"]
        await asyncio.sleep(0.5)


def head_node_id(ray) -> str:
    return next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "rpm_store" in n["Resources"])


async def main(args) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="rpm_class_"))
    store = tmp / "store"
    cluster = LocalCluster(tmp / "ray", head_cpus=1, fast_failure_detection=True)
    servers, balancer, report, ok = [], None, [], True
    try:
        cluster.add_node(cpus=1)
        cluster.wait_nodes(2)
        os.environ.update(CLIENT_ENV)  # this process is a client of the cluster too
        env = {**LIMITS, **CLIENT_ENV, "RPM_RAY_ADDRESS": cluster.address}
        for k in range(2):
            servers.append(start_server(store, tmp / f"streamlit{k}.log", env=env))
        balancer = Balancer(tmp, [int(u.rsplit(":", 1)[1]) for _, u in servers])
        url = balancer.url
        for _, direct in servers:  # warm both servers: first imports, Ray connection, the service created once
            await home_visit(direct, {})
            await train_visit(direct, {}, TINY, press=False)
        import ray

        ray.init(address=cluster.address, namespace="rpm", log_to_driver=False, logging_level="ERROR")
        svc = service(cluster.address, store)
        head = head_node_id(ray)

        # 1. unloaded, through the balancer
        idle = {"home": [], "train": []}
        for _ in range(args.baseline):
            h = cookie_header(browser_cookies(url))
            idle["home"].append(await home_visit(url, h))
            idle["train"].append(await train_visit(url, h, TINY, press=False))

        # 2. the class
        n = args.sessions
        queries = [SHARED if i % 2 == 0 else {**OWN, "vseed": str(1000 + i)} for i in range(n)]
        distinct = len({tuple(sorted(q.items())) for q in queries})
        results = [{"pressed": asyncio.Event()} for _ in range(n)]
        cpu0 = {p.pid: cpu_seconds(p.pid) for p, _ in servers}
        load0, t0 = os.getloadavg(), time.perf_counter()
        log: dict = {}
        killer = asyncio.create_task(
            watch_and_kill(results, servers, cluster, svc, not args.no_kill, not args.no_kill, log)
        )
        await asyncio.gather(
            *[student(url, i, q, r, args.ramp * i / n, svc) for i, (q, r) in enumerate(zip(queries, results))]
        )
        await killer
        wall = time.perf_counter() - t0
        load1 = os.getloadavg()
        killed = servers[1][0].pid if "server_killed" in log else None
        server_cpu = sum((log["killed_cpu"] if pid == killed else cpu_seconds(pid)) - c for pid, c in cpu0.items())
        st = svc.stats()
        stored = len(list((store / "runs").iterdir())) if (store / "runs").exists() else 0
        good = [r for r in results if "error" not in r]
        visits = sum(r.get("visits", 0) for r in results)
        exceptions = [e for r in results for e in r.get("exceptions", [])]
        on_killed = [r for r in results if r.get("server") == "app1"]
        # the killed server's visitors still on it when it died; of them, those whose press had been sent, and of
        # those, the ones who found their job on reconnecting without pressing again
        killed_at, never = log.get("server_killed", 0.0), float("inf")
        there = [r for r in on_killed if r.get("done_at", never) > killed_at]
        before = [r for r in there if r.get("pressed_at", never) < killed_at]
        found = [r for r in before if "error" not in r and not r.get("pressed_again")]
        again = sum(r.get("pressed_again", 0) for r in results)
        lost = sum(1 for r in results if r.get("pressed_again") and not r.get("had_jobs"))
        report.append(
            f"class: {n} visitors over {args.ramp:g} s through haproxy to 2 app servers; a 2-node Ray cluster "
            f"(1 CPU each); {os.cpu_count()} cores"
        )
        report.append(
            f"visitors: {len(good)}/{n} got Home, Train and their job done; exception elements: {len(exceptions)}"
        )
        for r in results:
            if "error" in r:
                report.append(f"  failed visitor: {r['error']}")
        report.append(
            f"jobs: {st['jobs']} (distinct runs asked for: {distinct}), trained: {st['trained']}, stored: {stored}, "
            f"stored twice: {st['stored_twice']}, shared requests: {st['shared']}"
        )
        nodes = {("head" if k == head else "worker"): v for k, v in st["nodes"].items()}
        report.append(f"runs trained per node: {nodes}; task starts {st['task_starts']}, retried {st['retried']}")
        if "server_killed" in log:
            reconnects = sum(r.get("reconnects", 0) for r in results)
            report.append(
                f"app server 2 killed (SIGKILL) after {log['pressed_at_server_kill']} of {n} had pressed Train: "
                f"{len(on_killed)} visitors were on it, {len(there)} still there ({len(on_killed) - len(there)} done "
                f"before it died), {len(before)} of them had pressed; {len(found)} of those "
                f"found their job done after reconnecting through the balancer ({reconnects} reconnects), "
                f"{again} pressed again, seeing no job; the class's service had no job of theirs for {lost} of them "
                "(the server died before their press reached it)"
            )
        if "node_killed" in log:
            report.append(f"Ray worker node killed (SIGKILL) after {log['trained_at_node_kill']} runs were trained")
        for name in ("home", "train"):
            loaded = [r[name] for r in good if name in r]
            if loaded and idle[name]:
                p50, p95, base = pct(loaded, 0.5), pct(loaded, 0.95), statistics.median(idle[name])
                report.append(
                    f"{name:5s} page: unloaded median {base:.2f} s (n={len(idle[name])}); loaded p50 {p50:.2f} s, "
                    f"p95 {p95:.2f} s -> p95 = {p95 / base:.1f}x unloaded"
                )
        waits = [r["job_wait"] for r in good if "job_wait" in r]
        if waits:
            report.append(f"job wait after pressing Train: p50 {pct(waits, 0.5):.1f} s, p95 {pct(waits, 0.95):.1f} s")
        report.append(
            f"CPU over {wall:.0f} s: app servers {server_cpu:.1f} s for {visits} page visits = "
            f"{1000 * server_cpu / max(1, visits):.0f} ms per visit (the job list's refreshes included); load average "
            f"{load0[0]:.2f} before, {load1[0]:.2f} after"
        )
        ok = ok and len(good) == n and st["jobs"] == distinct == st["trained"] == stored and not st["stored_twice"]

        # the killed server comes back (haproxy's health check takes it in again)
        if "server_killed" in log:
            servers[1] = start_server(
                store, tmp / "streamlit1b.log", env=env, port=int(servers[1][1].rsplit(":", 1)[1])
            )
            await asyncio.sleep(3)

        # 3. four tabs of one browser, two on each server
        cookies = browser_cookies(url)
        client = visitor_from_cookies(cookies)
        tabs, said = [], []
        for k in range(4):
            h = cookie_header({**cookies, "RPMSRV": f"app{k // 2}"})
            async with Visitor(url, headers=h) as v:
                await v.open("train", {**LONG, "vseed": str(7000 + k)})
                await v.until(lambda v: "train_runner_stats" in v.first_key, TIMEOUT_S)
                await v.settle(TIMEOUT_S)
                before = len(v.texts_under("train_job_"))  # the visitor's runs, from every tab (runner.mine)
                await v.click("train_start")
                await v.settle(TIMEOUT_S)
                tabs.append("accepted" if len(v.texts_under("train_job_")) > before else "refused")
                said.extend(n.text[:160] for n in v.elements() if "lets each visitor" in n.text)  # the caption
        held = svc.mine(client)
        states = [w.state for w in svc.views(held)]
        report.append(
            f"four tabs of one browser (2 per server), a run each: {tabs}; the visitor's jobs: {states}; the pages "
            f"said: {said}"
        )
        ok = ok and tabs == ["accepted", "accepted", "refused", "refused"]
        for job_id in held:
            svc.cancel(job_id, client)

        # 4. media through the balancer
        cookies = browser_cookies(url)
        h = cookie_header(cookies)
        async with Visitor(url, headers=h) as v:
            await v.open("data", TINY)
            await v.until(lambda v: v.elements("imgs") and v.elements("download_button"), TIMEOUT_S)
            media = [
                v.elements("imgs")[0].proto.imgs.imgs[0].url,
                v.elements("download_button")[0].proto.download_button.url,
            ]
            sticky = [_status(url + m, h) for m in media for _ in range(5)]
            loose = [_status(url + m, {}) for m in media for _ in range(5)]
        report.append(
            f"media and downloads through the balancer: with the sticky cookie {sticky.count(200)}/{len(sticky)} "
            f"served; without it {loose.count(200)}/{len(loose)} (the others {sorted(set(loose) - {200})})"
        )
        ok = ok and sticky.count(200) == len(sticky)

        # 5. the head killed
        ray.shutdown()
        cluster.kill(cluster.head)
        t_kill = time.perf_counter()
        async with Visitor(url, headers=cookie_header(browser_cookies(url))) as v:
            await v.open("train", TINY)
            try:
                await v.until(lambda v: "train_runner_stats" in v.first_key or v.elements("alert"), 90)
                await v.settle(90)
                seen = [n.text[:120] for n in v.elements("alert")] or ["(no message)"]
            except (TimeoutError, ConnectionError) as exc:
                seen = [f"{type(exc).__name__}: {exc}"]
        report.append(f"head killed: a Train page {time.perf_counter() - t_kill:.0f} s later shows {seen[:2]}")
        await asyncio.sleep(70)  # Ray's drivers give a lost head 60 s before they give up
        alive = [p.poll() is None for p, _ in servers]
        report.append(f"head killed: app servers alive 70 s later: {alive}")
    finally:
        try:
            import ray

            if ray.is_initialized():
                ray.shutdown()
        except Exception:  # noqa: BLE001
            pass
        for p, _ in servers:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        if balancer is not None:
            balancer.stop()
        cluster.stop()
        report.append(f"processes of the cluster left: {len(cluster.pids())}; logs in {tmp}")
        print("\n".join(report))
    return 0 if ok else 1


def _status(url: str, headers: dict) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=30)
    p.add_argument("--baseline", type=int, default=3)
    p.add_argument("--ramp", type=float, default=30.0, help="seconds over which the visitors arrive (0: all at once)")
    p.add_argument("--no-kill", action="store_true", help="kill nothing mid-class")
    sys.exit(asyncio.run(main(p.parse_args())))
