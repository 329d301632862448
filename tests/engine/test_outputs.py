"""A command's output paths (rpm_engine.outputs): refused before training when two name one file (two spellings, a
symlink, a hard link), when one is a directory or a device, or its folder is missing or read-only; written whole and
through a symlink onto its target, the link left a link."""

import os
import stat
from pathlib import Path

import pytest

from rpm_engine import outputs
from rpm_engine.outputs import check_outputs, write_atomic


def refused(paths: dict, needle: str, flag: str, **kw) -> None:
    with pytest.raises(ValueError, match=needle) as e:
        check_outputs(paths, **kw)
    assert str(e.value).startswith(f"{flag}: ") and "\n" not in str(e.value)


def test_fresh_paths_pass_and_come_back_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = check_outputs({"--json": "a.json", "--csv": tmp_path / "a.csv", "--out": None})
    assert got == {"--json": tmp_path.resolve() / "a.json", "--csv": tmp_path.resolve() / "a.csv"}


def test_one_file_named_twice_is_refused(tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    refused({"--json": "out/r.json", "--csv": str(tmp_path / "out" / ".." / "out" / "r.json")}, "same file", "--csv")
    (tmp_path / "r.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "r.json")
    refused({"--json": "r.json", "--csv": "link.json"}, "is the same file as --json", "--csv")
    os.link(tmp_path / "r.json", tmp_path / "hard.json")
    refused({"--json": "r.json", "--csv": "hard.json"}, "same file", "--csv")
    (tmp_path / "dangling.json").symlink_to(tmp_path / "new.json")  # not there yet: the same file all the same
    refused({"--json": "new.json", "--csv": "dangling.json"}, "same file", "--csv")


def test_directories_devices_missing_and_read_only_folders_are_refused(tmp_path, monkeypatch):
    refused({"--json": tmp_path}, "is a directory", "--json")
    (tmp_path / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    refused({"--json": tmp_path / "dirlink"}, "is a directory", "--json")
    refused({"--json": "/dev/null"}, "not a regular file", "--json")
    refused({"--csv": tmp_path / "no" / "such" / "r.csv"}, "does not exist", "--csv")
    assert check_outputs({"--csv": tmp_path / "no" / "such" / "r.csv"}, make_dirs=True)  # created by the command
    (tmp_path / "file").write_text("x")
    refused({"--json": tmp_path / "file" / "r.json"}, "is not a folder", "--json")
    refused({"--json": tmp_path / "file" / "sub" / "r.json"}, "is not a folder", "--json", make_dirs=True)
    refused({"--json": ""}, "an empty path", "--json")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(outputs.os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    refused({"--json": locked / "r.json"}, "permission denied", "--json")  # root may write anywhere: as a user would


def test_write_atomic_writes_through_a_symlink_onto_its_target(tmp_path):
    data, links = tmp_path / "data", tmp_path / "links"
    data.mkdir()
    links.mkdir()
    target = data / "r.json"
    target.write_text("old")
    target.chmod(0o640)
    link = links / "r.json"
    link.symlink_to(target)
    assert write_atomic(link, "new") == target.resolve()
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link is still the same link
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in data.iterdir()) == ["r.json"] and sorted(p.name for p in links.iterdir()) == [
        "r.json"
    ]
    dangling = links / "later.json"
    dangling.symlink_to(data / "later.json")
    write_atomic(dangling, "made")
    assert dangling.is_symlink() and (data / "later.json").read_text() == "made"


def test_write_atomic_refuses_a_directory_and_leaves_nothing(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "d", "x")
    with pytest.raises(OSError, match="not a regular file"):
        write_atomic("/dev/null", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["d"] and not list((tmp_path / "d").iterdir())
    write_atomic(tmp_path / "new" / "deep" / "f.txt", "ok")  # folders are created
    assert (tmp_path / "new" / "deep" / "f.txt").read_text() == "ok"
