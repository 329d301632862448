"""Shared fixtures: the repository root and a throw-away run store (the project is installed with ``pip install -e .``)."""

from pathlib import Path

import pytest
from tiny import TINY_QUERY  # noqa: F401 - re-exported for the tests

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """RPM_ENGINE_CACHE in a temporary folder, so no test touches the user's run store."""
    root = tmp_path / "rpm_cache"
    monkeypatch.setenv("RPM_ENGINE_CACHE", str(root))
    for name in list(__import__("os").environ):
        if name.startswith("RPM_MAX_") or name in ("RPM_ALLOW_EXPRESSIONS", "RPM_TRAINING"):
            monkeypatch.delenv(name)
    return root


@pytest.fixture
def app(tmp_cache):
    """``app(page, query)``: an AppTest of app.py opened on ``page`` (e.g. "pages/1_data.py"; None: Home) with the
    URL's ``query``, run once, with no exception."""
    from streamlit.testing.v1 import AppTest

    def make(page: str | None = None, query: dict | None = None):
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        for k, v in (query or {}).items():
            at.query_params[k] = v
        if page:
            at.switch_page(page)  # before the first run: the session opens on this page, as a shared link does
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return make
