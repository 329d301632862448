"""The run store's edges: prune by last use (never a run being read, never a pinned one), leftover tmp entries,
read-only and uncreatable roots, runs whose metrics lack a field, and the index that spares list_runs from reading
every run.json."""

import json
import os
import threading
import time

import pytest

import rpm_engine.store as store_module
from rpm_engine import RunConfig, VideoConfig, obtain
from rpm_engine.store import CorruptRun, RunStore, StoreError

TINY = VideoConfig(frames=24, size=32, diameter=6)


def tiny(seed=0, theta=0.5):
    return RunConfig.of("rbf", video=TINY, epochs=1, seed=seed, theta=theta)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three tiny trained runs, saved once; each test copies them into its own store (no training per test)."""
    store = RunStore(tmp_path_factory.mktemp("seed"))
    return [obtain(tiny(seed=s), store) for s in range(3)]


def fill(root, runs):
    store = RunStore(root)
    for r in runs:
        store.save(r)
        time.sleep(0.01)  # distinct last-use times
    return store


def test_prune_goes_by_last_use_not_by_last_write(tmp_path, trained):
    store = fill(tmp_path, trained)
    a, b, c = (r.key for r in trained)
    assert store.load(a) is not None  # the oldest written run is used again: it is now the most recent
    smallest = min(r["bytes"] for r in store.list_runs())
    removed = store.prune(store.size_bytes() - smallest)  # room for one run to go
    assert removed == [b] and a in store and c in store


def test_pinned_runs_are_never_pruned(tmp_path, trained):
    store = fill(tmp_path, trained)
    a, b, c = (r.key for r in trained)
    store.pin(a)
    assert store.pinned() == {a}
    assert sorted(store.prune(0)) == sorted([b, c]) and a in store
    assert RunStore(tmp_path).pinned() == {a}  # a marker on disk, not state in one process
    store.unpin(a)
    assert store.prune(0) == [a]
    with pytest.raises(KeyError, match="no stored run"):
        store.pin("0" * 24)


def test_a_run_being_read_is_never_pruned(tmp_path, trained, monkeypatch):
    """A reader is half-way through a run's files when prune runs: prune skips it and the reader gets the run."""
    store = fill(tmp_path, trained[:1])
    key = trained[0].key
    reading, pruned = threading.Event(), threading.Event()
    real = store_module._sha256

    def slow_sha(data):
        if not reading.is_set():
            reading.set()
            pruned.wait(10)  # hold the reader between its first and second file while prune runs
        return real(data)

    monkeypatch.setattr(store_module, "_sha256", slow_sha)
    out = {}

    def reader():
        try:
            out["run"] = store.load(key)
        except Exception as exc:  # noqa: BLE001 - the test reports what the reader got
            out["error"] = exc

    t = threading.Thread(target=reader)
    t.start()
    assert reading.wait(10)
    removed = store.prune(0)
    pruned.set()
    t.join(10)
    assert removed == [] and "error" not in out and out["run"].key == key
    assert store.prune(0) == [key] and key not in store  # once nobody reads it, it goes


def test_leftover_tmp_entries_are_counted_and_old_ones_cleaned_at_open(tmp_path, trained):
    store = fill(tmp_path, trained[:1])
    base = store.size_bytes()
    old, fresh = tmp_path / "tmp" / "abc.dead", tmp_path / "tmp" / "def.busy"
    for d in (old, fresh):
        d.mkdir()
        (d / "z.npy").write_bytes(b"x" * 1000)
    hour_ago = time.time() - 3600
    os.utime(old / "z.npy", (hour_ago, hour_ago))
    os.utime(old, (hour_ago, hour_ago))
    assert store.size_bytes() == base + 2000  # tmp counts against the store's size
    reopened = RunStore(tmp_path)
    assert not old.exists() and fresh.exists()  # a save in progress (or a kill minutes ago) is left alone
    assert reopened.size_bytes() == base + 1000


def test_a_read_only_store_loads_and_lists_and_refuses_writes_without_paths(tmp_path, trained):
    fill(tmp_path / "shared", trained[:2])
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "shared").rglob("*"))
    ro = RunStore(tmp_path / "shared", read_only=True)
    assert ro.read_only and ro.load(trained[0].key).key == trained[0].key
    assert {r["key"] for r in ro.list_runs()} == {r.key for r in trained[:2]}
    for write in (lambda: ro.save(trained[2]), lambda: ro.delete(trained[0].key), lambda: ro.prune(0),
                  lambda: ro.pin(trained[0].key), lambda: obtain(tiny(seed=5), ro)):  # fmt: skip
        with pytest.raises(StoreError) as err:
            write()
        assert str(tmp_path) not in str(err.value) and "read-only" in str(err.value)
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "shared").rglob("*")) == before  # nothing written


def test_a_root_that_cannot_be_created_is_an_empty_read_only_store(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = RunStore(blocker / "store")  # mkdir fails (NotADirectoryError): no exception, just read-only
    assert store.read_only and store.list_runs() == [] and store.load("0" * 24) is None and store.size_bytes() == 0
    with pytest.raises(StoreError) as err:
        obtain(tiny(), store)
    assert str(tmp_path) not in str(err.value)


@pytest.mark.parametrize("drop", ["l2_mean", "l2_per_ball", "final_loss", "train_seconds"])
def test_a_run_whose_metrics_lack_a_field_is_corrupt_and_listed_as_broken(tmp_path, trained, drop):
    store = fill(tmp_path, trained[:2])
    bad = trained[0].key
    path = store.path(bad) / "run.json"
    meta = json.loads(path.read_text())
    del meta["metrics"][drop]
    path.write_text(json.dumps(meta))
    with pytest.raises(CorruptRun, match=drop):
        store.load(bad)
    assert [r["key"] for r in store.list_runs()] == [trained[1].key]
    assert [b["key"] for b in store.list_broken()] == [bad]
    assert obtain(trained[0].config, store).rebuilt  # and training replaces it


def test_wrong_shaped_metrics_are_corrupt(tmp_path, trained):
    store = fill(tmp_path, trained[:1])
    path = store.path(trained[0].key) / "run.json"
    meta = json.loads(path.read_text())
    meta["metrics"]["l2_per_ball"] = [1.0, 2.0]  # three balls
    path.write_text(json.dumps(meta))
    with pytest.raises(CorruptRun, match="l2_per_ball"):
        store.load(trained[0].key)


def test_list_runs_reads_each_run_json_once_then_uses_the_index(tmp_path, trained, monkeypatch):
    fill(tmp_path, trained[:2])
    reads = []
    real = store_module._read_meta
    monkeypatch.setattr(store_module, "_read_meta", lambda d: reads.append(d.name) or real(d))
    first = RunStore(tmp_path)
    assert len(first.list_runs()) == 2
    first.list_runs()
    fresh = RunStore(tmp_path)  # a restarted server: the index on disk, not every run.json
    assert len(fresh.list_runs()) == 2
    assert len(reads) <= 2, reads
    reads.clear()
    other = RunStore(tmp_path)  # another process adds a run and deletes one
    other.save(trained[2])
    other.delete(trained[0].key)
    assert {r["key"] for r in first.list_runs()} == {trained[1].key, trained[2].key}
    assert reads == [trained[2].key]  # only the new run's file was read
    (tmp_path / "index.json").unlink()  # a lost index is rebuilt
    assert {r["key"] for r in RunStore(tmp_path).list_runs()} == {trained[1].key, trained[2].key}
    assert (tmp_path / "index.json").exists()
    (tmp_path / "index.json").write_text("{garbage")  # and so is a damaged one
    assert len(RunStore(tmp_path).list_runs()) == 2
