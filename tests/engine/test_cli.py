"""The command line: exit codes, one-line errors and the JSON fields of SPEC §4."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rpm_engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
VIDEO = ["--frames", "40", "--size", "32", "--diameter", "6"]


def run_cli(*args, env_cache):
    env = {**os.environ, "RPM_ENGINE_CACHE": str(env_cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "rpm_engine", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


def test_help_for_every_command(tmp_path):
    for cmd in ([], ["generate"], ["train"], ["reproduce"]):
        r = run_cli(*cmd, "--help", env_cache=tmp_path)
        assert r.returncode == 0 and "usage" in r.stdout


def test_generate_npz_and_gif(tmp_path):
    out = tmp_path / "v.npz"
    assert main(["generate", *VIDEO, "--out", str(out)]) == 0
    d = np.load(out)
    assert d["frames"].shape == (40, 32, 32, 3) and d["centres"].shape == (40, 3, 2)
    assert main(["generate", *VIDEO, "--out", str(tmp_path / "v.gif")]) == 0
    assert (tmp_path / "v.gif").read_bytes()[:3] == b"GIF"


def test_train_json_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RPM_ENGINE_CACHE", str(tmp_path / "cache"))
    j = tmp_path / "r.json"
    args = ["train", "--coupling", "rbf", *VIDEO, "--epochs", "1", "--param", "theta=0.5", "--quiet", "--json", str(j)]
    assert main(args) == 0
    first = json.loads(j.read_text())
    for field in ("key", "cached", "l2_mean", "final_loss", "train_seconds", "steps"):
        assert field in first
    assert first["cached"] is False and first["steps"] > 0
    assert main(args) == 0
    second = json.loads(j.read_text())
    assert second["cached"] is True and second["key"] == first["key"] and second["l2_mean"] == first["l2_mean"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--coupling", "gausian", *VIDEO], "unknown coupling 'gausian'"),
        (["train", "--coupling", "-sum(z - zp", *VIDEO], "error: "),
        (["train", "--coupling", "z.__class__", *VIDEO], "attribute"),
        (["train", "--coupling", "rbf", "--frames", "1"], "--frames: must be between 16"),
        (
            ["train", "--coupling", "rbf", "--balls", "40", "--size", "64", "--diameter", "16"],
            "--balls: must be between 1 and 6",
        ),
        (["train", "--coupling", "rbf", "--param", "theta"], "NAME=NUMBER"),
        (["train", "--coupling", "rbf", "--param", "theta=-1", *VIDEO], "positive"),
        (["train", "--coupling", "rbf", "--epochs", "-2", *VIDEO], "epochs"),
        (["train", "--coupling", "rbf", "--device", "cuda", *VIDEO], "cuda"),
        (["generate", *VIDEO, "--out", "x.txt"], ".npz or .gif"),
        (["reproduce", "--seeds", "0"], "seeds"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(tmp_path, args, needle):
    if "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
    r = run_cli(*args, "--quiet" if args[0] != "generate" else "--frames=40", env_cache=tmp_path)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert needle in lines[0] and "Traceback" not in r.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # nothing half-written was stored


def test_reproduce_json_shape(tmp_path, monkeypatch):
    """A tiny reproduce through the real code path (the quick scale is exercised by CI's README command)."""
    from rpm_engine import reproduce as rep
    from rpm_engine.data import VideoConfig

    tiny = dataclasses.replace(rep.QUICK_RECIPE, video=VideoConfig(frames=40, size=32, diameter=6), epochs=1)
    monkeypatch.setattr(rep, "QUICK_RECIPE", tiny)
    monkeypatch.setenv("RPM_ENGINE_CACHE", str(tmp_path / "cache"))
    j = tmp_path / "m.json"
    assert (
        main(["reproduce", "--quick", "--seeds", "2", "--out", str(tmp_path / "out"), "--json", str(j), "--quiet"]) == 0
    )
    data = json.loads(j.read_text())
    assert set(data["methods"]) == {"supervised", "rbf", "linear", "untrained"}
    for m in data["methods"].values():
        assert len(m["l2_per_seed"]) == 2 and len(m["l2_ci95"]) == 2 and m["l2_mean"] > 0
    assert data["references"]["predict_mean"] > 0 and data["references"]["step_px"] == 6.0
    assert data["config"]["recipe"] == "quick recipe" and data["config"]["length_scale_lr"] == 0.5
    assert all(t is None or t > 0 for t in data["methods"]["rbf"]["theta_effective_px_per_seed"])
    for name in ("l2_bars.png", "centres.png", "heatmap_rbf.png", "heatmap_linear.png"):
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"


def test_paper_recipe_is_app_d_at_the_quick_scale():
    from rpm_engine import reproduce as rep
    from rpm_engine.config import PAPER_RECIPE, QUICK_RECIPE

    app_d = rep.method_config("rbf", rep.recipe(quick=True, paper_recipe=True), 0)
    assert app_d.video == QUICK_RECIPE.video and app_d.train.epochs == QUICK_RECIPE.epochs
    assert app_d.train.coupling_lr is None and app_d.train.lr == 0.005
    quick = rep.method_config("rbf", rep.recipe(quick=True), 0)
    assert quick.train.coupling_lr == QUICK_RECIPE.length_scale_lr == 0.5
    assert rep.recipe(quick=False) is PAPER_RECIPE and PAPER_RECIPE.length_scale_lr is None


def test_an_expression_starting_with_minus_is_explained_and_accepted_with_equals(tmp_path):
    r = run_cli("train", "--coupling", "-sum(abs(z-zp))/theta", *VIDEO, "--quiet", env_cache=tmp_path)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "--coupling='-sum" in lines[0]
    r = run_cli("train", "--coupling=-sum(abs(z-zp))/theta", *VIDEO, "--epochs", "1", "--quiet", env_cache=tmp_path)
    assert r.returncode == 0, r.stderr
