"""Classroom links: a lecturer chooses the page, what to hide (``controls_hide``, ``sliders_hide``, ``sidebar_hide``,
``text_hide``) and the view (the one on screen: video, runs, frame, ...), and copies one link; opening it gives the
students exactly that view. ``read_link`` is the inverse, so a link round-trips (tested). No Streamlit here."""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Iterable, Mapping

from rpm_service.limits import Limits

from .state import HIDE_FLAGS, ViewState, from_query, to_query

# The URL path of each page (Streamlit's: the file name without its number prefix); Home is the root.
PATHS = {"home": "", "data": "data", "priors": "priors", "train": "train", "compare": "compare",
         "explore": "explore", "bound": "bound"}  # fmt: skip
HIDE_HELP = {
    "controls": "buttons, menus and inputs",
    "sliders": "sliders",
    "sidebar": "the sidebar (navigation and limits)",
    "text": "explanations (captions, info boxes; warnings and limits stay)",
}


def classroom_link(base: str, page: str, state: ViewState, hide: Iterable[str], limits: Limits | None = None,
                   extra: Mapping[str, str | list[str]] | None = None) -> str:  # fmt: skip
    """The link to ``page`` showing ``state`` with the flags ``hide`` set (only values that differ from the
    defaults); ``extra``: a page's own parameters (Explore's ``xf``, ``xseeds``...)."""
    if page not in PATHS:
        raise ValueError(f"unknown page {page!r} (pages: {', '.join(PATHS)})")
    flags = frozenset(hide)
    unknown = flags - set(HIDE_FLAGS)
    if unknown:
        raise ValueError(f"unknown flag {sorted(unknown)[0]!r} (flags: {', '.join(HIDE_FLAGS)})")
    q = {**to_query(dataclasses.replace(state, hide=flags), limits), **(extra or {})}
    url = base.split("?")[0].rstrip("/")
    for path in PATHS.values():  # the base may be the address of the page the builder is on
        if path and url.endswith("/" + path):
            url = url[: -len(path) - 1]
    query = urllib.parse.urlencode(q, doseq=True)
    return f"{url}/{PATHS[page]}" + (f"?{query}" if query else "")


def read_link(link: str, limits: Limits | None = None) -> tuple[str, ViewState, list[str]]:
    """(page, view, notices) that opening ``link`` gives (the app's own reading of the query)."""
    parts = urllib.parse.urlsplit(link)
    path = parts.path.strip("/").rsplit("/", 1)[-1] if parts.path.strip("/") else ""
    page = next((name for name, p in PATHS.items() if p == path), "home")
    params = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    state, notices = from_query(params, limits)
    return page, state, notices


__all__ = ["HIDE_HELP", "PATHS", "classroom_link", "read_link"]
