"""Markdown tables of the stored study results (``benchmarks/results/``): every result table in docs/RESULTS.md and
the README is the output of one of these functions on the JSON it names, and ``tests/test_claims.py`` checks that
the documents still say exactly that. Pure: the standard library and numpy, no torch.

    python -m rpm_engine.results            # print every table, to paste after changing a study's JSON

Numbers are printed to 3 significant digits. Means are arithmetic with the Student-t 95 % interval over training
seeds (the CLI's ``l2_mean``/``l2_ci95``); beside them the geometric mean with its interval on the log scale (what
the app's log-scale bars show, ``evaluate.log_summary``), which stays above 0 where the plain interval does not.
Paired changes are ``evaluate.paired_change``: one seed gives every method the same initial encoder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .evaluate import log_summary, paired_change, seeds_summary

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
LABELS = {"supervised": "supervised", "rbf": "RBF", "untrained": "untrained (added)", "linear": "linear"}
ORDER = ("supervised", "rbf", "untrained", "linear")


def g3(x: float) -> str:
    """3 significant digits, no exponent for the sizes here, a true minus sign: 0.104, 1.01, 14.3, 58.0, −2.07."""
    if x != x:
        return "—"
    text = f"{x:#.3g}"
    if "e" in text:  # 3 significant digits of a number ≥ 1000 or < 0.001: plain
        text = f"{x:.0f}" if abs(x) >= 1000 else f"{x:.2g}"
    return text.rstrip(".").replace("-", "−")


def signed(x: float) -> str:
    return ("+" if x > 0 else "") + g3(x)


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join([_row(head), _row(["---"] * len(head)), *(_row(r) for r in rows)])


def _interval(lo: float, hi: float) -> str:
    return f"[{g3(lo)}, {g3(hi)}]"


def methods_table(doc: dict) -> str:
    """Fig. 1C as numbers: each method's held-out L2 over seeds (``reproduce`` JSON)."""
    rows = []
    for m in ORDER:
        if m not in doc["methods"]:
            continue
        v = doc["methods"][m]["l2_per_seed"]
        s, g = seeds_summary(v), log_summary(v)
        rows.append([LABELS[m], g3(s["mean"]), _interval(s["lo"], s["hi"]), g3(g["mean"]), _interval(g["lo"], g["hi"]),
                     ", ".join(g3(x) for x in v)])  # fmt: skip
    head = ["method", "mean L2 (px)", "95 % interval", "geometric mean", "its 95 % interval (log scale)", "per seed"]
    return _table(head, rows)


def paired_table(doc: dict) -> str:
    """Each trained method against its own untrained start, seed by seed (``reproduce`` JSON)."""
    seeds = range(len(doc["methods"]["untrained"]["l2_per_seed"]))
    per = {m: dict(zip(seeds, doc["methods"][m]["l2_per_seed"])) for m in doc["methods"]}
    rows = []
    for m in ("supervised", "rbf", "linear"):
        if m not in per:
            continue
        c = paired_change(per["untrained"], per[m])
        way = f"{c['lower']} lower, {c['higher']} higher"
        rows.append([LABELS[m], signed(c["mean"]), f"[{signed(c['lo'])}, {signed(c['hi'])}]",
                     f"×{g3(c['ratio'])} [{g3(c['ratio_lo'])}, {g3(c['ratio_hi'])}]", way,
                     ", ".join(signed(x) for x in c["change"])])  # fmt: skip
    head = ["trained with", "change from the untrained start (px)", "paired 95 % interval", "ratio trained / start",
            f"of {len(seeds)} seeds", "per seed (px)"]  # fmt: skip
    return _table(head, rows)


def theta_table(doc: dict) -> str:
    """RBF's θ in z's units, the read-out gain before and after training, and θ / gain in true pixels, per seed."""
    rbf, start = doc["methods"]["rbf"], doc["methods"]["untrained"]
    rows = []
    for s, (cv, g0, g1, px) in enumerate(zip(rbf["coupling_values_per_seed"], start["readout_gain_per_seed"],
                                             rbf["readout_gain_per_seed"], rbf["theta_effective_px_per_seed"])):  # fmt: skip
        rows.append([str(s), g3(cv["theta"]), g3(g0), g3(g1), f"×{g1 / g0:.0f}", g3(px)])
    head = ["seed", "θ at the end (z's units)", "read-out gain, untrained", "read-out gain, trained", "gain rose",
            "θ / gain (true px)"]  # fmt: skip
    return _table(head, rows)


def settings_table(study: dict) -> str:
    """The quick scale's study (``benchmarks/default_scale.py``): each setting's RBF, untrained and linear errors
    over the same seeds, and on how many seeds each comparison holds."""
    rows = []
    for s in study.values():
        m = {k: s["methods"][k]["l2_per_seed"] for k in ("rbf", "untrained", "linear")}
        n = len(m["rbf"])
        cell = {k: f"{g3(seeds_summary(v)['mean'])} {_interval(seeds_summary(v)['lo'], seeds_summary(v)['hi'])}"
                for k, v in m.items()}  # fmt: skip
        beats = sum(r < u for r, u in zip(m["rbf"], m["untrained"]))
        worse = sum(li > u for li, u in zip(m["linear"], m["untrained"]))
        lr = "App. D (0.005 for all)" if s["coupling_lr"] is None else f"log θ at {s['coupling_lr']:g}"
        theta = s["methods"]["rbf"]["theta_end_per_seed"]
        rows.append([f"{s['frames']} frames, θ₀ = {s['theta0']:g}, {lr}", f"{g3(min(theta))}–{g3(max(theta))}",
                     cell["rbf"], cell["untrained"], cell["linear"], f"{beats}/{n}", f"{worse}/{n}"])  # fmt: skip
    head = ["setting (64 px, 8 px balls, 30 epochs)", "RBF's θ at the end (z's units)", "RBF", "untrained", "linear",
            "RBF < untrained", "linear > untrained"]  # fmt: skip
    return _table(head, rows)


def builds_table(old: dict, new: dict) -> str:
    """One configuration and seed run by two builds of the engine: how far each method's runs moved."""
    rows = []
    for m in ORDER:
        a, b = (
            old["methods"][m]["l2_per_seed"],
            new["methods"][m]["l2_per_seed"][: len(old["methods"][m]["l2_per_seed"])],
        )
        moved = max(abs(x - y) for x, y in zip(a, b))
        rows.append([LABELS[m], ", ".join(g3(x) for x in a), ", ".join(g3(x) for x in b),
                     g3(moved) if moved >= 1e-3 else "< 0.001"])  # fmt: skip
    return _table(["method", "earlier build (per seed, px)", "later build", "largest move (px)"], rows)


# The sensitivity study's settings, labelled with θ₀ in z's units (the text file's labels call them px).
SENSITIVITY_LABELS = {
    "RBF, θ₀ = 0.1 px (0.0125 step)": "RBF, θ₀ = 0.1 (z's units)",
    "RBF, θ₀ = 1 px (0.125 step)": "RBF, θ₀ = 1",
    "RBF, θ₀ = 4 px (step/2)": "RBF, θ₀ = 4",
    "RBF, θ₀ = 8 px (one step)": "RBF, θ₀ = 8",
    "RBF, z in frame units, θ₀ = 0.1 px": "RBF, z divided by 64, θ₀ = 0.1/64",
    "linear, W₀ = 1e-3·I, z in px": "linear, W₀ = 10⁻³·I",
    "linear, W₀ = 0.1·I, z in px": "linear, W₀ = 0.1·I",
    "linear, W₀ = I, z in px": "linear, W₀ = I",
    "linear, W₀ = 1e-3·I, z in frame units": "linear, z divided by 64, W₀ = 10⁻³·I",
    "linear, W₀ = I, z in frame units": "linear, z divided by 64, W₀ = I",
    "supervised": "supervised",
    "untrained": "untrained",
}


def sensitivity_rows(text: str) -> list[tuple[str, float, float, str]]:
    """(setting, mean, half-width, end values) per row of ``sensitivity_quick_3seeds.txt``."""
    out = []
    for line in text.splitlines()[1:]:
        m = re.match(r"(.+?)\s{2,}([\d.]+) ± ([\d.]+)\s+[\d.]+ ± [\d.]+\s*(.*)$", line)
        if m:
            out.append((m.group(1).strip(), float(m.group(2)), float(m.group(3)), m.group(4).strip()))
    return out


def sensitivity_table(text: str) -> str:
    """The old default's sensitivity study (128 frames, App. D recipe, 3 seeds; ``benchmarks/sensitivity.py``)."""
    rows = [[SENSITIVITY_LABELS[s], f"{mean:.2f} [{mean - half:.2f}, {mean + half:.2f}]".replace("-", "−"), end]
            for s, mean, half, end in sensitivity_rows(text)]  # fmt: skip
    return _table(["setting (128 frames, App. D recipe)", "L2 (px), mean [95 % interval]", "end values, seed 0"], rows)


def untrained_table(doc: dict) -> str:
    """The untrained control over many seeds (``benchmarks/untrained_paper.py``)."""
    v = doc["methods"]["untrained"]["l2_per_seed"]
    s = seeds_summary(v)
    under = sum(x < 1 for x in v)
    rows = [[str(len(v)), ", ".join(g3(x) for x in v), f"{under} of {len(v)}", f"{g3(min(v))}–{g3(max(v))}",
             f"{g3(s['mean'])} {_interval(s['lo'], s['hi'])}"]]  # fmt: skip
    return _table(["seeds", "per seed (px)", "under 1 px", "range", "mean [95 % interval]"], rows)


def chaos_table(doc: dict) -> str:
    """A chaotic configuration as a distribution (``benchmarks/chaos.py``): per coupling, every run (each seed as it
    is and under 10⁻⁶ nudges of its initial weights) as median and range, the spread within a seed and between seeds."""
    rows = []
    for name, c in doc["couplings"].items():
        s = c["summary"]
        within = s["within_seed_spread_px"]
        rows.append([name, str(s["runs"]), g3(s["median"]), _interval(s["min"], s["max"]),
                     f"{g3(min(within))}–{g3(max(within))}", g3(s["between_seed_spread_px"])])  # fmt: skip
    head = ["coupling", "runs", "median L2 (px)", "range (px)", "spread within a seed (px)", "between seeds (px)"]
    return _table(head, rows)


def tables() -> dict[str, str]:
    """Every table by name, from the stored JSON: the names the documents' ``<!-- table: NAME -->`` markers use."""
    paper, quick, old = load("reproduce_paper_3seeds.json"), load("reproduce_quick_5seeds.json"), None
    old = load("reproduce_quick_3seeds.json")
    study = load("default_scale_5seeds.json")
    out = {
        "paper_methods": methods_table(paper),
        "paper_paired": paired_table(paper),
        "quick_methods": methods_table(quick),
        "quick_paired": paired_table(quick),
        "quick_theta": theta_table(quick),
        "quick_settings": settings_table(study),
        "builds": builds_table(old, study["a"]),
        "sensitivity": sensitivity_table((RESULTS / "sensitivity_quick_3seeds.txt").read_text()),
    }
    if (RESULTS / "chaos_quick.json").exists():
        out["chaos"] = chaos_table(load("chaos_quick.json"))
    if (RESULTS / "untrained_paper_10seeds.json").exists():
        out["paper_untrained"] = untrained_table(load("untrained_paper_10seeds.json"))
    return out


def ordered_on_every_seed(doc: dict, order=ORDER) -> int:
    """On how many seeds the methods' errors come in ``order`` (supervised < RBF < untrained < linear)."""
    per = [doc["methods"][m]["l2_per_seed"] for m in order]
    return sum(all(a < b for a, b in zip(col, col[1:])) for col in zip(*per))


def headline(doc: dict) -> str:
    """The quick scale's result in one sentence, from its JSON."""
    per = {m: dict(enumerate(doc["methods"][m]["l2_per_seed"])) for m in ORDER}
    n = len(per["rbf"])
    r, li = paired_change(per["untrained"], per["rbf"]), paired_change(per["untrained"], per["linear"])
    return (
        f"On {ordered_on_every_seed(doc)} of {n} seeds: supervised < RBF < untrained < linear. From the same untrained "
        f"start (one seed, one initial encoder), RBF training lowered the error on {r['lower']} of {n} seeds "
        f"({signed(r['mean'])} px, paired 95 % interval [{signed(r['lo'])}, {signed(r['hi'])}]) and linear training "
        f"raised it on {li['higher']} of {n} ({signed(li['mean'])} px [{signed(li['lo'])}, {signed(li['hi'])}])."
    )


def claims() -> dict[str, str]:
    """Sentences the documents mark with ``<!-- claim: NAME -->`` on the line before them."""
    out = {"quick_headline": headline(load("reproduce_quick_5seeds.json"))}
    if (RESULTS / "untrained_paper_10seeds.json").exists():
        v = load("untrained_paper_10seeds.json")["methods"]["untrained"]["l2_per_seed"]
        out["paper_untrained"] = (
            f"At the paper's scale the untrained encoder alone is under 1 px on {sum(x < 1 for x in v)} of "
            f"{len(v)} seeds ({g3(min(v))}–{g3(max(v))} px)."
        )
    return out


def marked_claims(markdown: str) -> dict[str, str]:
    """The sentences a document marks with ``<!-- claim: NAME -->``: {NAME: the next line}."""
    lines = markdown.splitlines()
    return {
        m.group(1): lines[i + 1].strip()
        for i, line in enumerate(lines)
        if (m := re.fullmatch(r"<!-- claim: (\w+) -->", line.strip())) and i + 1 < len(lines)
    }


def marked_tables(markdown: str) -> dict[str, str]:
    """The tables a document marks with ``<!-- table: NAME -->`` on the line before them: {NAME: table text}."""
    out = {}
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        m = re.fullmatch(r"<!-- table: (\w+) -->", line.strip())
        if m:
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            out[m.group(1)] = "\n".join(lines[i + 1 : j])
    return out


if __name__ == "__main__":
    for name, table in tables().items():
        print(f"<!-- table: {name} -->\n{table}\n")
    for name, claim in claims().items():
        print(f"<!-- claim: {name} -->\n{claim}\n")
