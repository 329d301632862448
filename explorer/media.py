"""The Data page's view model: the video form (one widget per ``config.VIDEO_FIELDS`` row, capped by the server's
limits), and a video's downloads and animation (an animated GIF, optionally with the true centres and their trails
drawn on it; an ``.npz`` with frames, centres and the configuration). No Streamlit here."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from rpm_engine.config import VIDEO_FIELDS, Field, VideoConfig, default_frame
from rpm_engine.data import Video, save_npz
from rpm_engine.figures import gif_bytes  # noqa: F401 - the one GIF writer, re-exported for the pages
from rpm_service.limits import Limits

from .state import _hex, _rgb  # the URL codec's colour spelling: one parser for links and colour pickers


# -- the video form -------------------------------------------------------------------------------------------------
def hex_colour(rgb: Sequence[int]) -> str:
    """(255, 127, 80) -> '#ff7f50', as a colour picker wants it."""
    return "#" + _hex(rgb)


def rgb_colour(text: str) -> tuple[int, int, int]:
    """'#ff7f50' (or 'ff7f50') -> (255, 127, 80); ValueError for anything else."""
    return _rgb(text)


def widget_bounds(f: Field, lim: Limits) -> tuple[float, float]:
    """A field's widget range: its schema bounds, the upper one capped by the server limit that applies to it."""
    hi = f.hi if f.limit is None else min(f.hi, getattr(lim, f.limit))
    return f.kind(f.lo), f.kind(hi)


def widget_args(f: Field, lim: Limits) -> dict:
    """Keyword arguments of the number input for one field (label with unit, range, step, help)."""
    lo, hi = widget_bounds(f, lim)
    unit = f" ({f.unit})" if f.unit and f.unit != f.name else ""
    args = {
        "label": f.label + unit,
        "min_value": lo,
        "max_value": hi,
        "step": f.kind(f.step) if f.step else f.kind(1),
        "help": f"{f.help[0].upper()}{f.help[1:]}; between {f.kind(lo):g} and {f.kind(hi):g}.",
    }
    if f.optional:
        args["placeholder"] = "= diameter" if f.name == "step" else "default"
    return args


def widget_value(f: Field, cfg: VideoConfig, lim: Limits):
    """The field's value in ``cfg`` as its widget shows it (inside the widget's range; None stays None)."""
    v = getattr(cfg, f.name)
    if v is None:
        return None
    lo, hi = widget_bounds(f, lim)
    return f.kind(min(max(v, lo), hi))


def video_from_form(values: Mapping[str, object], colours: Sequence[str], background: str) -> VideoConfig:
    """The video the form describes (canonical: the defaults typed back give the default video and its run keys).

    ``values`` maps field names to widget values; ``colours`` are the ball colour pickers (only the first ``balls``
    are used). Raises ValueError naming the field for anything the schema refuses.
    """
    kw = {f.name: values[f.name] for f in VIDEO_FIELDS}
    balls = int(kw["balls"])
    return VideoConfig(**kw, colours=tuple(rgb_colour(c) for c in colours[:balls]), background=rgb_colour(background))


def frame_slider(cfg: VideoConfig, frame: int | None) -> tuple[int, int, int]:
    """(lowest, highest, value) of a frame slider: frames 0 .. T-2 (the last one has no successor); the value is
    ``frame`` kept in range, or the default held-out frame (``config.default_frame``)."""
    hi = cfg.frames - 2
    value = default_frame(cfg) if frame is None else min(max(int(frame), 0), hi)
    return 0, hi, value


# -- downloads and animation (the GIF writer is rpm_engine.figures.gif_bytes, shared with the command line) ------


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
