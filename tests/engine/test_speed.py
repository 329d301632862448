"""The fast paths against the stock path and a float64 reference (issue 5): fused CPU kernels, the heatmap's patch
trick, the fallback when the kernels are off, and the device-agnostic stock path that CUDA runs."""

import copy

import numpy as np
import pytest
import torch

import rpm_engine.evaluate as ev
from rpm_engine import Encoder, RunConfig, VideoConfig, conditional_prior, fast, generate_video, make_coupling, train
from rpm_engine.encoder import to_input

needs_kernels = pytest.mark.skipif(fast.extension() is None, reason="fused CPU kernels could not be built here")


def _model(k: int, seed: int = 0) -> Encoder:
    torch.manual_seed(seed)
    enc = Encoder(k)
    with torch.no_grad():  # move away from the init so BN's affine parameters and biases matter
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return enc


def _grads(model, frames, idx, gz, use_fast):
    model.train()
    model.zero_grad()
    if use_fast:
        z = fast.train_encode(model, frames, idx, fast.Workspace())
    else:
        z = model(to_input(frames[idx]).to(next(model.parameters()).dtype))
    (z * gz.to(z.dtype)).sum().backward()
    return z.detach().double(), {n: p.grad.double() for n, p in model.named_parameters()}


@needs_kernels
@pytest.mark.parametrize("shape", [(20, 13, 3), (16, 16, 2), (24, 24, 6), (9, 17, 1)])
def test_fused_training_step_matches_float64(shape):
    """z, BN running stats and every gradient of the fused kernels agree with a float64 eager run."""
    h, w, k = shape
    g = torch.Generator().manual_seed(1)
    frames = torch.randint(0, 256, (7, h, w, 3), generator=g, dtype=torch.uint8)
    idx = torch.tensor([0, 2, 3, 5, 1, 1])
    gz = torch.randn(len(idx), 2 * k, generator=g)
    fused, ref = _model(k), _model(k).double()
    eager = _model(k)
    zr, gr = _grads(ref, frames, idx, gz, False)
    ze, ge = _grads(eager, frames, idx, gz, False)
    zf, gf = _grads(fused, frames, idx, gz, True)
    assert (zf - zr).abs().max() < 1e-4  # pixels
    assert (zf - zr).abs().max() <= 3 * (ze - zr).abs().max() + 1e-6  # as close as eager float32
    top = max(float(v.abs().max()) for v in gr.values())
    for name, want in gr.items():
        # conv biases before a training-mode BN have zero gradient: measure their rounding against the largest grad
        scale = top if name.startswith("conv") and name.endswith("bias") else float(want.abs().max())
        assert (gf[name] - want).abs().max() / scale < 1e-4, name
        assert (gf[name] - want).abs().max() <= 3 * (ge[name] - want).abs().max() + 1e-6 * scale, name
    for a, b in ((fused.bn1, ref.bn1), (fused.bn2, ref.bn2)):
        assert torch.allclose(a.running_mean.double(), b.running_mean, atol=1e-6)
        assert torch.allclose(a.running_var.double(), b.running_var, atol=1e-6)
        assert int(a.num_batches_tracked) == int(b.num_batches_tracked) == 1


@needs_kernels
def test_fused_eval_matches_float64_and_is_thread_independent():
    frames = torch.randint(0, 256, (5, 18, 22, 3), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    enc = _model(3, seed=3)
    with torch.no_grad():
        enc.bn1.running_mean.normal_()
        enc.bn2.running_var.uniform_(0.5, 2.0)
    enc.eval()
    with torch.no_grad():
        want = copy.deepcopy(enc).double()(to_input(frames).double())
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fast.eval_encode(enc, frames)
        torch.set_num_threads(2)
        two = fast.eval_encode(enc, frames)
    finally:
        torch.set_num_threads(threads)
    assert (one.double() - want).abs().max() < 1e-4
    assert torch.equal(one, two)  # per-image work and ordered sums: the thread count does not change a bit


@needs_kernels
def test_workspace_refuses_a_second_forward_before_backward():
    frames = torch.randint(0, 256, (4, 10, 10, 3), dtype=torch.uint8)
    enc, ws = _model(2), fast.Workspace()
    z1 = fast.train_encode(enc, frames, torch.tensor([0, 1]), ws)
    fast.train_encode(enc, frames, torch.tensor([2, 3]), ws)
    with pytest.raises(RuntimeError, match="second forward"):
        z1.sum().backward()


SMALL = VideoConfig(frames=40, size=24, diameter=6)


@needs_kernels
def test_training_fast_and_fallback_agree_and_are_deterministic(monkeypatch):
    video = generate_video(SMALL)
    cfg = RunConfig.of("rbf", video=SMALL, epochs=3, seed=1, theta=0.5)
    a, b = train(cfg, video, device="cpu"), train(cfg, video, device="cpu")
    assert a.metrics["fused_kernels"] and np.array_equal(a.z, b.z)  # deterministic on one device
    monkeypatch.setenv(fast.ENV_VAR, "0")
    c = train(cfg, video, device="cpu")
    assert not c.metrics["fused_kernels"]
    # same start, same batches: after a few steps the two float32 paths differ only by rounding
    assert np.abs(a.z - c.z).max() < 0.05
    assert abs(a.metrics["final_loss"] - c.metrics["final_loss"]) < 1e-3


def test_fallback_when_the_build_fails(monkeypatch, caplog):
    """A failing build is logged once and training runs on stock PyTorch."""
    monkeypatch.setattr(fast, "_ext", None)
    monkeypatch.setattr(fast, "_tried", False)

    def broken():
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(fast, "_build", broken)
    with caplog.at_level("WARNING"):
        assert fast.extension() is None and fast.extension() is None
    assert sum("fused CPU kernels unavailable" in r.message for r in caplog.records) == 1
    cfg = RunConfig.of("rbf", video=SMALL, epochs=1, seed=0, theta=0.5)
    res = train(cfg, generate_video(SMALL), device="cpu")
    assert not res.metrics["fused_kernels"] and np.isfinite(res.z).all()


def test_kernels_never_see_non_cpu_or_other_models():
    enc = _model(3)
    assert not fast.usable(enc, torch.zeros(2, 8, 8, 3))  # float frames
    assert not fast.usable(enc.double(), torch.zeros(2, 8, 8, 3, dtype=torch.uint8))
    assert not fast.usable(Encoder(3, hidden=4), torch.zeros(2, 8, 8, 3, dtype=torch.uint8))
    meta = Encoder(3).to("meta")  # stands in for a CUDA model: not CPU -> stock ops
    assert not fast.usable(meta, torch.zeros(2, 8, 8, 3, dtype=torch.uint8))


def test_heatmap_patches_equal_whole_frames():
    """The patch trick gives the same P(c) as rendering and encoding whole candidate frames."""
    cfg = VideoConfig(frames=16, size=48, balls=3, diameter=10, seed=4)
    video = generate_video(cfg)
    enc = _model(3, seed=5).eval()
    with torch.no_grad():
        enc.bn1.running_mean.normal_()
        enc.bn2.running_var.uniform_(0.5, 2.0)
    coupling = make_coupling("rbf", 6, theta=2.0)
    for frame, ball, stride in ((0, 0, 4.0), (5, 2, 3.0), (9, 1, 5.0)):
        got = conditional_prior(enc, coupling, video, frame, ball, stride)
        ev_ok = ev._local_ok
        try:
            ev._local_ok = lambda e: False
            want = conditional_prior(enc, coupling, video, frame, ball, stride)
        finally:
            ev._local_ok = ev_ok
        assert got.n == want.n
        assert np.allclose(np.nan_to_num(got.prob), np.nan_to_num(want.prob), atol=1e-6, rtol=1e-4)


def test_patch_renderer_matches_render_frames():
    from rpm_engine.data import render_frames

    cfg = VideoConfig(frames=16, size=40, balls=3, diameter=9.0, seed=2)
    video = generate_video(cfg)
    cand = np.repeat(video.centres[3][None], 5, axis=0)
    cand[:, 1] = [[4.5, 4.5], [20.0, 35.5], [35.5, 20.2], [12.0, 12.0], [31.0, 5.0]]
    full = render_frames(cand, cfg.size, cfg.diameter, cfg.ball_colours, cfg.background)
    patches, lo, inside = ev._render_patches(cand, 1, cfg, margin=4)
    for i in range(len(cand)):
        for r in range(patches.shape[1]):
            for c in range(patches.shape[2]):
                y, x = lo[i, 1] + r, lo[i, 0] + c
                want = full[i, y, x] if inside[i, r, c] else np.zeros(3, np.uint8)
                assert np.array_equal(patches[i, r, c], want)


def test_stock_path_is_device_agnostic():
    """What CUDA runs: the stock step on whatever device the frames live on (here CPU, kernels off)."""
    from rpm_engine.train import _encoder_step

    frames = torch.randint(0, 256, (6, 12, 12, 3), dtype=torch.uint8)
    enc = _model(3)
    step = _encoder_step(enc, frames, False, None)
    z = step(torch.tensor([0, 3, 4]))
    assert z.shape == (3, 6) and z.requires_grad
