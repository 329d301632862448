"""The fused kernels' frame loading is exact: every byte value v becomes the float v / 255, as the eager encoder's
``.float().div_(255)`` makes it (the kernel multiplies by 1/255 and refines once instead of dividing)."""

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
