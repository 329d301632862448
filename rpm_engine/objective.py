"""InfoNCE as the RPM ELBO (paper eqs. 6, 23-25).

For N pairs (x_i, x'_i) with z_i = g(x_i), z'_j = g(x'_j) and logits_ij = log f(z_i, z'_j), the loss is the mean
cross-entropy of row i against target j = i: the other pairs' second frames are the negatives. It is the negative
finite-N InfoNCE bound, and equals, up to a constant, the negative RPM ELBO under the prior of eq. 21,
P(z'|z) ∝ R(z') f(z, z').
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def infonce_loss(logits: torch.Tensor) -> torch.Tensor:
    """(N, N) logits log f(z_i, z'_j) -> scalar mean cross-entropy against the diagonal (eq. 6)."""
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"logits must be a square (N, N) matrix, got shape {tuple(logits.shape)}")
    target = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, target)


def infonce_bound(loss: float | torch.Tensor, n: int) -> float:
    """I_N = log N - loss, the InfoNCE lower bound on the mutual information, in nats (eq. 6)."""
    return math.log(n) - float(loss)
