"""One row per run, for the CSV and JSON an analyst loads at once: the app's Explore exports and the CLI's
``sweep --csv/--json`` both build their rows here.

A row: the run's ``key``; its ``family`` (the coupling's name or expression, or the baseline ``supervised`` /
``untrained``); every parameter as its own column (the coupling's starting values, e.g. ``theta``, ``w_init``, then
the training settings ``lr``, ``batch_size``, ``coupling_lr``); the ``recipe`` it was made with (``recipe_of``);
``epochs``; ``seed``; the held-out ``l2_px`` (Fig. 1C); the final ``I_N_nats`` (Eq. 11's estimate of the mutual
information); and the learned ``theta_px`` (θ in the true video's pixels, where the coupling has a θ).

Text cells that begin with ``= + - @`` (an expression such as ``-dist2(z, zp)``) are prefixed with ``'`` in the CSV, so
a spreadsheet shows them as text instead of running them as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence

from .config import RunConfig, recipe_of
from .evaluate import theta_in_true_px

FIRST = ("key", "family")
TRAIN_COLUMNS = ("lr", "batch_size", "coupling_lr")
LAST = ("recipe", "epochs", "seed", "l2_px", "I_N_nats", "theta_px")
FORMULA_START = ("=", "+", "-", "@")


def family(config: RunConfig) -> str:
    """'supervised', 'untrained', or the coupling's spec (a name or the expression text)."""
    return config.train.method if config.train.method != "infonce" else config.coupling.spec


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def run_row(key: str, config: RunConfig, metrics: Mapping) -> dict:
    """The row of one stored run (``metrics`` as the store keeps them; missing values are None)."""
    t = config.train
    theta = metrics.get("theta_effective_px")
    if theta is None:
        theta = theta_in_true_px(config, dict(metrics))
    row = {"key": key, "family": family(config)}
    row.update({name: float(v) for name, v in (config.coupling.init if config.coupling else ())})
    row.update({"lr": t.lr, "batch_size": t.batch_size, "coupling_lr": t.coupling_lr})
    row.update({
        "recipe": recipe_of(config), "epochs": t.epochs, "seed": t.seed, "l2_px": _number(metrics.get("l2_mean")),
        "I_N_nats": _number(metrics.get("final_mi")), "theta_px": _number(theta),
    })  # fmt: skip
    return row


def run_rows(runs: Iterable[tuple[str, RunConfig, Mapping]]) -> list[dict]:
    """Rows of ``(key, config, metrics)`` triples, every row with the same columns (a parameter one family lacks is
    None), in the order key, family, the coupling parameters (sorted), the training settings, then ``LAST``."""
    rows = [run_row(k, c, m) for k, c, m in runs]
    params = sorted({name for r in rows for name in r} - set(FIRST) - set(TRAIN_COLUMNS) - set(LAST))
    columns = [*FIRST, *params, *TRAIN_COLUMNS, *LAST]
    return [{c: r.get(c) for c in columns} for r in rows]


def neutralise(value):
    """A text cell a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@`` first) gets a leading ``'``."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def to_csv(rows: Sequence[Mapping]) -> str:
    """CSV with a header; formula-like text neutralised; None as an empty cell."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows({k: neutralise(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


def to_json(rows: Sequence[Mapping], **meta) -> str:
    """``{**meta, "runs": rows}`` as JSON (NaN never appears: rows hold None instead)."""
    return json.dumps({**meta, "runs": list(rows)}, indent=1, allow_nan=False)


__all__ = ["family", "neutralise", "run_row", "run_rows", "to_csv", "to_json"]
