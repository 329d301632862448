"""Fixtures for the Playwright tests: ``server`` (``streamlit run app.py`` on 127.0.0.1 and a free port with a
throw-away run store, stopped by its pid) and ``browser`` (Debian's Chromium, headless), both one per test session.
Helpers (open_page, settle, shot, ...) live in browser_kit.py."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_kit import ARGS, CHROMIUM, REPO


def pytest_collection_modifyitems(items):
    """Every test in this folder is a browser test, skipped where there is no Chromium."""
    here = Path(__file__).parent
    skip = pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    )
    for item in items:
        if Path(item.fspath).parent == here:
            item.add_marker(pytest.mark.browser)
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cache: Path, log_path: Path, env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` on a free port with RPM_ENGINE_CACHE=cache; returns (process, url) once healthy."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPM_MAX_")}
    env.update(RPM_ENGINE_CACHE=str(cache), PYTHONUNBUFFERED="1", **(env_extra or {}))
    log = open(log_path, "w")  # noqa: SIM115 - the child keeps the descriptor; closed by the caller's process end
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    cmd += ["--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            stop_server(proc)
            raise RuntimeError("streamlit did not start: " + log_path.read_text()[-2000:])
        time.sleep(0.25)


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server by its pid (terminate, then kill after 15 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The app's URL, served from a temporary run store, one server for every browser test (a start costs seconds
    of a loaded machine); stopped by its pid at the end. Tests that train use their own video (a video seed of
    their own), so no test depends on what another stored."""
    cache = tmp_path_factory.mktemp("browser_cache")
    # The fused kernels are the engine tests' business: here a source change would make the first run wait for a
    # compile (minutes on a busy 2-core machine), so the stock PyTorch path trains.
    proc, url = start_server(cache, cache.parent / "streamlit.log", {"RPM_ENGINE_FAST": "0"})
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's, with the flags a sandbox-less container needs)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser):
    """A fresh browser context (one visitor) at 1400x900, closed after the test."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield ctx
    finally:
        ctx.close()
