"""Exactness of the fused kernels where they promise it: every byte value v loads as the float v / 255, as the eager
encoder's ``.float().div_(255)`` makes it (the kernel multiplies by 1/255 and refines once instead of dividing), and
splitting a batch over threads changes no bit."""

import pytest
import torch

from rpm_engine import fast

pytestmark = pytest.mark.skipif(fast.extension() is None, reason="fused kernels not built here")


@pytest.mark.parametrize("size", [(16, 16), (8, 21)])  # whole vectors, and a ragged width with a scalar tail
def test_loaded_frames_equal_the_eager_cast_for_every_byte(size):
    h, w = size
    values = torch.arange(2 * h * w * 3) % 256  # every byte value, in every channel and lane position
    frames = values.to(torch.uint8).reshape(2, h, w, 3)
    idx = torch.tensor([1, 0])
    got = fast.extension().load_frames(frames, idx)
    want = frames[idx].permute(0, 3, 1, 2).float().div_(255)
    assert torch.equal(got, want)


def test_small_frames_split_over_threads_only_when_asked_or_idle(monkeypatch):
    """The task-size policy: RPM_ENGINE_SPLIT_SMALL forces it either way; unset, the load average decides."""
    calls = []

    class Spy:
        def set_min_task_pixels(self, px):
            calls.append(px)

    for env, idle, want in (("1", False, 1 << 12), ("0", True, 1 << 18), ("", True, 1 << 12), ("", False, 1 << 18)):
        monkeypatch.setenv(fast.SPLIT_SMALL_VAR, env)
        monkeypatch.setattr(fast, "machine_idle", lambda idle=idle: idle)
        monkeypatch.setattr(fast, "_grain_checked", [0.0, None])
        fast.tune_task_size(Spy())
        assert calls[-1] == want, (env, idle)


def test_neither_a_split_nor_storing_y1_changes_a_bit_of_a_training_step(monkeypatch):
    """Small frames through the training kernels, one task or one image a task, y1 stored or recomputed from the frames:
    the same z, statistics and gradients exactly."""
    frames = torch.randint(0, 256, (12, 24, 40, 3), generator=torch.Generator().manual_seed(5), dtype=torch.uint8)
    idx = torch.tensor([3, 0, 7, 7, 11, 2, 5, 9])
    torch.manual_seed(1)
    w1, b1, g1, be1 = torch.randn(6, 3, 3, 3) * 0.3, torch.randn(6), torch.rand(6) + 0.5, torch.randn(6)
    w2, b2, g2, be2 = torch.randn(3, 6, 3, 3) * 0.3, torch.randn(3), torch.rand(3) + 0.5, torch.randn(3)
    gz = torch.randn(8, 6)
    ext = fast.extension()
    threads = torch.get_num_threads()
    out = []
    try:
        torch.set_num_threads(2)
        for px in (1 << 18, 1):  # one task for the whole batch; one image a task
            for y1 in (torch.empty(8 * 6 * 24 * 40), torch.empty(0)):  # stored; recomputed
                ext.set_min_task_pixels(px)
                y2 = torch.empty(8 * 3 * 24 * 40)
                scratch = torch.zeros(2 * ext.scratch_size(24, 40))
                z, stats, com = ext.train_forward(frames, idx, w1, b1, g1, be1, w2, b2, g2, be2, 1e-5, y1, y2, scratch)
                grads = ext.train_backward(gz, frames, idx, w1, b1, g1, be1, w2, g2, be2, stats, com, y1, y2, scratch)
                out.append([z, stats, *grads])
    finally:
        torch.set_num_threads(threads)
        ext.set_min_task_pixels(1 << 18)
        monkeypatch.setattr(fast, "_grain_checked", [0.0, None])
    for other in out[1:]:
        for a, b in zip(out[0], other):
            assert torch.equal(a, b)


def test_evaluation_follows_the_split_rule_too(monkeypatch):
    """A class server's heatmaps and evaluations run eval_encode: it asks the load rule as training does, so a split
    set while the machine was idle does not outlive the idle spell in a server that only evaluates."""
    from rpm_engine.encoder import Encoder

    asked = []
    monkeypatch.setattr(fast, "tune_task_size", lambda ext: asked.append(ext))
    enc = Encoder(3).eval()
    fast.eval_encode(enc, torch.zeros(2, 16, 16, 3, dtype=torch.uint8))
    assert asked == [fast.extension()]
