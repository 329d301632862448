"""Every number and comparative claim the README, docs/RESULTS.md and the pages' captions show is computed from the
runs it describes (assets/store) or the study JSON (benchmarks/results), or carries its source (issue 18).

* The documents' result tables and marked sentences are exactly what ``rpm_engine.results`` prints from the JSON,
  and no table of numbers in them is unmarked (so none escapes this check).
* ``rpm_engine.results`` itself is checked against the JSON with the statistics written out here.
* Captions built from the shipped runs (Priors' θ help, Compare's paired view, Train's recipe sentence) print only
  numbers recomputed here from the runs' files.
* The sentences issue 18 found contradicted by the runs stay gone.
"""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from explorer import paired, priors
from explorer.catalog import SHIPPED_ROOT, Catalog
from rpm_engine import results
from rpm_engine.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
DOCS = {"README.md": ROOT / "README.md", "docs/RESULTS.md": ROOT / "docs" / "RESULTS.md"}
T95 = {2: 4.303, 4: 2.776, 9: 2.262}  # two-sided 95 % Student-t quantiles (tables) by degrees of freedom


def numbers(text: str) -> list[float]:
    return [float(x.replace("−", "-")) for x in re.findall(r"[−+-]?\d+(?:\.\d+)?", text)]


def close(printed: float, value: float) -> bool:
    """``printed`` is ``value`` to the 3 significant digits (or 2 decimals) it was printed with."""
    return math.isclose(printed, value, rel_tol=6e-3, abs_tol=6e-3)


def t_interval(v):
    v = np.asarray(v, dtype=float)
    half = T95[v.size - 1] * v.std(ddof=1) / math.sqrt(v.size)
    return v.mean(), v.mean() - half, v.mean() + half


def table_rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


@pytest.mark.parametrize("name", DOCS)
def test_every_marked_table_and_sentence_is_what_the_json_gives(name):
    text = DOCS[name].read_text()
    tables, claims = results.marked_tables(text), results.marked_claims(text)
    assert tables or claims, f"{name} marks no result"
    expected_tables, expected_claims = results.tables(), results.claims()
    for key, table in tables.items():
        assert table == expected_tables[key], f"{name}: table {key} differs from `python -m rpm_engine.results`"
    for key, sentence in claims.items():
        assert sentence == expected_claims[key], f"{name}: sentence {key} differs from `python -m rpm_engine.results`"


@pytest.mark.parametrize("name", DOCS)
def test_no_table_of_numbers_is_unmarked(name):
    lines = DOCS[name].read_text().splitlines()
    marked, inside = set(), False
    for i, line in enumerate(lines):
        if line.startswith("|"):
            inside = inside or (i > 0 and lines[i - 1].startswith("<!-- table:"))
            if inside:
                marked.add(i)
        else:
            inside = False
    for i, line in enumerate(lines):
        if line.startswith("|") and i not in marked:
            assert not re.search(r"\d\.\d|\d px", line), f"{name}:{i + 1} a table of numbers without a source: {line}"


def test_the_readme_is_a_front_door():
    text = DOCS["README.md"].read_text()
    assert len(text.encode()) <= 10_500, "the README is a front door (issue 17: about 10 KB at most)"
    assert "pip install -r requirements.txt && streamlit run app.py" in text
    assert "pip install -r requirements-dev.txt && python -m pytest" in text  # .ci/run runs this line
    image = re.search(r"!\[[^\]]*\]\(([^)]+)\)", text).group(1)
    assert (ROOT / image).is_file() and (ROOT / image).stat().st_size <= 200_000
    for link in re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)", text):
        assert (ROOT / link).exists(), f"README links to a missing {link}"


# -- the generator against the JSON, with the statistics written out here -----------------------------------------
def test_the_methods_tables_recompute_from_the_reproduce_json():
    for name, key in (
        ("reproduce_quick_5seeds.json", "quick_methods"),
        ("reproduce_paper_3seeds.json", "paper_methods"),
    ):
        doc = json.loads((results.RESULTS / name).read_text())
        rows = {r[0]: r for r in table_rows(results.tables()[key])}
        for m, label in results.LABELS.items():
            v = doc["methods"][m]["l2_per_seed"]
            mean, lo, hi = t_interval(v)
            logs = np.log(v)
            gm, glo, ghi = (math.exp(x) for x in t_interval(logs))
            printed = numbers(" ".join(rows[label][1:]))
            assert all(close(p, x) for p, x in zip(printed, [mean, lo, hi, gm, glo, ghi, *v])), (name, m, printed)
            assert math.isclose(mean, doc["methods"][m]["l2_mean"], rel_tol=1e-9)  # the CLI's own mean


def test_the_paired_tables_recompute_from_the_reproduce_json():
    doc = json.loads((results.RESULTS / "reproduce_quick_5seeds.json").read_text())
    rows = {r[0]: r for r in table_rows(results.tables()["quick_paired"])}
    start = doc["methods"]["untrained"]["l2_per_seed"]
    for m in ("supervised", "rbf", "linear"):
        d = [b - a for a, b in zip(start, doc["methods"][m]["l2_per_seed"])]
        mean, lo, hi = t_interval(d)
        r = rows[results.LABELS[m]]
        assert all(close(p, x) for p, x in zip(numbers(" ".join(r[1:3])), [mean, lo, hi]))
        assert numbers(r[5]) == pytest.approx(d, rel=6e-3, abs=6e-3)
        assert r[4] == f"{sum(x < 0 for x in d)} lower, {sum(x > 0 for x in d)} higher"
    assert rows["linear"][4] == "0 lower, 5 higher" and rows["RBF"][4] == "5 lower, 0 higher"


def test_the_theta_table_is_in_z_units_and_the_gain_rises():
    doc = json.loads((results.RESULTS / "reproduce_quick_5seeds.json").read_text())
    rbf, start = doc["methods"]["rbf"], doc["methods"]["untrained"]
    for row, cv, g0, g1, px in zip(table_rows(results.tables()["quick_theta"]), rbf["coupling_values_per_seed"],
                                   start["readout_gain_per_seed"], rbf["readout_gain_per_seed"],
                                   rbf["theta_effective_px_per_seed"]):  # fmt: skip
        theta, gain0, gain1, rose, theta_px = numbers(" ".join(row[1:]))
        assert close(theta, cv["theta"]) and close(theta_px, cv["theta"] / g1) and close(theta_px, px)
        assert g1 > 40 * g0 and close(rose, round(g1 / g0))  # the gain rises in training: z does not shrink


def test_the_settings_table_counts_the_seeds_it_claims():
    study = json.loads((results.RESULTS / "default_scale_5seeds.json").read_text())
    for row, s in zip(table_rows(results.tables()["quick_settings"]), study.values()):
        m = {k: s["methods"][k]["l2_per_seed"] for k in ("rbf", "untrained", "linear")}
        assert row[-2] == f"{sum(a < b for a, b in zip(m['rbf'], m['untrained']))}/5"
        assert row[-1] == f"{sum(a > b for a, b in zip(m['linear'], m['untrained']))}/5"
    # Issue 18: "shorter videos let the untrained control beat RBF" is not in the study's JSON
    assert all(row[-2] == "5/5" for row in table_rows(results.tables()["quick_settings"]))


def test_the_untrained_paper_runs_repeat_the_reproduce_run_and_the_claim_counts_them():
    many = json.loads((results.RESULTS / "untrained_paper_10seeds.json").read_text())["methods"]["untrained"]
    three = json.loads((results.RESULTS / "reproduce_paper_3seeds.json").read_text())["methods"]["untrained"]
    assert many["l2_per_seed"][:3] == pytest.approx(three["l2_per_seed"], abs=0.01)  # another build, same runs
    v = many["l2_per_seed"]
    assert f"under 1 px on {sum(x < 1 for x in v)} of {len(v)} seeds" in results.claims()["paper_untrained"]


def test_the_headline_holds_seed_by_seed():
    doc = json.loads((results.RESULTS / "reproduce_quick_5seeds.json").read_text())
    per = [doc["methods"][m]["l2_per_seed"] for m in ("supervised", "rbf", "untrained", "linear")]
    n = sum(a < b < c < d for a, b, c, d in zip(*per))
    assert results.claims()["quick_headline"].startswith(f"On {n} of 5 seeds: supervised < RBF < untrained < linear")


# -- captions built from the shipped runs ------------------------------------------------------------------------
def shipped_files() -> dict[str, list[dict]]:
    """The shipped runs' run.json files, read directly, by method (rbf, linear, supervised, untrained)."""
    out = {}
    for f in sorted((SHIPPED_ROOT / "runs").glob("*/run.json")):
        d = json.loads(f.read_text())
        m = d["config"]["coupling"]["spec"] if d["config"]["coupling"] else d["config"]["train"]["method"]
        out.setdefault(m, []).append(d)
    return out


def test_the_priors_theta_help_prints_the_runs_numbers():
    runs = shipped_files()
    fig1 = Catalog([("shipped", RunStore(SHIPPED_ROOT, read_only=True))]).shipped_fig1()
    text = priors.theta_help(fig1)
    g0 = [r["metrics"]["readout_gain"] for r in runs["untrained"]]
    g1 = [r["metrics"]["readout_gain"] for r in runs["rbf"]]
    theta = [r["metrics"]["coupling_values"]["theta"] for r in runs["rbf"]]
    px = [r["metrics"]["theta_effective_px"] for r in runs["rbf"]]
    want = {f"{min(g0):.4f}", f"{max(g0):.4f}", f"{min(g1):.3f}", f"{max(g1):.3f}", f"{min(theta):.2f}",
            f"{max(theta):.2f}", f"{min(px):.1f}", f"{max(px):.1f}", str(len(runs["rbf"])), "8"}  # fmt: skip
    assert set(re.findall(r"\d+(?:\.\d+)?", text)) == want
    assert min(g1) > max(g0) and "rose" in text and "shrink" not in text


def test_compares_paired_caption_prints_the_runs_numbers():
    runs = shipped_files()
    entries = Catalog([("shipped", RunStore(SHIPPED_ROOT, read_only=True))]).entries()
    sel = [next(e for e in entries if e.method == m) for m in ("rbf", "linear")]
    groups, missing = paired.compare_groups(sel, entries, {e.key: "#000" for e in sel})
    text = paired.compare_caption(groups, missing)
    for g in groups:  # the configurations' names ('rbf (theta=0.1) · shipped') are not measurements
        assert "seed 0" not in g["label"]
        text = text.replace(g["label"], "")
    start = {r["config"]["train"]["seed"]: r["metrics"]["l2_mean"] for r in runs["untrained"]}
    want = {"5", "95"}
    for m in ("rbf", "linear"):
        d = [r["metrics"]["l2_mean"] - start[r["config"]["train"]["seed"]] for r in runs[m]]
        want |= {f"{abs(x):.2f}" for x in t_interval(d)}
    assert not missing and set(re.findall(r"\d+(?:\.\d+)?", text)) == want, text


def test_the_train_page_states_the_recipe_the_shipped_rbf_runs_used():
    text = (ROOT / "pages" / "3_train.py").read_text()
    assert "learning rate 0.005)" not in text  # issue 18: RBF's log θ learns at its own rate
    rbf = shipped_files()["rbf"][0]["config"]["train"]
    from rpm_engine.config import QUICK_RECIPE

    assert (QUICK_RECIPE.lr, QUICK_RECIPE.length_scale_lr) == (rbf["lr"], rbf["coupling_lr"])


RETRACTED = [  # issue 18: sentences the runs contradict, or thresholds with no source
    "training shrinks",
    "shrinks its read-out",
    "the best a read-out can do",
    "RBF ≤ 1 px",
    "beat RBF",
    "only linear in pixels is unstable",
    "rewards large coordinates",
    "says how much position information",
    "0.95 * m",
]


def test_the_retracted_sentences_stay_gone():
    files = [ROOT / "README.md", ROOT / "app.py", *(ROOT / "docs").glob("*.md"), *(ROOT / "explorer").glob("*.py"),
             *(ROOT / "pages").glob("*.py")]  # fmt: skip
    for f in files:
        text = f.read_text().lower()
        for sentence in RETRACTED:
            assert sentence.lower() not in text, f"{f.relative_to(ROOT)} says {sentence!r} again"
