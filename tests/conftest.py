"""Shared fixtures: the repository on sys.path (pages import ``explorer``), and a throw-away run store."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """RPM_ENGINE_CACHE in a temporary folder, so no test touches the user's run store."""
    root = tmp_path / "rpm_cache"
    monkeypatch.setenv("RPM_ENGINE_CACHE", str(root))
    for name in list(__import__("os").environ):
        if name.startswith("RPM_MAX_") or name == "RPM_ALLOW_EXPRESSIONS":
            monkeypatch.delenv(name)
    return root
