"""Couplings f(z, z'): the critic of InfoNCE, which the RPM view reads as a prior P(z'|z) ∝ R(z') f(z, z') (eq. 21).

Every coupling maps z, z' of shape (B, D) to the (B, B) matrix of log f(z_i, z'_j). Built-ins are small classes in a
registry (linear, eq. 8; Gaussian RBF, eq. 27); presets and user text go through the safe expression language of
``expressions.py``; library users can add their own ``Coupling`` subclass with ``register_coupling``.

Each coupling also declares its parameters once, as ``Param`` rows (name, label, unit, default, sign, a UI range,
whether a user should see it). ``coupling_info(spec)`` gives them for a name, a preset, an expression or a built
coupling, and ``offered_couplings()`` lists what the app offers; the widgets, the URL codec and the hosted limits
read them from there rather than keeping their own tables.

A ``CouplingSpec`` is a coupling as configuration and part of a run's key, so it has one spelling per coupling:
names lower-case with aliases resolved, expressions in their canonical text, parameter values as floats, sorted.
A parameter given explicitly at its default value stays in the spec: the key then pins that value even if a later
version changes the default, and ``rbf`` and ``rbf(theta=1)`` are two keys for one coupling rather than one key
whose meaning could drift.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import torch
from torch import nn

from .expressions import (
    FREE_PARAMS,
    FUNCTIONS,
    MAX_DIM,
    NAMES,
    SCALE_PARAMS,
    Expression,
    ExpressionError,
    check_dim,
    check_finite,
    clip,
    parse_expression,
)

COUPLINGS: dict[str, type[Coupling]] = {}

# Presets written in the expression language; each is a prior over the next latent.
PRESETS: dict[str, str] = {
    "laplace": "-sum(abs(z - zp)) / theta",
    "cauchy": "-log(1 + sum((z - zp)**2) / theta**2)",
    "student-t": "-(nu + 1) / 2 * log(1 + sum((z - zp)**2) / (nu * theta**2))",
    "cosine": "dot(z, zp) / (norm(z) * norm(zp)) / tau",
}
PRESET_HELP = {
    "laplace": "exp(-|z-z'|₁/θ): heavy-ish tails, sparse moves",
    "cauchy": "1/(1+|z-z'|²/θ²): very heavy tails",
    "student-t": "Student-t with ν degrees of freedom and scale θ",
    "cosine": "the usual unit-norm InfoNCE/SimCLR critic, temperature τ",
}
ALIASES = {"gaussian": "rbf", "student_t": "student-t", "studentt": "student-t", "t": "student-t"}
ASCII_SPACE = " \t\n\r\f\v"  # what a spec is stripped of


# -- parameter metadata ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One named parameter of a coupling: what the library checks, and what a UI needs to show it.

    ``positive``: the library refuses values <= 0 (such parameters are learned as their log). ``lo``, ``hi``: a
    sensible UI range, log-spaced when ``log`` (then ``lo > 0``); values outside it are allowed, only not offered.
    ``user``: False for options a student should not move (a unit change such as ``z_scale``), which the app leaves
    at their defaults so its run keys stay those of the command line. ``default`` is what the library uses when the
    value is not given; changing one changes what existing run keys mean, so defaults are fixed.
    """

    name: str
    label: str
    default: float
    help: str = ""
    unit: str = ""
    positive: bool = False
    lo: float = -10.0
    hi: float = 10.0
    log: bool = False
    user: bool = True

    def __post_init__(self):
        bad = (
            not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi)
            or ((self.log or self.positive) and self.lo <= 0)
            or not math.isfinite(self.default)
            or (self.positive and self.default <= 0)
        )
        if bad:
            raise ValueError(f"inconsistent Param {self.name!r}: default {self.default}, range {self.lo}..{self.hi}")

    def check(self, value: object) -> float:
        """``value`` as a float, or ``ValueError`` naming the parameter (non-number, bool, NaN, inf, sign)."""
        v = number(self.name, value)
        if self.positive and not v > 0:
            raise ValueError(f"parameter {self.name} must be a positive number, got {v:g}")
        return v


@dataclass(frozen=True)
class CouplingInfo:
    """What a coupling is, for people and widgets: its parameters, a help line, the paper equation it implements.

    ``kind`` is "builtin" (linear, rbf), "preset", "registered" (a Python coupling added by a library user) or
    "expression"; ``formula`` is the expression text of presets and expressions. ``offered_in_app`` is True for
    built-ins, presets and expressions (whether a server allows expressions is its own limit) and False for
    Python couplings registered without ``offered_in_app=True``: the app never runs a visitor's Python.
    """

    name: str
    kind: str
    help: str
    params: tuple[Param, ...]
    equation: str | None = None
    formula: str | None = None
    offered_in_app: bool = False

    @property
    def user_params(self) -> tuple[Param, ...]:
        """The parameters a user should see and move (z_scale is not one of them)."""
        return tuple(p for p in self.params if p.user)

    @property
    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "none"
        raise ValueError(f"coupling '{clip(self.name)}' has no parameter {clip(repr(name))} (it has: {known})")


_SCALE = {"positive": True, "lo": 0.01, "hi": 1000.0, "log": True}  # 0.01 .. 1000, log-spaced
# The learnable scalars of the expression language: positive scales (learned as log, start at 1) and free ones
# (start at 0). Built-ins that share a name (rbf's theta) use the same row.
SCALARS: dict[str, Param] = {
    "theta": Param("theta", "θ (length-scale)", 1.0, "distance in z over which f falls off", "px of z", **_SCALE),
    "tau": Param("tau", "τ (temperature)", 1.0, "divides the similarity: smaller is sharper", "", **_SCALE),
    "sigma": Param("sigma", "σ (scale)", 1.0, "a length-scale, as θ", "px of z", **_SCALE),
    "nu": Param("nu", "ν (degrees of freedom)", 1.0, "tail weight: 1 is Cauchy, large is Gaussian", "", **_SCALE),
    "kappa": Param("kappa", "κ (concentration)", 1.0, "a positive concentration or rate", "", **_SCALE),
    "lam": Param("lam", "λ (rate)", 1.0, "a positive rate", "", **_SCALE),
    "alpha": Param("alpha", "α", 0.0, "a free learnable number", ""),
    "beta": Param("beta", "β", 0.0, "a free learnable number", ""),
    "gamma": Param("gamma", "γ", 0.0, "a free learnable number", ""),
}
assert set(SCALARS) == set(SCALE_PARAMS) | set(FREE_PARAMS)
assert all(SCALARS[p].positive for p in SCALE_PARAMS) and not any(SCALARS[p].positive for p in FREE_PARAMS)

Z_SCALE = Param(
    "z_scale",
    "z scale",
    1.0,
    "measures z in other units (z_scale · px, e.g. 1/size for frame units); the encoder is unchanged",
    "z units per px",
    positive=True,
    lo=1e-3,
    hi=1e3,
    log=True,
    user=False,
)


def number(name: str, value: object) -> float:
    """A parameter value as a finite float, or ``ValueError`` naming the parameter: None, bool, text, NaN, inf."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        shown = clip(repr(value)) if isinstance(value, numbers.Number) else f"a {type(value).__name__}"
        raise ValueError(f"parameter {clip(name)} must be a number, got {shown}")
    try:
        v = float(value)
    except (OverflowError, ValueError):  # an int beyond the float range, say
        v = math.inf
    if not math.isfinite(v):
        raise ValueError(f"parameter {clip(name)} must be a finite number, got {v}")
    return v


def _check_init(name: str, params: tuple[Param, ...], init: Mapping[str, object]) -> dict[str, float]:
    """Starting values checked against a coupling's parameter table; unknown names and bad values are refused."""
    table = {p.name: p for p in params}
    out = {}
    for key, value in init.items():
        if key not in table:
            known = ", ".join(table) or "none"
            raise ValueError(f"coupling '{clip(name)}' has no parameter {clip(repr(key))} (it has: {known})")
        out[key] = table[key].check(value)
    return out


# -- registry ----------------------------------------------------------------------------------------------------
def register_coupling(
    name: str,
    *,
    params: Iterable[Param] | None = None,
    help: str | None = None,
    equation: str | None = None,
    offered_in_app: bool = False,
):
    """Class decorator adding a ``Coupling`` subclass to the registry under ``name`` (stored lower-case).

    ``params`` declares the parameters (else the class's own ``params``, or rows made from its ``defaults``);
    ``help`` defaults to the first line of the class docstring. A coupling added here is not offered by the app
    unless ``offered_in_app=True``: only built-ins and presets are.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a coupling name must be a non-empty string")
    key = name.strip().lower()
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key) or len(key) > 40:
        raise ValueError(f"coupling name {clip(repr(name))}: use up to 40 printable ASCII characters, no spaces")
    if key in PRESETS or key in ALIASES or key in NAMES or key in FUNCTIONS:
        raise ValueError(f"coupling name '{key}' is taken by a preset, an alias or the expression language")
    table = None if params is None else tuple(params)

    def add(cls):
        if not (isinstance(cls, type) and issubclass(cls, Coupling)):
            raise TypeError(f"{cls!r} is not a Coupling subclass")
        cls.name = key
        if table is not None:
            cls.params = table
            cls.defaults = {p.name: p.default for p in table}
        doc = (cls.__dict__.get("__doc__") or "").strip()
        cls.help = help if help is not None else (doc.splitlines()[0] if doc else "")
        cls.equation = equation
        cls.offered_in_app = bool(offered_in_app)
        COUPLINGS[key] = cls
        return cls

    return add


class Coupling(nn.Module):
    """Base class: ``coupling(z, zp)`` with z (B, D), zp (B', D) returns log f as a (B, B') matrix.

    Subclasses implement ``forward``; calling the module checks the shapes first (2-D, same D, D == ``dim``) and
    raises ``ValueError`` with a readable message, so a subclass never sees a malformed batch. Parameters are
    declared in ``params`` (or, for short user classes, ``defaults``); ``__init__`` checks the starting values.
    """

    name = "coupling"
    params: tuple[Param, ...] = ()
    defaults: dict[str, float] = {}
    help = ""
    equation: str | None = None
    offered_in_app = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "params" in cls.__dict__ and "defaults" not in cls.__dict__:
            cls.defaults = {p.name: p.default for p in cls.params}

    def __init__(self, dim: int, **init: float):
        super().__init__()
        self.dim = check_dim(dim)
        values = _check_init(self.name, self.param_table(), init)
        self.init = {**self.defaults, **values}

    def param_table(self) -> tuple[Param, ...]:
        """The declared parameters; a class with only ``defaults`` gets plain rows made from them."""
        if self.params:
            return tuple(self.params)
        return tuple(Param(k, k, float(v)) for k, v in self.defaults.items())

    def __call__(self, z: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
        self.check_inputs(z, zp)
        return super().__call__(z, zp)

    def check_inputs(self, z: torch.Tensor, zp: torch.Tensor) -> None:
        """``ValueError`` unless z, zp are floating tensors of shapes (B, dim) and (B', dim)."""
        want = f"(B, {self.dim})"
        for label, t in (("z", z), ("zp", zp)):
            if not isinstance(t, torch.Tensor):
                raise ValueError(f"coupling '{self.name}': {label} must be a torch tensor of shape {want}")
            if t.ndim != 2:
                raise ValueError(f"coupling '{self.name}': {label} must have shape {want}, got {tuple(t.shape)}")
            if not t.is_floating_point():
                raise ValueError(f"coupling '{self.name}': {label} must be a floating tensor, got {t.dtype}")
        if z.shape[1] != self.dim or zp.shape[1] != self.dim:
            raise ValueError(
                f"coupling '{self.name}' was made for D = {self.dim}: z and zp must have shapes {want} and "
                f"(B', {self.dim}), got {tuple(z.shape)} and {tuple(zp.shape)}"
            )

    def values(self) -> dict[str, float]:
        """Current values of the coupling's named parameters (θ, τ, ...), for display and the run record."""
        return {}


@register_coupling(
    "linear",
    equation="eq. 8",
    help="log f = zᵀ W z', a learned D×D matrix W (the paper's linear coupling)",
    offered_in_app=True,
)
class LinearCoupling(Coupling):
    """log f = zᵀ W z' with a learned (D, D) matrix W (eq. 8); W starts at w_init · I.

    ``z_scale`` measures z in other units (z_scale · pixels, e.g. 1/size for frame units) without changing the
    encoder: the coupling is the only consumer of z's scale in training, as the read-out is linear.
    """

    params = (
        Param(
            "w_init",
            "W scale w (W = w·I)",
            1e-3,
            "W starts at w·I, so log f = w zᵀz' at the start; z is ~100 px, so keep w small",
            "1/px²",
            lo=1e-6,
            hi=0.1,
            log=True,
        ),
        Z_SCALE,
    )

    def __init__(self, dim: int, **init: float):
        super().__init__(dim, **init)
        self.z_scale = self.init["z_scale"]
        self.W = nn.Parameter(self.init["w_init"] * torch.eye(self.dim))

    def forward(self, z: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
        s = self.z_scale
        return (s * z) @ self.W @ (s * zp).T  # (B, B)

    def values(self) -> dict[str, float]:
        w = self.W.detach()
        return {"W_diag_mean": float(w.diagonal().mean()), "W_norm": float(torch.linalg.matrix_norm(w))}


@register_coupling(
    "rbf",
    equation="eq. 27",
    help="log f = -|z - z'|² / (2θ²), a Gaussian with a learned length-scale θ (the paper's RBF coupling)",
    offered_in_app=True,
)
class RBFCoupling(Coupling):
    """log f = -|z - z'|² / (2θ²), a Gaussian RBF with learned length-scale θ (eq. 27), stored as log θ."""

    params = (SCALARS["theta"], Z_SCALE)  # theta is in the units of z_scale · pixels

    def __init__(self, dim: int, **init: float):
        super().__init__(dim, **init)
        self.z_scale = self.init["z_scale"]
        self.log_theta = nn.Parameter(torch.tensor(math.log(self.init["theta"])))

    def forward(self, z: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
        d2 = (self.z_scale * (z[:, None, :] - zp[None, :, :])).pow(2).sum(-1)  # (B, B); differences keep precision
        return -0.5 * d2 * torch.exp(-2.0 * self.log_theta)

    def values(self) -> dict[str, float]:
        return {"theta": float(self.log_theta.detach().exp())}


def _expression_params(expression: Expression) -> tuple[Param, ...]:
    return tuple(SCALARS[p] for p in expression.params)


class ExpressionCoupling(Coupling):
    """log f given as text in the safe expression language; named scalars (θ, τ, ...) are learned.

    Scale parameters (theta, tau, sigma, nu, kappa, lam) must be positive and are learned as their log; free ones
    (alpha, beta, gamma) are unconstrained. The expression is refused unless its value and gradient are finite on a
    probe batch at the starting values.
    """

    name = "expression"

    def __init__(self, dim: int, text: str, label: str | None = None, **init: float):
        self.expression = _parse(text, check_dim(dim))
        self.defaults = {p.name: p.default for p in _expression_params(self.expression)}
        if label:
            self.name = label
        super().__init__(dim, **init)
        self.raw = nn.ParameterDict()
        for p in self.expression.params:
            v = self.init[p]
            self.raw[p] = nn.Parameter(torch.tensor(math.log(v) if p in SCALE_PARAMS else v))
        check_finite(self.expression, self.dim, self.init)

    def param_table(self) -> tuple[Param, ...]:
        return _expression_params(self.expression)

    def _params(self) -> dict[str, torch.Tensor]:
        return {p: (self.raw[p].exp() if p in SCALE_PARAMS else self.raw[p]) for p in self.expression.params}

    def forward(self, z: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
        return self.expression(z, zp, self._params())

    def values(self) -> dict[str, float]:
        return {p: float(v.detach()) for p, v in self._params().items()}


@lru_cache(maxsize=256)
def _parse(text: str, dim: int | None) -> Expression:
    """parse_expression, cached: an Expression is immutable, and specs are canonicalised often."""
    return parse_expression(text, dim)


# -- names, specs and information ----------------------------------------------------------------------------------
def canonical_name(spec: str) -> str:
    """'RBF ' -> 'rbf', 'gaussian' -> 'rbf'; anything else (an expression, an unknown name) is returned stripped.

    Lenient on purpose (it never parses): ``CouplingSpec`` gives the canonical text of an expression.
    """
    if not isinstance(spec, str):
        raise ValueError(f"a coupling spec must be a string, got {type(spec).__name__}")
    s = spec.strip(ASCII_SPACE)  # not str.strip(): a no-break space is not ASCII, so not part of any spelling
    low = s.lower() if s.isascii() else s  # 'K' (Kelvin sign) lower-cases to 'k': names are ASCII
    low = ALIASES.get(low, low)
    return low if (low in COUPLINGS or low in PRESETS) else s


def coupling_names() -> list[str]:
    return list(COUPLINGS) + list(PRESETS)


def _resolve(spec: str) -> tuple[str, str]:
    """(kind, name or text): "registered", "preset" or "expression"; ValueError / ExpressionError if neither."""
    if not isinstance(spec, str) or not spec.strip(ASCII_SPACE):
        error = ExpressionError if isinstance(spec, str) else ValueError  # any text gives an ExpressionError
        raise error(
            "coupling spec must be a non-empty string: a name (" + ", ".join(coupling_names()) + ")"
            " or an expression for log f in z and zp"
        )
    name = canonical_name(spec)
    if name in COUPLINGS:
        return "registered", name
    if name in PRESETS:
        return "preset", name
    if name.isidentifier() and name.isascii() and name not in ("z", "zp"):
        raise ExpressionError(
            f"unknown coupling '{clip(name)}': choose one of {', '.join(coupling_names())}, "
            "or write an expression in z and zp",
            clip(name, 200),
            0,
        )
    return "expression", name


def make_coupling(spec: str, dim: int, **init: float) -> Coupling:
    """A coupling from a registered name, a preset name or an expression for log f (SPEC §4).

    ``dim`` is D, the length of z (1 to ``MAX_DIM``, checked before anything is allocated). Raises ``ValueError``
    for an unknown name, a bad ``dim`` or a bad parameter (naming it) and ``ExpressionError`` for a bad expression.
    """
    kind, name = _resolve(spec)
    dim = check_dim(dim)
    if kind == "registered":
        return COUPLINGS[name](dim, **init)
    if kind == "preset":
        return ExpressionCoupling(dim, PRESETS[name], label=name, **init)
    return ExpressionCoupling(dim, name, **init)


def coupling_info(spec: str | CouplingSpec | Coupling) -> CouplingInfo:
    """The parameters and description of a coupling: a name, a preset, an expression, a spec or a built coupling.

    For an expression the parameters come from its text: scale parameters positive, free ones unsigned.
    """
    if isinstance(spec, Coupling):
        if isinstance(spec, ExpressionCoupling):
            return _expression_info(spec.name if spec.name in PRESETS else spec.expression.text)
        return _registered_info(spec.name, type(spec))
    if isinstance(spec, CouplingSpec):
        spec = spec.spec
    kind, name = _resolve(spec)
    if kind == "registered":
        return _registered_info(name, COUPLINGS[name])
    return _expression_info(name)


def _registered_info(name: str, cls: type[Coupling]) -> CouplingInfo:
    builtin = name in ("linear", "rbf") and COUPLINGS.get(name) in (LinearCoupling, RBFCoupling)
    table = tuple(cls.params) or tuple(Param(k, k, float(v)) for k, v in cls.defaults.items())
    return CouplingInfo(
        name=name,
        kind="builtin" if builtin else "registered",
        help=cls.help,
        params=table,
        equation=cls.equation,
        offered_in_app=bool(cls.offered_in_app),
    )


def _expression_info(name: str) -> CouplingInfo:
    if name in PRESETS:
        expression = _parse(PRESETS[name], None)
        return CouplingInfo(
            name, "preset", PRESET_HELP.get(name, ""), _expression_params(expression), None, expression.text, True
        )
    expression = _parse(name, None)
    help = "your own log f(z, z'), written in the expression language"
    return CouplingInfo(
        expression.text, "expression", help, _expression_params(expression), None, expression.text, True
    )


def offered_couplings() -> list[CouplingInfo]:
    """What the app offers: the built-ins (and any coupling registered with ``offered_in_app=True``), then the
    presets. Custom expressions are offered too, but they have no fixed list."""
    out = [_registered_info(n, cls) for n, cls in COUPLINGS.items() if cls.offered_in_app]
    return out + [_expression_info(n) for n in PRESETS]


@dataclass(frozen=True)
class CouplingSpec:
    """A coupling as configuration: the spec and its starting parameter values (part of a run's key).

    Construction makes it canonical (one spelling per coupling): ``CouplingSpec.of("RBF", theta=8)`` equals
    ``CouplingSpec.of("rbf", theta=8.0)``, an expression is stored as its canonical text (whitespace, redundant
    parentheses and number spellings do not matter), and parameters are checked (known names, finite numbers,
    the right sign) and sorted. Explicit values equal to a default are kept (see the module docstring).
    """

    spec: str = "rbf"
    init: tuple[tuple[str, float], ...] = field(default=())

    def __post_init__(self):
        kind, name = _resolve(self.spec)
        if kind == "expression":
            name = _parse(name, None).text
        pairs = tuple(self.init.items()) if isinstance(self.init, Mapping) else self.init
        if not isinstance(pairs, (tuple, list)) or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
            raise ValueError("CouplingSpec.init must be (name, value) pairs or a mapping")
        init: dict[str, object] = {}
        for key, value in pairs:
            if not isinstance(key, str) or key in init:
                raise ValueError(f"parameter name {clip(repr(key))} is repeated or not a string")
            init[key] = value
        checked = _check_init(name, coupling_info(name).params, init)
        object.__setattr__(self, "spec", name)
        object.__setattr__(self, "init", tuple(sorted(checked.items())))

    @classmethod
    def of(cls, spec: str, **init: float) -> CouplingSpec:
        return cls(spec, tuple(init.items()))

    def build(self, dim: int) -> Coupling:
        return make_coupling(self.spec, dim, **dict(self.init))

    def to_dict(self) -> dict:
        return {"spec": self.spec, "init": dict(self.init)}

    @classmethod
    def from_dict(cls, d: Mapping) -> CouplingSpec:
        if not isinstance(d, Mapping) or "spec" not in d or not isinstance(d.get("init", {}), Mapping):
            raise ValueError("a coupling must be a mapping with 'spec' and optionally 'init' (a mapping)")
        return cls(d["spec"], tuple(d.get("init", {}).items()))

    @property
    def info(self) -> CouplingInfo:
        return coupling_info(self.spec)

    @property
    def label(self) -> str:
        extra = ", ".join(f"{k}={v:g}" for k, v in self.init)
        return f"{self.spec} ({extra})" if extra else self.spec


__all__ = [
    "ALIASES",
    "COUPLINGS",
    "MAX_DIM",
    "PRESETS",
    "PRESET_HELP",
    "SCALARS",
    "Coupling",
    "CouplingInfo",
    "CouplingSpec",
    "ExpressionCoupling",
    "LinearCoupling",
    "Param",
    "RBFCoupling",
    "canonical_name",
    "coupling_info",
    "coupling_names",
    "make_coupling",
    "number",
    "offered_couplings",
    "register_coupling",
]
