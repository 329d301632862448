"""Issue 16's acceptance: the same sweep asked for on the Explore page and by the documented CLI command is the same
runs (keys) and gets the same ranking, because both build runs through one recipe and rank with one function."""

from explorer.catalog import Catalog
from explorer.explore import ExploreState, FamilyRow, build_sweep
from explorer.sweep_view import Filters, groups, leaderboard
from rpm_engine import RunStore, VideoConfig
from rpm_engine.sweep import plan
from rpm_service.cli import build_parser
from rpm_service.limits import Limits
from rpm_service.sweep_cli import sweep_from_args
from rpm_service.sweeps import run_sweep

VIDEO = VideoConfig(frames=40, size=32, diameter=6)  # small enough for 1-epoch runs in a fraction of a second
CLI = ["sweep", "--coupling", "rbf", "--param", "theta=0.1,0.3", "--coupling", "linear", "--seeds", "3"]
CLI += ["--frames", "40", "--size", "32", "--diameter", "6", "--epochs", "1", "--json", "unused.json"]
APP = ExploreState(families=(FamilyRow("rbf", "theta", "0.1,0.3"), FamilyRow("linear")), seeds="0-2", epochs=1)


def test_the_app_and_the_cli_plan_the_same_runs():
    app = build_sweep(APP, VIDEO, Limits())
    cli = sweep_from_args(build_parser().parse_args(CLI))
    assert cli.recipe.name == app.recipe.name == "quick"  # the CLI's default recipe is the app's
    assert [c.key() for c in plan(app)] == [c.key() for c in plan(cli)]
    assert {c.train.coupling_lr for c in plan(cli) if c.coupling and c.coupling.spec == "rbf"} == {0.5}


def test_the_app_and_the_cli_rank_the_same_sweep_alike(tmp_path):
    store = RunStore(tmp_path / "store")
    result = run_sweep(sweep_from_args(build_parser().parse_args(CLI)), "local", store)
    cli_order = [row["keys"][0] for row in result.ranking]

    entries = Catalog([("yours", store)]).entries()
    board = leaderboard(groups(entries, VIDEO), Filters(references=False))
    app_order = [g.keys[0] for g in board.groups]
    assert app_order == cli_order
    app_verdicts = [(r.rank, r.comparison and r.comparison.separated) for r in board.ranking.rows]
    cli_verdicts = [(r["rank"], r["comparison"] and r["comparison"]["separated"]) for r in result.ranking]
    assert app_verdicts == cli_verdicts and (board.ranking.best is None) == ("is best" not in result.verdict)
