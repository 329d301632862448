"""The runs a visitor can compare: the user's run store plus the small runs shipped in ``assets/store``.

Runs that differ only in their training seed form a group; the Compare page's error bars are 95 % intervals over a
group's seeds. No Streamlit here.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rpm_engine.config import RunConfig
from rpm_engine.ranking import pooled
from rpm_engine.store import Run, RunStore, load_first

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent
SHIPPED_ROOT = REPO / "assets" / "store"
FIG1_METHODS = ("supervised", "rbf", "linear", "untrained")


def method_name(config) -> str:
    """'supervised', 'untrained', or the coupling's spec (a name or the expression text) of a RunConfig."""
    if config.train.method != "infonce":
        return config.train.method
    return config.coupling.spec


@functools.lru_cache(maxsize=4096)  # configs are frozen; a key is a JSON dump and a hash, and every page asks often
def group_key(config: RunConfig) -> str:
    """The key a run would have with seed 0: equal for runs that differ only in their seed."""
    return dataclasses.replace(config, train=dataclasses.replace(config.train, seed=0)).key()


@dataclass(frozen=True)
class Entry:
    key: str
    config: RunConfig
    metrics: dict
    source: str  # "yours" (the run store) or "shipped" (assets/store)
    mtime: float

    @property
    def method(self) -> str:
        return method_name(self.config)

    @property
    def seed(self) -> int:
        return self.config.train.seed

    @property
    def label(self) -> str:
        """Short: 'rbf (theta=0.1) · seed 0'."""
        return f"{self.config.name} · seed {self.seed}"

    @property
    def long_label(self) -> str:
        v, t = self.config.video, self.config.train
        where = "shipped example" if self.source == "shipped" else "your run"
        l2 = self.metrics.get("l2_mean")
        l2s = f" · L2 {l2:.2f} px" if isinstance(l2, (int, float)) else ""
        return f"{self.label} · {v.frames} frames × {v.size} px · {t.epochs} epochs{l2s} · {where} [{self.key[:6]}]"


class Catalog:
    """Runs from several stores, the first one winning when a key is in more than one."""

    def __init__(self, stores: list[tuple[str, RunStore]]):
        self.stores = stores
        self._listing: tuple[tuple, list[Entry]] | None = None  # (stores' stamps, entries) of the last listing
        self._derived: dict[str, tuple[list[Entry], object]] = {}  # name -> (the listing it came from, value)
        self._lock = threading.Lock()

    def _stamp(self) -> tuple:
        """Changes whenever a run is added, replaced or removed in any store (the runs/ folder and index.json)."""
        out = []
        for _, store in self.stores:
            for p in (store.root / "runs", store.root / "index.json"):
                try:
                    st = os.stat(p)
                    out.append((st.st_mtime_ns, st.st_size))
                except OSError:
                    out.append(None)
        return tuple(out)

    def entries(self) -> list[Entry]:
        """Every readable run, the first store winning for a key; listed once until a store changes, so a rerun
        costs a few ``stat`` calls however many visitors or runs there are."""
        stamp = self._stamp()
        with self._lock:
            if self._listing is not None and self._listing[0] == stamp:
                return self._listing[1]
        out = self._list()
        with self._lock:
            self._listing = (stamp, out)
        return out

    def _list(self) -> list[Entry]:
        seen, out = set(), []
        for source, store in self.stores:
            try:
                runs = store.list_runs()
            except OSError:
                continue
            for r in runs:
                if r["key"] in seen:
                    continue
                seen.add(r["key"])
                out.append(Entry(r["key"], r["config"], r["metrics"], source, r["mtime"]))
        return out

    def derived(self, name: str, fn):
        """``fn(entries)`` computed once per listing of the stores (again after a run is added, replaced or removed),
        not once per page run: what every visitor sees alike (Home's Fig. 1) costs a dict lookup. The value is shared:
        callers must not change it."""
        entries = self.entries()
        with self._lock:
            hit = self._derived.get(name)
            if hit is not None and hit[0] is entries:
                return hit[1]
        value = fn(entries)
        with self._lock:
            self._derived[name] = (entries, value)
        return value

    def load(self, key: str) -> Run | None:
        """The run, or None if no store has it (or it is unreadable: that is logged, and training rebuilds it)."""
        return load_first([store for _, store in self.stores], key)

    def siblings(self, config: RunConfig, entries: list[Entry] | None = None) -> list[Entry]:
        """Every stored run of the same configuration except the seed, sorted by seed (one per seed)."""
        g = group_key(config)
        by_seed = {}
        for e in entries if entries is not None else self.entries():
            if e.seed not in by_seed and group_key(e.config) == g:
                by_seed[e.seed] = e
        return [by_seed[s] for s in sorted(by_seed)]

    def shipped_fig1(self) -> dict[str, list[Entry]]:
        """The shipped runs by method (supervised, rbf, linear, untrained), each list sorted by seed; for the groups
        of one method the one with the most seeds wins."""
        return {m: list(runs) for m, runs in self.derived("shipped_fig1", fig1_of).items()}


def fig1_of(entries: list[Entry]) -> dict[str, list[Entry]]:
    """``Catalog.shipped_fig1`` of a listing."""
    shipped = [e for e in entries if e.source == "shipped"]
    out = {}
    for m in FIG1_METHODS:
        groups: dict[str, list[Entry]] = {}
        for e in shipped:
            if e.method == m:
                groups.setdefault(group_key(e.config), []).append(e)
        if groups:
            best = max(groups.values(), key=len)
            out[m] = sorted(best, key=lambda e: e.seed)
    return out


def l2_summary(entries: list[Entry], balls: int) -> dict:
    """Per-ball and overall held-out L2 over a group's seeds, pooled as the one ranking pools them
    (``ranking.pooled``: the geometric mean and its log-scale interval, never below zero), and the per-seed values."""
    per_seed = [e.metrics["l2_per_ball"] for e in entries]
    per_ball = [pooled([p[k] for p in per_seed]) for k in range(balls)]
    overall = pooled([e.metrics["l2_mean"] for e in entries])
    return {
        "per_ball": per_ball,
        "overall": overall,
        "per_seed": per_seed,
        "overall_per_seed": [e.metrics["l2_mean"] for e in entries],
    }


def metrics_table(entries: list[Entry], catalog: Catalog) -> list[dict]:
    """One flat row per compared run, for CSV / JSON export: its config, metrics and the seeds summary of its group."""
    all_entries = catalog.entries()
    rows = []
    for e in entries:
        v, t = e.config.video, e.config.train
        group = catalog.siblings(e.config, all_entries)
        s = l2_summary(group, v.balls)
        row = {
            "key": e.key,
            "label": e.label,
            "method": e.method,
            "seed": e.seed,
            "source": e.source,
            "frames": v.frames,
            "size": v.size,
            "balls": v.balls,
            "diameter": v.diameter,
            "video_seed": v.seed,
            "epochs": t.epochs,
            "batch_size": t.batch_size,
            "lr": t.lr,
            "l2_mean_px": e.metrics.get("l2_mean"),
            "final_loss": e.metrics.get("final_loss"),
            "final_I_N_nats": e.metrics.get("final_mi"),
            "train_seconds": e.metrics.get("train_seconds"),
            "device": e.metrics.get("device"),
            "group_seeds": s["overall"]["n"],
            "group_l2_mean_px": s["overall"]["mean"],
            "group_l2_ci95_lo_px": s["overall"]["lo"],
            "group_l2_ci95_hi_px": s["overall"]["hi"],
        }
        for k, val in enumerate(e.metrics.get("l2_per_ball", [])):
            row[f"l2_ball{k + 1}_px"] = val
        for name, val in (e.metrics.get("coupling_values") or {}).items():
            row[f"learned_{name}"] = val
        rows.append({k: (None if isinstance(val, float) and not np.isfinite(val) else val) for k, val in row.items()})
    return rows
