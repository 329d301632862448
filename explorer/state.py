"""The explorer's view state and its URL codec: ONE list of properties (``PROPS``) drives ``to_query`` and
``from_query``, as TensorFlow Playground's ``PROPS`` drive its ``serialize``/``deserialize``.

A link such as ``/compare?frames=128&size=64&c=rbf;theta=0.1&c=linear&run=...&frame=100&ball=0`` reopens the exact
view. The video's properties come from the engine's schema (``rpm_engine.config.VIDEO_FIELDS``: URL name, parser,
bounds, the limit that caps it); the view's own properties (epochs, seeds, frame, ball, grid, runs, prior, training
list, log scale, the classroom ``*_hide`` flags) are the small table below. Reading is forgiving: any query string
gives a valid view within the server's limits plus one notice per ignored value (never an exception, never more than
``ECHO`` characters of a bad value). Writing is minimal: only values that differ from the defaults. No Streamlit here.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rpm_engine.config import (
    QUICK_RECIPE,
    QUICK_VIDEO,
    VIDEO_FIELDS,
    RunConfig,
    VideoConfig,
    default_frame,
)
from rpm_engine.coupling_spec import PRESETS, CouplingSpec, canonical_name, coupling_info
from rpm_engine.sweep import TRAIN_PARAMS
from rpm_engine.text import clip, first_line, parse_assignment
from rpm_service.limits import Limits

BASELINES = ("supervised", "untrained")
BUILTINS = ("rbf", "linear")
KEY_RE = re.compile(r"^[0-9a-f]{24}$")  # a run key: the first 24 hex digits of a config's SHA-256
MAX_RUNS = 4  # runs side by side on Compare
MAX_ITEMS = 12  # entries of the training list a link may name
MAX_VALUE = 1000  # characters of one URL value we try to parse (an expression is far shorter)
ECHO = 40  # characters of a bad value a notice may repeat
HIDE_FLAGS = ("controls", "sliders", "sidebar", "text")  # classroom link: ?controls_hide=1&sidebar_hide=1
MAX_CANDIDATES = 4096  # rendered and encoded frames per heatmap: a 64x64 grid, about a second on a CPU

# The app trains every run with the quick recipe (config.QUICK_RECIPE: where each coupling starts, θ's own learning
# rate), on whatever video the visitor chose, so its runs are the shipped runs and the command line's.
RECIPE = QUICK_RECIPE


def number_text(v: float) -> str:
    """A number as the URL spells it: '8' for 8.0, the shortest exact text otherwise (so it reads back equal)."""
    if isinstance(v, int) or (math.isfinite(v) and float(v).is_integer() and abs(v) < 1e15):
        return str(int(v))
    return repr(float(v))


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
        return ";".join([self.coupling.spec] + [f"{k}={number_text(v)}" for k, v in self.coupling.init])

    @classmethod
    def from_text(cls, text: str, balls: int = 3) -> Item:
        """Parse and check (the expression too): raises ValueError (or ExpressionError) with a readable message."""
        parts = text.split(";")
        spec, init = parts[0].strip(), {}
        for p in parts[1:]:
            expects = "NAME=NUMBER (e.g. theta=0.5)"
            name, value = parse_assignment(p, "parameter", example=expects)
            try:
                init[name] = float(value)
            except ValueError:
                init[name] = math.nan
            if not name.isidentifier() or not math.isfinite(init[name]):
                raise ValueError(f"parameter expects {expects}, got {clip(p, 20)}")
        item = cls.of(spec, **init)
        if item.coupling is not None:
            from rpm_engine.couplings import make_coupling  # torch: only for a list item that names a coupling

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
            return RECIPE.run_config(None, method=self.method, seed=seed, video=video, epochs=epochs)
        return RECIPE.run_config(self.coupling, seed=seed, video=video, epochs=epochs)


def default_item(spec: str) -> Item:
    """A coupling (or baseline) with the shipped runs' starting values."""
    return Item.of(spec, **RECIPE.starting_values(spec)) if spec not in BASELINES else Item.of(spec)


@dataclass(frozen=True)
class ViewState:
    """Everything a link names: the video, what to train, what to show. Canonical: ``frame``/``stride`` are None
    when they are the default, so one view has one URL."""

    video: VideoConfig = QUICK_VIDEO  # 128 frames of 64 px: something to see within seconds on a laptop
    items: tuple[Item, ...] = (default_item("rbf"), default_item("linear"))  # the paper's two couplings
    epochs: int = RECIPE.epochs
    seeds: int = 1
    prior: Item = default_item("rbf")  # the coupling shown on the Priors page
    runs: tuple[str, ...] = ()  # run keys on the Compare page (empty: the shipped example runs)
    frame: int | None = None  # None: config.default_frame (a held-out frame)
    ball: int = 0
    stride: int | None = None  # heatmap grid, px; None: default_stride
    log_y: bool = True  # Compare: errors on a log scale
    hide: frozenset[str] = field(default_factory=frozenset)  # classroom flags: names from HIDE_FLAGS
    explore: ExploreState = field(default_factory=lambda: ExploreState())  # the Explore page's sweep

    @property
    def frame_or_default(self) -> int:
        return default_frame(self.video) if self.frame is None else self.frame

    @property
    def stride_or_default(self) -> int:
        return default_stride(self.video) if self.stride is None else self.stride

    def hidden(self, what: str) -> bool:
        """True when the link hides ``what`` (a name from ``HIDE_FLAGS``)."""
        return what in self.hide


def default_stride(video: VideoConfig) -> int:
    """Heatmap grid: 2 px at 64 px, 8 px at the paper's 256 px (its Fig. 1D/E); never finer than 2 px, which keeps
    N (rendered and encoded candidate frames) near a thousand."""
    return max(2, video.size // 32)


def heatmap_strides(min_size: int, max_size: int) -> list[int]:
    """Grid spacings offered for heatmaps: at most MAX_CANDIDATES candidates, at least 4 points across."""
    ok = [s for s in (1, 2, 4, 8, 16, 32) if (max_size / s) ** 2 <= MAX_CANDIDATES and s <= max(1, min_size // 4)]
    return ok or [max(1, max_size // 64)]


# -- the Explore page's sweep, as its URL carries it (xf, xseeds, xepochs, xshow in the property table below) ------
DEFAULT_GRIDS = {("rbf", "theta"): "0.01,0.03,0.1,0.3,1", ("linear", "w_init"): "0.0001,0.001,0.01"}
MAX_FAMILIES = 8  # families of one Explore sweep a link may name


@dataclass(frozen=True)
class FamilyRow:
    """One family: a coupling (built-in, preset or expression), the parameter it varies and that parameter's grid
    (``"0.1,1,10"`` or ``"log:0.01:1:5"``); an empty ``param`` is one configuration at the recipe's start."""

    coupling: str
    param: str = ""
    values: str = ""

    def to_text(self) -> str:
        """'rbf;theta=0.01,0.1,1' (';' never occurs in an expression)."""
        return self.coupling + (f";{self.param}={self.values}" if self.param else "")

    @classmethod
    def from_text(cls, text: str) -> FamilyRow:
        spec, sep, grid = text.rpartition(";") if ";" in text else (text, "", "")
        if not sep:
            return cls(text.strip())
        name, values = parse_assignment(grid, "a family's grid", example="NAME=VALUES (e.g. theta=0.1,1,10)")
        return cls(spec.strip(), name, values.strip())


@dataclass(frozen=True)
class ExploreState:
    """What the Explore page shows, as its URL carries it."""

    families: tuple[FamilyRow, ...] = (FamilyRow("rbf", "theta", DEFAULT_GRIDS[("rbf", "theta")]),)
    seeds: str = "0-2"
    epochs: int = RECIPE.epochs
    show: tuple[str, ...] = ()  # leaderboard: only these families (empty: all)


def grid_params(spec: str) -> list[str]:
    """What a family can vary: the coupling's own parameters (those a student moves), then training settings."""
    return [p.name for p in coupling_info(spec).user_params] + list(TRAIN_PARAMS)


TRAIN_LABELS = {
    "epochs": "epochs",
    "lr": "learning rate",
    "batch_size": "batch size",
    "coupling_lr": "the coupling's own learning rate",
}


def param_label(spec: str, name: str) -> str:
    """What a family's varied parameter is called on the page and on the figure's axis."""
    if name in TRAIN_PARAMS:
        return TRAIN_LABELS[name]
    p = coupling_info(spec).param(name)
    return f"{p.label} at the start of training" + (" (encoder units)" if p.unit in ("px of z", "1/px²") else "")


# -- limits ----------------------------------------------------------------------------------------------------------
def within_limits(video: VideoConfig, limits: Limits) -> bool:
    try:
        limits.check_video(video)
    except ValueError:
        return False
    return True


def default_view(limits: Limits | None = None) -> ViewState:
    """The view with no URL: the quick video and recipe, clamped to this server's limits."""
    lim = limits or Limits()
    d = ViewState()
    seeds = d.explore.seeds if lim.seeds >= 3 else ("0" if lim.seeds == 1 else f"0-{lim.seeds - 1}")
    explore = dataclasses.replace(d.explore, seeds=seeds, epochs=min(d.explore.epochs, lim.epochs))
    return dataclasses.replace(d, video=lim.clamp_video(d.video), epochs=min(d.epochs, lim.epochs), explore=explore)


# -- the property table ----------------------------------------------------------------------------------------------
def _hex(rgb) -> str:
    return "".join(f"{int(v):02x}" for v in rgb)


def _rgb(text: str) -> tuple[int, int, int]:
    t = text.strip().lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", t):
        raise ValueError(f"{clip(text)} is not a colour like ff7f50")
    return int(t[0:2], 16), int(t[2:4], 16), int(t[4:6], 16)


def _int_in(lo: int, hi: int, raw: str, name: str) -> int:
    if not re.fullmatch(r"\s*-?\d{1,12}\s*", raw):
        raise ValueError(f"{clip(raw)} is not a whole number")
    v = int(raw)
    if not lo <= v <= hi:
        raise ValueError(f"{v} is outside {lo} to {hi}")
    return v


def _flag(raw: str) -> bool:
    s = raw.strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{clip(raw)} is not 1 or 0")


@dataclass(frozen=True)
class Ctx:
    """What a view property's parser may depend on: the server's limits and the (already read) video."""

    limits: Limits
    video: VideoConfig


@dataclass(frozen=True)
class Prop:
    """One URL parameter of the view: ``read`` turns its values (all of them, in order) into the attribute's value or
    raises ValueError; ``write`` gives the URL value(s), or None when the value is the default."""

    url: str
    attr: str
    read: Callable[[list[str], Ctx], object]
    write: Callable[[object, ViewState, ViewState], str | list[str] | None]
    many: bool = False  # read every value (a list), not only the last one


def _scalar(url: str, attr: str, bounds: Callable[[Ctx], tuple[int, int]]) -> Prop:
    def read(vs, ctx):
        return _int_in(*bounds(ctx), vs[-1], url)

    def write(v, state, d):
        return None if v is None or v == getattr(d, attr) else str(v)

    return Prop(url, attr, read, write)


def _items_read(vs: list[str], ctx: Ctx) -> tuple[Item, ...]:
    return tuple(dict.fromkeys(_item(v, ctx) for v in vs[:MAX_ITEMS] if v.strip()))


def _item(text: str, ctx: Ctx) -> Item:
    it = Item.from_text(text, ctx.video.balls)
    if it.is_expression and not ctx.limits.allow_expressions:
        raise ValueError("custom expressions are switched off on this server")
    return it


def _runs_read(vs: list[str], ctx: Ctx) -> tuple[str, ...]:
    keys = [v.strip() for v in vs if v.strip()]
    for k in keys:
        if not KEY_RE.fullmatch(k):
            raise ValueError(f"{clip(k)} is not a run key (24 hex digits)")
    return tuple(dict.fromkeys(keys))[:MAX_RUNS]


def _stride_read(vs: list[str], ctx: Ctx) -> int:
    v = _int_in(1, 64, vs[-1], "stride")
    ok = heatmap_strides(ctx.video.size, ctx.video.size)
    if v not in ok:
        raise ValueError(f"{v} px is not one of the grids offered at {ctx.video.size} px ({', '.join(map(str, ok))})")
    return v


def _families_read(vs: list[str], ctx: Ctx) -> tuple[FamilyRow, ...]:
    rows = []
    for text in vs[:MAX_FAMILIES]:
        row = FamilyRow.from_text(text)
        coupling_info(row.coupling)  # an unknown name or a bad expression is refused here
        if row.coupling not in BUILTINS and row.coupling not in PRESETS and not ctx.limits.allow_expressions:
            raise ValueError("custom expressions are switched off on this server")
        if row.param and row.param not in grid_params(row.coupling):
            raise ValueError(f"{row.coupling} has no parameter {clip(row.param)}")
        rows.append(row)
    return tuple(dict.fromkeys(rows))


def _seeds_read(vs: list[str], ctx: Ctx) -> str:
    from rpm_engine.grids import parse_seeds  # checked from the text alone, before a seed is listed

    parse_seeds(vs[-1], max_seed=ctx.limits.seeds - 1, limit="this server's limit")
    return vs[-1].strip()


def _explore(attr: str, read, write, many: bool = False) -> Prop:
    """A property of the Explore page's sweep (``ViewState.explore``), written when it differs from the default."""
    return Prop(f"x{attr if attr != 'families' else 'f'}", f"explore.{attr}", read,
                lambda v, s, d: None if v == getattr(d.explore, attr) else write(v), many=many)  # fmt: skip


VIEW_PROPS: tuple[Prop, ...] = (
    Prop(
        "c",
        "items",
        _items_read,
        lambda v, s, d: None if v == d.items else ([i.to_text() for i in v] or [""]),
        many=True,
    ),
    Prop("prior", "prior", lambda vs, ctx: _item(vs[-1], ctx), lambda v, s, d: None if v == d.prior else v.to_text()),
    _scalar("epochs", "epochs", lambda ctx: (1, ctx.limits.epochs)),
    _scalar("seeds", "seeds", lambda ctx: (1, ctx.limits.seeds)),
    _scalar("frame", "frame", lambda ctx: (0, ctx.video.frames - 2)),
    _scalar("ball", "ball", lambda ctx: (0, ctx.video.balls - 1)),
    Prop("stride", "stride", _stride_read, lambda v, s, d: None if v is None else str(v)),
    Prop("run", "runs", _runs_read, lambda v, s, d: list(v) or None, many=True),
    Prop("log", "log_y", lambda vs, ctx: _flag(vs[-1]), lambda v, s, d: None if v == d.log_y else str(int(v))),
    _explore("families", _families_read, lambda v: [f.to_text() for f in v], many=True),
    _explore("seeds", _seeds_read, str),
    _explore("epochs", lambda vs, ctx: _int_in(1, ctx.limits.epochs, vs[-1], "xepochs"), str),
    _explore("show", lambda vs, ctx: tuple(v[:200] for v in vs[:MAX_FAMILIES]), list, many=True),
)
HIDE_PROPS = tuple(f"{name}_hide" for name in HIDE_FLAGS)


def _video_props() -> list[tuple[str, Callable[[str], object], str]]:
    """(URL name, parser of one value, VideoConfig attribute): the schema's fields, then the colours."""
    props = [(f.url, lambda raw, f=f: f.parse(raw.strip(), f.url), f.name) for f in VIDEO_FIELDS]
    props.append(("colours", lambda raw: tuple(_rgb(c) for c in raw.split(",")[:16]), "colours"))
    props.append(("bg", _rgb, "background"))
    return props


VIDEO_PROPS = _video_props()
QUERY_NAMES = (*(p[0] for p in VIDEO_PROPS), *(p.url for p in VIEW_PROPS), *HIDE_PROPS)


def _video_value(video: VideoConfig, attr: str):
    if attr == "colours":
        return video.colours
    return getattr(video, attr)


def _video_text(attr: str, value) -> str:
    if attr == "colours":
        return ",".join(_hex(c) for c in value)
    if attr == "background":
        return _hex(value)
    return number_text(value)


# -- the codec -----------------------------------------------------------------------------------------------------
def to_query(state: ViewState, limits: Limits | None = None) -> dict[str, str | list[str]]:
    """The URL parameters for ``state``: only values that differ from the defaults (``default_view(limits)``)."""
    d = default_view(limits)
    q: dict[str, str | list[str]] = {}
    for url, _, attr in VIDEO_PROPS:
        value = _video_value(state.video, attr)
        if value is not None and value != _video_value(d.video, attr):
            q[url] = _video_text(attr, value)
    canon = canonical(state)
    for p in VIEW_PROPS:
        text = p.write(_get(canon, p.attr), canon, d)
        if text is not None:
            q[p.url] = text
    for name, url in zip(HIDE_FLAGS, HIDE_PROPS):
        if name in state.hide:
            q[url] = "1"
    return q


def from_query(params: Mapping[str, object], limits: Limits | None = None) -> tuple[ViewState, list[str]]:
    """The view a URL describes, within the server's ``limits``, and one notice per value that was ignored.

    ``params`` maps a name to its value or list of values (``st.query_params.get_all`` gives lists). Never raises.
    """
    lim = limits or Limits()
    d = default_view(lim)
    notices: list[str] = []

    def values(key: str) -> list[str]:
        v = params.get(key)
        if v is None:
            return []
        vs = [str(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
        too_long = [x for x in vs if len(x) > MAX_VALUE]
        if too_long:
            notices.append(f"URL parameter {key}: a value of {len(too_long[0])} characters was ignored")
        return [x for x in vs if len(x) <= MAX_VALUE]

    def ignored(key: str, raw, exc: Exception) -> None:
        notices.append(f"URL parameter {key}: {clip(raw)} was ignored ({_reason(exc, raw)})")

    # The video: each field parsed by the schema, the whole checked by VideoConfig, then held to the limits.
    vkw = {}
    for url, parse, attr in VIDEO_PROPS:
        vs = values(url)
        if not vs:
            continue
        try:
            vkw[attr] = parse(vs[-1])
        except (ValueError, TypeError, OverflowError) as exc:
            ignored(url, vs[-1], exc)
    video = d.video
    if vkw:
        try:
            video = dataclasses.replace(d.video, **vkw)
        except (ValueError, TypeError, OverflowError) as exc:
            notices.append(f"The video in the URL was not used ({_reason(exc, '')}); showing the default video")
        clamped = lim.clamp_video(video)
        if clamped != video:
            notices.append(
                "The video in the URL is over this server's limits "
                f"({lim.frames} frames, {lim.size} px, {lim.balls} balls); showing the largest one allowed"
            )
            video = clamped
        if not within_limits(video, lim):
            video = d.video

    ctx = Ctx(lim, video)
    kw = {"video": video}
    for p in VIEW_PROPS:
        vs = values(p.url)
        if p.url not in params:
            continue
        if not vs:
            if p.many:
                kw[p.attr] = ()  # an explicitly empty list (e.g. ?c= : nothing to train)
            continue
        try:
            kw[p.attr] = p.read(vs if p.many else vs[-1:], ctx)
        except Exception as exc:  # noqa: BLE001 - any bad value (an ExpressionError too) becomes a notice
            if not p.many:
                ignored(p.url, vs[-1], exc)
                continue
            good = []
            for v in vs:  # a list keeps its good values, with one notice per bad one
                try:
                    p.read([v], ctx)
                    good.append(v)
                except Exception as one:  # noqa: BLE001
                    ignored(p.url, v, one)
            kw[p.attr] = p.read(good, ctx)
    nested = {k.split(".", 1)[1]: kw.pop(k) for k in [k for k in kw if "." in k]}  # explore.seeds -> seeds
    if nested:
        if not nested.get("families", True):
            nested.pop("families")  # ?xf= with nothing usable: the default sweep
        kw["explore"] = dataclasses.replace(d.explore, **nested)
    if len(values("run")) > MAX_RUNS:
        notices.append(f"The URL names more than {MAX_RUNS} runs; comparing the first {MAX_RUNS}")
    hide = set()
    for name, url in zip(HIDE_FLAGS, HIDE_PROPS):
        vs = values(url)
        if vs:
            try:
                if _flag(vs[-1]):
                    hide.add(name)
            except ValueError as exc:
                ignored(url, vs[-1], exc)
    notices += misspelt_flags(params)
    state = canonical(dataclasses.replace(d, **kw, hide=frozenset(hide)))
    return state, notices


def _get(state: ViewState, attr: str):
    """``state.attr``, or ``state.explore.seeds`` for a dotted ``attr``."""
    for part in attr.split("."):
        state = getattr(state, part)
    return state


def misspelt_flags(params) -> list[str]:
    """One notice per parameter that looks like a classroom flag but is not one (``control_hide=1``), naming the
    closest real flag: the same one-line notice as any other bad link value."""
    import difflib

    out = []
    for name in map(str, params):
        if name.endswith("_hide") and name not in HIDE_PROPS:
            close = difflib.get_close_matches(name, HIDE_PROPS, n=1)
            hint = f"did you mean {close[0]}?" if close else f"the flags are {', '.join(HIDE_PROPS)}"
            out.append(f"URL parameter {clip(name)}: not a flag this app knows, so nothing was hidden ({hint})")
    return out


def _reason(exc: Exception, raw) -> str:
    """The first line of an error, short, and never repeating more than ``ECHO`` characters of the bad value."""
    text = first_line(exc, 80)
    raw = str(raw)
    if len(raw) > ECHO and any(raw[i : i + ECHO + 1] in text for i in range(len(raw) - ECHO)):
        return "not valid here"
    return text


def canonical(state: ViewState) -> ViewState:
    """One spelling per view: frame/stride None when they are the default; frame and ball inside the video."""
    changes = {}
    v = state.video
    if state.frame is not None and (state.frame == default_frame(v) or not 0 <= state.frame <= v.frames - 2):
        changes["frame"] = None
    if state.stride is not None and state.stride == default_stride(v):
        changes["stride"] = None
    if not 0 <= state.ball < v.balls:
        changes["ball"] = 0
    return dataclasses.replace(state, **changes) if changes else state


def replace(state: ViewState, **changes) -> ViewState:
    """``dataclasses.replace``, kept canonical (frame and ball inside a changed video)."""
    return canonical(dataclasses.replace(state, **changes))


__all__ = [
    "BASELINES",
    "HIDE_FLAGS",
    "ExploreState",
    "FamilyRow",
    "Item",
    "ViewState",
    "canonical",
    "default_frame",
    "default_item",
    "default_stride",
    "default_view",
    "from_query",
    "heatmap_strides",
    "replace",
    "to_query",
]
