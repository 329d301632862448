"""Training: contrastive (InfoNCE / RPM ELBO), supervised and untrained baselines, with App. D's defaults.

The trainer knows the recipe, not the UI: it fires ``Progress`` events (``epoch_end``, ``run_end``) to a callback
that a progress bar, a Streamlit fragment or a test can listen to, and it stops when ``cancel`` is set.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import fast, numerics
from .config import METHODS, RunConfig, TrainConfig
from .couplings import Coupling
from .couplings import build as build_coupling
from .data import Cancelled, Video, generate_video, is_cancelled
from .encoder import Encoder, to_input
from .evaluate import fit_decoder, l2_errors, readout_gain, theta_in_true_px
from .objective import infonce_loss
from .provenance import run_provenance
from .run import Run


class TrainingError(ValueError):
    """Training could not finish (e.g. the loss became non-finite)."""


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


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available")
    return torch.device(device)


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


@dataclass
class _Setup:
    """What one run's loop needs: tensors on the device, the models, the optimiser and the batch schedule."""

    config: RunConfig
    dev: torch.device
    video: Video
    frames: torch.Tensor  # (T, H, W, 3) uint8 on dev
    centres: torch.Tensor  # (T, 2K) float on dev
    encoder: Encoder
    coupling: Coupling | None
    opt: _SGD
    gen: torch.Generator  # batch order
    n_items: int  # pairs (contrastive) or labelled frames (supervised)
    per_epoch: int
    epochs: int
    unit: float  # px per unit of the supervised MSE
    use_fast: bool
    encode: Callable[[torch.Tensor], torch.Tensor]


class _SGD:
    """Plain SGD, p <- p - lr * grad (App. D: no momentum, no weight decay), per group of parameters: the arithmetic of
    ``torch.optim.SGD`` (its CPU path is ``p.add_(grad, alpha=-lr)`` per tensor; on CUDA one ``_foreach_add_``, as
    torch's) without its per-step wrappers, and without the ~2 s import of ``torch._dynamo`` that constructing a
    process's first torch optimiser costs (a CLI run or a fresh worker paid it before its first step)."""

    def __init__(self, groups: list[tuple[list[torch.Tensor], float]]):
        self.groups = groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        for params, _ in self.groups:
            for p in params:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for params, lr in self.groups:
            live = [p for p in params if p.grad is not None]
            if live and live[0].device.type == "cuda":
                torch._foreach_add_(live, [p.grad for p in live], alpha=-lr)
            else:
                for p in live:
                    p.add_(p.grad, alpha=-lr)


def _optimizer(encoder: Encoder, coupling: Coupling | None, tc: TrainConfig) -> _SGD:
    """Plain SGD (App. D); the coupling's parameters get their own rate when ``coupling_lr`` is set."""
    if coupling is None or tc.coupling_lr is None:
        return _SGD([(list(encoder.parameters()) + (list(coupling.parameters()) if coupling else []), tc.lr)])
    return _SGD([(list(encoder.parameters()), tc.lr), (list(coupling.parameters()), tc.coupling_lr)])


def _set_up(config: RunConfig, video: Video | None, device: str) -> _Setup:
    """Move the video to the device once and build the seeded encoder, coupling, optimiser and batch generator."""
    dev = resolve_device(device)
    video = video or generate_video(config.video)
    tc = config.train
    T = video.frames.shape[0]
    frames = torch.from_numpy(video.frames).to(dev)  # (T, H, W, 3) uint8, moved once
    centres = torch.from_numpy(video.centres.reshape(T, -1)).float().to(dev)  # (T, 2K)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(tc.seed)
        encoder = Encoder(config.video.balls).to(dev)
        coupling = build_coupling(config.coupling, encoder.dim).to(dev) if config.coupling else None
    n_items = (T - 1) if tc.method == "infonce" else config.n_train
    use_fast = fast.usable(encoder, frames)  # fused CPU kernels, else stock PyTorch (CUDA, RPM_ENGINE_FAST=0)
    return _Setup(
        config=config,
        dev=dev,
        video=video,
        frames=frames,
        centres=centres,
        encoder=encoder,
        coupling=coupling,
        opt=_optimizer(encoder, coupling, tc),
        gen=torch.Generator().manual_seed(tc.seed),
        n_items=n_items,
        per_epoch=len(_batches(n_items, tc.batch_size, torch.Generator().manual_seed(0), "cpu")),
        epochs=tc.epochs if tc.method != "untrained" else 0,
        unit=tc.key_dict(config.video).get("supervised_unit", 1.0),
        use_fast=use_fast,
        encode=_encoder_step(encoder, frames, use_fast, fast.Workspace() if use_fast else None),
    )


def _loss(s: _Setup, idx: torch.Tensor) -> torch.Tensor:
    """One batch's loss: InfoNCE over consecutive pairs (eq. 6), or the supervised MSE in ``unit`` px."""
    if s.config.train.method == "infonce":
        z, zp = s.encode(torch.cat([idx, idx + 1])).chunk(2)  # base and next frames -> (B, 2K) each
        return infonce_loss(s.coupling(z, zp))  # (B, B) logits -> scalar
    return F.mse_loss(s.encode(idx) / s.unit, s.centres[idx] / s.unit)  # (B, 2K) in size/64 units


def _run_epoch(s: _Setup, epoch: int, step: int, cancel) -> tuple[dict, int]:
    """One pass over every item; returns the epoch's {epoch, loss, mi} and the step count after it."""
    total = torch.zeros((), device=s.dev)
    log_n = 0.0  # sum of log N_b: a short last batch has its own N in I_N = log N - loss (eq. 7)
    for idx in _batches(s.n_items, s.config.train.batch_size, s.gen, s.dev):
        if is_cancelled(cancel):
            raise Cancelled(f"cancelled at epoch {epoch}, step {step}")
        loss = _loss(s, idx)
        s.opt.zero_grad(set_to_none=True)
        loss.backward()
        s.opt.step()
        total += loss.detach()
        log_n += math.log(len(idx))
        step += 1
    mean_loss = float(total) / s.per_epoch  # one host sync per epoch
    if not math.isfinite(mean_loss):
        raise TrainingError(
            f"the loss became non-finite in epoch {epoch}; try a smaller learning rate or another "
            f"starting value for the coupling's parameters"
        )
    mi = log_n / s.per_epoch - mean_loss if s.config.train.method == "infonce" else float("nan")  # mean log N_b - L_b
    return {"epoch": epoch, "loss": mean_loss, "mi": mi}, step


def _evaluate(s: _Setup) -> tuple[np.ndarray, dict, float]:
    """Encode every frame (eval mode) and read out positions: z (T, 2K), held-out L2 errors, read-out gain."""
    z = encode_frames(s.encoder, s.frames).cpu().numpy().astype(np.float64)  # (T, 2K)
    if not np.isfinite(z).all():
        raise TrainingError("the encoder produced non-finite latents")
    tf = s.config.train.train_frac
    return z, l2_errors(z, s.video.centres, tf), readout_gain(fit_decoder(z, s.video.centres, tf))


def _metrics(s: _Setup, errors: dict, gain: float, last: dict, train_seconds: float, steps: int) -> dict:
    """The run's metrics (not part of its key)."""
    values = s.coupling.values() if s.coupling else {}
    metrics = {
        "l2_mean": errors["mean"],
        "l2_per_ball": errors["per_ball"],
        "final_loss": last["loss"],
        "final_mi": last["mi"],
        "train_seconds": train_seconds,
        "steps": steps,
        "device": s.dev.type,
        "fused_kernels": s.use_fast,
        "coupling_values": values,
        "redraws": s.video.redraws,
        "stuck": s.video.stuck,
        "readout_gain": gain,
    }
    metrics["theta_effective_px"] = theta_in_true_px(s.config, metrics)
    return metrics


@numerics.isolated  # same key, same numbers: whatever ran before in this process (issue 18)
def train(
    config: RunConfig,
    video: Video | None = None,
    *,
    device: str = "auto",
    callback: Callable[[Progress], None] | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
) -> Run:
    """Train one run and evaluate it (held-out L2 of a linear decoder); deterministic per config and device."""
    s = _set_up(config, video, device)
    steps, step, history = s.epochs * s.per_epoch, 0, []
    start = time.perf_counter()
    s.encoder.train()
    for epoch in range(1, s.epochs + 1):
        row, step = _run_epoch(s, epoch, step, cancel)
        history.append(row)
        if callback:
            elapsed = time.perf_counter() - start
            eta = elapsed / step * (steps - step)
            callback(
                Progress("epoch_end", epoch, s.epochs, step, steps, row["loss"], row["mi"], elapsed, eta, s.dev.type)
            )
    train_seconds = time.perf_counter() - start

    s.encode = None  # frees the training workspace (the saved activations) before evaluation: a lower peak RSS
    z, errors, gain = _evaluate(s)
    last = history[-1] if history else {"loss": float("nan"), "mi": float("nan")}
    metrics = _metrics(s, errors, gain, last, train_seconds, step)
    if callback:
        callback(
            Progress(
                "run_end", s.epochs, s.epochs, step, steps, last["loss"], last["mi"], train_seconds, 0.0, s.dev.type
            )
        )
    return Run(
        config,
        metrics,
        history,
        z.astype(np.float32),
        {k: v.detach().cpu() for k, v in s.encoder.state_dict().items()},
        {k: v.detach().cpu() for k, v in s.coupling.state_dict().items()} if s.coupling else None,
        provenance=run_provenance(s.use_fast, s.dev),
    )


__all__ = ["METHODS", "Cancelled", "Progress", "Run", "RunConfig", "TrainConfig", "TrainingError", "train"]
