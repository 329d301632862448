"""Home draws its first chart without PyTorch (issue 10 §4: the first chart at once; importing torch takes seconds).

The page runs in a fresh interpreter in which ``import torch`` fails. Everything up to Fig. 1C must still be drawn
from the shipped runs; only what runs an encoder (the priors D/E, the read-outs B) may need torch, and it comes
after. The same interpreter also shows that listing the runs and reading the limits load no torch.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys


class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")


sys.meta_path.insert(0, NoTorch())
import rpm_engine.data
from streamlit.testing.v1 import AppTest

rendered = []
draw = rpm_engine.data.render_frames
rpm_engine.data.render_frames = lambda *a, **k: rendered.append(1) or draw(*a, **k)

at = AppTest.from_file("app.py", default_timeout=120)
at.run()
charts = [c.proto.id for c in at.get("plotly_chart")]
print(json.dumps({
    "charts": len(charts),
    "first_chart_key": next((c for c in charts if "home_bars" in c), None) is not None,
    "exception": [e.value for e in at.exception][:1],
    "captions": [c.value for c in at.caption][:40],
    "torch": "torch" in sys.modules,
    "frames_rendered": len(rendered),
}))
"""


def test_home_draws_fig_1c_before_it_needs_torch():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["charts"] == 1 and seen["first_chart_key"], seen  # Fig. 1C, and nothing that runs an encoder
    assert any("Held-out" in c or "held-out" in c for c in seen["captions"]), seen["captions"]
    assert not seen["torch"]  # D/E and B were not drawn: opening a run's networks needs torch
    assert seen["frames_rendered"] == 0  # C's predict-the-mean line needs the trajectories, not a rendered video


def test_listing_runs_and_reading_limits_load_no_torch():
    code = (
        "import sys\n"
        "from rpm_engine.store import RunStore\n"
        "from explorer.catalog import SHIPPED_ROOT\n"
        "from rpm_service.limits import Limits\n"
        "import explorer.state, explorer.home, explorer.charts\n"
        "runs = RunStore(SHIPPED_ROOT, read_only=True).list_runs()\n"
        "Limits.load()\n"
        "print(len(runs), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    n, torch_loaded = out.stdout.split()
    assert int(n) >= 8 and torch_loaded == "False"
