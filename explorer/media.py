"""Downloads and animations of a video: an animated GIF (optionally with the true centres and their trails drawn
on it) and an ``.npz`` with frames, centres and the configuration. No Streamlit here."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from rpm_engine.data import Video, save_npz


def gif_bytes(
    video: Video, *, overlay: bool = False, trail: int = 12, fps: int = 12, max_frames: int = 300, display_px: int = 320
) -> bytes:
    """An animated GIF of at most ``max_frames`` frames, scaled up (nearest neighbour) to about ``display_px``."""
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


def npz_bytes(video: Video) -> bytes:
    """frames (T, H, W, 3) uint8, centres (T, K, 2) px, redraws, stuck, config (JSON): as ``rpm_engine generate``."""
    buf = io.BytesIO()
    save_npz(video, buf)
    return buf.getvalue()


def centres_csv(video: Video) -> str:
    """frame, ball, x, y (px): the ground truth as a table."""
    lines = ["frame,ball,x_px,y_px"]
    for t in range(len(video.centres)):
        for k in range(video.config.balls):
            x, y = video.centres[t, k]
            lines.append(f"{t},{k + 1},{x:.3f},{y:.3f}")
    return "\n".join(lines) + "\n"
