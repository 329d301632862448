"""The training loop's own plain SGD is torch.optim.SGD's arithmetic, bit for bit (App. D: lr only, per group)."""

import importlib
import sys

import torch

importlib.import_module("rpm_engine.train")
train_mod = sys.modules["rpm_engine.train"]  # the package exports the function train under the same name


def test_plain_sgd_matches_torch_sgd_bit_for_bit():
    g = torch.Generator().manual_seed(3)
    a = [torch.randn(6, 3, 3, 3, generator=g), torch.randn(6, generator=g), torch.randn((), generator=g)]
    b = [t.clone() for t in a]
    for t in a + b:
        t.requires_grad_(True)
    ours = train_mod._SGD([(a[:2], 0.005), (a[2:], 0.5)])
    ref = torch.optim.SGD([{"params": b[:2]}, {"params": b[2:], "lr": 0.5}], lr=0.005)
    for _ in range(5):
        grads = [torch.randn(t.shape, generator=g) * 10 for t in a]
        for opt, params in ((ours, a), (ref, b)):
            opt.zero_grad(set_to_none=True)
            for p, gr in zip(params, grads):
                p.grad = gr.clone()
            opt.step()
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    ours.zero_grad()
    assert all(p.grad is None for p in a)


def test_a_parameter_without_a_gradient_is_left_alone():
    p, q = torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)
    opt = train_mod._SGD([([p, q], 0.1)])
    p.grad = torch.ones(3)
    opt.step()
    assert torch.allclose(p.detach(), torch.full((3,), 0.9)) and torch.equal(q.detach(), torch.ones(2))
