"""The fused kernels' frame loading is exact: every byte value v becomes the float v / 255, as the eager encoder's
``.float().div_(255)`` makes it (the kernel multiplies by 1/255 and refines once instead of dividing)."""

import pytest
import torch

from rpm_engine import fast

pytestmark = pytest.mark.skipif(fast.extension() is None, reason="fused kernels not built here")


@pytest.mark.parametrize("size", [(16, 16), (8, 21)])  # whole vectors, and a ragged width with a scalar tail
def test_conv1_of_a_centre_tap_returns_the_loaded_frame_exactly(size):
    h, w = size
    values = torch.arange(h * w * 3) % 256  # every byte value, in every channel and lane position
    frames = values.to(torch.uint8).reshape(1, h, w, 3)
    idx = torch.zeros(1, dtype=torch.long)
    w1 = torch.zeros(6, 3, 3, 3)
    for o in range(6):
        w1[o, o % 3, 1, 1] = 1.0  # y1[o] = x[o % 3]: one exact product, the other taps add exact zeros
    b1, g1, be1 = torch.zeros(6), torch.ones(6), torch.zeros(6)
    w2, b2, g2, be2 = torch.zeros(3, 6, 3, 3), torch.zeros(3), torch.ones(3), torch.zeros(3)
    ext = fast.extension()
    y1, y2 = torch.empty(6 * h * w), torch.empty(3 * h * w)
    scratch = torch.zeros(torch.get_num_threads() * ext.scratch_size(h, w))
    ext.train_forward(frames, idx, w1, b1, g1, be1, w2, b2, g2, be2, 1e-5, y1, y2, scratch)
    want = frames[0].permute(2, 0, 1).float().div_(255)
    got = y1.view(6, h, w)
    for o in range(6):
        assert torch.equal(got[o], want[o % 3]), f"channel {o}"
