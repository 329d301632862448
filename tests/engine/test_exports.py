"""One row per run for CSV and JSON (rpm_engine.exports): the columns an analyst expects, formula-like text
neutralised, and the CLI's ``sweep --csv/--json`` writing the same rows as the app."""

import csv
import io
import json

from rpm_engine import exports
from rpm_engine.config import PAPER_RECIPE, QUICK_RECIPE, QUICK_VIDEO
from rpm_engine.store import RunStore
from rpm_service import sweep_cli

EXPR = "-sum((z - zp)**2) / theta**2"


def test_one_row_per_run_with_every_parameter_its_own_column():
    rbf = QUICK_RECIPE.run_config("rbf", seed=2, epochs=3)
    lin = PAPER_RECIPE.run_config("linear", video=QUICK_VIDEO)
    sup = QUICK_RECIPE.run_config(None, method="supervised")
    metrics = {"l2_mean": 2.5, "final_mi": 1.25, "coupling_values": {"theta": 0.3}, "readout_gain": 2.0}
    rows = exports.run_rows([(rbf.key(), rbf, metrics), (lin.key(), lin, {"l2_mean": float("nan")}), ("s", sup, {})])
    assert list(rows[0]) == ["key", "family", "theta", "w_init", "lr", "batch_size", "coupling_lr", "recipe",
                             "epochs", "seed", "l2_px", "I_N_nats", "theta_px"]  # fmt: skip
    r, q, s = rows
    assert (r["family"], r["theta"], r["w_init"], r["recipe"], r["epochs"], r["seed"]) == (
        "rbf",
        0.1,
        None,
        "quick",
        3,
        2,
    )
    assert (r["l2_px"], r["I_N_nats"], r["theta_px"], r["coupling_lr"]) == (2.5, 1.25, 0.3 / 2.0, 0.5)
    assert (q["family"], q["w_init"], q["theta"], q["l2_px"], q["theta_px"]) == ("linear", 1e-3, None, None, None)
    assert (s["family"], s["theta"], s["l2_px"]) == ("supervised", None, None)
    back = json.loads(exports.to_json(rows, video=QUICK_VIDEO.to_dict()))
    assert back["runs"] == rows and back["video"]["frames"] == QUICK_VIDEO.frames


def test_formula_like_text_is_neutralised_in_the_csv():
    cfg = QUICK_RECIPE.run_config(EXPR)
    rows = exports.run_rows([(cfg.key(), cfg, {"l2_mean": 3.0, "final_mi": -0.5})])
    read = list(csv.DictReader(io.StringIO(exports.to_csv(rows))))
    assert read[0]["family"].startswith("'-") and read[0]["family"][1:] == cfg.coupling.spec
    assert read[0]["I_N_nats"] == "-0.5"  # numbers are numbers, never prefixed
    for text in ("=1+1", "+1", "-x", "@SUM(A1)"):
        assert exports.neutralise(text) == "'" + text
    assert exports.neutralise("rbf") == "rbf" and exports.neutralise(-1.0) == -1.0


def test_the_cli_writes_the_same_rows_as_the_app(tmp_cache, tmp_path):
    out, csv_path = tmp_path / "s.json", tmp_path / "s.csv"
    argv = ["sweep", "--coupling", EXPR, "--param", "theta=0.5", "--seeds", "1", "--no-references", "--quiet"]
    argv += ["--frames", "24", "--size", "32", "--diameter", "6", "--epochs", "1", "--json", str(out)]
    assert sweep_cli.main([*argv, "--csv", str(csv_path)]) == 0
    stored = RunStore().list_runs()
    assert len(stored) == 1
    expected = exports.run_rows((r["key"], r["config"], r["metrics"]) for r in stored)
    assert json.loads(out.read_text())["runs"] == expected
    assert csv_path.read_text() == exports.to_csv(expected)
    assert expected[0]["theta"] == 0.5 and expected[0]["l2_px"] > 0 and csv_path.read_text().count(",'-") == 1
