"""The command line checks its output paths before training (one line, exit 2, nothing trained), writes its JSON
through a symlink onto the target, and turns running out of memory into one line and exit 2."""

import json

import pytest

from rpm_engine import cli
from rpm_engine.cli import main

VIDEO = ["--frames", "40", "--size", "32", "--diameter", "6"]
TRAIN = ["train", "--coupling", "rbf", *VIDEO, "--epochs", "1", "--quiet"]


@pytest.fixture
def no_training(monkeypatch):
    def trained(*args, **kwargs):
        raise AssertionError("trained before the outputs were checked")

    monkeypatch.setattr(cli, "obtain", trained)
    monkeypatch.setattr(cli.rep, "reproduce", trained)


def one_line_exit_2(capsys, code: int, needle: str) -> None:
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1 and needle in err, err


def test_bad_outputs_are_refused_before_training(tmp_path, tmp_cache, capsys, no_training):
    one_line_exit_2(capsys, main([*TRAIN, "--json", str(tmp_path)]), "--json: ")
    one_line_exit_2(capsys, main([*TRAIN, "--json", str(tmp_path / "no" / "r.json")]), "does not exist")
    (tmp_path / "out").write_text("a file where the figures' folder should be")
    one_line_exit_2(capsys, main(["reproduce", "--quick", "--out", str(tmp_path / "out"), "--quiet"]), "not a folder")
    out = tmp_path / "figs"
    argv = ["reproduce", "--quick", "--out", str(out), "--json", str(out / "l2_bars.png"), "--quiet"]
    one_line_exit_2(capsys, main(argv), "same file")
    one_line_exit_2(capsys, main(["generate", *VIDEO, "--out", str(tmp_path)]), "is a directory")


def test_the_json_is_written_through_a_symlink(tmp_path, tmp_cache):
    (tmp_path / "results").mkdir()
    target = tmp_path / "results" / "r.json"
    target.write_text("{}")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    assert main([*TRAIN, "--json", str(link)]) == 0
    assert link.is_symlink() and json.loads(target.read_text())["steps"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "results", "rpm_cache"]


@pytest.mark.parametrize(
    "exc",
    [MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")],
)
def test_out_of_memory_is_one_line_and_exit_2(tmp_cache, capsys, monkeypatch, exc):
    def obtain(*args, **kwargs):
        raise exc

    monkeypatch.setattr(cli, "obtain", obtain)
    one_line_exit_2(capsys, main(TRAIN), "out of memory")


def test_other_runtime_errors_are_not_called_memory(tmp_cache, monkeypatch):
    def obtain(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "obtain", obtain)
    with pytest.raises(RuntimeError, match="a bug"):
        main(TRAIN)
