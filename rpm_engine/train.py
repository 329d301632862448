"""Training: contrastive (InfoNCE / RPM ELBO), supervised and untrained baselines, with App. D's defaults.

The trainer knows the recipe, not the UI: it fires ``Progress`` events (``epoch_end``, ``run_end``) to a callback
that a progress bar, a Streamlit fragment or a test can listen to, and it stops when ``cancel`` is set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from . import fast
from .couplings import Coupling, CouplingSpec
from .data import Video, VideoConfig, generate_video
from .encoder import Encoder, to_input
from .evaluate import l2_errors
from .objective import infonce_bound, infonce_loss

SCHEMA_VERSION = 1  # bump when a change alters what a run's key means
METHODS = ("infonce", "supervised", "untrained")


class Cancelled(Exception):
    """Training was cancelled; nothing is stored."""


class TrainingError(ValueError):
    """Training could not finish (e.g. the loss became non-finite)."""


@dataclass(frozen=True)
class TrainConfig:
    method: str = "infonce"  # infonce (contrastive) | supervised (true centres) | untrained (the control)
    epochs: int = 30  # App. D: 30 epochs; one epoch = every consecutive pair once
    batch_size: int = 30  # App. D: batches of 30 random consecutive pairs
    lr: float = 0.005  # App. D: plain SGD, learning rate 0.005
    seed: int = 0  # initialisation and batch order
    train_frac: float = 0.8  # decoder fit (and supervised labels) on the first 80 % of frames
    # Supervised baseline only: the MSE measures coordinates in units of this many px; None -> size / 64. A pixel
    # MSE's gradient grows with size², and at 256 px plain SGD at lr 0.005 diverges (held-out 40, 42, 8 px over 3
    # seeds); in size/64 units the 64-px frame keeps its pixel MSE and every size keeps App. D's learning rate.
    supervised_unit: float | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"TrainConfig.method: unknown method {self.method!r} (choose {', '.join(METHODS)})")
        for name, lo in (("epochs", 0), ("batch_size", 2), ("seed", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"TrainConfig.{name}: must be an integer >= {lo}, got {v!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"TrainConfig.lr: must be a positive number, got {self.lr!r}")
        if not (0.1 <= self.train_frac <= 0.95):
            raise ValueError(f"TrainConfig.train_frac: must be in [0.1, 0.95], got {self.train_frac!r}")
        u = self.supervised_unit
        if u is not None and not (isinstance(u, (int, float)) and math.isfinite(u) and u > 0):
            raise ValueError(f"TrainConfig.supervised_unit: must be a positive number or None, got {u!r}")

    def key_dict(self, video: VideoConfig) -> dict:
        """The fields that decide this method's result (fields added after schema 1 only where they apply)."""
        d = dataclasses.asdict(self)
        unit = d.pop("supervised_unit")
        if self.method == "supervised":
            d["supervised_unit"] = float(unit if unit is not None else video.size / 64)
        return d


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's result; its hash is the run's key in the store."""

    video: VideoConfig = field(default_factory=VideoConfig)
    coupling: CouplingSpec | None = field(default_factory=CouplingSpec)  # None for supervised / untrained
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if self.train.method == "infonce" and self.coupling is None:
            raise ValueError("RunConfig.coupling: a contrastive run needs a coupling")
        if self.train.method != "infonce" and self.coupling is not None:
            object.__setattr__(self, "coupling", None)  # baselines have no coupling: one key per baseline

    @classmethod
    def of(
        cls, coupling: str | None = "rbf", *, video: VideoConfig | None = None, method: str = "infonce", **train
    ) -> RunConfig:
        """Shorthand: ``RunConfig.of("rbf", video=VideoConfig(frames=128), epochs=5, theta=0.5)``."""
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        tkw = {k: v for k, v in train.items() if k in fields}
        init = {k: v for k, v in train.items() if k not in fields}
        spec = CouplingSpec.of(coupling, **init) if (method == "infonce" and coupling) else None
        return cls(video or VideoConfig(), spec, TrainConfig(method=method, **tkw))

    @property
    def label(self) -> str:
        if self.train.method != "infonce":
            return self.train.method
        return self.coupling.label

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "video": self.video.to_dict(),
            "coupling": self.coupling.to_dict() if self.coupling else None,
            "train": self.train.key_dict(self.video),
        }

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        coupling = CouplingSpec.from_dict(d["coupling"]) if d.get("coupling") else None
        return cls(VideoConfig.from_dict(d["video"]), coupling, TrainConfig(**d["train"]))

    def key(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Progress:
    event: str  # "epoch_end" | "run_end"
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    mi: float  # I_N = log N - loss, nats
    elapsed_s: float
    eta_s: float
    device: str


@dataclass
class TrainResult:
    """What training produced: weights, the latents of every frame, the learning curve and the held-out errors."""

    config: RunConfig
    encoder_state: dict
    coupling_state: dict | None
    z: np.ndarray  # (T, 2K) latents of every frame, BatchNorm in eval mode
    history: list[dict]  # per epoch: epoch, loss, mi
    metrics: dict


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available")
    return torch.device(device)


def _is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


@torch.inference_mode()
def encode_frames(encoder: Encoder, frames: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """(T, H, W, 3) uint8 on the encoder's device -> (T, 2K) latents, in eval mode.

    On CPU the fused kernels stream the frames one at a time (no float copy of the video); otherwise ``chunk`` frames
    at a time go through the eager encoder.
    """
    encoder.eval()
    if fast.usable(encoder, frames):
        return fast.eval_encode(encoder, frames)
    return torch.cat([encoder(to_input(frames[i : i + chunk])) for i in range(0, len(frames), chunk)])


def _batches(n: int, batch: int, gen: torch.Generator, device) -> list[torch.Tensor]:
    """One epoch's batches of item indices (a fresh permutation from ``gen``), moved to ``device`` in one copy."""
    perm = torch.randperm(n, generator=gen).to(device)
    return [perm[i : i + batch] for i in range(0, n, batch) if min(batch, n - i) >= 2]


def _encoder_step(encoder: Encoder, frames: torch.Tensor, use_fast: bool, workspace):
    """idx (B,) -> z (B, 2K) in training mode: fused kernels on CPU, stock ops elsewhere (Fig. 2 encoder)."""
    if use_fast:
        return lambda idx: fast.train_encode(encoder, frames, idx, workspace)
    return lambda idx: encoder(to_input(frames[idx]))  # (B, H, W, 3) uint8 -> (B, 3, H, W) float -> (B, 2K)


def train(
    config: RunConfig,
    video: Video | None = None,
    *,
    device: str = "auto",
    callback: Callable[[Progress], None] | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
) -> TrainResult:
    """Train one run and evaluate it (held-out L2 of a linear decoder); deterministic per config and device."""
    dev = resolve_device(device)
    video = video or generate_video(config.video)
    tc = config.train
    T = video.frames.shape[0]
    n_train = int(round(tc.train_frac * T))
    unit = tc.key_dict(config.video).get("supervised_unit", 1.0)  # px per unit of the supervised MSE
    frames = torch.from_numpy(video.frames).to(dev)  # (T, H, W, 3) uint8, moved once
    centres = torch.from_numpy(video.centres.reshape(T, -1)).float().to(dev)  # (T, 2K)

    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(tc.seed)
        encoder = Encoder(config.video.balls).to(dev)
        coupling: Coupling | None = config.coupling.build(encoder.dim).to(dev) if config.coupling else None
    gen = torch.Generator().manual_seed(tc.seed)
    params = list(encoder.parameters()) + (list(coupling.parameters()) if coupling else [])
    opt = torch.optim.SGD(params, lr=tc.lr)

    n_items = (T - 1) if tc.method == "infonce" else n_train
    per_epoch = len(_batches(n_items, tc.batch_size, torch.Generator().manual_seed(0), "cpu"))
    epochs = tc.epochs if tc.method != "untrained" else 0
    steps, step, history = epochs * per_epoch, 0, []
    use_fast = fast.usable(encoder, frames)  # fused CPU kernels, else stock PyTorch (CUDA, RPM_ENGINE_FAST=0)
    encode = _encoder_step(encoder, frames, use_fast, fast.Workspace() if use_fast else None)
    start = time.perf_counter()
    encoder.train()
    for epoch in range(1, epochs + 1):
        total = torch.zeros((), device=dev)
        for idx in _batches(n_items, tc.batch_size, gen, dev):
            if _is_cancelled(cancel):
                raise Cancelled(f"cancelled at epoch {epoch}, step {step}")
            if tc.method == "infonce":
                z, zp = encode(torch.cat([idx, idx + 1])).chunk(2)  # base and next frames -> (B, 2K) each
                loss = infonce_loss(coupling(z, zp))  # (B, B) logits -> scalar (eq. 6)
            else:
                loss = F.mse_loss(encode(idx) / unit, centres[idx] / unit)  # (B, 2K) in size/64 units
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
            step += 1
        mean_loss = float(total) / per_epoch  # one host sync per epoch
        if not math.isfinite(mean_loss):
            raise TrainingError(
                f"the loss became non-finite in epoch {epoch}; try a smaller learning rate or another "
                f"starting value for the coupling's parameters"
            )
        mi = infonce_bound(mean_loss, tc.batch_size) if tc.method == "infonce" else float("nan")
        history.append({"epoch": epoch, "loss": mean_loss, "mi": mi})
        elapsed = time.perf_counter() - start
        if callback:
            callback(
                Progress(
                    "epoch_end",
                    epoch,
                    epochs,
                    step,
                    steps,
                    mean_loss,
                    mi,
                    elapsed,
                    elapsed / step * (steps - step),
                    dev.type,
                )
            )
    train_seconds = time.perf_counter() - start

    z = encode_frames(encoder, frames).cpu().numpy().astype(np.float64)  # (T, 2K)
    if not np.isfinite(z).all():
        raise TrainingError("the encoder produced non-finite latents")
    errors = l2_errors(z, video.centres, tc.train_frac)
    last = history[-1] if history else {"loss": float("nan"), "mi": float("nan")}
    metrics = {
        "l2_mean": errors["mean"],
        "l2_per_ball": errors["per_ball"],
        "final_loss": last["loss"],
        "final_mi": last["mi"],
        "train_seconds": train_seconds,
        "steps": step,
        "device": dev.type,
        "fused_kernels": use_fast,
        "coupling_values": coupling.values() if coupling else {},
        "redraws": video.redraws,
        "stuck": video.stuck,
    }
    if callback:
        callback(
            Progress("run_end", epochs, epochs, step, steps, last["loss"], last["mi"], train_seconds, 0.0, dev.type)
        )
    return TrainResult(
        config,
        {k: v.detach().cpu() for k, v in encoder.state_dict().items()},
        {k: v.detach().cpu() for k, v in coupling.state_dict().items()} if coupling else None,
        z.astype(np.float32),
        history,
        metrics,
    )
