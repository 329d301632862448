"""A finished run: what training returns and what the store keeps (weights, full config, metrics, curve, latents).

Like a nanoGPT checkpoint, a run holds everything needed to use it again: ``train()`` returns one, ``RunStore.save``
writes it and ``RunStore.load`` gives it back unchanged (with ``cached=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

import numpy as np

from .config import RunConfig

if TYPE_CHECKING:  # the modules below need torch, imported when a run's networks are used, not to list runs
    import torch

    from .couplings import Coupling
    from .data import Video
    from .encoder import Encoder


class RunState(str, Enum):
    """Where a requested run stands: the one vocabulary of jobs, sweep events and the pages (as Optuna's
    ``TrialState``). A ``str``, so ``RunState.DONE == "done"`` and it serialises as its value."""

    WAITING = "waiting"  # accepted, not started (in a queue, or a sweep point not yet submitted)
    RUNNING = "running"
    DONE = "done"  # trained now or opened from the store
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        return self in (RunState.DONE, RunState.FAILED, RunState.CANCELLED)


@dataclass
class Run:
    """A trained (or loaded) run; ``key`` is its config's hash."""

    config: RunConfig
    metrics: dict
    history: list[dict]  # per epoch: epoch, loss, mi
    z: np.ndarray  # (T, 2K) latents of every frame, BatchNorm in eval mode
    encoder_state: dict = field(repr=False)
    coupling_state: dict | None = field(repr=False)
    cached: bool = False  # loaded from the store rather than trained by this call
    rebuilt: bool = False  # a corrupt entry was found and trained again
    provenance: dict | None = None  # what its numerics depend on (``provenance.run_provenance``); None: stored before

    @property
    def key(self) -> str:
        return self.config.key()

    @property
    def label(self) -> str:
        return self.config.label

    def encoder(self, device: str | torch.device = "cpu") -> Encoder:
        from .encoder import Encoder

        enc = Encoder(self.config.video.balls)
        enc.load_state_dict(self.encoder_state)
        return enc.to(device).eval()

    def coupling(self, device: str | torch.device = "cpu") -> Coupling | None:
        if self.config.coupling is None:
            return None
        from .couplings import build

        c = build(self.config.coupling, 2 * self.config.video.balls)
        c.load_state_dict(self.coupling_state)
        return c.to(device).eval()

    def decoded(self, video: Video) -> np.ndarray:
        """(T, K, 2) centres read out of z by the linear decoder fitted on the first frames."""
        from .evaluate import decode, fit_decoder

        return decode(fit_decoder(self.z, video.centres, self.config.train.train_frac), self.z)
