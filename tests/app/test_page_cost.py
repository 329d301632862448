"""What a page run does not redo (issue 20: a page run's server CPU): Home's shared figures are turned into Plotly's
dict once per server and sent unchanged; what every visitor sees alike is derived once per listing of the stores and
again after a run is added; no page relies on Streamlit's "magic", which the server's config switches off."""

import ast
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import tomllib

from explorer import charts
from explorer.catalog import Catalog
from rpm_engine.store import RunStore

REPO = Path(__file__).resolve().parents[2]


def painted(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _clear_figures() -> None:
    from explorer import ui

    for cached in (ui._shared, ui.prior_figure, ui.centres_figure):
        cached.clear()


def test_home_turns_each_shared_figure_into_a_dict_once(app, monkeypatch):
    made = []
    original = go.Figure.to_dict

    def counted(self):
        made.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(go.Figure, "to_dict", counted)
    _clear_figures()
    sessions = [painted(app()) for _ in range(3)]  # three visitors, each drawing C, D, E and B
    assert all(len(at.get("plotly_chart")) == 4 for at in sessions)
    assert made == ["FrozenFigure"] * 4  # C, D, E, B: once per server, not once per page run (12)


def test_home_sends_the_same_charts_as_plain_figures_would(app, monkeypatch):
    _clear_figures()
    frozen = [c.proto.spec for c in painted(app()).get("plotly_chart")]
    monkeypatch.setattr(charts, "frozen", lambda fig: fig)  # the figures as built, turned into a dict every run
    _clear_figures()
    plain = [c.proto.spec for c in painted(app()).get("plotly_chart")]
    assert len(frozen) == 4 and frozen == plain  # byte for byte
    _clear_figures()


def test_a_frozen_figure_serialises_as_the_figure_it_was():
    fig = go.Figure(go.Heatmap(z=[[0.1, 0.2], [0.3, 0.4]]), layout=dict(height=300))
    before = pio.to_json(fig.to_dict(), validate=False)
    frozen = charts.frozen(fig)
    assert frozen is fig and isinstance(frozen, go.Figure)
    assert frozen.to_dict() is frozen.to_dict()  # made once
    assert pio.to_json(frozen.to_dict(), validate=False) == before  # byte for byte, uids removed or not
    assert pio.to_json(frozen.to_dict(), validate=False) == before


def test_derived_values_follow_the_store(tmp_path):
    store = RunStore(tmp_path / "store")
    cat = Catalog([("yours", store)])
    calls = []

    def count(entries):
        calls.append(len(entries))
        return len(entries)

    assert cat.derived("n", count) == 0 and cat.derived("n", count) == 0
    assert calls == [0]  # once per listing
    (store.root / "runs" / "0123456789abcdef01234567").mkdir(parents=True)  # the runs/ folder changes
    cat.derived("n", count)
    assert calls == [0, 0]  # a new listing: derived again


def test_no_page_relies_on_magic_which_the_server_switches_off():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False
    for path in [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call | ast.Await):
                is_docstring = node is tree.body[0] and isinstance(node.value, ast.Constant)
                assert is_docstring, f"{path.name}:{node.lineno}: a bare expression would be written by magic"
