"""Limits for a hosted demo: one configuration, enforced where the work is done (the job runner), not only in widgets.

Values come from environment variables (``RPM_MAX_FRAMES=256``), else from a mapping such as the ``[limits]`` table of
``.streamlit/secrets.toml`` (``frames = 256``), else from the defaults below, which let a laptop run the paper's full
scale. Environment variables win, so a container's ``-e`` flags override a secrets file baked into an image.

    RPM_MAX_FRAMES       frames per video                     RPM_MAX_SEEDS       seeds per request (seed < this)
    RPM_MAX_SIZE         frame width = height, px             RPM_MAX_JOBS        training jobs running at once
    RPM_MAX_BALLS        balls per video                      RPM_MAX_QUEUE       jobs waiting in the queue
    RPM_MAX_EPOCHS       epochs per run                       RPM_MAX_STORE_MB    run store size; oldest runs pruned
    RPM_ALLOW_EXPRESSIONS  1/0: may visitors train custom expressions for log f (never Python: see couplings.py)
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from rpm_engine.couplings import COUPLINGS, PRESETS, canonical_name
from rpm_engine.train import RunConfig

ENV_PREFIX = "RPM_MAX_"
BUILTIN_COUPLINGS = ("linear", "rbf")  # what the app offers besides presets and expressions


@dataclass(frozen=True)
class Limits:
    frames: int = 2000  # the paper's video has 900 frames
    size: int = 512  # the paper's frames are 256 px
    balls: int = 6  # as many as data.DEFAULT_COLOURS
    epochs: int = 200  # App. D trains 30
    seeds: int = 10  # seeds 0 .. seeds-1
    jobs: int = 1  # one training at a time: torch already uses every core for one job
    queue: int = 32  # waiting jobs; more is refused with a message
    store_mb: int = 2048  # the run store is pruned (oldest first) beyond this
    allow_expressions: bool = True  # custom expressions are parsed, never executed as Python

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.type in ("int", int) and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ValueError(f"limit {f.name} must be a positive integer, got {v!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, secrets: Mapping | None = None) -> Limits:
        """Limits from ``env`` (default ``os.environ``) over ``secrets`` (e.g. ``st.secrets["limits"]``) over defaults.

        A value that is not a number raises ``ValueError`` naming the variable, so a typo in a deployment fails loudly
        at start-up rather than silently running without a limit.
        """
        env = os.environ if env is None else env
        secrets = secrets or {}
        values = {}
        for f in dataclasses.fields(cls):
            name = "RPM_ALLOW_EXPRESSIONS" if f.name == "allow_expressions" else ENV_PREFIX + f.name.upper()
            raw, where = None, None
            if env.get(name, "").strip():
                raw, where = env[name], name
            elif f.name in secrets:
                raw, where = secrets[f.name], f"secrets [limits] {f.name}"
            if raw is None:
                continue
            values[f.name] = _parse_bool(raw, where) if f.name == "allow_expressions" else _parse_int(raw, where)
        return cls(**values)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    # -- checks (raise ValueError with a message a visitor can act on) ---------------------------------------------
    def check_video(self, video) -> None:
        over = [
            (video.frames, self.frames, "frames", "frames"),
            (video.size, self.size, "size", "px"),
            (video.balls, self.balls, "balls", "balls"),
        ]
        for value, limit, name, unit in over:
            if value > limit:
                raise ValueError(f"{name}: {value} is over this server's limit of {limit} {unit}")

    def check_run(self, config: RunConfig) -> None:
        self.check_video(config.video)
        t = config.train
        if t.epochs > self.epochs:
            raise ValueError(f"epochs: {t.epochs} is over this server's limit of {self.epochs}")
        if t.seed >= self.seeds:
            raise ValueError(f"seed: {t.seed} is over this server's limit (seeds 0 to {self.seeds - 1})")
        if config.coupling is not None:
            spec = canonical_name(config.coupling.spec)
            builtin = spec in BUILTIN_COUPLINGS or spec in PRESETS
            if not builtin and spec in COUPLINGS:
                # A coupling registered from Python by a library user: fine in a notebook, never from the app.
                raise ValueError(f"coupling '{spec}' is not offered here: use linear, rbf, a preset or an expression")
            if not builtin and not self.allow_expressions:
                raise ValueError("custom expressions are switched off on this server: use linear, rbf or a preset")
            for name, value in config.coupling.init:
                if not math.isfinite(value):
                    raise ValueError(f"parameter {name} must be a finite number, got {value}")

    def check_batch(self, configs) -> None:
        """A request of several runs (couplings x seeds): each within the limits, and not more than the queue holds."""
        configs = list(configs)
        if len(configs) > self.queue + self.jobs:
            raise ValueError(f"{len(configs)} runs at once is more than this server queues ({self.queue + self.jobs})")
        for c in configs:
            self.check_run(c)

    @property
    def store_bytes(self) -> int:
        return self.store_mb * 1024 * 1024


def _parse_int(raw, where: str) -> int:
    try:
        v = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"{where}: expected a positive integer, got {raw!r}") from None
    if v < 1:
        raise ValueError(f"{where}: expected a positive integer, got {raw!r}")
    return v


def _parse_bool(raw, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    s = str(raw).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{where}: expected 1/0 or true/false, got {raw!r}")
