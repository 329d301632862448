"""The Streamlit glue every page shares: the view state in ``st.session_state`` and the URL, the one job runner of
the server (``st.cache_resource``), cached videos, runs and heatmaps, and small display helpers.

Pages import this module and stay layout-only; everything they compute comes from ``rpm_engine`` or ``explorer``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from rpm_engine.config import QUICK_RECIPE, QUICK_VIDEO, TrainConfig
from rpm_engine.data import Video, VideoConfig, generate_video, simulate
from rpm_engine.evaluate import Heatmap, conditional_prior, mean_predictor_l2
from rpm_engine.store import Run, RunStore, default_root
from rpm_service.limits import Limits
from rpm_service.service import class_limits, in_force, job_service, ray_address

from . import charts, home, media
from .catalog import SHIPPED_ROOT, Catalog, fig1_of, l2_summary
from .state import MAX_CANDIDATES, ViewState, from_query, replace, to_query

if TYPE_CHECKING:
    from rpm_service.jobs import JobRunner

log = logging.getLogger(__name__)

# The app's pages (Streamlit's pages/ directory; URLs /, /data, /priors, /train, /compare): file, label, icon.
PAGES = {
    "home": "app.py",
    "data": "pages/1_data.py",
    "priors": "pages/2_priors.py",
    "train": "pages/3_train.py",
    "compare": "pages/4_compare.py",
    "explore": "pages/5_explore.py",
    "bound": "pages/6_bound.py",
}
NAV = {
    "home": ("Home", ":material/home:"),
    "data": ("Data", ":material/movie:"),
    "priors": ("Priors", ":material/explore:"),
    "train": ("Train", ":material/model_training:"),
    "compare": ("Compare", ":material/compare:"),
    "explore": ("Explore", ":material/query_stats:"),
    "bound": ("The bound", ":material/functions:"),
}


# -- configuration and shared resources ---------------------------------------------------------------------------
# What a server with broken limits still allows: the default view and the shipped runs, no training, no expressions.
CLOSED = dict(
    frames=QUICK_VIDEO.frames, size=QUICK_VIDEO.size, balls=QUICK_VIDEO.balls, epochs=QUICK_RECIPE.epochs, seeds=1
)


def _limits_stamp() -> tuple:
    """What the limits depend on: the RPM_* environment and the secrets file's modification time."""
    env = tuple(sorted((k, os.environ[k]) for k in os.environ if k.startswith("RPM_")))  # decodes keys, few values
    try:
        mtime = Path(".streamlit/secrets.toml").stat().st_mtime_ns
    except OSError:
        mtime = None
    return env, mtime


# Every page asks several times a run: a dict lookup, not Streamlit's cache key hashing (issue 20).
@functools.lru_cache(maxsize=4)
def _load_limits(stamp: tuple) -> tuple[Limits, str | None]:
    try:
        return Limits.load(), None  # fails closed on a bad secrets.toml
    except ValueError as exc:
        msg = str(exc).splitlines()[0][:300]
        log.error("limits misconfigured: %s", msg)
        return Limits(**CLOSED, allow_expressions=False), msg


def limits_error() -> str | None:
    """Why this server's limits could not be read (training is then switched off), or None."""
    return _load_limits(_limits_stamp())[1]


def limits() -> Limits:
    """The hosted-demo limits: env vars over ``[limits]`` in .streamlit/secrets.toml over the defaults. When they do
    not parse, the closed limits (the default video, no training): pages still show the shipped results. On Ray, once
    this server has connected to the class's job service, the class's limits (one truth for every server)."""
    return in_force(_load_limits(_limits_stamp())[0])


@st.cache_resource(show_spinner=False)
def _runner(root: str, lim: Limits, ray_address: str | None) -> JobRunner:
    return job_service(lim, root, also=[RunStore(SHIPPED_ROOT, read_only=True)])  # the class's queue on Ray if set


def training_on() -> bool:
    """Whether this server trains: its limits parsed and are not in presentation mode (``training = false``)."""
    return limits_error() is None and limits().training


PRESENTING = (
    "**Presentation mode:** training is switched off on this server for the lecture (whoever runs it set "
    "`training = false` in its limits). Everything already trained, and the shipped examples, still show."
)


def runner() -> JobRunner | None:
    """The one job runner of this server process, shared by every browser session; None (and a message on the page)
    when the limits are misconfigured (training stops rather than running without limits) or in presentation mode."""
    if limits_error() is None and not limits().training:
        with st.container(key="keep_presenting"):
            st.info(PRESENTING, icon=":material/co_present:")
        return None
    err = limits_error()
    if err is not None:
        st.error(
            f"Training is switched off on this server: its limits are misconfigured ({err}). Shipped results still "
            "show. Whoever runs the server: see docs/APP.md, 'Set the limits'.",
            icon=":material/settings:",
        )
        return None
    try:
        own = _load_limits(_limits_stamp())[0]  # this server's own (limits() is the class's once connected on Ray)
        r = _runner(str(default_root()), own, ray_address())
        problem = r.problem() if hasattr(r, "problem") else None  # the class's service on Ray: still there?
    except (ConnectionError, RuntimeError) as exc:  # the class's Ray cluster is configured but does not answer
        problem = str(exc)
    if problem:
        st.error(f"Training is unavailable: {problem.splitlines()[0][:300]}", icon=":material/cloud_off:")
        return None
    return r


@functools.lru_cache(maxsize=8)  # asked several times a run: a dict lookup, not Streamlit's hashing (issue 20)
def _catalog(root: str) -> Catalog:
    return Catalog([("yours", RunStore(root)), ("shipped", RunStore(SHIPPED_ROOT, read_only=True))])


def catalog() -> Catalog:
    """Your runs and the shipped ones (one per process; its listing is cached until a store changes)."""
    return _catalog(str(default_root()))


@st.cache_resource(show_spinner=False)
def _kernel_build() -> threading.Thread:
    def build() -> None:
        from rpm_engine import fast

        fast.extension()  # compiles once per machine into TORCH_EXTENSIONS_DIR; later loads take a second

    t = threading.Thread(target=build, name="rpm-kernel-build", daemon=True)
    t.start()
    return t


def warm_kernels(say: bool = True) -> None:
    """Build the fused CPU kernels in the background, once per server process (the first visit starts it); while
    they compile, ``say`` so on the page (the first run waits for them). Nothing when this server trains nothing
    (presentation mode, or limits that did not parse), nor when the class's job service on Ray trains (its workers
    build their own kernels): no page then talks of compiling."""
    if not training_on() or ray_address():
        return
    if _kernel_build().is_alive() and say:
        st.caption(
            ":material/build: Compiling the fused CPU kernels for this server (once, about a minute on 2 cores): a "
            "run started now waits for them."
        )


def painted(page: str, delay_s: float = 3.0) -> bool:
    """False on a session's first run of ``page``: the charts below wait, and one rerun ``delay_s`` later draws them.

    A browser mounts every chart it has received at once, so heavy charts sent with the first one delay it (issue 10
    §4: the first chart at once, the ones below it later). The timer is a fragment that reruns the page once.
    """
    key = f"painted_{page}"
    if st.session_state.get(key):
        return True

    def tick() -> None:
        if st.session_state.get(key):  # the timer's first tick: draw the rest (this full rerun drops the timer)
            st.rerun()
        st.session_state[key] = True

    st.fragment(tick, run_every=delay_s)()
    return False


def client_id() -> str:
    """This visitor's name in the job runner: the browser (every tab alike, on every server behind a balancer), from
    Streamlit's XSRF cookie (``rpm_service.identity``); a logged-in user where the platform has a login; a name for
    this session alone where neither is there."""
    if "client" not in st.session_state:
        from rpm_service import identity

        who = None
        try:
            if getattr(st.user, "is_logged_in", False) and st.user.get("email"):
                who = identity.from_login(str(st.user.get("email")))
        except Exception:  # noqa: BLE001 - no login configured on this server
            who = None
        try:
            who = who or identity.visitor_from_cookies(st.context.cookies)
        except Exception:  # noqa: BLE001 - no request context (AppTest): a session id
            who = None
        st.session_state["client"] = who or "s-" + uuid.uuid4().hex[:12]
    return st.session_state["client"]


# -- view state <-> URL -------------------------------------------------------------------------------------------
def read_url() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params.keys()}


def view_state() -> ViewState:
    """The session's view state (``st.session_state["view"]``); read from the URL once, on the session's first run."""
    ss = st.session_state
    if "view" not in ss:
        state, notices = from_query(read_url(), limits())
        ss["view"], ss["notices"] = state, notices
    return ss["view"]


def set_view(**changes) -> ViewState:
    """Change the view state; the URL follows at once (a later st.stop() cannot leave it stale)."""
    st.session_state["view"] = replace(view_state(), **changes)
    write_url()
    return st.session_state["view"]


def write_url() -> None:
    """Put the shared state back into the URL (Streamlit clears the query string when the page changes)."""
    q = to_query(view_state(), limits())
    if read_url() != {k: (v if isinstance(v, list) else [v]) for k, v in q.items()}:
        st.query_params.from_dict(q)


def show_notices(page: str | None = None) -> None:
    """Say which URL values were ignored, on every run of the page the link opened (a page that reruns by itself,
    as Home does to draw its figures, keeps them), until the visitor moves to another page."""
    ss = st.session_state
    if ss.get("notices") and ss.setdefault("notices_page", page) == page:
        for n in ss["notices"]:
            st.warning(n, icon=":material/link:")
    else:
        ss.pop("notices", None)


def bind(key: str, value) -> None:
    """Give a widget its starting value from the view state without fighting Streamlit's own widget state."""
    if key not in st.session_state:
        st.session_state[key] = value


# -- cached data ---------------------------------------------------------------------------------------------------
@st.cache_resource(max_entries=6, show_spinner="Generating the video…")
def video(config: VideoConfig) -> Video:
    """Videos are deterministic in their config and never modified, so one copy serves every session."""
    return generate_video(config)


@functools.lru_cache(maxsize=12)  # a float from a frozen config: a dict lookup, not Streamlit's hashing (issue 20)
def predict_mean_l2(config: VideoConfig, train_frac: float = TrainConfig().train_frac) -> float:
    """The predict-the-mean reference from the trajectories alone: no frame is rendered, so a first chart that needs
    only this line waits for no video."""
    return mean_predictor_l2(simulate(config)[0], train_frac)


@st.cache_data(max_entries=12, show_spinner="Making the GIF…")
def gif(config: VideoConfig, overlay: bool) -> bytes:
    return media.gif_bytes(video(config), overlay=overlay)


@st.cache_data(max_entries=6, show_spinner="Packing the video…")
def npz(config: VideoConfig) -> bytes:
    return media.npz_bytes(video(config))


@st.cache_data(max_entries=6, show_spinner=False)
def centres_csv(config: VideoConfig) -> str:
    return media.centres_csv(video(config))


class _Missing(LookupError):
    pass


@st.cache_resource(max_entries=32, show_spinner=False)
def _stored_run(key: str) -> Run:
    r = catalog().load(key)
    if r is None:
        raise _Missing(key)  # exceptions are not cached: a run trained a moment later is found next time
    return r


def stored_run(key: str) -> Run | None:
    """A stored run by key (from your store or the shipped examples); None if it is not there."""
    try:
        return _stored_run(key)
    except _Missing:
        return None


@st.cache_data(max_entries=64, show_spinner="Computing P(z′|z) over the candidate positions…")
def heatmap(key: str, frame: int, ball: int, stride: int) -> Heatmap:
    """Fig. 1D/E for a stored run: render every candidate next frame, encode it, softmax over log f."""
    r = stored_run(key)
    if (r.config.video.size / stride) ** 2 > MAX_CANDIDATES:  # a URL can ask for anything: keep the server responsive
        raise ValueError(f"a {stride} px grid on {r.config.video.size} px frames is too fine; use a coarser grid")
    return conditional_prior(r.encoder(), r.coupling(), video(r.config.video), frame, ball, stride)


@st.cache_data(max_entries=64, show_spinner=False)
def decoded(key: str):
    r = stored_run(key)
    return r.decoded(video(r.config.video))


def entries() -> list:
    """Every run a visitor can compare (yours first, then the shipped examples), newest first."""
    return catalog().entries()


def _home_fig1(listing: list) -> tuple[dict, list[dict], dict]:
    fig1 = fig1_of(listing)
    if not fig1:
        return fig1, [], {}
    balls = next(iter(fig1.values()))[0].config.video.balls
    summaries = {m: l2_summary(runs, balls) for m, runs in fig1.items()}  # held-out L2 over each group's seeds
    return fig1, home.summary_rows(fig1, summaries, charts.method_colour), home.changes(fig1)


def home_fig1() -> tuple[dict, list[dict], dict]:
    """Home's Fig. 1 from the shipped runs: the runs by method (``Catalog.shipped_fig1``), Fig. 1C's bar rows
    (``home.summary_rows``) and each method's paired change (``home.changes``); derived once per listing of the
    stores, not once per page run (every visitor sees the same; issue 20). Shared: not to be changed."""
    return catalog().derived("home_fig1", _home_fig1)


# -- display helpers -----------------------------------------------------------------------------------------------
def friendly(fn: Callable, *args, what: str = "That", **kwargs):
    """Call ``fn``; a ValueError (bad input) becomes st.error with its message, anything else a short st.error with
    the exception type, never a traceback. Returns None on failure."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        st.error(
            f"{what} did not work: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            icon=":material/warning:",
        )
    except Exception as exc:  # noqa: BLE001 - the page must survive anything the engine raises
        log.exception("%s failed", what)
        st.error(
            f"{what} failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]}). Other results are unaffected.",
            icon=":material/warning:",
        )
    return None


def chart(fig, key: str, filename: str) -> None:
    """A Plotly figure as drawn by ``explorer.charts`` (our colours, not the theme's); its modebar camera button
    downloads a PNG named ``filename``."""
    st.plotly_chart(fig, key=key, config=charts.export_config(filename), theme=None)


# -- figures every visitor sees alike ------------------------------------------------------------------------------
# Home shows the same Fig. 1 to a whole class: built once per server, not once per visit (a Plotly figure costs
# 20-40 ms of the server's one interpreter; benchmarks/load.py). Figures are never modified after they are built.
@st.cache_resource(max_entries=64, show_spinner=False)
def _shared(name: str, spec: str):
    return charts.frozen(getattr(charts, name)(**json.loads(spec)))


def shared_figure(name: str, **inputs):
    """``charts.<name>(**inputs)``, built once per server for the same inputs (which must be JSON: rows, numbers,
    titles)."""
    return _shared(name, json.dumps(inputs, sort_keys=True))


@st.cache_resource(max_entries=32, show_spinner=False)
def prior_figure(key: str, frame: int, ball: int, stride: int, title: str, height: int, legend: bool = True):
    """Fig. 1D/E for a stored run (``charts.prior_heatmap``), built once per server for these settings."""
    r = stored_run(key)
    fig = charts.prior_heatmap(
        video(r.config.video), heatmap(key, frame, ball, stride), title=title, height=height, legend=legend
    )
    return charts.frozen(fig)


@st.cache_resource(max_entries=16, show_spinner=False)
def centres_figure(runs: tuple[tuple[str, str, str, str], ...], ball: int, height: int, title: str):
    """Fig. 1B (``charts.centres_over_time``) for ``runs`` = (key, label, colour, dash) on one video, built once per
    server."""
    vid = video(stored_run(runs[0][0]).config.video)
    lines = {label: (decoded(key), colour, dash) for key, label, colour, dash in runs}
    return charts.frozen(charts.centres_over_time(vid, lines, ball, height=height, title=title))


def video_caption(cfg: VideoConfig) -> str:
    return (
        f"{cfg.frames} frames of {cfg.size}×{cfg.size} px, {cfg.balls} balls of {cfg.diameter:g} px moving "
        f"{cfg.step_px:g} px per frame, ±{cfg.noise_deg:g}° noise, video seed {cfg.seed}"
    )


# What each classroom flag hides (?controls_hide=1 ...): Streamlit's own element classes, never user text.
HIDE_CSS = {
    "controls": ".stMultiSelect, .stNumberInput, .stSelectbox, .stRadio, .stToggle, .stButton, .stColorPicker, "
    ".stTextInput, .stTextArea, .stDownloadButton, .stCheckbox, .stPageLink",
    "sliders": ".stSlider",
    "sidebar": '[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"]',
    # text: captions, expanders and info boxes; never a warning or an error (role "alert": limits, refused input,
    # ignored link values) and nothing inside a container keyed keep_… (presentation mode's notice)
    "text": '[data-testid="stCaptionContainer"]:not([class*="st-key-keep_"] *), [data-testid="stExpander"], '
    '[data-testid="stAlert"]:not(:has([role="alert"])):not([class*="st-key-keep_"] *)',
}


def hidden(what: str) -> bool:
    """True when this session's link hides ``what`` (a name from ``state.HIDE_FLAGS``)."""
    return view_state().hidden(what)


def classroom_css(state: ViewState) -> None:
    """Hide what the link's ``*_hide`` flags name, so a projected page shows just the figures (constant CSS only)."""
    rules = [HIDE_CSS[name] for name in sorted(state.hide) if name in HIDE_CSS]
    if rules:
        st.html("<style>" + "".join(f"{r} {{display: none !important;}}" for r in rules) + "</style>")


def page_setup(page: str) -> ViewState:
    """Every page starts here: page config, the view state (from the URL on a session's first run), the navigation,
    and the shared state written back into the URL (Streamlit clears the query string when the page changes)."""
    label, icon = NAV[page]
    st.set_page_config(page_title=f"{label} · RPM Explorer", page_icon=":material/blur_on:", layout="wide")
    state = view_state()
    write_url()
    classroom_css(state)
    sidebar(page)
    show_notices(page)
    return state


def sidebar(page: str = "home") -> None:
    """Navigation, this server's limits (in a keep_ container: no classroom flag hides them) and the classroom-link
    builder."""
    from .classroom import builder

    lim = limits()
    with st.sidebar:
        st.markdown("### RPM Explorer")
        for name, (label, icon) in NAV.items():
            st.page_link(PAGES[name], label=label, icon=icon)
        st.divider()
        if limits_error() is not None:
            with st.container(key="keep_limits"):
                st.caption("**Training is switched off:** this server's limits are misconfigured.")
            return
        with st.container(key="keep_limits"):
            st.caption(
                ("**Presentation mode:** nothing trains here during the lecture.  \n" if not lim.training else "")
                + ("**The class's limits**" if class_limits() is not None else "**This server's limits**")
                + "  \n"
                f"≤ {lim.frames} frames · ≤ {lim.size} px · ≤ {lim.balls} balls  \n"
                f"≤ {lim.epochs} epochs · seeds 0–{lim.seeds - 1}  \n"
                f"{lim.jobs} training job(s) at once · at most {lim.capacity} runs waiting or training in all, "
                f"{lim.per_client} of them per visitor"
            )
        builder(page, view_state(), lim)
