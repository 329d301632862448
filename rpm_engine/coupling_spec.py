"""A coupling as configuration: its name or expression, its parameters and what they mean. No torch here.

This is the part of a coupling that a run's key, the URL codec, the hosted limits and the run listing need, so it
is importable without PyTorch (listing stored runs and drawing their figures needs no tensors). The couplings
themselves, ``torch.nn.Module`` subclasses, live in ``couplings.py``, which registers each one's ``CouplingInfo``
here; the paper's two built-ins (linear, eq. 8; Gaussian RBF, eq. 27) are declared here so that their specs are
understood before ``couplings.py`` is imported.

A ``CouplingSpec`` is a coupling as configuration and part of a run's key, so it has one spelling per coupling:
names lower-case with aliases resolved, expressions in their canonical text, parameter values as floats, sorted.
A parameter given explicitly at its default value stays in the spec: the key then pins that value even if a later
version changes the default, and ``rbf`` and ``rbf(theta=1)`` are two keys for one coupling rather than one key
whose meaning could drift.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from .expressions import FREE_PARAMS, SCALE_PARAMS, Expression, ExpressionError, clip, parse_expression

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


def check_init(name: str, params: tuple[Param, ...], init: Mapping[str, object]) -> dict[str, float]:
    """Starting values checked against a coupling's parameter table; unknown names and bad values are refused."""
    table = {p.name: p for p in params}
    out = {}
    for key, value in init.items():
        if key not in table:
            known = ", ".join(table) or "none"
            raise ValueError(f"coupling '{clip(name)}' has no parameter {clip(repr(key))} (it has: {known})")
        out[key] = table[key].check(value)
    return out


# -- the registry of what each registered coupling is (``couplings.register_coupling`` adds to it) -----------------
LINEAR = CouplingInfo(
    name="linear",
    kind="builtin",
    help="log f = zᵀ W z', a learned D×D matrix W (the paper's linear coupling)",
    params=(
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
    ),
    equation="eq. 8",
    offered_in_app=True,
)
RBF = CouplingInfo(
    name="rbf",
    kind="builtin",
    help="log f = -|z - z'|² / (2θ²), a Gaussian with a learned length-scale θ (the paper's RBF coupling)",
    params=(SCALARS["theta"], Z_SCALE),  # theta is in the units of z_scale · pixels
    equation="eq. 27",
    offered_in_app=True,
)
REGISTRY: dict[str, CouplingInfo] = {"linear": LINEAR, "rbf": RBF}


def _expression_params(expression: Expression) -> tuple[Param, ...]:
    return tuple(SCALARS[p] for p in expression.params)


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
    return low if (low in REGISTRY or low in PRESETS) else s


def coupling_names() -> list[str]:
    return list(REGISTRY) + list(PRESETS)


def _resolve(spec: str) -> tuple[str, str]:
    """(kind, name or text): "registered", "preset" or "expression"; ValueError / ExpressionError if neither."""
    if not isinstance(spec, str) or not spec.strip(ASCII_SPACE):
        error = ExpressionError if isinstance(spec, str) else ValueError  # any text gives an ExpressionError
        raise error(
            "coupling spec must be a non-empty string: a name (" + ", ".join(coupling_names()) + ")"
            " or an expression for log f in z and zp"
        )
    name = canonical_name(spec)
    if name in REGISTRY:
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


def coupling_info(spec) -> CouplingInfo:
    """The parameters and description of a coupling: a name, a preset, an expression, a spec or a built coupling.

    For an expression the parameters come from its text: scale parameters positive, free ones unsigned.
    """
    if hasattr(spec, "coupling_info"):  # a built coupling (an nn.Module) knows its own description
        return spec.coupling_info()
    if isinstance(spec, CouplingSpec):
        spec = spec.spec
    kind, name = _resolve(spec)
    if kind == "registered":
        return REGISTRY[name]
    return _expression_info(name)


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
    out = [info for info in REGISTRY.values() if info.offered_in_app]
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
        checked = check_init(name, coupling_info(name).params, init)
        object.__setattr__(self, "spec", name)
        object.__setattr__(self, "init", tuple(sorted(checked.items())))

    @classmethod
    def of(cls, spec: str, **init: float) -> CouplingSpec:
        return cls(spec, tuple(init.items()))

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
    "LINEAR",
    "PRESETS",
    "PRESET_HELP",
    "RBF",
    "REGISTRY",
    "SCALARS",
    "Z_SCALE",
    "CouplingInfo",
    "CouplingSpec",
    "Param",
    "canonical_name",
    "check_init",
    "coupling_info",
    "coupling_names",
    "number",
    "offered_couplings",
]
