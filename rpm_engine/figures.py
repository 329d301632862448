"""Static figures for the command line (PNG via matplotlib, GIF via Pillow); the app draws with Plotly instead."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .data import COLOUR_NAMES, Video
from .evaluate import Heatmap

# One colour per method / coupling, shared by every figure (and by the command line's figures for the first four).
METHOD_COLOURS = {
    "supervised": "#4c4c4c",
    "rbf": "#2a9d8f",
    "linear": "#e76f51",
    "untrained": "#9c9c9c",
    "laplace": "#7b2cbf",
    "cauchy": "#3a86ff",
    "student-t": "#c77d00",
    "cosine": "#d62828",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def gif_bytes(
    video: Video, *, overlay: bool = False, trail: int = 12, fps: int = 12, max_frames: int = 300, display_px: int = 320
) -> bytes:
    """One GIF writer for the CLI and the app: an animated GIF of at most ``max_frames`` frames, scaled up (nearest neighbour) to about ``display_px``."""
    from PIL import Image, ImageDraw

    size = video.config.size
    scale = max(1, min(8, display_px // size))
    frames = video.frames[:max_frames]
    images = []
    for t, f in enumerate(frames):
        img = Image.fromarray(f)
        if scale > 1:
            img = img.resize((size * scale, size * scale), Image.NEAREST)
        if overlay:
            draw = ImageDraw.Draw(img)
            for k, colour in enumerate(video.config.ball_colours):
                path = video.centres[max(0, t - trail) : t + 1, k] * scale
                if len(path) > 1:
                    draw.line([tuple(p) for p in path], fill=tuple(int(c) for c in colour), width=max(1, scale // 2))
                x, y = video.centres[t, k] * scale
                r = max(2, scale)
                draw.ellipse([x - r, y - r, x + r, y + r], outline=(255, 255, 255), width=max(1, scale // 3))
        images.append(img.convert("P", palette=Image.ADAPTIVE, colors=64))
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=int(1000 / fps),
        loop=0,
        optimize=False,
        disposal=1,
    )
    return buf.getvalue()


def save_gif(video: Video, path: Path, fps: int = 12, max_frames: int = 300) -> Path:
    """The video as an animated GIF file (``gif_bytes`` at the video's own size)."""
    Path(path).write_bytes(gif_bytes(video, fps=fps, max_frames=max_frames, display_px=video.config.size))
    return Path(path)


def l2_bars(methods: dict, path: Path) -> Path:
    """Fig. 1C: held-out L2 per method over seeds on a log scale (errors span decades): bars are geometric means and
    whiskers the 95 % interval of log L2 (``evaluate.log_summary``), so both ends stay above 0 and nothing is clipped."""
    from .evaluate import log_summary

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    names = list(methods)
    summaries = [log_summary(methods[m]["l2_per_seed"]) for m in names]
    means = [s["mean"] for s in summaries]
    lo = [s["mean"] - s["lo"] if s["lo"] == s["lo"] else 0 for s in summaries]
    hi = [s["hi"] - s["mean"] if s["hi"] == s["hi"] else 0 for s in summaries]
    ax.bar(names, means, color=[METHOD_COLOURS.get(m, "#888") for m in names], yerr=[lo, hi], capsize=4)
    for i, per_seed in enumerate(methods[m]["l2_per_seed"] for m in names):
        ax.scatter([i] * len(per_seed), per_seed, color="k", s=8, zorder=3)
    ax.set_yscale("log")
    ax.set_ylabel("held-out mean L2 error (px)")
    ax.set_title("Linear read-out of the latents (Fig. 1C; geometric means)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def centres_plot(video: Video, runs: dict, path: Path, ball: int = 0) -> Path:
    """Fig. 1B: decoded against true x and y of one ball over the held-out frames, one panel per method."""
    plt = _plt()
    methods = [m for m in METHOD_COLOURS if any(m == k for k, _ in runs)]
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.2), dpi=120, sharey=True)
    for ax, m in zip(np.atleast_1d(axes), methods):
        n = runs[(m, 0)].config.n_train
        dec = runs[(m, 0)].decoded(video)
        ax.plot(video.centres[n:, ball, 0], video.centres[n:, ball, 1], "-", color="k", lw=1, label="true")
        ax.plot(dec[n:, ball, 0], dec[n:, ball, 1], ".", color=METHOD_COLOURS[m], ms=3, label="decoded")
        ax.set_title(m)
        ax.set_xlim(0, video.config.size)
        ax.set_ylim(video.config.size, 0)
        ax.set_aspect("equal")
        ax.set_xlabel("x (px)")
    np.atleast_1d(axes)[0].set_ylabel("y (px)")
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{COLOUR_NAMES[ball]} ball, held-out frames (seed 0)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def heatmap(video: Video, hm: Heatmap, path: Path, title: str = "P(z'|z)") -> Path:
    """Fig. 1D/E: the conditional prior over one ball's next position, on the frame, scale 0 · 1/N · >= 4/N."""
    plt = _plt()
    size = video.config.size
    fig, ax = plt.subplots(figsize=(4.2, 3.8), dpi=120)
    ax.imshow(video.frames[hm.frame + 1], extent=(0, size, size, 0), alpha=0.5)
    step = hm.xs[1] - hm.xs[0] if len(hm.xs) > 1 else size
    extent = (hm.xs[0] - step / 2, hm.xs[-1] + step / 2, hm.ys[-1] + step / 2, hm.ys[0] - step / 2)
    im = ax.imshow(np.ma.masked_invalid(hm.prob), extent=extent, cmap="magma", vmin=0, vmax=4 / hm.n, alpha=0.85)
    cb = fig.colorbar(im, ax=ax, ticks=[0, 1 / hm.n, 4 / hm.n])
    cb.ax.set_yticklabels(["0", "1/N", ">= 4/N"])
    ax.plot(*hm.current, "o", mfc="none", mec="white", ms=9, label="now")
    ax.plot(*hm.true_next, "x", color="cyan", ms=9, mew=2, label="true next")
    ax.set_xlim(0, size)
    ax.set_ylim(size, 0)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    ax.set_title(f"{title}\nframe {hm.frame}, {COLOUR_NAMES[hm.ball]} ball, N = {hm.n}", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, facecolor="#555", labelcolor="white")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
