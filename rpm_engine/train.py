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

from . import fast
from .config import METHODS, RunConfig, TrainConfig
from .couplings import Coupling
from .data import Cancelled, Video, generate_video, is_cancelled
from .encoder import Encoder, to_input
from .evaluate import l2_errors
from .objective import infonce_loss
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


def train(
    config: RunConfig,
    video: Video | None = None,
    *,
    device: str = "auto",
    callback: Callable[[Progress], None] | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
) -> Run:
    """Train one run and evaluate it (held-out L2 of a linear decoder); deterministic per config and device."""
    dev = resolve_device(device)
    video = video or generate_video(config.video)
    tc = config.train
    T = video.frames.shape[0]
    n_train = config.n_train
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
        log_n = 0.0  # sum of log N_b: a short last batch has its own N in I_N = log N - loss (eq. 7)
        for idx in _batches(n_items, tc.batch_size, gen, dev):
            if is_cancelled(cancel):
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
            log_n += math.log(len(idx))
            step += 1
        mean_loss = float(total) / per_epoch  # one host sync per epoch
        if not math.isfinite(mean_loss):
            raise TrainingError(
                f"the loss became non-finite in epoch {epoch}; try a smaller learning rate or another "
                f"starting value for the coupling's parameters"
            )
        mi = log_n / per_epoch - mean_loss if tc.method == "infonce" else float("nan")  # mean of log N_b - L_b
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
    return Run(
        config,
        metrics,
        history,
        z.astype(np.float32),
        {k: v.detach().cpu() for k, v in encoder.state_dict().items()},
        {k: v.detach().cpu() for k, v in coupling.state_dict().items()} if coupling else None,
    )


__all__ = ["METHODS", "Cancelled", "Progress", "Run", "RunConfig", "TrainConfig", "TrainingError", "train"]
