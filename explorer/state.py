"""The explorer's view state: one typed schema that drives both ``to_query()`` and ``from_query()``.

A link such as ``/Compare?frames=128&size=64&c=rbf;theta=0.1&c=linear&run=...&frame=100&ball=0`` reopens the exact
view. Reading is forgiving: every value from a URL is validated, and a bad one falls back to its default with a
notice saying what was wrong. Writing is minimal: only values that differ from the defaults appear in the URL.
Pure Python: no Streamlit here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

from rpm_engine.couplings import PRESETS, CouplingSpec, canonical_name, make_coupling
from rpm_engine.data import DEFAULT_BACKGROUND, DEFAULT_COLOURS, VideoConfig
from rpm_engine.reproduce import QUICK_EPOCHS, QUICK_INIT, QUICK_VIDEO
from rpm_engine.train import RunConfig, TrainConfig
from rpm_service.limits import Limits

BASELINES = ("supervised", "untrained")
BUILTINS = ("rbf", "linear")
KEY_RE = re.compile(r"^[0-9a-f]{24}$")  # a run key: the first 24 hex digits of a config's SHA-256

# Where a coupling's parameters start when nobody said otherwise (pixels of z; see reproduce.QUICK_INIT).
DEFAULT_INIT = {"rbf": {"theta": QUICK_INIT["rbf"]["theta"]}, "linear": {"w_init": QUICK_INIT["linear"]["w_init"]}}


@dataclass(frozen=True)
class Item:
    """One entry of the training list: a coupling (contrastive training) or a baseline (supervised, untrained)."""

    method: str = "infonce"  # infonce | supervised | untrained
    coupling: CouplingSpec | None = None

    @classmethod
    def of(cls, spec: str, **init: float) -> Item:
        name = canonical_name(spec)
        if name in BASELINES:
            return cls(name, None)
        return cls("infonce", CouplingSpec.of(name, **init))

    def to_text(self) -> str:
        """'rbf;theta=0.1', 'supervised', '-sum(abs(z - zp)) / theta;theta=2' (';' never occurs in an expression)."""
        if self.coupling is None:
            return self.method
        return ";".join([self.coupling.spec] + [f"{k}={v:g}" for k, v in self.coupling.init])

    @classmethod
    def from_text(cls, text: str, balls: int = 3) -> Item:
        """Parse and check (the expression too): raises ValueError (or ExpressionError) with a readable message."""
        parts = text.split(";")
        spec, init = parts[0].strip(), {}
        for p in parts[1:]:
            name, sep, value = p.partition("=")
            try:
                init[name.strip()] = float(value)
            except ValueError:
                sep = ""
            if not sep or not name.strip().isidentifier():
                raise ValueError(f"parameter {p!r} should look like theta=0.5")
        item = cls.of(spec, **init)
        if item.coupling is not None:
            make_coupling(item.coupling.spec, 2 * balls, **dict(item.coupling.init))  # raises if bad
        return item

    @property
    def label(self) -> str:
        return self.method if self.coupling is None else self.coupling.label

    @property
    def is_expression(self) -> bool:
        return self.coupling is not None and self.coupling.spec not in BUILTINS and self.coupling.spec not in PRESETS

    def run_config(self, video: VideoConfig, epochs: int, seed: int) -> RunConfig:
        if self.coupling is None:
            return RunConfig.of(None, video=video, method=self.method, epochs=epochs, seed=seed)
        return RunConfig(video, self.coupling, TrainConfig(epochs=epochs, seed=seed))


def default_item(spec: str) -> Item:
    return Item.of(spec, **DEFAULT_INIT.get(spec, {}))


@dataclass(frozen=True)
class ViewState:
    video: VideoConfig = QUICK_VIDEO  # 128 frames of 64 px: something to see within seconds on a laptop
    items: tuple[Item, ...] = (default_item("rbf"), default_item("linear"))  # the paper's two couplings
    epochs: int = QUICK_EPOCHS
    seeds: int = 1
    prior: Item = default_item("rbf")  # the coupling shown on the Priors page
    runs: tuple[str, ...] = ()  # run keys on the Compare page (empty: the shipped example runs)
    frame: int | None = None  # None: a held-out frame, 90 % into the video
    ball: int = 0
    stride: int | None = None  # heatmap grid, px; None: default_stride (2 px at 64 px, 8 px at 256 px as in the paper)

    @property
    def frame_or_default(self) -> int:
        return default_frame(self.video) if self.frame is None else self.frame

    @property
    def stride_or_default(self) -> int:
        return default_stride(self.video) if self.stride is None else self.stride


def default_frame(video: VideoConfig) -> int:
    return int(0.9 * (video.frames - 2))


def default_stride(video: VideoConfig) -> int:
    """Heatmap grid: 2 px at 64 px, 8 px at the paper's 256 px (its Fig. 1D/E); never finer than 2 px, which keeps
    N (rendered and encoded candidate frames) near a thousand."""
    return max(2, video.size // 32)


# -- the schema ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoField:
    """A VideoConfig field and its URL name."""

    attr: str
    query: str
    kind: type


VIDEO_FIELDS = (
    VideoField("frames", "frames", int),
    VideoField("size", "size", int),
    VideoField("balls", "balls", int),
    VideoField("diameter", "diam", float),
    VideoField("step", "step", float),
    VideoField("noise_deg", "noise", float),
    VideoField("seed", "vseed", int),
    VideoField("max_draws", "draws", int),
)
SCALARS = {"epochs": "epochs", "seeds": "seeds", "frame": "frame", "ball": "ball", "stride": "stride"}
LISTS = {"items": "c", "runs": "run"}
QUERY_KEYS = (
    tuple(f.query for f in VIDEO_FIELDS) + ("colours", "bg", "prior") + tuple(SCALARS.values()) + tuple(LISTS.values())
)


def _hex(rgb) -> str:
    return "".join(f"{int(v):02x}" for v in rgb)


def _rgb(text: str) -> tuple[int, int, int]:
    t = text.strip().lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", t):
        raise ValueError(f"{text!r} is not a colour like ff7f50")
    return int(t[0:2], 16), int(t[2:4], 16), int(t[4:6], 16)


def _num(text: str, kind: type):
    if kind is int:
        if not re.fullmatch(r"-?\d+", text.strip()):
            raise ValueError(f"{text!r} is not a whole number")
        return int(text)
    v = float(text)
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a finite number")
    return v


def to_query(state: ViewState) -> dict[str, str | list[str]]:
    """The URL parameters for ``state``: only values that differ from the defaults."""
    d, q = ViewState(), {}
    v, dv = state.video, d.video
    for f in VIDEO_FIELDS:
        value = v.step_px if f.attr == "step" else getattr(v, f.attr)
        default = v.diameter if f.attr == "step" else getattr(dv, f.attr)  # step: only when it is not one diameter
        if value != default:
            q[f.query] = f"{value:g}" if isinstance(value, float) else str(value)
    if v.colours is not None:
        q["colours"] = ",".join(_hex(c) for c in v.ball_colours)
    if tuple(v.background) != tuple(DEFAULT_BACKGROUND):
        q["bg"] = _hex(v.background)
    if state.items != d.items:
        q["c"] = [i.to_text() for i in state.items] or [""]
    if state.prior != d.prior:
        q["prior"] = state.prior.to_text()
    implied = {"frame": default_frame(v), "stride": default_stride(v)}  # None and these mean the same
    for attr, key in SCALARS.items():
        value = getattr(state, attr)
        if value is not None and value != getattr(d, attr) and value != implied.get(attr):
            q[key] = str(value)
    if state.runs:
        q["run"] = list(state.runs)
    return q


def from_query(params: Mapping[str, str | list[str]], limits: Limits | None = None) -> tuple[ViewState, list[str]]:
    """The view state a URL describes, and a notice for every value that was ignored (and why).

    ``params`` maps a name to its value or list of values (``st.query_params.get_all`` gives lists). Never raises.
    """
    limits = limits or Limits()
    notices: list[str] = []
    d = ViewState()

    def values(key: str) -> list[str]:
        v = params.get(key)
        if v is None:
            return []
        return [str(x) for x in (v if isinstance(v, (list, tuple)) else [v])]

    def one(key: str) -> str | None:
        vs = values(key)
        return vs[-1] if vs else None

    # The video: each field parsed on its own, then the whole checked by VideoConfig and the server's limits.
    vkw = {}
    for f in VIDEO_FIELDS:
        raw = one(f.query)
        if raw is None:
            continue
        try:
            vkw[f.attr] = _num(raw, f.kind)
        except ValueError as exc:
            notices.append(f"URL parameter {f.query}: {exc}; using the default")
    if one("colours") is not None:
        try:
            vkw["colours"] = tuple(_rgb(c) for c in one("colours").split(","))
        except ValueError as exc:
            notices.append(f"URL parameter colours: {exc}; using the default colours")
    if one("bg") is not None:
        try:
            vkw["background"] = _rgb(one("bg"))
        except ValueError as exc:
            notices.append(f"URL parameter bg: {exc}; using the default background")
    video = d.video
    if vkw:
        try:
            video = normalise_video(dataclasses.replace(d.video, **vkw))
            limits.check_video(video)
        except ValueError as exc:
            notices.append(f"The video in the URL was not used ({exc}); showing the default video instead")
            video = d.video

    def item(text: str, what: str) -> Item | None:
        try:
            it = Item.from_text(text, video.balls)
        except ValueError as exc:
            notices.append(f"URL parameter {what}: {text!r} was ignored ({str(exc).splitlines()[0]})")
            return None
        if it.is_expression and not limits.allow_expressions:
            notices.append(f"URL parameter {what}: custom expressions are switched off on this server")
            return None
        return it

    items = d.items
    if "c" in params:
        parsed = [item(t, "c") for t in values("c") if t.strip()]
        items = tuple(dict.fromkeys(i for i in parsed if i is not None))  # drop duplicates, keep order
    prior = d.prior
    if one("prior") is not None:
        prior = item(one("prior"), "prior") or d.prior

    ints = {}
    for attr, key in SCALARS.items():
        raw = one(key)
        if raw is None:
            continue
        try:
            ints[attr] = _num(raw, int)
        except ValueError as exc:
            notices.append(f"URL parameter {key}: {exc}; using the default")
    checks = {
        "epochs": (1, limits.epochs),
        "seeds": (1, limits.seeds),
        "frame": (0, video.frames - 2),
        "ball": (0, video.balls - 1),
        "stride": (1, max(1, video.size // 4)),
    }
    for attr, (lo, hi) in checks.items():
        if attr in ints and not lo <= ints[attr] <= hi:
            notices.append(f"URL parameter {SCALARS[attr]}: {ints[attr]} is outside {lo} to {hi}; using the default")
            del ints[attr]

    runs = []
    for r in values("run"):
        if KEY_RE.fullmatch(r.strip()):
            runs.append(r.strip())
        elif r.strip():
            notices.append(f"URL parameter run: {r[:40]!r} is not a run key (24 hex digits); ignored")
    if len(runs) > 4:
        notices.append(f"The URL names {len(runs)} runs; comparing the first 4")
        runs = runs[:4]

    state = ViewState(video=video, items=items, prior=prior, runs=tuple(dict.fromkeys(runs)), **ints)
    return state, notices


def normalise_video(video: VideoConfig) -> VideoConfig:
    """One spelling per video: step None when it is one diameter, colours None when they are the defaults (so a
    video chosen in the page and the same video read from a URL have the same run keys)."""
    changes = {}
    if video.step is not None and float(video.step) == float(video.diameter):
        changes["step"] = None
    if video.colours is not None and tuple(map(tuple, video.colours)) == tuple(DEFAULT_COLOURS[: video.balls]):
        changes["colours"] = None
    return dataclasses.replace(video, **changes) if changes else video


def replace(state: ViewState, **changes) -> ViewState:
    """``dataclasses.replace`` that keeps frame and ball inside a changed video."""
    new = dataclasses.replace(state, **changes)
    if new.frame is not None and new.frame > new.video.frames - 2:
        new = dataclasses.replace(new, frame=None)
    if new.ball >= new.video.balls:
        new = dataclasses.replace(new, ball=0)
    return new


__all__ = ["BASELINES", "Item", "ViewState", "default_item", "from_query", "normalise_video", "replace", "to_query"]
