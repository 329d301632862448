"""Two versions of the fused kernels, alternating in one process on the same paper-scale batch (issue 20).

    python benchmarks/kernel_ab.py [--old COMMIT] [--threads 1|2] [--rounds N] [--size 256]

Builds ``rpm_engine/kernels/encoder_cpu.cpp`` as it is at COMMIT (default: eb562f5, the kernel this round started from) and as it
is in the working tree (COMMIT from eb562f5 on: older kernels took other buffers), then times one training step's kernels (forward + backward on 60 frames) of each in turn,
``--rounds`` times, and prints the minimum and median of each and their ratio. On a shared machine the two see the same
load; at one thread the times are the thread's CPU time, which other processes disturb least. The gradients of the two
are compared too (a kernel that reorders float sums changes the last bits, not more).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from rpm_engine import fast
from rpm_engine.encoder import Encoder

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "rpm_engine/kernels/encoder_cpu.cpp"


def step(ext, frames, idx, params, y1, y2, g1buf, scratch, gz):
    """One step's kernels. This round changed the backward's arguments (conv1's bias in, the dL/dy1 buffer out) and made
    y1 optional (an empty tensor: recomputed); kernels from before it lack ``load_frames``."""
    w1, b1, g1, be1, w2, b2, g2, be2 = params
    if hasattr(ext, "load_frames"):
        y1 = y1 if y1.numel() * 4 <= fast.STORE_Y1_BYTES else torch.empty(0)  # as fast.Workspace.y1 decides
        z, stats, com = ext.train_forward(frames, idx, w1, b1, g1, be1, w2, b2, g2, be2, 1e-5, y1, y2, scratch)
        grads = ext.train_backward(gz, frames, idx, w1, b1, g1, be1, w2, g2, be2, stats, com, y1, y2, scratch)
    else:
        z, stats, com = ext.train_forward(frames, idx, w1, b1, g1, be1, w2, b2, g2, be2, 1e-5, y1, y2, scratch)
        grads = ext.train_backward(gz, frames, idx, w1, g1, be1, w2, g2, be2, stats, com, y1, y2, g1buf, scratch)
    return z, grads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", default="eb562f5", help="the commit whose kernel is the baseline")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--size", type=int, default=256, help="frame size (256: paper scale, 64: quick)")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    clock = time.thread_time if a.threads == 1 else time.perf_counter
    with tempfile.TemporaryDirectory() as tmp:
        old_src = Path(tmp) / "encoder_cpu.cpp"
        old_src.write_text(subprocess.check_output(["git", "show", f"{a.old}:{SOURCE}"], cwd=ROOT, text=True))
        exts = {f"old ({a.old})": fast._build(old_src), "new (working tree)": fast._build(ROOT / SOURCE)}
    h = w = a.size
    frames = torch.randint(0, 256, (900, h, w, 3), dtype=torch.uint8)
    idx = torch.randint(0, 900, (60,))
    enc = Encoder(3)
    params = [p.detach() for p in (enc.conv1.weight, enc.conv1.bias, enc.bn1.weight, enc.bn1.bias)] + [
        p.detach() for p in (enc.conv2.weight, enc.conv2.bias, enc.bn2.weight, enc.bn2.bias)
    ]
    gz = torch.randn(60, 6)
    bufs = {
        n: (torch.empty(60 * 6 * h * w), torch.empty(60 * 3 * h * w), torch.empty(60 * 6 * h * w),
            torch.zeros(a.threads * e.scratch_size(h, w)))
        for n, e in exts.items()
    }  # fmt: skip
    times: dict[str, list[float]] = {n: [] for n in exts}
    out = {}
    for _ in range(a.rounds):
        for n, e in exts.items():
            t = clock()
            out[n] = step(e, frames, idx, params, *bufs[n], gz)
            times[n].append(clock() - t)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    what = "thread CPU" if a.threads == 1 else "wall"
    print(
        f"{a.size} px, 60 frames a step, {a.threads} thread(s), {a.rounds} rounds, {what} time; load {' '.join(load)}"
    )
    for n, ts in times.items():
        print(f"  {n:<22} min {min(ts) * 1e3:7.1f} ms   median {statistics.median(ts) * 1e3:7.1f} ms")
    (o, tn), (n_, tw) = times.items()
    print(
        f"  ratio old / new: min {min(tn) / min(tw):.2f}x, median {statistics.median(tn) / statistics.median(tw):.2f}x"
    )
    (zo, go), (zn, gn) = out.values()
    rel = [float((x - y).abs().max() / (x.abs().max() + 1e-30)) for x, y in zip(go, gn)]
    print(f"  max |z old - z new| {float((zo - zn).abs().max()):.1e}; gradients' max relative difference "
          f"(w1 b1 gamma1 beta1 w2 b2 gamma2 beta2; the conv biases' are ~0 before BatchNorm, so noise): "
          + " ".join(f"{r:.0e}" for r in rel))  # fmt: skip


if __name__ == "__main__":
    main()
