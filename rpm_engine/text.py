"""Tiny helpers every layer shares for messages and user text: one copy each (issue 16, "Habits").

    first_line(exc)                      the first line of an exception's message (or its type's name)
    clip(value, n=40)                    a value's repr for a message, never more than n characters
    parse_assignment("theta=0.5", what)  ("theta", "0.5"), or a one-line ValueError naming ``what``
    is_cancelled(cancel)                 None, a ``threading.Event`` or a callable returning a truth value

Nothing here imports the rest of the engine, so any module (the schema included) may import it.
"""

from __future__ import annotations

import threading

CLIP = 40  # characters of a bad value a message may repeat (a 500 KB value is never echoed back)


def first_line(exc: BaseException, n: int | None = None) -> str:
    """The first non-empty line of ``str(exc)``, stripped; the exception's type name when the message is empty.
    With ``n``: at most ``n`` characters (a longer line ends in "…")."""
    line = next((t.strip() for t in str(exc).splitlines() if t.strip()), type(exc).__name__)
    return line if n is None or len(line) <= n else line[: max(n - 1, 0)] + "…"


def clip(value: object, n: int = CLIP) -> str:
    """``repr(value)`` for a message, cut to at most ``n`` characters with a trailing "…" when it was longer."""
    if n < 1:
        raise ValueError(f"clip: n must be at least 1, got {n}")
    text = repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


def parse_assignment(text: str, what: str, *, example: str = "NAME=VALUE") -> tuple[str, str]:
    """``"NAME=VALUE"`` -> ``(NAME stripped, VALUE as written)``; the first ``=`` splits, so VALUE may hold more.

    A missing ``=`` or an empty NAME is a one-line ``ValueError``: ``"{what} expects {example}, got 'text'"``."""
    if not isinstance(text, str):
        raise ValueError(f"{what} expects {example}, got {clip(text)}")
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"{what} expects {example}, got {clip(text)}")
    return name.strip(), value


def is_cancelled(cancel) -> bool:
    """True when ``cancel`` says stop: ``None`` never does, a ``threading.Event`` when it is set, a callable when
    it returns a true value."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    if callable(cancel):
        return bool(cancel())
    raise TypeError(f"cancel: expected None, a threading.Event or a callable, got {type(cancel).__name__}")


__all__ = ["CLIP", "clip", "first_line", "is_cancelled", "parse_assignment"]
