"""Speed and memory of the engine against a plain eager implementation of App. D, in one process (issue 5).

    python benchmarks/bench.py [--quick] [--threads 2] [--epochs N] [--steps N] [--repeats R] [--full] [--out FILE.md]
    python benchmarks/bench.py --record      # also append the step ratio to benchmarks/results/step_ratio.jsonl
    python benchmarks/bench.py --gpu         # the 30-epoch paper run on CUDA against the same run on this CPU

The baseline below is the paper's recipe written the plain way (Fig. 2 encoder, RBF coupling eq. 27, InfoNCE eq. 6,
SGD lr 0.005, batches of 30 consecutive pairs); the engine is ``rpm_engine.train`` on the recipe's run (``config.RECIPES``)
with the same seed, batch order and thread count. ``--repeats R`` trains the engine R times and reports the minimum and
median seconds per step of both (the machine is shared: the minimum is the least disturbed); the ratio is the baseline's
median step over the engine's. Both train for ``--epochs`` epochs (paper scale: pass a small number to keep the
baseline affordable; ``--full`` adds the engine's full 30-epoch run), then report seconds per step, steps per second,
the ratio, peak RSS of each phase, and the held-out L2 of both. Also timed: evaluation (encode every frame + decoder
fit), one conditional-prior heatmap (stride 8), loading a cached run, and the Home page's first script run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import rpm_engine  # noqa: E402
from rpm_engine import RunStore, VideoConfig, conditional_prior, generate_video, l2_errors  # noqa: E402
from rpm_engine import fast as fast_mod  # noqa: E402
from rpm_engine.config import RECIPES  # noqa: E402
from rpm_engine.couplings import build as build_coupling  # noqa: E402
from rpm_engine.train import encode_frames, resolve_device  # noqa: E402


# ---- the plain baseline: App. D written the obvious way ---------------------------------------------------------
class PlainEncoder(nn.Module):
    """Conv(3->6) + BN + ReLU + Conv(6->K) + BN + sigmoid + centre of mass (Fig. 2); same init order as the engine."""

    def __init__(self, k: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.conv2, self.bn2 = nn.Conv2d(6, k, 3, padding=1), nn.BatchNorm2d(k)

    def forward(self, x):  # (B, 3, H, W) -> (B, 2K)
        s = torch.sigmoid(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
        b, k, h, w = s.shape
        p = s / s.sum((2, 3), keepdim=True)
        xs = torch.arange(w, dtype=s.dtype, device=s.device) + 0.5
        ys = torch.arange(h, dtype=s.dtype, device=s.device) + 0.5
        return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], -1).reshape(b, 2 * k)


def plain_train(
    video, epochs: int, seed: int, theta: float, dev, max_steps: int | None = None, theta_lr: float | None = None
):
    """The baseline loop; returns (encoder, log_theta, steps, seconds, seconds of each step)."""
    frames = torch.from_numpy(video.frames).to(dev)
    torch.manual_seed(seed)
    enc = PlainEncoder(video.config.balls).to(dev)
    log_theta = nn.Parameter(torch.tensor(float(np.log(theta)), device=dev))
    opt = torch.optim.SGD(
        [{"params": list(enc.parameters())}, {"params": [log_theta], "lr": theta_lr or 0.005}], lr=0.005
    )
    gen = torch.Generator().manual_seed(seed)
    n, steps, each = len(frames) - 1, 0, []
    enc.train()
    _sync(dev)
    start = last = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen).to(dev)
        for i in range(0, n, 30):
            idx = perm[i : i + 30]
            if len(idx) < 2:
                continue
            x = torch.cat([frames[idx], frames[idx + 1]]).permute(0, 3, 1, 2).float() / 255
            z, zp = enc(x).chunk(2)
            logits = -((z[:, None] - zp[None]) ** 2).sum(-1) / (2 * torch.exp(2 * log_theta))
            loss = F.cross_entropy(logits, torch.arange(len(idx), device=dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            _sync(dev)
            now = time.perf_counter()
            each.append(now - last)
            last = now
            if max_steps and steps >= max_steps:
                return enc, log_theta, steps, now - start, each
    _sync(dev)
    return enc, log_theta, steps, time.perf_counter() - start, each


@torch.inference_mode()
def plain_latents(enc, video, dev) -> np.ndarray:
    enc.eval()
    frames = torch.from_numpy(video.frames).to(dev)
    z = [enc(frames[i : i + 32].permute(0, 3, 1, 2).float() / 255) for i in range(0, len(frames), 32)]
    return torch.cat(z).double().cpu().numpy()


# ---- measuring --------------------------------------------------------------------------------------------------
def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


class Peak:
    """Peak RSS (and GPU memory) of a phase: resets the kernel's high-water mark, then samples as a fallback."""

    def __init__(self, dev):
        self.dev, self.peak, self._stop = dev, 0, threading.Event()

    @staticmethod
    def rss() -> int:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(("VmHWM", "VmRSS")):
                    key, val = line.split(":")
                    if key == "VmHWM":
                        return int(val.split()[0]) * 1024
        except OSError:
            pass
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def __enter__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (Linux)
        except OSError:
            pass
        if self.dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        self.peak = self.rss()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())
        self.gpu = torch.cuda.max_memory_allocated() if self.dev.type == "cuda" else None


def best_of(fn, repeats: int = 3) -> float:
    """Minimum wall time of ``repeats`` calls (the machine is shared: the minimum is the least disturbed)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def first_paint() -> str:
    """Seconds for the Home page's first script run (Streamlit AppTest, no browser), or 'n/a'."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "app.py").exists():
        return "n/a"
    try:
        from streamlit.testing.v1 import AppTest

        t = time.perf_counter()
        at = AppTest.from_file(str(root / "app.py"), default_timeout=120).run()
        dt = time.perf_counter() - t
        return f"{dt:.2f} s" + (" (exceptions!)" if at.exception else "")
    except Exception as exc:  # the app is not ours: report, do not fail the benchmark
        return f"n/a ({type(exc).__name__})"


RECORD = Path(__file__).resolve().parent / "results" / "step_ratio.jsonl"
REGRESSION = 0.85  # machines of one kind differ by ~15 %: a ratio below 0.85x the last commit's is flagged


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def commit() -> tuple[str, bool]:
    """(short commit, whether the engine or the bench has uncommitted changes) of this checkout, or ('n/a', False)."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "rpm_engine", "benchmarks/bench.py"],
            cwd=root,
            capture_output=True,
            text=True,
        )
        return (head.stdout.strip() or "n/a"), bool(dirty.stdout.strip())
    except OSError:
        return "n/a", False


def record(entry: dict, path: Path = RECORD) -> str:
    """Append ``entry`` to the per-commit record; returns a line comparing its ratio with the last other commit's."""
    earlier = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                earlier.append(json.loads(line))
            except ValueError:
                continue
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
    same = [e for e in earlier if e.get("scale") == entry["scale"] and e.get("threads") == entry["threads"]]
    other = [e for e in same if e.get("commit") != entry["commit"]]
    if not other:
        return f"recorded in {path} (no earlier commit at this scale and thread count to compare with)"
    last = other[-1]
    change = entry["ratio"] / last["ratio"]
    flag = "  REGRESSION: below 0.85x of the last commit's ratio" if change < REGRESSION else ""
    return (
        f"recorded in {path}; ratio {entry['ratio']:.2f}x against {last['ratio']:.2f}x at {last['commit']} "
        f"({last['date']}): {change:.2f}x{flag}"
    )


def gpu(a) -> int:
    """The 30-epoch paper-scale run on CUDA against the same run on this machine's CPU (issue 20)."""
    if not torch.cuda.is_available():
        print(f"no CUDA device: torch {torch.__version__} sees no GPU here; nothing measured (run on a GPU machine)")
        return 2
    recipe = RECIPES["paper"]
    video = generate_video(recipe.video)
    cfg = recipe.run_config("rbf", seed=a.seed, epochs=a.epochs or recipe.epochs)
    rpm_engine.train(recipe.run_config("rbf", seed=a.seed, epochs=1), video, device="cuda")  # CUDA context, kernels
    name = torch.cuda.get_device_name(0)
    print(f"paper scale, {cfg.train.epochs} epochs, seed {a.seed}; GPU {name}; CPU {a.threads} threads", flush=True)
    with Peak(torch.device("cuda")) as pg:
        g = rpm_engine.train(cfg, video, device="cuda")
    steps = g.metrics["steps"]
    print(
        f"cuda: {g.metrics['train_seconds']:.2f} s train ({g.metrics['train_seconds'] / steps:.4f} s/step over {steps} "
        f"steps), held-out L2 {g.metrics['l2_mean']:.3f} px, peak GPU memory {pg.gpu / 2**20:.0f} MB",
        flush=True,
    )
    fast_mod.extension()
    c = rpm_engine.train(cfg, video, device="cpu")
    print(
        f"cpu:  {c.metrics['train_seconds']:.2f} s train ({c.metrics['train_seconds'] / steps:.4f} s/step), "
        f"held-out L2 {c.metrics['l2_mean']:.3f} px, fused kernels {c.metrics['fused_kernels']}",
        flush=True,
    )
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the quick recipe's video (512 frames of 64 px)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="epochs for both (default: 30 quick, 2 paper)")
    ap.add_argument("--steps", type=int, default=None, help="stop the baseline after N steps (speed only, no L2)")
    ap.add_argument("--repeats", type=int, default=1, help="engine runs to take the min and median step of")
    ap.add_argument("--full", action="store_true", help="also time the engine's full 30-epoch run")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write the table as Markdown to this file")
    ap.add_argument(
        "--record", action="store_true", help="append the step ratio to benchmarks/results/step_ratio.jsonl"
    )
    ap.add_argument("--gpu", action="store_true", help="the 30-epoch paper run on CUDA and on this CPU (time, L2)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.gpu:
        return gpu(a)
    dev = resolve_device(a.device)
    scale = "quick" if a.quick else "paper"
    recipe = RECIPES[scale]
    vcfg: VideoConfig = recipe.video
    epochs = a.epochs if a.epochs is not None else (30 if a.quick else 2)
    video = generate_video(vcfg)
    fast_mod.extension()  # build / load the kernels before timing anything
    rows: list[tuple[str, str]] = []

    def add(name, value):
        rows.append((name, value))
        print(f"{name:<44} {value}", flush=True)

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"scale {scale}: {vcfg.frames} frames, {vcfg.size} px, {vcfg.balls} balls of {vcfg.diameter:g} px; "
        f"{epochs} epochs; {a.threads} threads; device {dev}; fused kernels: "
        f"{fast_mod.extension() is not None and dev.type == 'cpu'}; {when}; load average {load_average()}",
        flush=True,
    )

    # 1. engine first (its peak RSS is then not hidden by the baseline's), then the baseline, same seed and order
    cfg = recipe.run_config("rbf", seed=a.seed, epochs=epochs)
    engine_steps = []
    with Peak(dev) as pe:
        for _ in range(max(1, a.repeats)):
            res = rpm_engine.train(cfg, video, device=dev.type)
            engine_steps.append(res.metrics["train_seconds"] / res.metrics["steps"])
    e_steps = res.metrics["steps"]
    with Peak(dev) as pb:
        enc, _, b_steps, b_s, b_each = plain_train(
            video, epochs, a.seed, recipe.theta0, dev, a.steps, theta_lr=recipe.length_scale_lr
        )
    b_l2 = l2_errors(plain_latents(enc, video, dev), video.centres)["mean"] if not a.steps else float("nan")
    b_each = b_each[1:] or b_each  # the first step pays one-off costs (allocator, oneDNN's primitive cache)
    b_min, b_med = min(b_each), float(np.median(b_each))
    e_min, e_med = min(engine_steps), float(np.median(engine_steps))
    add("baseline s/step min / median", f"{b_min:.4f} / {b_med:.4f} ({1 / b_med:.2f}/s) over {b_steps} steps")
    add(
        "engine s/step min / median",
        f"{e_min:.4f} / {e_med:.4f} ({1 / e_med:.2f}/s), {len(engine_steps)} run(s) of {e_steps} steps",
    )
    add("speed-up (baseline median / engine median)", f"{b_med / e_med:.2f}x (min / min {b_min / e_min:.2f}x)")
    add("peak RSS baseline / engine", f"{pb.peak / 2**20:.0f} MB / {pe.peak / 2**20:.0f} MB")
    if dev.type == "cuda":
        add("peak GPU memory baseline / engine", f"{pb.gpu / 2**20:.0f} MB / {pe.gpu / 2**20:.0f} MB")
    add(f"held-out L2 after {epochs} epochs baseline / engine", f"{b_l2:.3f} px / {res.metrics['l2_mean']:.3f} px")
    if a.full:
        full = recipe.run_config("rbf", seed=a.seed, epochs=30)
        with Peak(dev) as pf:
            r30 = rpm_engine.train(full, video, device=dev.type)
        add(
            "engine full 30-epoch run (train s, L2, RSS)",
            f"{r30.metrics['train_seconds']:.1f} s, {r30.metrics['l2_mean']:.3f} px, {pf.peak / 2**20:.0f} MB",
        )
    if a.record:
        head, dirty = commit()
        entry = {
            "commit": head,
            "dirty": dirty,
            "date": when,
            "load": load_average(),
            "host": platform.node() or "host",
            "cpu": platform.machine(),
            "cpu_flags_sha256": fast_mod.provenance()["cpu_flags_sha256"],
            "kernel_source_sha256": fast_mod.source_sha()[:16],
            "torch": torch.__version__,
            "fused": fast_mod.extension() is not None and dev.type == "cpu",
            "scale": scale,
            "threads": a.threads,
            "epochs": epochs,
            "baseline_s_per_step": {"min": round(b_min, 5), "median": round(b_med, 5), "steps": len(b_each)},
            "engine_s_per_step": {"min": round(e_min, 5), "median": round(e_med, 5), "runs": len(engine_steps)},
            "ratio": round(b_med / e_med, 3),
            "ratio_min": round(b_min / e_min, 3),
            "command": "python benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        }
        print(record(entry), flush=True)

    # 2. evaluation: encode every frame + decoder fit (engine vs eager chunks)
    from rpm_engine.encoder import Encoder

    model = Encoder(vcfg.balls).to(dev)
    model.load_state_dict(res.encoder_state)
    frames = torch.from_numpy(video.frames).to(dev)

    def engine_eval():
        l2_errors(encode_frames(model, frames).double().cpu().numpy(), video.centres)

    def plain_eval():
        l2_errors(plain_latents(enc, video, dev), video.centres)

    te, tb = best_of(engine_eval), best_of(plain_eval)
    add("evaluation (encode all + fit) baseline / engine", f"{tb:.3f} s / {te:.3f} s ({tb / te:.1f}x)")

    # 3. one conditional-prior heatmap at stride 8 (the patch path vs whole candidate frames)
    import rpm_engine.evaluate as ev

    coupling = build_coupling(cfg.coupling, model.dim).to(dev)
    coupling.load_state_dict(res.coupling_state)
    t_hm = best_of(lambda: conditional_prior(model, coupling, video, 100, 0, stride=8))
    hm = conditional_prior(model, coupling, video, 100, 0, stride=8)
    saved = ev._local_ok
    ev._local_ok = lambda e: False  # whole frames, eager: the plain way
    try:
        t_full = best_of(lambda: conditional_prior(model, coupling, video, 100, 0, stride=8), repeats=1)
    finally:
        ev._local_ok = saved
    add(f"heatmap stride 8 ({hm.n} candidates) whole frames / engine", f"{t_full:.3f} s / {t_hm:.3f} s")

    # 4. loading a cached run
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(tmp)
        store.save(res)
        t_load = best_of(lambda: store.load(cfg), repeats=5)
    add("cached run load (RunStore.load)", f"{t_load * 1000:.1f} ms")

    # 5. the Home page
    add("Home page first script run (AppTest)", first_paint())

    if a.out:
        head = (
            f"### {scale} scale, {when}, load average {load_average()}, {platform.node() or 'host'} "
            f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__})\n\n"
            f"`python benchmarks/bench.py {' '.join(argv if argv is not None else sys.argv[1:])}`\n\n"
            "| measure | value |\n| --- | --- |\n"
        )
        a.out.write_text(head + "".join(f"| {n} | {v} |\n" for n, v in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
