"""The sweep command checks --json and --csv before any training (one line, exit 2: one file twice however spelled,
a directory), and turns running out of memory into one line and exit 2 (other failures stay exit 1)."""

import pytest

from rpm_service import sweep_cli

ARGS = ["sweep", "--coupling", "rbf", "--seeds", "1", "--frames", "24", "--size", "32", "--diameter", "6"]
ARGS += ["--epochs", "1", "--quiet"]


def fail_with(monkeypatch, exc):
    def run_sweep(*args, **kwargs):
        raise exc

    monkeypatch.setattr(sweep_cli, "run_sweep", run_sweep)


def one_line(capsys, code: int, want: int, needle: str) -> None:
    err = capsys.readouterr().err
    assert code == want and err.startswith("error: ") and len(err.strip().splitlines()) == 1 and needle in err, err


@pytest.mark.parametrize(
    "outputs, needle",
    [
        (["--json", "s.json", "--csv", "./sub/../s.json"], "--csv: './sub/../s.json' is the same file as --json"),
        (["--json", "."], "--json: '.' is a directory"),
        (["--json", "s.json", "--csv", "missing/s.csv"], "--csv: the folder"),
    ],
)
def test_outputs_are_checked_before_training(tmp_path, tmp_cache, capsys, monkeypatch, outputs, needle):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    fail_with(monkeypatch, AssertionError("trained before the outputs were checked"))
    one_line(capsys, sweep_cli.main([*ARGS, *outputs]), 2, needle)
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize(
    "exc, code, needle",
    [
        (MemoryError(), 2, "out of memory"),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"), 2, "out of memory"),
        (RuntimeError("a bug"), 1, "a bug"),
    ],
)
def test_out_of_memory_is_one_line_and_exit_2(tmp_path, tmp_cache, capsys, monkeypatch, exc, code, needle):
    fail_with(monkeypatch, exc)
    one_line(capsys, sweep_cli.main([*ARGS, "--json", str(tmp_path / "s.json")]), code, needle)
    assert not (tmp_path / "s.json").exists()
