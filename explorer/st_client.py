"""A Streamlit visitor without a browser, and a harness around a running app (start a server, its CPU, the Train
page's finished rows): what benchmarks/load.py, benchmarks/class_cluster.py and the client's own tests share.

The visitor: one websocket to ``/_stcore/stream``, speaking Streamlit's own protocol
(protobuf ``BackMsg`` up, ``ForwardMsg`` down; the classes installed with Streamlit, so no new dependency).

What a browser tab does, and this client does the same:

- opening a page sends a ``rerun_script`` BackMsg whose ``ClientState`` carries the URL's query string and the
  page's URL name (``page_name``, "" for the main page; ``page_script_hash`` once the server has named it);
- every ``ForwardMsg`` is applied to an element tree keyed by ``metadata.delta_path`` (``new_element`` /
  ``add_block`` deltas), and after a successful run (``script_finished``) the nodes the run did not write are
  dropped (for a fragment run: only inside that run's fragments), as the frontend's ``clearStaleNodes`` does;
- ``navigation`` names the page shown (its ``page_script_hash`` goes with later reruns, as the frontend's
  ``currentPageScriptHash``); ``page_info_changed`` updates the query string sent with later reruns (the app writes its view into the URL);
- ``auto_rerun`` (``st.fragment(run_every=...)``) starts a timer that sends a fragment rerun with
  ``is_auto_rerun`` every ``interval`` seconds, whether or not a run is under way (the frontend uses
  ``setInterval``); a full run's ``new_session`` cancels the timers, as the frontend's ``cleanupAutoReruns`` does;
- pressing a button sends a rerun whose ``widget_states`` hold a ``trigger_value`` for the button's widget id
  (found from its key: widget ids end in ``-<key>``);
- cacheable messages are remembered by hash and their hashes sent with each rerun, so the server may answer with
  a ``ref_hash`` (resolved here from the cache), as the browser's message cache does.

Left out: static files (a browser caches the JS bundle), widget values other than the pressed button (the server
keeps keyed widgets' values in the session), heartbeats.

    async with Visitor(url) as v:
        t = await v.open("train", "frames=24&size=32")
        await v.until(lambda v: v.keyed("train_runner_stats"), timeout=60)
        await v.click("train_start")
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

FULL_RUN_DONE = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)


@dataclass
class Node:
    """One element or block of the page, as the last run that wrote it left it."""

    kind: str  # the Element oneof ("markdown", "plotly_chart", "button", ...) or "block"
    proto: object  # streamlit.proto Element or Block
    run: str  # script_run_id of the run that wrote it
    fragment: str  # the fragment that wrote it ("" outside fragments)

    @property
    def id(self) -> str:
        """The widget / keyed block id ("$$ID-<hash>-<key>"), "" when it has none."""
        if self.kind == "block":
            return self.proto.id
        inner = getattr(self.proto, self.kind, None)
        return getattr(inner, "id", "") if inner is not None and hasattr(inner, "id") else ""

    @property
    def text(self) -> str:
        inner = getattr(self.proto, self.kind, None)
        return getattr(inner, "body", "") if inner is not None else ""


class Visitor:
    """One browser tab on a Streamlit server: ``open`` a page, read what it shows, ``click`` buttons, and answer
    the page's automatic reruns until ``close``. Times are ``time.perf_counter()`` seconds."""

    def __init__(self, url: str, *, auto_rerun: bool = True, headers: dict | None = None):
        self.ws_url = url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/_stcore/stream"
        self.auto_rerun = auto_rerun
        self.headers = headers  # e.g. {"Cookie": ...}: a browser's cookies (a balancer's stickiness, Streamlit's XSRF)
        self.nodes: dict[tuple[int, ...], Node] = {}
        self.query = ""
        self.page_name = ""
        self.page_hash = ""
        self.pages: dict[str, str] = {}  # url name -> page script hash (from new_session / navigation)
        self.run_id = ""
        self.fragments_this_run: tuple[str, ...] = ()
        self.running = False
        self.finished_runs = 0  # script_finished messages of successful runs (full or fragment)
        self.full_runs = 0  # of those, full runs
        self.fragment_runs = 0
        self.runs_started = 0  # new_session messages: every run the server started for this tab
        self.runs_early = 0  # runs ended early for a rerun (FINISHED_EARLY_FOR_RERUN)
        self.reruns_sent = 0
        self._full_at_send = 0
        self.auto_reruns_sent = 0
        self.exceptions: list[str] = []  # "Type: message" of every exception element the server sent
        self.first_kind: dict[str, float] = {}  # element kind ("plotly_chart") -> when the first one arrived
        self.first_key: dict[str, float] = {}  # widget / block key -> when it first arrived
        self._cache: dict[str, ForwardMsg] = {}
        self._timers: list[asyncio.Task] = []
        self._changed = asyncio.Event()
        self._ws = None
        self._reader: asyncio.Task | None = None
        self.closed_by_server: str | None = None

    # -- connection ----------------------------------------------------------------------------------------------
    async def __aenter__(self) -> Visitor:
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def connect(self) -> None:
        self._ws = await connect(
            self.ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=600, additional_headers=self.headers
        )
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing: nothing left to report
                pass

    # -- what the visitor does -----------------------------------------------------------------------------------
    async def open(self, page_name: str = "", query: dict | str = "") -> float:
        """Open a page as a fresh tab does (page URL name, "" for the main page; the URL's query); returns the time
        the request was sent."""
        self.page_name = page_name
        self.page_hash = self.pages.get(page_name, "")
        self.query = query if isinstance(query, str) else urllib.parse.urlencode(query)
        return await self.rerun()

    async def rerun(self, *, fragment: str = "", trigger: str | None = None, auto: bool = False) -> float:
        """Send a ``rerun_script``: the whole page, or one ``fragment``; ``trigger``: a widget id pressed."""
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash
        cs.page_name = self.page_name
        if fragment:
            cs.fragment_id = fragment
        cs.is_auto_rerun = auto
        cs.cached_message_hashes.extend(self._cache)
        if trigger:
            w = cs.widget_states.widgets.add()
            w.id, w.trigger_value = trigger, True
        self.reruns_sent += 1
        self.auto_reruns_sent += auto
        if not fragment:
            self._full_at_send = self.full_runs
        await self._ws.send(msg.SerializeToString())
        return time.perf_counter()

    async def click(self, key: str) -> float:
        """Press the button with widget key ``key`` (as it is on the page now); returns the time it was sent."""
        node = self.keyed(key)
        if node is None or node.kind != "button":
            raise LookupError(f"no button keyed {key!r} on the page")
        return await self.rerun(trigger=node.id)

    async def until(self, predicate: Callable[[Visitor], object], timeout: float) -> object:
        """Wait until ``predicate(self)`` is truthy (checked after each message); returns its value.
        ``TimeoutError`` after ``timeout`` s; ``ConnectionError`` if the server closes the socket."""
        deadline = time.perf_counter() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if self.closed_by_server is not None:
                raise ConnectionError(f"the server closed the session: {self.closed_by_server}")
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"waited {timeout:.0f} s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    async def settle(self, timeout: float) -> None:
        """Wait until a full run has finished since the last full rerun was sent, and nothing runs now."""
        await self.until(lambda v: v.full_runs > v._full_at_send and not v.running, timeout)

    # -- what the page shows -------------------------------------------------------------------------------------
    def elements(self, kind: str | None = None) -> list[Node]:
        """Nodes on the page in delta-path order, optionally of one kind."""
        return [n for _, n in sorted(self.nodes.items()) if kind is None or n.kind == kind]

    def keyed(self, key: str) -> Node | None:
        """The element or block whose key is ``key`` (ids end in ``-<key>``)."""
        for n in self.nodes.values():
            if n.id.endswith("-" + key):
                return n
        return None

    def texts_under(self, key_prefix: str) -> dict[str, list[str]]:
        """{key: Markdown texts inside it} for every keyed block whose key starts with ``key_prefix``."""
        out: dict[str, list[str]] = {}
        blocks = {p: n for p, n in self.nodes.items() if n.kind == "block" and n.id and "-" in n.id}
        for path, b in blocks.items():
            key = b.id.split("-", 2)[-1]
            if key.startswith(key_prefix):
                out[key] = [n.text for p, n in sorted(self.nodes.items()) if p[: len(path)] == path and n.text]
        return out

    # -- the protocol ----------------------------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for data in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
                self._changed.set()
        except Exception as exc:  # noqa: BLE001 - a dropped socket is reported to whoever waits
            self.closed_by_server = f"{type(exc).__name__}: {exc}"
        else:
            self.closed_by_server = "closed"
        self._changed.set()

    def _handle(self, msg: ForwardMsg) -> None:
        if msg.HasField("ref_hash"):
            cached = self._cache.get(msg.ref_hash)
            if cached is None:
                return
            ref_meta = msg.metadata
            msg = ForwardMsg()
            msg.CopyFrom(cached)
            msg.metadata.CopyFrom(ref_meta)
        elif msg.metadata.cacheable and msg.hash:
            self._cache[msg.hash] = msg
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self._new_session(msg)
        elif kind == "delta":
            self._delta(msg)
        elif kind == "script_finished":
            self.runs_early += msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN
            if msg.script_finished in FULL_RUN_DONE:
                self._clear_stale(full=msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY)
                self.finished_runs += 1
                if msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                    self.full_runs += 1
                else:
                    self.fragment_runs += 1
        elif kind == "session_status_changed":
            self.running = msg.session_status_changed.script_is_running
        elif kind == "navigation":  # the page actually shown (st.navigation, or the pages/ folder)
            nav = msg.navigation
            self.pages.update({p.url_pathname: p.page_script_hash for p in nav.app_pages})
            if nav.page_script_hash != self.page_hash:
                self.nodes = {p: n for p, n in self.nodes.items() if n.run == self.run_id}  # another page
            self.page_hash = nav.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun" and self.auto_rerun:
            self._timers.append(asyncio.create_task(self._every(msg.auto_rerun.interval, msg.auto_rerun.fragment_id)))

    def _new_session(self, msg: ForwardMsg) -> None:
        ns = msg.new_session
        self.runs_started += 1
        self.pages.update({p.url_pathname: p.page_script_hash for p in ns.app_pages})
        self.run_id = msg.metadata.run.script_run_id
        self.fragments_this_run = tuple(msg.metadata.run.fragment_ids)
        if not self.fragments_this_run:
            for t in self._timers:  # a full run: its fragments announce their timers again
                t.cancel()
            self._timers.clear()

    def _delta(self, msg: ForwardMsg) -> None:
        d = msg.delta
        path = tuple(msg.metadata.delta_path)
        run = self.run_id
        which = d.WhichOneof("type")
        if which == "new_element":
            el = d.new_element
            kind = el.WhichOneof("type") or ""
            node = Node(kind, el, run, d.fragment_id)
            if kind == "exception":
                self.exceptions.append(f"{el.exception.type}: {el.exception.message[:200]}")
        elif which == "add_block":
            node = Node("block", d.add_block, run, d.fragment_id)
        else:
            return
        self.nodes[path] = node
        now = time.perf_counter()
        self.first_kind.setdefault(node.kind, now)
        if node.id:
            self.first_key.setdefault(node.id.split("-", 2)[-1], now)

    def _clear_stale(self, full: bool) -> None:
        if full:
            self.nodes = {p: n for p, n in self.nodes.items() if n.run == self.run_id}
        else:
            frs = set(self.fragments_this_run)
            self.nodes = {p: n for p, n in self.nodes.items() if n.run == self.run_id or n.fragment not in frs}

    async def _every(self, interval: float, fragment: str) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.rerun(fragment=fragment, auto=True)
            except Exception:  # noqa: BLE001 - the socket is gone: the reader reports it
                return


# -- the harness: a server to visit, and what to measure on it ---------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
SHARED = {"frames": "128", "size": "64", "diam": "8", "c": "rbf;theta=0.1", "epochs": "3", "vseed": "4242"}
# The other half's runs, one video seed each: "long" keeps the training worker busy for the whole arrival.
TINY = {"frames": "24", "size": "32", "diam": "6", "c": "rbf;theta=1", "epochs": "2"}
DONE_ROW = re.compile(r"trained in|opened from the store")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(
    store: Path,
    log: Path,
    profile: str | None = None,
    env: dict | None = None,
    port: int | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.Popen, str]:
    """The server on a free port (or ``port``) with a fresh store (``env``: more environment); ``profile``: run it
    under benchmarks/sampling.py, whose stack-sample summary is written to that file when the server stops; ``cwd``:
    the checkout whose ``app.py`` is served (its ``explorer`` is the one imported; default this one)."""
    extra = env or {}
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPM_MAX_")}
    env.update(RPM_ENGINE_CACHE=str(store), PYTHONUNBUFFERED="1", **extra)
    pre = [str(REPO / "benchmarks" / "sampling.py"), str(Path(profile).resolve())] if profile else []
    cmd = [sys.executable, *pre, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
           "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd or REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not start: " + log.read_text()[-2000:])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (the server's training workers and multiprocessing helpers)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def jobs_done(v: Visitor) -> bool:
    rows = v.texts_under("train_job_")
    return bool(rows) and all(any(DONE_ROW.search(t) for t in texts) for texts in rows.values())


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]
