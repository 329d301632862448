"""The one ranking of configurations by held-out L2 over seeds (issue 16): the CLI's sweep table, the Explore
leaderboard and Compare's seed pooling all call ``rank``. Pure: numpy and the standard library, no torch.

A ``Trial`` is one run: a configuration (``config``: runs that differ only by seed share it), its seed and its
held-out mean L2 in px (section 5 of the paper: the error of a linear read-out of the ball positions from z), or
``None`` when that seed's training failed.

    ranking = rank([Trial("rbf θ₀=0.1", 0, 1.52), Trial("rbf θ₀=0.1", 1, 1.61), Trial("linear", 0, 3.9), ...])
    ranking.verdict          # "rbf θ₀=0.1 is best: separated from ..." or "not separated at 3 seeds: ..."
    ranking.rows[0].centre, ranking.rows[0].interval

The statistics, and why:

* **Centre and interval.** The error is positive and its spread grows with its size (1.5 px runs vary by tenths,
  30 px runs by pixels), so a configuration is summarised on the log scale: the centre is the **geometric mean**
  over its finished seeds, and its interval is ``exp(mean(log v) ± t_{1-α/2, n-1} · sd(log v) / √n)`` with the
  exact Student-t quantile for n - 1 degrees of freedom (``t_quantile``). It is never below zero and never clipped.
  The arithmetic mean is reported beside it (``mean``). One finished seed: no interval (``None``).
* **Paired comparison with the best.** A seed gives every method the same initial encoder, so seeds are paired:
  each configuration is compared with the best by its per-seed **log ratios** ``log v_c(s) - log v_best(s)`` over
  the seeds both finished, with a paired t-test (two-sided p, exact t distribution). Log ratios, not px
  differences, because the comparison then agrees with the log-scale intervals and does not depend on the scale of
  the error; ``ratio`` = exp(mean log ratio) (the geometric-mean ratio, > 1: worse than the best) with its t
  interval. The px differences are reported too (``diffs_px``, ``diff_mean_px``), as description only.
* **Multiple comparisons.** The p-values of all comparisons with the best are Holm-adjusted (``holm``). A
  configuration is *separated* from the best when its Holm-adjusted p < α and it is worse on average (``ratio`` > 1).
  The best is declared only when it is separated from every other configuration; otherwise the verdict says
  "not separated at n seeds" (n: the paired seeds of the comparisons that are not separated).
* **Failed seeds count.** A failed seed is worse than any finite error. Configurations are ordered by the
  fraction of their seeds that failed first, then by their centre: one that failed on 2 of 5 seeds ranks behind
  every one that failed on fewer, however good its 3 finished seeds. Configurations whose every seed failed come
  last. In a comparison, a configuration that failed on more of the shared seeds where the other finished than the
  other way round is separated from the best by its failures (``separated_by="failures"``), the same rule as the
  order; otherwise only its finished pairs decide (``separated_by="error"``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # two-sided: 95 % intervals, and the level of the Holm procedure


# -- the Student-t distribution, exactly ------------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes §6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-16:
            return h
    raise ArithmeticError(f"incomplete beta: no convergence for a={a}, b={b}, x={x}")  # pragma: no cover


def _betai(a: float, b: float, x: float, one_minus_x: float) -> float:
    """The regularised incomplete beta function I_x(a, b); ``one_minus_x`` is 1 - x computed without cancellation."""
    if x <= 0.0:
        return 0.0
    if one_minus_x <= 0.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(one_minus_x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, one_minus_x) / b


def _df(df) -> int:
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"degrees of freedom: a whole number >= 1, got {df!r}")
    return int(df)


def t_sf2(t: float, df: int) -> float:
    """Two-sided tail probability P(|T| >= |t|) of Student's t with ``df`` degrees of freedom (a paired t-test's
    p-value): I_{df/(df+t²)}(df/2, 1/2)."""
    df = _df(df)
    if math.isnan(t):
        raise ValueError("t: not a number")
    if math.isinf(t):
        return 0.0
    t2 = t * t
    return min(1.0, _betai(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2)))


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    half = 0.5 * t_sf2(t, df)
    return 1.0 - half if t > 0 else half


@functools.lru_cache(maxsize=1024)
def t_quantile(q: float, df: int) -> float:
    """The exact quantile t_{q, df} (P(T <= t) = q), to about 1e-13 relative: bisection on ``t_sf2``, which is
    monotone (no table, no interpolation). ``t_quantile(0.975, 4)`` = 2.776..."""
    df = _df(df)
    q = float(q)
    if not 0.0 < q < 1.0:
        raise ValueError(f"t quantile: q must be strictly between 0 and 1, got {q!r}")
    if q == 0.5:
        return 0.0
    target = 2.0 * min(q, 1.0 - q)  # the two-sided tail beyond |t|
    lo, hi = 0.0, 1.0
    while t_sf2(hi, df) > target:
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if t_sf2(mid, df) > target:
            lo = mid
        else:
            hi = mid
    t = 0.5 * (lo + hi)
    return t if q > 0.5 else -t


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): sort ascending, multiply the i-th smallest (from 0)
    by m - i, carry the running maximum, cap at 1. Reject where the adjusted p < α: the family-wise error <= α."""
    p = [float(v) for v in pvalues]
    if any(not 0.0 <= v <= 1.0 for v in p):
        raise ValueError(f"Holm: p-values must lie in [0, 1], got {p}")
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank_, i in enumerate(order):
        running = max(running, min(1.0, (m - rank_) * p[i]))
        out[i] = running
    return out


def log_t_interval(values: Sequence[float], alpha: float = ALPHA) -> tuple[float, tuple[float, float] | None]:
    """(geometric mean, its 1 - α t-interval on the log scale) of positive values; the interval is None for one
    value. ``exp(mean(log v) ± t_{1-α/2, n-1} · sd(log v) / √n)``: above zero whatever the spread."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values to summarise")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError("a log-scale interval needs positive finite values")
    logs = np.log(v)
    m = float(logs.mean())
    centre = math.exp(m)
    if v.size < 2:
        return centre, None
    half = t_quantile(1.0 - alpha / 2.0, v.size - 1) * float(logs.std(ddof=1)) / math.sqrt(v.size)
    lo, hi = math.exp(m - half), math.exp(m + half)
    return centre, (min(lo, centre), max(hi, centre))  # exp rounding: keep lo <= centre <= hi exactly


def pooled(values: Sequence[float], alpha: float = ALPHA) -> dict:
    """One configuration's seeds pooled as the ranking pools them, in the shape charts read (``seeds_summary``'s
    keys): ``mean`` is the geometric mean (the ranking's centre), ``lo``/``hi`` its log-scale t interval (NaN for
    one seed), ``arithmetic_mean`` beside it, ``n``. Compare's cards and bars use it, so they agree with the
    leaderboard."""
    v = [float(x) for x in values]
    centre, interval = log_t_interval(v, alpha)
    lo, hi = interval if interval else (math.nan, math.nan)
    return {"mean": centre, "lo": lo, "hi": hi, "arithmetic_mean": float(np.mean(v)), "n": len(v)}


# -- records -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trial:
    """One run of a configuration: its seed and held-out L2 in px (> 0), or ``value=None`` when it failed."""

    config: str  # identifies the configuration: runs that differ only by seed share it
    seed: int
    value: float | None
    label: str = ""  # what to show (default: ``config``)
    error: str | None = None  # why it failed (first line), when it did

    def __post_init__(self):
        if not isinstance(self.config, str) or not self.config:
            raise ValueError(f"Trial.config: a non-empty string, got {self.config!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"Trial.seed: a whole number, got {self.seed!r}")
        if self.value is not None:
            v = float(self.value)
            if not math.isfinite(v) or v <= 0:
                raise ValueError(
                    f"Trial.value: a positive finite error in px, got {self.value!r} (None marks a failed seed)"
                )
            object.__setattr__(self, "value", v)
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def failed(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Comparison:
    """A configuration against the best, over the seeds both ran (paired by seed)."""

    seeds: tuple[int, ...]  # the seeds both finished: the pairs
    log_ratios: tuple[float, ...]  # log v(s) - log v_best(s) per paired seed
    diffs_px: tuple[float, ...]  # v(s) - v_best(s) per paired seed (description only)
    diff_mean_px: float | None
    ratio: float | None  # exp(mean log ratio): > 1 worse than the best
    ratio_interval: tuple[float, float] | None  # its 1 - α t-interval (>= 2 pairs)
    t: float | None  # the paired t statistic (None: fewer than 2 pairs, or zero spread with a non-zero mean)
    df: int | None
    p: float | None  # two-sided paired t-test of mean log ratio = 0 (None: fewer than 2 pairs)
    p_holm: float | None  # Holm-adjusted over every comparison with the best that has a p
    failed_here_only: int  # shared seeds where this configuration failed and the best finished
    failed_best_only: int  # shared seeds where the best failed and this one finished
    separated: bool
    separated_by: str | None  # "failures", "error" or None

    @property
    def n(self) -> int:
        return len(self.seeds)

    def to_dict(self) -> dict:
        return {
            "seeds": list(self.seeds),
            "n": self.n,
            "log_ratios": list(self.log_ratios),
            "diffs_px": list(self.diffs_px),
            "diff_mean_px": self.diff_mean_px,
            "ratio": self.ratio,
            "ratio_interval": list(self.ratio_interval) if self.ratio_interval else None,
            "t": self.t,
            "df": self.df,
            "p": self.p,
            "p_holm": self.p_holm,
            "failed_here_only": self.failed_here_only,
            "failed_best_only": self.failed_best_only,
            "separated": self.separated,
            "separated_by": self.separated_by,
        }


@dataclass(frozen=True)
class Row:
    """One configuration over its seeds, with its place in the ranking (1 = best) and its comparison with the best
    (None for the best itself)."""

    rank: int
    config: str
    label: str
    seeds: tuple[int, ...]  # every seed it ran, ascending
    values: tuple[float | None, ...]  # per seed (None: failed), aligned with ``seeds``
    errors: tuple[str, ...]  # the distinct failure messages
    n_ok: int
    n_failed: int
    mean: float | None  # arithmetic mean over the finished seeds
    centre: float | None  # geometric mean over the finished seeds: the interval's centre and the order's key
    interval: tuple[float, float] | None  # 1 - α t-interval of the centre on the log scale (>= 2 finished seeds)
    comparison: Comparison | None

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "config": self.config,
            "label": self.label,
            "seeds": list(self.seeds),
            "values": list(self.values),
            "errors": list(self.errors),
            "n_ok": self.n_ok,
            "n_failed": self.n_failed,
            "mean": self.mean,
            "centre": self.centre,
            "interval": list(self.interval) if self.interval else None,
            "comparison": self.comparison.to_dict() if self.comparison else None,
        }


@dataclass(frozen=True)
class Ranking:
    """Rows best first; ``best`` is the first row's config only when it is separated from every other row."""

    rows: tuple[Row, ...]
    verdict: str
    best: str | None
    alpha: float = ALPHA

    def row(self, config: str) -> Row:
        for r in self.rows:
            if r.config == config:
                return r
        raise KeyError(config)

    def to_dict(self) -> dict:
        """JSON-safe (no NaN or infinity: a missing number is None)."""
        return {
            "alpha": self.alpha,
            "best": self.best,
            "verdict": self.verdict,
            "centre": "geometric mean over finished seeds; interval: t on the log scale",
            "rows": [r.to_dict() for r in self.rows],
        }


# -- ranking -----------------------------------------------------------------------------------------------------
def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _compare(row: dict, best: dict, alpha: float) -> dict:
    shared = sorted(set(row["by_seed"]) & set(best["by_seed"]))
    pairs = [s for s in shared if row["by_seed"][s] is not None and best["by_seed"][s] is not None]
    here_only = sum(1 for s in shared if row["by_seed"][s] is None and best["by_seed"][s] is not None)
    best_only = sum(1 for s in shared if best["by_seed"][s] is None and row["by_seed"][s] is not None)
    a = np.array([row["by_seed"][s] for s in pairs], dtype=np.float64)
    b = np.array([best["by_seed"][s] for s in pairs], dtype=np.float64)
    d = np.log(a) - np.log(b)
    out = {
        "seeds": tuple(pairs),
        "log_ratios": tuple(float(x) for x in d),
        "diffs_px": tuple(float(x) for x in a - b),
        "diff_mean_px": float((a - b).mean()) if pairs else None,
        "ratio": math.exp(float(d.mean())) if pairs else None,
        "ratio_interval": None,
        "t": None,
        "df": None,
        "p": None,
        "failed_here_only": here_only,
        "failed_best_only": best_only,
    }
    n = len(pairs)
    if n >= 2:
        m, sd = float(d.mean()), float(d.std(ddof=1))
        se = sd / math.sqrt(n)
        out["df"] = n - 1
        if se > 0:
            t = m / se
            out["t"], out["p"] = t, t_sf2(t, n - 1)
        else:  # every pair has the same log ratio: certain, if it is not zero
            out["t"], out["p"] = (0.0, 1.0) if m == 0 else (None, 0.0)
        half = t_quantile(1.0 - alpha / 2.0, n - 1) * se
        ratio = out["ratio"]
        out["ratio_interval"] = (min(math.exp(m - half), ratio), max(math.exp(m + half), ratio))
    return out


def rank(trials: Iterable[Trial], *, alpha: float = ALPHA) -> Ranking:
    """Order the configurations of ``trials`` best first and say whether the best is separated from the rest.

    The rules (see the module docstring): order by the fraction of failed seeds, then by the geometric mean of the
    finished seeds (ties by ``config``); every configuration is compared with the first by a paired t-test on
    per-seed log ratios, Holm-adjusted over all comparisons; "best" only when separated from every other."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: strictly between 0 and 1, got {alpha!r}")
    groups: dict[str, dict] = {}
    for tr in trials:
        if not isinstance(tr, Trial):
            raise TypeError(f"rank: expected Trial records, got {type(tr).__name__}")
        g = groups.setdefault(tr.config, {"by_seed": {}, "trials": {}})
        if tr.seed in g["by_seed"]:
            raise ValueError(f"rank: {tr.config!r} has seed {tr.seed} twice")
        g["by_seed"][tr.seed] = tr.value
        g["trials"][tr.seed] = tr
    stats = []
    for config, g in groups.items():
        seeds = tuple(sorted(g["by_seed"]))
        values = tuple(g["by_seed"][s] for s in seeds)
        ok = [v for v in values if v is not None]
        centre, interval = log_t_interval(ok, alpha) if ok else (None, None)
        label = next((g["trials"][s].label for s in seeds if g["trials"][s].label), config)
        errors = tuple(sorted({g["trials"][s].error for s in seeds if g["trials"][s].failed and g["trials"][s].error}))
        stats.append(
            {
                "config": config,
                "label": label,
                "seeds": seeds,
                "values": values,
                "errors": errors,
                "n_ok": len(ok),
                "n_failed": len(values) - len(ok),
                "mean": float(np.mean(ok)) if ok else None,
                "centre": centre,
                "interval": interval,
                "by_seed": g["by_seed"],
            }
        )
    stats.sort(
        key=lambda r: (
            r["n_ok"] == 0,
            r["n_failed"] / len(r["seeds"]),
            r["centre"] if r["centre"] is not None else math.inf,
            r["config"],
        )
    )
    if not stats:
        return Ranking((), "no runs to rank", None, alpha)

    best = stats[0]
    comps = [_compare(r, best, alpha) for r in stats[1:]]
    tested = [i for i, c in enumerate(comps) if c["p"] is not None]
    for i, p in zip(tested, holm([comps[i]["p"] for i in tested])):
        comps[i]["p_holm"] = p
    for c in comps:
        c.setdefault("p_holm", None)
        if c["failed_here_only"] > c["failed_best_only"]:
            c["separated_by"] = "failures"
        elif c["p_holm"] is not None and c["p_holm"] < alpha and c["ratio"] > 1.0:
            c["separated_by"] = "error"
        else:
            c["separated_by"] = None
        c["separated"] = c["separated_by"] is not None
        if c["t"] is not None:
            c["t"] = _finite(c["t"])

    rows = []
    for i, r in enumerate(stats):
        comp = Comparison(**comps[i - 1]) if i else None
        rows.append(
            Row(
                rank=i + 1,
                config=r["config"],
                label=r["label"],
                seeds=r["seeds"],
                values=r["values"],
                errors=r["errors"],
                n_ok=r["n_ok"],
                n_failed=r["n_failed"],
                mean=r["mean"],
                centre=r["centre"],
                interval=r["interval"],
                comparison=comp,
            )
        )
    verdict, best_config = _verdict(rows, alpha)
    return Ranking(tuple(rows), verdict, best_config, alpha)


def _seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def _names(rows: Sequence[Row], k: int = 3) -> str:
    names = ", ".join(r.label for r in rows[:k])
    return names + (f" and {len(rows) - k} more" if len(rows) > k else "")


def _verdict(rows: Sequence[Row], alpha: float) -> tuple[str, str | None]:
    top = rows[0]
    if top.n_ok == 0:
        return "every configuration failed on every seed: nothing to rank", None
    if len(rows) == 1:
        return f"one configuration ({top.label}): nothing to compare it with", None
    level = f"Holm, α={alpha:g}"
    loose = [r for r in rows[1:] if not r.comparison.separated]
    if not loose:
        ns = sorted({r.comparison.n + r.comparison.failed_here_only for r in rows[1:]})
        span = _seeds(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]} seeds"
        others = len(rows) - 1
        return (
            f"{top.label} is best: separated from the {others} other configuration{'s' if others > 1 else ''} "
            f"({level}, {span} paired)",
            top.config,
        )
    ns = sorted({r.comparison.n for r in loose})
    span = _seeds(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]} seeds"
    ps = [r.comparison.p_holm for r in loose if r.comparison.p_holm is not None]
    why = f"smallest Holm-adjusted p {min(ps):.2g}" if ps else "too few paired seeds for a test"
    return f"not separated at {span}: {top.label} vs {_names(loose)} ({why}; α={alpha:g})", None


__all__ = [
    "ALPHA",
    "Comparison",
    "Ranking",
    "Row",
    "Trial",
    "holm",
    "log_t_interval",
    "pooled",
    "rank",
    "t_cdf",
    "t_quantile",
    "t_sf2",
]
