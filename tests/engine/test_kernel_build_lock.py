"""Building the fused kernels survives a builder killed mid-compile (issue 9).

``kill -9`` during ``torch.utils.cpp_extension.load`` leaves torch's build baton ``<build dir>/lock`` behind, and
torch's ``FileBaton.wait()`` polls it with no timeout: every later load hung. Nothing here compiles from scratch: the
subprocess test loads a copy of this machine's cached build, in a temporary ``TORCH_EXTENSIONS_DIR``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock
from torch.utils import cpp_extension

from rpm_engine import fast

REPO = Path(__file__).resolve().parents[2]
NAME = fast.extension_name()  # the name fast._build gives torch
LOAD = "from rpm_engine import fast; import sys; sys.exit(0 if fast.extension() is not None else 3)"


def _cached_build() -> Path:
    """This machine's build directory of the kernels (compiled here first if it is not cached yet)."""
    if os.environ.get(fast.ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        pytest.skip(f"{fast.ENV_VAR}=0")
    if fast.extension() is None:
        pytest.skip("fused CPU kernels could not be built here")
    return Path(cpp_extension._get_build_directory(NAME, False))


def test_a_stale_torch_baton_no_longer_hangs_the_load(tmp_path):
    """A baton left by a killed build, in a TORCH_EXTENSIONS_DIR as the Docker image sets it: the load clears it."""
    root = tmp_path / "ext"
    build = root / NAME  # with TORCH_EXTENSIONS_DIR set, torch adds no py311_cpu folder
    shutil.copytree(_cached_build(), build, ignore=shutil.ignore_patterns("lock", "*.lock"))  # keeps mtimes
    (build / "lock").touch()  # what a build killed mid-compile leaves behind
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(root), fast.ENV_VAR: "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", LOAD], cwd=REPO, env=env, capture_output=True, text=True, timeout=150
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading the kernels hung on the stale build baton {build / 'lock'}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (build / "lock").exists()
    assert "removed the stale build lock" in done.stderr


def test_the_default_build_root_is_the_one_cleared(monkeypatch, tmp_path):
    """Without TORCH_EXTENSIONS_DIR torch builds in <cache>/torch_extensions/py311_cpu/<name>: that baton goes."""
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    build = Path(cpp_extension._get_build_directory(NAME, False))
    assert build.is_relative_to(tmp_path) and build.parent.name.startswith("py3")
    (build / "lock").touch()
    seen = {}

    def fake_load(name, sources, build_directory=None, **kwargs):
        seen.update(name=name, build_directory=build_directory, baton=os.path.exists(Path(build_directory) / "lock"))
        return "module"

    monkeypatch.setattr(cpp_extension, "load", fake_load)
    assert fast._build() == "module"
    assert seen == {"name": NAME, "build_directory": str(build), "baton": False}


def test_a_waiting_build_says_so_and_gives_up_after_the_timeout(monkeypatch, tmp_path, caplog):
    """Another live builder holds the lock past RPM_ENGINE_BUILD_TIMEOUT: a log line, then a clear error and the
    stock path (extension() is None), not a hang; the other builder's baton is left alone."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setenv(fast.BUILD_TIMEOUT_VAR, "0.6")
    monkeypatch.setattr(fast, "_WAIT_LOG_EVERY_S", 0.2)
    monkeypatch.setattr(fast, "_ext", None)
    monkeypatch.setattr(fast, "_tried", False)
    monkeypatch.setenv(fast.ENV_VAR, "1")
    build = tmp_path / NAME
    build.mkdir()
    (build / "lock").touch()  # the live builder's baton
    holder = FileLock(str(build / fast._OUR_LOCK))
    holder.acquire()
    try:
        with caplog.at_level(logging.INFO, logger=fast.__name__):
            start = time.monotonic()
            with pytest.raises(fast.BuildLockTimeout, match=r"waited 0.6 s .*RPM_ENGINE_BUILD_TIMEOUT"):
                fast._build()
            assert time.monotonic() - start < 10
            assert fast.extension() is None  # logged, then the stock PyTorch path
    finally:
        holder.release()
    text = caplog.text
    assert "another process is building the fused CPU kernels" in text and "still waiting" in text
    assert "BuildLockTimeout" in text and "using stock PyTorch" in text
    assert (build / "lock").exists()


def test_a_waiting_build_goes_on_once_the_other_one_finishes(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setenv(fast.BUILD_TIMEOUT_VAR, "30")
    monkeypatch.setattr(cpp_extension, "load", lambda **kwargs: "module")
    build = tmp_path / NAME
    build.mkdir()
    held, done = threading.Event(), threading.Event()

    def other_builder():  # filelock locks are per thread: acquire and release in the same one
        with FileLock(str(build / fast._OUR_LOCK)):
            held.set()
            done.wait(0.5)

    thread = threading.Thread(target=other_builder)
    thread.start()
    assert held.wait(10)
    try:
        with caplog.at_level(logging.INFO, logger=fast.__name__):
            assert fast._build() == "module"
    finally:
        done.set()
        thread.join()
    assert "another process is building" in caplog.text and "finished after" in caplog.text


@pytest.mark.parametrize("raw", ["", "abc", "-5", "0", "nan"])
def test_build_timeout_falls_back_to_the_default(monkeypatch, raw):
    monkeypatch.setenv(fast.BUILD_TIMEOUT_VAR, raw)
    assert fast.build_timeout() == fast.DEFAULT_BUILD_TIMEOUT_S


def test_build_timeout_reads_the_environment(monkeypatch):
    monkeypatch.setenv(fast.BUILD_TIMEOUT_VAR, " 42.5 ")
    assert fast.build_timeout() == 42.5


def test_a_baton_that_cannot_be_removed_fails_at_once(monkeypatch, tmp_path, caplog):
    """Rather than torch's endless wait: a one-line error naming the file, then the stock path."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setenv(fast.ENV_VAR, "1")
    monkeypatch.setattr(fast, "_ext", None)
    monkeypatch.setattr(fast, "_tried", False)
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "lock").touch()

    def refuse(self, missing_ok=False):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    with caplog.at_level(logging.WARNING, logger=fast.__name__):
        assert fast.extension() is None
    assert f"stale build lock {tmp_path / NAME / 'lock'} could not be removed (Permission denied)" in caplog.text


def _compiler_in(build: Path, seconds: float) -> subprocess.Popen:
    """A stand-in for the ``ninja``/``g++`` that a builder killed mid-compile leaves running in its build directory,
    returned once ``/proc`` shows it there."""
    proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"], cwd=build)
    deadline = time.monotonic() + 10
    while proc.pid not in fast.leftover_builders(build) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def test_leftover_compilers_are_found_by_their_working_directory(tmp_path):
    build, elsewhere = tmp_path / NAME, tmp_path / "other"
    build.mkdir()
    elsewhere.mkdir()
    here, there = _compiler_in(build, 30), _compiler_in(elsewhere, 30)
    try:
        assert fast.leftover_builders(build) == [here.pid]
        assert os.getpid() not in fast.leftover_builders(Path.cwd())  # never this process itself
    finally:
        for p in (here, there):
            p.kill()
            p.wait()
    assert fast.leftover_builders(build) == []


def test_a_new_build_waits_for_an_interrupted_builds_compilers(monkeypatch, tmp_path, caplog):
    """``kill -9`` of a server mid-compile leaves ninja and g++ running; a new build must not compile the same object
    files beside them (two writers of encoder_cpu.o), so it starts only once they are gone."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setenv(fast.BUILD_TIMEOUT_VAR, "60")
    build = tmp_path / NAME
    build.mkdir()
    left = _compiler_in(build, 1.5)
    started = {}

    def load(**kwargs):
        started["alive"] = left.poll() is None
        return "module"

    monkeypatch.setattr(cpp_extension, "load", load)
    try:
        with caplog.at_level(logging.WARNING, logger=fast.__name__):
            assert fast._build() == "module"
    finally:
        left.kill()
        left.wait()
    assert started == {"alive": False}
    assert "still compiling" in caplog.text


def test_compilers_that_never_finish_time_out_to_stock_pytorch(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setenv(fast.BUILD_TIMEOUT_VAR, "0.5")
    monkeypatch.setattr(cpp_extension, "load", lambda **kwargs: "module")
    monkeypatch.setattr(fast, "_ext", None)
    monkeypatch.setattr(fast, "_tried", False)
    build = tmp_path / NAME
    build.mkdir()
    stuck = _compiler_in(build, 60)
    try:
        with caplog.at_level(logging.WARNING, logger=fast.__name__):
            assert fast.extension() is None
    finally:
        stuck.kill()
        stuck.wait()
    assert "BuildLockTimeout" in caplog.text and "using stock PyTorch" in caplog.text


def test_each_checkout_builds_its_own_kernels(monkeypatch, tmp_path):
    """torch's build.ninja names the source by its absolute path: two checkouts sharing one build directory rebuilt
    each other's kernels and waited on each other's lock, so the build's name includes the source's path."""
    here = fast.extension_name()
    assert fast.extension_name() == here and here.startswith("rpm_encoder_cpu_")
    copy = tmp_path / "checkout" / "rpm_engine" / "kernels" / fast._SOURCE.name
    copy.parent.mkdir(parents=True)
    shutil.copy(fast._SOURCE, copy)
    monkeypatch.setattr(fast, "_SOURCE", copy)
    assert fast.extension_name() != here
