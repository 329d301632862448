"""The paper's encoder (Fig. 2, App. D) with its centre-of-mass read-out in pixel units."""

from __future__ import annotations

import torch
from torch import nn


def centre_of_mass(maps: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W) non-negative maps -> (B, 2K) centres (x1, y1, x2, y2, ...) in pixels.

    Each map is normalised to sum 1 and averaged over pixel centres (c + 0.5, r + 0.5), SPEC §1's convention.
    """
    b, k, h, w = maps.shape
    mass = maps.sum(dim=(2, 3)).clamp_min(1e-12)  # (B, K)
    xs = torch.arange(w, device=maps.device, dtype=maps.dtype) + 0.5
    ys = torch.arange(h, device=maps.device, dtype=maps.dtype) + 0.5
    x = (maps.sum(dim=2) * xs).sum(-1) / mass  # (B, K) column marginals . x
    y = (maps.sum(dim=3) * ys).sum(-1) / mass  # (B, K) row marginals . y
    return torch.stack([x, y], dim=-1).reshape(b, 2 * k)  # (B, 2K)


class Encoder(nn.Module):
    """Conv(3->6) -> BN -> ReLU -> Conv(6->K) -> BN -> sigmoid -> centre of mass per map (Fig. 2)."""

    def __init__(self, balls: int = 3, hidden: int = 6):
        super().__init__()
        self.balls = balls
        self.conv1 = nn.Conv2d(3, hidden, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, balls, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(balls)

    @property
    def dim(self) -> int:
        return 2 * self.balls

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float in [0, 1] -> (B, K, H, W) sigmoid maps."""
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.sigmoid(self.bn2(self.conv2(h)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float in [0, 1] -> z (B, 2K) in pixels."""
        return centre_of_mass(self.feature_maps(x))


def to_input(frames_u8: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1], the encoder's input."""
    return frames_u8.permute(0, 3, 1, 2).float().div_(255.0)
