"""Training (determinism, progress, cancellation, failure) and the run store (atomic, locked, self-healing)."""

import json
import multiprocessing as mp
import sys
import threading
import time

import numpy as np
import pytest
import torch

from rpm_engine import (
    Cancelled,
    CorruptRun,
    RunConfig,
    RunStore,
    TrainingError,
    VideoConfig,
    conditional_prior,
    generate_video,
    obtain,
    seeds_summary,
    train,
)

TINY = VideoConfig(frames=40, size=32, diameter=6)


def tiny(coupling="rbf", **kw):
    kw.setdefault("epochs", 2)
    return RunConfig.of(coupling, video=TINY, **kw)


def test_training_is_seeded_and_reports_progress():
    events = []
    a = train(tiny(theta=0.5), callback=events.append)
    b = train(tiny(theta=0.5))
    assert np.array_equal(a.z, b.z)
    assert [e.event for e in events] == ["epoch_end", "epoch_end", "run_end"]
    e = events[0]
    assert e.epoch == 1 and e.epochs == 2 and e.steps == a.metrics["steps"] and e.device == "cpu"
    # 39 pairs in batches of 30 and 9: I_N = mean_b (log N_b - L_b), each batch with its own N (eq. 7)
    assert np.isclose(e.mi, (np.log(30) + np.log(9)) / 2 - e.loss) and e.eta_s >= 0
    for field in ("l2_mean", "l2_per_ball", "final_loss", "final_mi", "train_seconds", "steps", "device"):
        assert field in a.metrics
    assert a.z.shape == (40, 6)
    c = train(tiny(theta=0.5, seed=1))
    assert not np.array_equal(a.z, c.z)


def test_key_depends_on_everything_that_changes_the_result():
    base = tiny(theta=0.5)
    assert base.key() == tiny(theta=0.5).key()
    others = [
        tiny(theta=0.6),
        tiny(theta=0.5, seed=1),
        tiny(theta=0.5, epochs=3),
        tiny(theta=0.5, lr=0.01),
        RunConfig.of("rbf", video=VideoConfig(frames=41, size=32, diameter=6), epochs=2, theta=0.5),
        tiny("linear"),
        tiny(None, method="supervised"),
    ]
    assert len({base.key()} | {o.key() for o in others}) == len(others) + 1
    assert RunConfig.from_dict(json.loads(json.dumps(base.to_dict()))).key() == base.key()


def test_cancellation_raises_and_stores_nothing(tmp_path):
    store = RunStore(tmp_path)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        obtain(tiny(), store, cancel=stop)
    assert store.list_runs() == [] and tiny() not in store
    assert list((tmp_path / "tmp").iterdir()) == []


def test_non_finite_loss_is_one_clear_error(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(TrainingError, match="non-finite"):
        obtain(tiny("linear", w_init=1e30, lr=10), store)
    assert store.list_runs() == []


def test_store_roundtrip_is_exact_and_trains_nothing_again(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    cfg = tiny(theta=0.5)
    run = obtain(cfg, store)
    assert not run.cached and cfg in store

    def no_training(*a, **k):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(sys.modules["rpm_engine.train"], "train", no_training)
    again = obtain(cfg, store)  # how fast it opens is benchmarks/bench.py's figure, not a test's
    assert again.cached and np.array_equal(again.z, run.z) and again.metrics == run.metrics
    enc, coup = again.encoder(), again.coupling()
    assert torch.equal(enc.conv1.weight, run.encoder().conv1.weight)
    assert abs(coup.values()["theta"] - run.metrics["coupling_values"]["theta"]) < 1e-6
    assert [r["key"] for r in store.list_runs()] == [cfg.key()]


@pytest.mark.parametrize("damage", ["truncate_model", "bad_json", "missing_z", "flip_byte"])
def test_corrupt_entries_are_detected_and_rebuilt(tmp_path, damage):
    store = RunStore(tmp_path)
    cfg = tiny(theta=0.5)
    first = obtain(cfg, store)
    d = store.path(cfg.key())
    if damage == "truncate_model":
        (d / "model.pt").write_bytes((d / "model.pt").read_bytes()[:50])
    elif damage == "bad_json":
        (d / "run.json").write_text("{not json")
    elif damage == "missing_z":
        (d / "z.npy").unlink()
    else:
        b = bytearray((d / "z.npy").read_bytes())
        b[-1] ^= 0xFF
        (d / "z.npy").write_bytes(bytes(b))
    with pytest.raises(CorruptRun):
        store.load(cfg)
    run = obtain(cfg, store)
    assert run.rebuilt and not run.cached and np.array_equal(run.z, first.z)
    assert store.load(cfg).cached


def test_failed_rebuild_keeps_other_runs(tmp_path):
    store = RunStore(tmp_path)
    keep = obtain(tiny(theta=0.5), store)
    with pytest.raises(Cancelled):
        obtain(tiny(theta=0.7), store, cancel=lambda: True)
    assert store.load(keep.key).cached


def _train_in_process(root, q):
    store = RunStore(root)
    run = obtain(tiny(theta=0.5), store)
    q.put(run.cached)


def test_two_processes_train_once(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_train_in_process, args=(str(tmp_path), q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    cached = sorted(q.get(timeout=5) for _ in procs)
    assert cached == [False, True]  # one trained, the other waited on the lock and loaded it


def test_store_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RPM_ENGINE_CACHE", str(tmp_path / "c"))
    assert RunStore().root == tmp_path / "c"


def test_prune_keeps_the_store_under_its_size(tmp_path):
    store = RunStore(tmp_path)
    a = obtain(tiny(theta=0.5, epochs=1), store)
    time.sleep(0.05)
    b = obtain(tiny(theta=0.6, epochs=1), store)
    removed = store.prune(store.size_bytes() - 1)
    assert removed == [a.key] and b.key in store


def test_learned_encoder_beats_untrained():
    video = generate_video(VideoConfig(frames=96, size=48, diameter=8))
    trained = train(RunConfig.of("rbf", video=video.config, epochs=12, theta=0.1), video)
    untrained = train(RunConfig.of(None, video=video.config, method="untrained"), video)
    assert trained.metrics["l2_mean"] < 0.7 * untrained.metrics["l2_mean"]


def test_conditional_prior_is_a_distribution_over_valid_candidates():
    video = generate_video(TINY)
    run = train(tiny(theta=0.5), video)  # train() returns the Run the store keeps
    hm = conditional_prior(run.encoder(), run.coupling(), video, frame=10, ball=0, stride=4)
    valid = ~np.isnan(hm.prob)
    assert valid.sum() == hm.n > 0 and np.isclose(np.nansum(hm.prob), 1.0) and (hm.prob[valid] >= 0).all()
    r = TINY.diameter / 2
    gx, gy = np.meshgrid(hm.xs, hm.ys)
    assert (gx[valid] >= r).all() and (gx[valid] <= TINY.size - r).all()
    for k in (1, 2):
        ox, oy = video.centres[11, k]
        assert ((gx[valid] - ox) ** 2 + (gy[valid] - oy) ** 2 >= TINY.diameter**2).all()
    assert hm.true_next == tuple(video.centres[11, 0])
    with pytest.raises(ValueError, match="frame"):
        conditional_prior(run.encoder(), run.coupling(), video, frame=39, ball=0)


def test_seeds_summary_interval():
    s = seeds_summary([1.0, 2.0, 3.0])
    t = 0.95 / np.sqrt(2 * 0.975 * 0.025)  # t_{0.975, 2} in closed form (4.3027; tables print 4.303)
    assert s["mean"] == 2.0 and np.isclose(s["ci95"], t * 1.0 / np.sqrt(3))
    one = seeds_summary([5.0])
    assert one["mean"] == 5.0 and np.isnan(one["ci95"])


def test_supervised_unit_is_in_the_key_only_where_it_applies():
    from rpm_engine import TrainConfig

    assert TrainConfig(method="supervised").key_dict(VideoConfig())["supervised_unit"] == 4.0  # 256 px / 64
    assert TrainConfig(method="supervised").key_dict(TINY)["supervised_unit"] == 0.5
    assert "supervised_unit" not in TrainConfig().key_dict(VideoConfig())
    a = RunConfig.of(None, video=TINY, method="supervised")
    b = RunConfig.of(None, video=TINY, method="supervised", supervised_unit=0.5)
    assert a.key() == b.key() != RunConfig.of(None, video=TINY, method="supervised", supervised_unit=1.0).key()
    with pytest.raises(ValueError, match="supervised_unit"):
        TrainConfig(method="supervised", supervised_unit=-1.0)


def test_coupling_lr_moves_theta_at_its_own_rate():
    """coupling_lr trains the coupling's parameters (log θ) at their own rate; the encoder keeps App. D's lr."""
    video = generate_video(TINY)
    one = train(tiny(theta=0.5), video)
    same = train(RunConfig.of("rbf", video=TINY, epochs=2, theta=0.5, coupling_lr=0.005), video)
    assert same.key == one.key and np.array_equal(same.z, one.z)  # coupling_lr = lr is App. D's single rate
    frozen = train(tiny(theta=0.5, coupling_lr=1e-6), video)
    fast_theta = train(tiny(theta=0.5, coupling_lr=0.5), video)
    m_one, m_frozen, m_fast = (
        abs(np.log(r.metrics["coupling_values"]["theta"] / 0.5)) for r in (one, frozen, fast_theta)
    )
    assert m_frozen < 1e-5 < m_one < m_fast
    assert "coupling_lr" not in one.config.to_dict()["train"]
    assert fast_theta.config.to_dict()["train"]["coupling_lr"] == 0.5


def test_metrics_record_readout_gain_and_effective_theta():
    from rpm_engine.evaluate import effective_length_scale, fit_decoder, readout_gain

    video = generate_video(TINY)
    rbf = train(tiny(theta=0.5), video)
    gain = readout_gain(fit_decoder(rbf.z.astype(np.float64), video.centres))
    assert np.isclose(rbf.metrics["readout_gain"], gain, rtol=1e-4) and gain > 0
    theta = rbf.metrics["coupling_values"]["theta"]
    assert np.isclose(rbf.metrics["theta_effective_px"], theta / gain) and effective_length_scale(rbf) == theta / gain
    expr = train(tiny("-sum((z - zp)**2) / (2 * theta**2)", theta=0.5), video)
    assert np.isclose(
        expr.metrics["theta_effective_px"], expr.metrics["coupling_values"]["theta"] / expr.metrics["readout_gain"]
    )
    lin = train(tiny("linear"), video)
    sup = train(tiny(None, method="supervised"), video)
    assert lin.metrics["theta_effective_px"] is None and sup.metrics["theta_effective_px"] is None
    assert effective_length_scale(lin) is None
    assert sup.metrics["readout_gain"] > 0
