"""Couplings f(z, z'): the critic of InfoNCE, which the RPM view reads as a prior P(z'|z) ∝ R(z') f(z, z') (eq. 21).

Every coupling maps z, z' of shape (B, D) to the (B, B) matrix of log f(z_i, z'_j). Built-ins are small classes in a
registry (linear, eq. 8; Gaussian RBF, eq. 27); presets and user text go through the safe expression language of
``expressions.py``; library users can add their own ``Coupling`` subclass with ``register_coupling``.

Each coupling also declares its parameters once, as ``Param`` rows (name, label, unit, default, sign, a UI range,
whether a user should see it). ``coupling_info(spec)`` gives them for a name, a preset, an expression or a built
coupling, and ``offered_couplings()`` lists what the app offers; the widgets, the URL codec and the hosted limits
read them from there rather than keeping their own tables.

A coupling as configuration (``CouplingSpec``, ``Param``, ``CouplingInfo``, presets, the registry of what each
coupling is) lives in ``coupling_spec.py``, which needs no torch; it is re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from .coupling_spec import (
    ALIASES,
    LINEAR,
    PRESET_HELP,
    PRESETS,
    RBF,
    REGISTRY,
    SCALARS,
    Z_SCALE,
    CouplingInfo,
    CouplingSpec,
    Param,
    _expression_params,
    _parse,
    _resolve,
    canonical_name,
    check_init,
    coupling_info,
    coupling_names,
    number,
    offered_couplings,
)
from .expressions import FUNCTIONS, MAX_DIM, NAMES, SCALE_PARAMS, check_dim, check_finite, clip

COUPLINGS: dict[str, type[Coupling]] = {}


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
        REGISTRY[key] = info_of(cls)
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
        values = check_init(self.name, self.param_table(), init)
        self.init = {**self.defaults, **values}

    def coupling_info(self) -> CouplingInfo:
        """What this coupling is (``coupling_spec.coupling_info`` of a built coupling)."""
        return info_of(self)

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


def info_of(coupling: Coupling | type[Coupling]) -> CouplingInfo:
    """The ``CouplingInfo`` of a built coupling or of a registered class."""
    if isinstance(coupling, Coupling) and hasattr(coupling, "expression"):  # an ExpressionCoupling
        return coupling_info(coupling.name if coupling.name in PRESETS else coupling.expression.text)
    cls = coupling if isinstance(coupling, type) else type(coupling)
    if not (isinstance(cls, type) and issubclass(cls, Coupling)):
        raise ValueError(f"not a coupling: {clip(repr(coupling))}")
    table = tuple(cls.params) or tuple(Param(k, k, float(v)) for k, v in cls.defaults.items())
    kind = "builtin" if cls.__dict__.get("_builtin") else "registered"
    return CouplingInfo(cls.name, kind, cls.help, table, cls.equation, None, bool(cls.offered_in_app))


@register_coupling("linear", params=LINEAR.params, help=LINEAR.help, equation=LINEAR.equation, offered_in_app=True)
class LinearCoupling(Coupling):
    """log f = zᵀ W z' with a learned (D, D) matrix W (eq. 8); W starts at w_init · I.

    ``z_scale`` measures z in other units (z_scale · pixels, e.g. 1/size for frame units) without changing the
    encoder: the coupling is the only consumer of z's scale in training, as the read-out is linear.
    """

    _builtin = True

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


@register_coupling("rbf", params=RBF.params, help=RBF.help, equation=RBF.equation, offered_in_app=True)
class RBFCoupling(Coupling):
    """log f = -|z - z'|² / (2θ²), a Gaussian RBF with learned length-scale θ (eq. 27), stored as log θ."""

    _builtin = True  # theta is in the units of z_scale · pixels

    def __init__(self, dim: int, **init: float):
        super().__init__(dim, **init)
        self.z_scale = self.init["z_scale"]
        self.log_theta = nn.Parameter(torch.tensor(math.log(self.init["theta"])))

    def forward(self, z: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
        d2 = (self.z_scale * (z[:, None, :] - zp[None, :, :])).pow(2).sum(-1)  # (B, B); differences keep precision
        return -0.5 * d2 * torch.exp(-2.0 * self.log_theta)

    def values(self) -> dict[str, float]:
        return {"theta": float(self.log_theta.detach().exp())}


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


def build(spec: CouplingSpec, dim: int) -> Coupling:
    """The module of a ``CouplingSpec`` (its coupling with its starting values) for latents of length ``dim``."""
    return make_coupling(spec.spec, dim, **dict(spec.init))


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


__all__ = [
    "ALIASES",
    "COUPLINGS",
    "MAX_DIM",
    "PRESETS",
    "PRESET_HELP",
    "SCALARS",
    "Z_SCALE",
    "Coupling",
    "CouplingInfo",
    "CouplingSpec",
    "ExpressionCoupling",
    "LinearCoupling",
    "Param",
    "RBFCoupling",
    "canonical_name",
    "check_init",
    "coupling_info",
    "coupling_names",
    "info_of",
    "build",
    "make_coupling",
    "number",
    "offered_couplings",
    "register_coupling",
]
