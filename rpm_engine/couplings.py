"""Couplings f(z, z'): the critic of InfoNCE, which the RPM view reads as a prior P(z'|z) ∝ R(z') f(z, z') (eq. 21).

Every coupling maps z, z' of shape (B, D) to the (B, B) matrix of log f(z_i, z'_j). Built-ins are small classes in a
registry (linear, eq. 8; Gaussian RBF, eq. 27); presets and user text go through the safe expression language of
``expressions.py``; library users can add their own ``Coupling`` subclass with ``register_coupling``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .expressions import SCALE_PARAMS, ExpressionError, check_finite, parse_expression

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


def register_coupling(name: str):
    """Class decorator adding a ``Coupling`` subclass to the registry under ``name``."""

    def add(cls):
        if not (isinstance(cls, type) and issubclass(cls, Coupling)):
            raise TypeError(f"{cls!r} is not a Coupling subclass")
        cls.name = name
        COUPLINGS[name] = cls
        return cls

    return add


class Coupling(nn.Module):
    """Base class: ``forward(z, zp)`` with z, zp (B, D) returns log f as a (B, B) matrix."""

    name = "coupling"
    defaults: dict[str, float] = {}

    def __init__(self, dim: int, **init: float):
        super().__init__()
        unknown = set(init) - set(self.defaults)
        if unknown:
            known = ", ".join(self.defaults) or "none"
            raise ValueError(f"coupling '{self.name}' has no parameter {sorted(unknown)[0]!r} (it has: {known})")
        self.dim = dim
        self.init = {**self.defaults, **{k: float(v) for k, v in init.items()}}

    def values(self) -> dict[str, float]:
        """Current values of the coupling's named parameters (θ, τ, ...), for display and the run record."""
        return {}

    def describe(self) -> str:
        return self.name


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"parameter {name} must be a positive number, got {value}")
    return value


@register_coupling("linear")
class LinearCoupling(Coupling):
    """log f = zᵀ W z' with a learned (D, D) matrix W (eq. 8); W starts at w_init · I.

    ``z_scale`` measures z in other units (z_scale · pixels, e.g. 1/size for frame units) without changing the
    encoder: the coupling is the only consumer of z's scale in training, as the read-out is linear.
    """

    defaults = {"w_init": 1e-3, "z_scale": 1.0}

    def __init__(self, dim: int, **init: float):
        super().__init__(dim, **init)
        w0 = self.init["w_init"]
        if not math.isfinite(w0):
            raise ValueError(f"parameter w_init must be finite, got {w0}")
        self.z_scale = _positive("z_scale", self.init["z_scale"])
        self.W = nn.Parameter(w0 * torch.eye(dim))

    def forward(self, z: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
        s = self.z_scale
        return (s * z) @ self.W @ (s * zp).T  # (B, B)

    def values(self) -> dict[str, float]:
        w = self.W.detach()
        return {"W_diag_mean": float(w.diagonal().mean()), "W_norm": float(torch.linalg.matrix_norm(w))}


@register_coupling("rbf")
class RBFCoupling(Coupling):
    """log f = -|z - z'|² / (2θ²), a Gaussian RBF with learned length-scale θ (eq. 27), stored as log θ."""

    defaults = {"theta": 1.0, "z_scale": 1.0}  # theta is in the units of z_scale · pixels

    def __init__(self, dim: int, **init: float):
        super().__init__(dim, **init)
        self.z_scale = _positive("z_scale", self.init["z_scale"])
        self.log_theta = nn.Parameter(torch.tensor(math.log(_positive("theta", self.init["theta"]))))

    def forward(self, z: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
        d2 = (self.z_scale * (z[:, None, :] - zp[None, :, :])).pow(2).sum(-1)  # (B, B); differences keep precision
        return -0.5 * d2 * torch.exp(-2.0 * self.log_theta)

    def values(self) -> dict[str, float]:
        return {"theta": float(self.log_theta.detach().exp())}


class ExpressionCoupling(Coupling):
    """log f given as text in the safe expression language; named scalars (θ, τ, ...) are learned."""

    name = "expression"

    def __init__(self, dim: int, text: str, label: str | None = None, **init: float):
        self.expression = parse_expression(text, dim)
        self.defaults = {p: (1.0 if p in SCALE_PARAMS else 0.0) for p in self.expression.params}
        super().__init__(dim, **init)
        if label:
            self.name = label
        self.raw = nn.ParameterDict()
        for p in self.expression.params:
            v = self.init[p]
            if p in SCALE_PARAMS:
                self.raw[p] = nn.Parameter(torch.tensor(math.log(_positive(p, v))))
            else:
                if not math.isfinite(v):
                    raise ValueError(f"parameter {p} must be finite, got {v}")
                self.raw[p] = nn.Parameter(torch.tensor(float(v)))
        check_finite(self.expression, dim, self.init)

    def _params(self) -> dict[str, torch.Tensor]:
        return {p: (self.raw[p].exp() if p in SCALE_PARAMS else self.raw[p]) for p in self.expression.params}

    def forward(self, z: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
        return self.expression(z, zp, self._params())

    def values(self) -> dict[str, float]:
        return {p: float(v.detach()) for p, v in self._params().items()}

    def describe(self) -> str:
        return f"{self.name}: {self.expression.text}"


def canonical_name(spec: str) -> str:
    """'RBF ' -> 'rbf', 'gaussian' -> 'rbf'; an expression is returned stripped."""
    s = spec.strip()
    low = s.lower()
    low = ALIASES.get(low, low)
    return low if (low in COUPLINGS or low in PRESETS) else s


def coupling_names() -> list[str]:
    return list(COUPLINGS) + list(PRESETS)


def make_coupling(spec: str, dim: int, **init: float) -> Coupling:
    """A coupling from a registered name, a preset name or an expression for log f (SPEC §4).

    Raises ``ValueError`` for an unknown name or bad parameter and ``ExpressionError`` for a bad expression.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(
            "coupling spec must be a non-empty string: a name (" + ", ".join(coupling_names()) + ")"
            " or an expression for log f in z and zp"
        )
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    name = canonical_name(spec)
    if name in COUPLINGS:
        return COUPLINGS[name](dim, **init)
    if name in PRESETS:
        return ExpressionCoupling(dim, PRESETS[name], label=name, **init)
    if name.isidentifier() and name not in ("z", "zp"):
        raise ExpressionError(
            f"unknown coupling '{name}': choose one of {', '.join(coupling_names())}, or write an expression in z and zp",
            name,
            0,
        )
    return ExpressionCoupling(dim, name, **init)


@dataclass(frozen=True)
class CouplingSpec:
    """A coupling as configuration: the spec string and its starting parameter values (part of a run's key)."""

    spec: str = "rbf"
    init: tuple[tuple[str, float], ...] = field(default=())

    @classmethod
    def of(cls, spec: str, **init: float) -> CouplingSpec:
        return cls(canonical_name(spec), tuple(sorted((k, float(v)) for k, v in init.items())))

    def build(self, dim: int) -> Coupling:
        return make_coupling(self.spec, dim, **dict(self.init))

    def to_dict(self) -> dict:
        return {"spec": self.spec, "init": dict(self.init)}

    @classmethod
    def from_dict(cls, d: dict) -> CouplingSpec:
        return cls.of(d["spec"], **d.get("init", {}))

    @property
    def label(self) -> str:
        extra = ", ".join(f"{k}={v:g}" for k, v in self.init)
        return f"{self.spec} ({extra})" if extra else self.spec
