"""Grids and seed lists from text, bounded before they are expanded (issue 16, "Bounded before expanded").

Any grid, seed list or family list a visitor (a URL, a widget) or a command line writes is checked against its
limits from the text alone, in time linear in the text, before a list is built or an array allocated; a refusal is
one line naming the field. The text itself is capped (``MAX_TEXT`` characters), a count is computed arithmetically
(``count_grid``: commas + 1, or a range's COUNT; ``parse_seeds``: the sizes of merged ranges), and a product of
counts (a family's grids, families x seeds) is multiplied out before anything is (``check_product``).

    parse_grid("log:0.1:10:5", "theta")           -> (0.1, 0.316228, 1.0, 3.16228, 10.0)
    parse_grid("log:1:2:999999999999", "theta")   ValueError: --param theta: COUNT 999999999999 is more than the limit ...
    parse_seeds("0-2,5", max_seed=9)              -> (0, 1, 2, 5)
    parse_seeds("0-99999999999", max_seed=9)      ValueError: seeds: 10 is over the limit (seeds 0 to 9)
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable

import numpy as np

from .text import clip

MAX_TEXT = 2_000  # characters in one grid or seed field (a long expression lives elsewhere; a grid is short)
MAX_VALUES = 500  # values in one grid: no sweep may hold more runs than this (sweep.MAX_POINTS)
_SEED = re.compile(r"([0-9]+)(?:-([0-9]+))?")  # ASCII digits only (a regex's digit class takes any script's)
_DIGITS = 18  # a seed written with more digits is over any limit (and int() of it is never attempted)


def check_text(text: str, what: str, max_chars: int = MAX_TEXT) -> None:
    """A one-line ValueError when ``text`` is longer than ``max_chars`` (checked before it is split or parsed)."""
    if len(text) > max_chars:
        raise ValueError(f"{what}: {len(text):,} characters, more than the {max_chars:,} this field takes")


def _num(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{what}: {clip(text.strip())} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{what}: {clip(text.strip())} is not a finite number")
    return v


def _tidy(v: float) -> float:
    """6 significant digits: a log range's values get short labels and keys that do not depend on float noise."""
    return float(f"{v:.6g}")


def _range_count(part: str, what: str, max_values: int) -> int:
    """A range's COUNT from its text, refused when it is not a whole number >= 1 or is over ``max_values``."""
    raw = part.strip()
    if raw.lstrip("+").isdigit() and len(raw.lstrip("+").lstrip("0")) > 12:  # never int() a 2,000-digit COUNT
        raise ValueError(
            f"{what}: COUNT {raw[:12]}… ({len(raw):,} digits) is more than the limit of {max_values:,} values"
        )
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{what}: COUNT must be a whole number, got {clip(part)}") from None
    if n < 1:
        raise ValueError(f"{what}: an empty grid (COUNT {n}); give at least one value")
    if n > max_values:
        raise ValueError(f"{what}: COUNT {n:,} is more than the limit of {max_values:,} values")
    return n


def count_grid(text, what: str = "grid", *, max_values: int = MAX_VALUES) -> int:
    """How many values ``text`` holds at most (duplicates not yet removed), from the text alone: a number 1, a list
    its length, ``"a,b,c"`` commas + 1, ``"log:A:B:N"`` / ``"lin:A:B:N"`` N. ValueError (one line, naming ``what``)
    for a text over ``MAX_TEXT`` characters, a malformed range or a count over ``max_values``. Linear in the text."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return 1
    if isinstance(text, (list, tuple)):
        n = len(text)
    elif isinstance(text, str):
        check_text(text, what)
        s = text.strip()
        if s[:4].lower() in ("log:", "lin:"):
            parts = s.split(":")
            if len(parts) != 4:
                raise ValueError(f"{what}: a range is {parts[0]}:START:STOP:COUNT (e.g. log:0.1:10:5), got {clip(s)}")
            return _range_count(parts[3], what, max_values)
        n = s.count(",") + 1
    else:
        raise ValueError(
            f"{what}: expected a number, a list or text such as '0.1,1' or 'log:0.1:10:5', got {clip(text)}"
        )
    if n > max_values:
        raise ValueError(f"{what}: {n:,} values, more than the limit of {max_values:,}")
    return n


def parse_grid(
    text, name: str = "param", *, integer: bool = False, field: str | None = None, max_values: int = MAX_VALUES
) -> tuple:
    """A grid's values from text: ``"0.1,1,10"``, ``"log:0.1:10:5"`` (5 values, geometric), ``"lin:0:1:3"``
    (linear), or one value. Numbers and lists/tuples of numbers pass through. ``integer`` settings (``epochs``,
    ``batch_size``) must be whole numbers (a log/lin range is rounded); duplicates are dropped, order kept.

    Bounded first (``count_grid``): at most ``max_values`` values and ``MAX_TEXT`` characters, refused from the text
    before any value is parsed. Errors are one line starting with ``field`` (default ``--param NAME``)."""
    what = field or f"--param {name}"
    count_grid(text, what, max_values=max_values)
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        values, ranged = [float(text)], False
    elif isinstance(text, (list, tuple)):
        values, ranged = [_num(str(v), what) for v in text], False
    else:
        s = text.strip()
        low = s.lower()
        ranged = low.startswith(("log:", "lin:"))
        if ranged:
            parts = s.split(":")
            a, b = _num(parts[1], what), _num(parts[2], what)
            n = _range_count(parts[3], what, max_values)
            if low.startswith("log:"):
                if a <= 0 or b <= 0:
                    raise ValueError(f"{what}: a log range needs positive ends, got {a:g} and {b:g}")
                values = list(np.geomspace(a, b, n)) if n > 1 else [a]
            else:
                values = list(np.linspace(a, b, n)) if n > 1 else [a]
        else:
            items = [t.strip() for t in s.split(",")]
            if not s or all(not t for t in items):
                raise ValueError(f"{what}: an empty grid; give values such as {name}=0.1,1 or {name}=log:0.1:10:5")
            if any(not t for t in items):
                raise ValueError(f"{what}: an empty value in {clip(s)}")
            values = [_num(t, what) for t in items]
    if not values:
        raise ValueError(f"{what}: an empty grid")
    if integer:
        out = []
        for v in values:
            r = round(v)
            if not ranged and r != v:
                raise ValueError(f"{what}: must be a whole number, got {v:g}")
            out.append(int(r))
    else:
        out = [_tidy(v) for v in values]
    return tuple(dict.fromkeys(out))


def check_product(counts: Iterable[int], limit: int, what: str) -> int:
    """The product of ``counts`` (e.g. the sizes of a family's grids, or configurations x seeds), or a one-line
    ValueError when it is over ``limit``; multiplied out with an early stop, so a million factors cost a million
    multiplications of small numbers and nothing is expanded."""
    counts = list(counts)
    for c in counts:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0:
            raise ValueError(f"{what}: a count must be a whole number >= 0, got {clip(c)}")
    if any(c == 0 for c in counts):
        return 0
    total = 1
    for c in [*counts, 1]:  # the trailing 1: an empty product (1) is checked too
        total *= int(c)
        if total > limit:
            shown = " x ".join(f"{int(c):,}" for c in counts[:6]) + (" x …" if len(counts) > 6 else "")
            raise ValueError(f"{what}: {shown or '1'} is more than the limit of {limit:,}")
    return total


def _seed_int(digits: str, field: str, max_seed: int, limit: str) -> int:
    digits = digits.lstrip("0") or "0"
    if len(digits) > _DIGITS:
        raise ValueError(f"{field}: {digits[:12]}… ({len(digits):,} digits) is over {limit} (seeds 0 to {max_seed})")
    return int(digits)


def parse_seeds(
    text,
    *,
    max_seed: int,
    max_count: int | None = None,
    field: str = "seeds",
    limit: str = "the limit",
    max_chars: int = MAX_TEXT,
) -> tuple[int, ...]:
    """'0-2' -> (0, 1, 2); '0,3' -> (0, 3); '4' -> (4,); spaces ignored, order of first mention kept, duplicates
    dropped. Every seed must be <= ``max_seed`` and there may be at most ``max_count`` distinct seeds (default: no
    limit beyond ``max_seed``). Both are checked from the ranges' ends and sizes (merged intervals, counted
    arithmetically) before a single seed is listed, so '0-99999999999' is refused at once. ``limit`` names the limit
    in messages (the app: "this server's limit")."""
    text = str(text)
    check_text(text, field, max_chars)
    ranges: list[tuple[int, int]] = []
    for part in text.replace(" ", "").split(","):
        m = _SEED.fullmatch(part)
        if not m:
            raise ValueError(f"{field}: {clip(part, 24)} is not a seed or a range such as 0-2")
        a = _seed_int(m[1], field, max_seed, limit)
        b = _seed_int(m[2], field, max_seed, limit) if m[2] is not None else a
        if b < a:
            raise ValueError(f"{field}: the range {clip(part, 24)} runs backwards")
        if b > max_seed:
            raise ValueError(f"{field}: {max(a, max_seed + 1)} is over {limit} (seeds 0 to {max_seed})")
        ranges.append((a, b))
    # The new pieces of each range, in order: what earlier ranges did not cover (disjoint sorted intervals `covered`).
    starts: list[int] = []
    ends: list[int] = []
    pieces: list[tuple[int, int]] = []
    for a, b in ranges:
        i = bisect.bisect_left(ends, a)  # the first covered interval that ends at or after a
        j = i
        lo, cur = a, a
        while j < len(starts) and starts[j] <= b:
            if starts[j] > cur:
                pieces.append((cur, starts[j] - 1))
            cur = max(cur, ends[j] + 1)
            lo = min(lo, starts[j])
            j += 1
        if cur <= b:
            pieces.append((cur, b))
        hi = max(b, ends[j - 1]) if j > i else b
        starts[i:j], ends[i:j] = [lo], [hi]
    count = sum(b - a + 1 for a, b in pieces)
    if max_count is not None and count > max_count:
        raise ValueError(f"{field}: {count:,} seeds, more than {limit} of {max_count:,}")
    return tuple(s for a, b in pieces for s in range(a, b + 1))


__all__ = ["MAX_TEXT", "MAX_VALUES", "check_product", "check_text", "count_grid", "parse_grid", "parse_seeds"]
