"""Limits for a hosted demo: one configuration, enforced where the work is done (the job runner), not only in widgets.

Values come from environment variables (``RPM_MAX_FRAMES=256``), else from the ``[limits]`` table of
``.streamlit/secrets.toml`` (``frames = 256``), else from the defaults below, which let a laptop run the paper's full
scale. Environment variables win, so a container's ``-e`` flags override a secrets file baked into an image.

    RPM_MAX_FRAMES       frames per video                     RPM_MAX_SEEDS        seeds per request (seed < this)
    RPM_MAX_SIZE         frame width = height, px             RPM_MAX_JOBS         training jobs running at once
    RPM_MAX_BALLS        balls per video                      RPM_MAX_QUEUE        jobs waiting in the queue
    RPM_MAX_EPOCHS       epochs per run                       RPM_MAX_PER_CLIENT   runs one visitor may have waiting
    RPM_MAX_STORE_MB     run store size (least used pruned)                          or training (default queue // 4)
    RPM_MAX_JOB_SECONDS  a job running longer is stopped      RPM_ALLOW_EXPRESSIONS  1/0: custom log f expressions
    RPM_TRAINING         1/0: 0 is presentation mode (nothing trains; stored and shipped runs still show)
    RPM_BACKGROUND_TRAINING  1/0: 1 trains at nice 10 (pages first on a class-only server; default 0)
                                                                                     (parsed, never run as Python)

``Limits.load()`` fails closed: a secrets file that does not parse, a misspelt key or table, a value that is not a
number or a limit below what the engine needs raises ``ValueError`` with one line naming the file and key, so the
app stops training with that message instead of serving without limits.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import tomllib

from rpm_engine.config import TRAIN_FIELDS, VIDEO_FIELDS, RunConfig, VideoConfig
from rpm_engine.coupling_spec import REGISTRY, canonical_name, offered_couplings
from rpm_engine.text import clip

ENV_PREFIX = "RPM_MAX_"
ALLOW_ENV = "RPM_ALLOW_EXPRESSIONS"
TRAINING_ENV = "RPM_TRAINING"  # 0: presentation mode (training off for every visitor), set by whoever runs the server
BACKGROUND_ENV = "RPM_BACKGROUND_TRAINING"  # 1: trainings at nice 10, so a class-only server's pages win the cores
BOOLS = {"allow_expressions": ALLOW_ENV, "training": TRAINING_ENV, "background_training": BACKGROUND_ENV}
SECRETS_PATH = Path(".streamlit/secrets.toml")
TABLE = "limits"


@dataclass(frozen=True)
class Limits:
    frames: int = 2000  # the paper's video has 900 frames
    size: int = 512  # the paper's frames are 256 px
    balls: int = 6  # as many as data.DEFAULT_COLOURS
    epochs: int = 200  # App. D trains 30
    seeds: int = 10  # seeds 0 .. seeds-1
    jobs: int = 1  # one training at a time: torch already uses every core for one job
    queue: int = 32  # waiting jobs; more is refused with a message
    per_client: int | None = None  # runs one visitor (session) may have waiting or training; None: max(1, queue // 4)
    job_seconds: int = 900  # a job still running after this long is stopped (a work budget per job)
    store_mb: int = 2048  # the run store is pruned (least recently used first) beyond this
    allow_expressions: bool = True  # custom expressions are parsed, never executed as Python
    training: bool = True  # false: presentation mode for a lecture (nothing trains; stored and shipped runs show)
    # true: training workers run at nice 10, so on a server that hosts only the class the pages win the cores; false
    # (the default): a training competes like any process, so on a machine shared with other work it is not starved
    # (at nice 10 beside 4 busy processes, a 21-run sweep took 8x the CLI's time: benchmarks/app_sweep.py --load 4)
    background_training: bool = False

    def __post_init__(self):
        if self.per_client is None:
            object.__setattr__(self, "per_client", max(1, self.queue // 4) if _positive(self.queue) else 1)
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in BOOLS:
                if not isinstance(v, bool):
                    raise ValueError(f"limit {f.name} must be true or false, got {v!r}")
            elif not _positive(v):
                raise ValueError(f"limit {f.name} must be a positive integer, got {v!r}")
        for fld in (*VIDEO_FIELDS, *TRAIN_FIELDS):  # the engine's own minimum: a limit below it allows nothing
            if fld.limit is not None:
                need = self._need(fld)
                if getattr(self, fld.limit) < need:
                    raise ValueError(
                        f"limit {fld.limit} must be at least {need} (the smallest {fld.label.lower()} "
                        f"the engine can use), got {getattr(self, fld.limit)}"
                    )

    @staticmethod
    def _need(fld) -> int:
        """The smallest value of limit ``fld.limit`` that allows ``fld``'s own lower bound."""
        lo = math.ceil(fld.lo)
        return max(1, lo + 1 if fld.limit == "seeds" else lo)  # seeds is a count: seed < seeds

    def cap(self, fld) -> int:
        """The largest value field ``fld`` (a ``config.Field`` with a ``limit``) may take on this server."""
        v = getattr(self, fld.limit)
        return v - 1 if fld.limit == "seeds" else v

    # -- loading -------------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, secrets_path: Path | str = SECRETS_PATH) -> Limits:
        """Limits from ``env`` (default ``os.environ``) over the ``[limits]`` table of ``secrets_path`` over defaults.

        The file is read here with ``tomllib`` (a missing file is fine); anything wrong in it raises ``ValueError``.
        """
        return cls.from_env(env, read_secrets(secrets_path), where=str(secrets_path))

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, secrets: Mapping | None = None, where: str = "secrets"
    ) -> Limits:
        """Limits from ``env`` over ``secrets`` (a ``[limits]`` mapping) over defaults; ``ValueError`` for an
        unknown key or variable (with the closest known name) or a value that is not a number."""
        env = os.environ if env is None else env
        secrets = dict(secrets or {})
        names = [f.name for f in dataclasses.fields(cls)]
        for key in secrets:
            if key not in names:
                raise ValueError(f"{where}: [{TABLE}] has no limit {clip(str(key))}{_did_you_mean(str(key), names)}")
        env_names = {env_name(n): n for n in names}
        for var in env:
            if var.startswith(ENV_PREFIX) and var not in env_names:
                raise ValueError(f"environment variable {str(var)[:40]} is not a limit{_did_you_mean(var, env_names)}")
        values = {}
        for name in names:
            var = env_name(name)
            if str(env.get(var, "")).strip():
                raw, at = env[var], var
            elif name in secrets:
                raw, at = secrets[name], f"{where}: [{TABLE}] {name}"
            else:
                continue
            values[name] = _parse_bool(raw, at) if name in BOOLS else _parse_int(raw, at)
            need = _MINIMUM.get(name, 1)
            if name not in BOOLS and values[name] < need:
                raise ValueError(f"{at}: {values[name]} is below the smallest {name} the engine can use ({need})")
        return cls(**values)

    # -- what the app may show -----------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Runs this server holds at once, training or waiting: the one number the sidebar and refusals quote."""
        return self.jobs + self.queue

    def offered_couplings(self) -> tuple[str, ...]:
        """Coupling names the app may offer (from the coupling registry); expressions too if ``allow_expressions``."""
        return tuple(info.name for info in offered_couplings())

    def clamp_video(self, video: VideoConfig) -> VideoConfig:
        """``video`` with every limited field brought down to this server's limits (``VIDEO_FIELDS``' ``limit``).

        A smaller size scales the diameter and step with it, so the geometry (and the video's validity) is kept;
        fewer balls keep the first colours. Returns ``video`` itself when it is within the limits.
        """
        changes = {}
        for fld in VIDEO_FIELDS:
            if fld.limit is not None and getattr(video, fld.name) > self.cap(fld):
                changes[fld.name] = self.cap(fld)
        if not changes:
            return video
        if "size" in changes:
            scale = changes["size"] / video.size
            lo = next(f.lo for f in VIDEO_FIELDS if f.name == "diameter")
            changes["diameter"] = max(lo, round(video.diameter * scale, 2))
            if video.step is not None:
                changes["step"] = max(0.5, round(video.step * scale, 2))
        if "balls" in changes and video.colours is not None:
            changes["colours"] = video.colours[: changes["balls"]]
        return dataclasses.replace(video, **changes)

    # -- checks (raise ValueError with a message a visitor can act on) ---------------------------------------------
    # ``where``: whose limits these are in a refusal ("this server", or "the class" for the class's job service on Ray)
    def check_video(self, video: VideoConfig, where: str = "this server") -> None:
        for fld in VIDEO_FIELDS:
            if fld.limit is not None and getattr(video, fld.name) > self.cap(fld):
                unit = f" {fld.unit}" if fld.unit else ""
                raise ValueError(
                    f"{fld.name}: {getattr(video, fld.name)} is over {where}'s limit of {self.cap(fld)}{unit}"
                )

    def check_run(self, config: RunConfig, where: str = "this server") -> None:
        self.check_video(config.video, where)
        t = config.train
        if t.epochs > self.epochs:
            raise ValueError(f"epochs: {t.epochs} is over {where}'s limit of {self.epochs}")
        if t.seed >= self.seeds:
            raise ValueError(f"seed: {t.seed} is over {where}'s limit (seeds 0 to {self.seeds - 1})")
        if config.coupling is not None:
            spec = canonical_name(config.coupling.spec)
            offered = self.offered_couplings()
            names = ", ".join(offered)
            if spec not in offered and spec in REGISTRY:
                # A coupling registered from Python by a library user: fine in a notebook, never from the app.
                raise ValueError(f"coupling {clip(str(spec))} is not offered here: use {names} or an expression")
            if spec not in offered and not self.allow_expressions:
                raise ValueError(f"custom expressions are switched off on {where}: use {names}")
            for name, value in config.coupling.init:
                if not math.isfinite(value):
                    raise ValueError(f"parameter {name} must be a finite number, got {value}")

    def check_batch(self, configs: Iterable[RunConfig], where: str = "this server") -> None:
        """A request of several runs (couplings x seeds): each within the limits, and not more than the server holds."""
        configs = list(configs)
        if len(configs) > self.capacity:
            raise ValueError(f"{len(configs)} runs at once is more than {where} holds ({self.capacity})")
        for c in configs:
            self.check_run(c, where)

    @property
    def store_bytes(self) -> int:
        return self.store_mb * 1024 * 1024


_MINIMUM = {f.limit: Limits._need(f) for f in (*VIDEO_FIELDS, *TRAIN_FIELDS) if f.limit is not None}
# Switches of one server, not of a class: presentation mode and the in-process workers' priority. Every other limit is
# class-wide when the servers share the class's job service on Ray (rpm_service.ray_jobs).
PER_SERVER = ("training", "background_training")


def differences(own: Limits, in_force: Limits) -> str:
    """The class-wide limits where ``own`` (a server's settings) differs from ``in_force`` (the class's), as one line
    naming each variable with the value in force and the server's own: "RPM_MAX_JOBS=4 (this server: 2), ..."; ""
    when they agree."""
    out = []
    for f in dataclasses.fields(Limits):
        mine, theirs = getattr(own, f.name), getattr(in_force, f.name)
        if f.name not in PER_SERVER and mine != theirs:
            out.append(f"{env_name(f.name)}={_shown(theirs)} (this server: {_shown(mine)})")
    return ", ".join(out)


def _shown(v) -> str:
    return str(int(v)) if isinstance(v, bool) else str(v)


def env_name(field_name: str) -> str:
    """The environment variable of a limit: ``frames`` -> ``RPM_MAX_FRAMES``."""
    return BOOLS.get(field_name) or ENV_PREFIX + field_name.upper()


def read_secrets(path: Path | str = SECRETS_PATH) -> dict:
    """The ``[limits]`` table of a Streamlit secrets file ({} if the file is absent); ``ValueError`` naming the
    file for a syntax error, a misspelt table (``[limit]``) or a limit written outside the table."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({type(exc).__name__})") from None
    try:
        doc = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: is not valid TOML ({exc})") from None
    names = [f.name for f in dataclasses.fields(Limits)]
    for key, value in doc.items():
        if key == TABLE:
            if not isinstance(value, dict):
                raise ValueError(f"{path}: '{TABLE}' must be a table ([{TABLE}]), got a {type(value).__name__}")
        elif isinstance(value, dict):  # other tables are other secrets; one that looks like [limits] is a typo
            if key.lower().strip() == TABLE or difflib.get_close_matches(key.lower(), [TABLE], n=1, cutoff=0.7):
                raise ValueError(f"{path}: unknown table [{str(key)[:40]}] (did you mean [{TABLE}]?)")
        elif key in names:
            raise ValueError(f"{path}: {key} must be inside the [{TABLE}] table")
    return dict(doc.get(TABLE, {}))


def _positive(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"


def _parse_int(raw, where: str) -> int:
    if isinstance(raw, bool) or isinstance(raw, float) and not raw.is_integer():
        raise ValueError(f"{where}: expected a positive integer, got {clip(raw)}")
    try:
        v = int(raw) if isinstance(raw, (int, float)) else int(str(raw).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a positive integer, got {clip(raw)}") from None
    if v < 1:
        raise ValueError(f"{where}: expected a positive integer, got {clip(raw)}")
    return v


def _parse_bool(raw, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    s = str(raw).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{where}: expected 1/0 or true/false, got {clip(raw)}")
