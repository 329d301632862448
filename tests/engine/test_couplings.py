"""Couplings as a schema: one parameter table per coupling, one spelling per spec, one error class per bad input."""

import math

import numpy as np
import pytest
import torch

from rpm_engine.couplings import (
    COUPLINGS,
    PRESET_HELP,
    PRESETS,
    Coupling,
    CouplingInfo,
    CouplingSpec,
    ExpressionCoupling,
    Param,
    canonical_name,
    coupling_info,
    coupling_names,
    make_coupling,
    offered_couplings,
    register_coupling,
)
from rpm_engine.expressions import FREE_PARAMS, MAX_DIM, SCALE_PARAMS, ExpressionError

D = 6
OFFERED = ["linear", "rbf", *PRESETS]


@pytest.fixture
def registered():
    """A Python coupling registered by a 'library user', removed again afterwards."""

    @register_coupling("Test-L1")
    class NegL1(Coupling):
        """Negative L1 distance times a learned-free scale."""

        defaults = {"scale": 1.0}

        def forward(self, z, zp):
            return -self.init["scale"] * (z[:, None] - zp[None]).abs().sum(-1)

    yield NegL1
    COUPLINGS.pop("test-l1", None)


# -- shapes ----------------------------------------------------------------------------------------------------------
BAD_SHAPES = [
    ((3, 4), (3, 4), "was made for D = 6"),  # rbf used to accept this silently
    ((3, 6), (3, 5), "was made for D = 6"),
    ((6,), (6,), "must have shape (B, 6), got (6,)"),  # IndexError before
    ((2, 3, 6), (3, 6), "must have shape (B, 6), got (2, 3, 6)"),  # linear used to broadcast this
    ((3, 6), (1, 3, 6), "zp must have shape"),
]


@pytest.mark.parametrize("name", ["linear", "rbf", "laplace", "cosine", "-sum(abs(z - zp)) / theta", "test-l1"])
@pytest.mark.parametrize(("zs", "zps", "message"), BAD_SHAPES)
def test_every_coupling_checks_shapes_with_a_value_error(registered, name, zs, zps, message):
    c = make_coupling(name, D)
    with pytest.raises(ValueError) as info:
        c(torch.rand(*zs), torch.rand(*zps))
    assert message in str(info.value) and type(info.value) in (ValueError, ExpressionError)


def test_inputs_must_be_floating_tensors():
    c = make_coupling("rbf", D)
    with pytest.raises(ValueError, match="torch tensor"):
        c(np.zeros((2, D)), torch.zeros(2, D))
    with pytest.raises(ValueError, match="floating"):
        c(torch.zeros(2, D, dtype=torch.long), torch.zeros(2, D))
    assert c(torch.zeros(1, D), torch.zeros(5, D)).shape == (1, 5)  # B and B' may differ (the heatmap's case)
    assert c(z=torch.zeros(2, D), zp=torch.zeros(3, D)).shape == (2, 3)


# -- parameter values ----------------------------------------------------------------------------------------------
BAD_VALUES = [None, True, False, "2", b"2", [1.0], 1 + 2j, float("nan"), float("inf"), -float("inf"), torch.ones(2)]


@pytest.mark.parametrize("value", BAD_VALUES, ids=repr)
@pytest.mark.parametrize(("name", "param"), [("rbf", "theta"), ("linear", "w_init"), ("laplace", "theta"),
                                             ("-sum(abs(z - zp)) + alpha", "alpha"), ("rbf", "z_scale")])  # fmt: skip
def test_bad_parameter_values_are_value_errors_naming_the_parameter(name, param, value):
    for make in (lambda: make_coupling(name, D, **{param: value}), lambda: CouplingSpec.of(name, **{param: value})):
        with pytest.raises(ValueError) as info:  # never TypeError, never a PyTorch message
            make()
        assert type(info.value) is ValueError and f"parameter {param} must be a" in str(info.value)


@pytest.mark.parametrize(("name", "param"), [("rbf", "theta"), ("cauchy", "theta"), ("cosine", "tau"),
                                             ("rbf", "z_scale"), ("-sum(abs(z - zp)) / sigma", "sigma")])  # fmt: skip
@pytest.mark.parametrize("value", [0, -1.0, -1e-300])
def test_scale_parameters_must_be_positive(name, param, value):
    with pytest.raises(ValueError, match=f"parameter {param} must be a positive number"):
        make_coupling(name, D, **{param: value})
    with pytest.raises(ValueError, match=f"parameter {param} must be a positive number"):
        CouplingSpec.of(name, **{param: value})


def test_numbers_of_any_real_type_are_accepted():
    assert make_coupling("rbf", D, theta=np.float32(0.5)).values()["theta"] == pytest.approx(0.5)
    assert make_coupling("rbf", D, theta=2).init["theta"] == 2.0
    assert make_coupling("linear", D, w_init=-0.1).init["w_init"] == -0.1  # W may start negative
    assert make_coupling("-sum(abs(z - zp)) + alpha", D, alpha=np.int64(-3)).values()["alpha"] == -3.0


def test_unknown_parameters_are_refused_early():
    with pytest.raises(ValueError, match=r"coupling 'rbf' has no parameter 'tau' \(it has: theta, z_scale\)"):
        CouplingSpec.of("rbf", tau=1.0)
    with pytest.raises(ValueError, match=r"coupling 'laplace' has no parameter 'tau' \(it has: theta\)"):
        CouplingSpec.of("laplace", tau=1.0)
    with pytest.raises(ValueError, match="has no parameter 'theta' \\(it has: none\\)"):
        make_coupling("dot(z, zp)", D, theta=1.0)


# -- dim -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["linear", "rbf", "laplace", "-sum(abs(z - zp)) / theta"])
@pytest.mark.parametrize("dim", [0, -3, MAX_DIM + 1, 10**7, 10**100, True, 6.0, "6", None])
def test_dim_is_bounded_before_anything_is_allocated(spec, dim, monkeypatch):
    def no_parameters(*a, **k):  # dim=10**7 once allocated 2.4 GB of W before being refused
        raise AssertionError("a parameter was allocated before dim was checked")

    monkeypatch.setattr(torch.nn, "Parameter", no_parameters)
    with pytest.raises(ValueError, match=f"dim must be an integer from 1 to {MAX_DIM}"):
        make_coupling(spec, dim)


def test_dim_limits_hold_for_direct_construction_too():
    assert make_coupling("linear", MAX_DIM).W.shape == (MAX_DIM, MAX_DIM)
    assert make_coupling("rbf", np.int64(4)).dim == 4
    for cls in (COUPLINGS["linear"], COUPLINGS["rbf"]):
        with pytest.raises(ValueError, match="dim must be"):
            cls(10**7)
    with pytest.raises(ValueError, match="dim must be"):
        ExpressionCoupling(10**7, "dot(z, zp)")


# -- long input ----------------------------------------------------------------------------------------------------
HUGE = "a" * 500_000


@pytest.mark.parametrize(
    "call",
    [
        lambda: make_coupling(HUGE, D),
        lambda: make_coupling("sum(z - zp) + " + HUGE, D),
        lambda: make_coupling("rbf", D, **{HUGE: 1.0}),
        lambda: make_coupling("rbf", HUGE),
        lambda: make_coupling("rbf", D, theta=HUGE),
        lambda: make_coupling("rbf", D, theta=10**400),
        lambda: CouplingSpec.of(HUGE),
        lambda: CouplingSpec.of("rbf", **{HUGE: 1.0}),
        lambda: CouplingSpec.from_dict({"spec": "rbf", "init": {"theta": HUGE}}),
        lambda: coupling_info(HUGE),
        lambda: register_coupling(HUGE),
    ],
)
def test_messages_echo_at_most_80_characters_of_the_input(call):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "a" * 81 not in message and "0" * 81 not in message and len(message) < 400, message[:200]


# -- canonical specs -----------------------------------------------------------------------------------------------
def test_one_spelling_per_coupling():
    assert CouplingSpec.of("RBF", theta=8) == CouplingSpec.of("rbf", theta=8.0) == CouplingSpec("rbf", (("theta", 8),))
    assert CouplingSpec.of(" Gaussian ", theta=8).spec == "rbf"
    assert CouplingSpec.of("Student_T").spec == "student-t"
    a = CouplingSpec.of("-sum(abs(z-zp))/theta", theta=2)
    b = CouplingSpec.of("  -sum( abs( z - zp ) ) / theta\n", theta=2.0)
    c = CouplingSpec.of("-sum(abs((z) - (zp))) / (theta)", theta=np.float64(2))
    assert a == b == c and hash(a) == hash(c) and a.spec == "-sum(abs(z - zp)) / theta"
    assert a.to_dict() == {"spec": "-sum(abs(z - zp)) / theta", "init": {"theta": 2.0}}
    assert CouplingSpec.of("rbf", z_scale=1, theta=2).init == (("theta", 2.0), ("z_scale", 1.0))  # sorted
    assert CouplingSpec.of("rbf", theta=2) == CouplingSpec("rbf", {"theta": 2})  # a mapping works too


def test_canonical_spec_is_a_fixed_point_and_round_trips():
    for spec in [*OFFERED, "dot(z,zp)/tau", "-sum((z-zp)**2)/(2*sigma**2) + alpha"]:
        s = CouplingSpec.of(spec)
        assert CouplingSpec.of(s.spec, **dict(s.init)) == s == CouplingSpec.from_dict(s.to_dict())
        assert make_coupling(s.spec, D) is not None


def test_explicit_defaults_are_kept():
    """An explicit value pins the run even if a default changes later: rbf and rbf(theta=1) are two keys."""
    assert CouplingSpec.of("rbf") != CouplingSpec.of("rbf", theta=1.0)
    assert CouplingSpec.of("rbf", theta=1.0).init == (("theta", 1.0),)
    assert CouplingSpec.of("rbf", theta=1.0).label == "rbf (theta=1)"


def test_run_keys_of_the_shipped_couplings_are_unchanged():
    """The spec dicts of the paper's couplings are what they were, so the shipped runs keep their keys."""
    assert CouplingSpec().to_dict() == {"spec": "rbf", "init": {}}
    assert CouplingSpec.of("rbf", theta=0.1).to_dict() == {"spec": "rbf", "init": {"theta": 0.1}}
    assert CouplingSpec.of("linear", w_init=1e-3).to_dict() == {"spec": "linear", "init": {"w_init": 0.001}}


@pytest.mark.parametrize(
    ("spec", "message", "position"),
    [
        ("-sum(abs(z - zp)) / theta  # the Laplace prior", "'#' is not allowed", 27),
        ("-sum(abs(\uff5a - zp)) / theta", "only ASCII", 9),
        ("-sum(abs(z - zp)) / \u03b8", "only ASCII", 20),
        ("gausian", "unknown coupling 'gausian'", 0),
        ("2**16", "log f must depend on z and zp", None),
        ("3", "log f must depend on z and zp", None),
    ],
)
def test_spec_text_is_checked_when_the_spec_is_made(spec, message, position):
    for make in (lambda: CouplingSpec.of(spec), lambda: make_coupling(spec, D), lambda: coupling_info(spec)):
        with pytest.raises(ExpressionError, match=message) as info:
            make()
        assert info.value.position == position


def test_bad_spec_types():
    for bad in [None, 3, "", "   ", b"rbf"]:
        with pytest.raises(ValueError, match="coupling spec must be a non-empty string"):
            CouplingSpec(bad)
        with pytest.raises(ValueError):
            make_coupling(bad, D)
    for bad in [{"theta": 1.0}, [], {"spec": "rbf", "init": [("theta", 1.0)]}, "rbf"]:
        with pytest.raises(ValueError):
            CouplingSpec.from_dict(bad)
    with pytest.raises(ValueError, match="pairs"):
        CouplingSpec("rbf", ("theta", 1.0))
    with pytest.raises(ValueError, match="repeated"):
        CouplingSpec("rbf", (("theta", 1.0), ("theta", 2.0)))


# -- metadata ------------------------------------------------------------------------------------------------------
def test_offered_couplings_are_the_builtins_and_presets(registered):
    infos = offered_couplings()
    assert [i.name for i in infos] == OFFERED  # not the registered test-l1
    assert all(isinstance(i, CouplingInfo) and i.offered_in_app and i.help for i in infos)
    assert {i.name: i.kind for i in infos} == {
        "linear": "builtin",
        "rbf": "builtin",
        **dict.fromkeys(PRESETS, "preset"),
    }
    assert {i.name: i.help for i in infos if i.kind == "preset"} == PRESET_HELP
    assert coupling_info("linear").equation == "eq. 8" and coupling_info("rbf").equation == "eq. 27"
    assert coupling_info("laplace").formula == "-sum(abs(z - zp)) / theta"


def test_builtin_parameter_tables():
    rbf = coupling_info("Gaussian")
    assert rbf.name == "rbf" and [p.name for p in rbf.params] == ["theta", "z_scale"]
    theta = rbf.param("theta")
    assert theta.label.startswith("θ") and theta.positive and theta.log and theta.user and theta.unit
    assert [p.name for p in rbf.user_params] == ["theta"]
    assert not rbf.param("z_scale").user and rbf.param("z_scale").positive
    lin = coupling_info("linear")
    w = lin.param("w_init")
    assert [p.name for p in lin.user_params] == ["w_init"] and not w.positive and w.log and w.lo > 0
    with pytest.raises(ValueError, match="has no parameter 'tau'"):
        rbf.param("tau")


@pytest.mark.parametrize("spec", OFFERED)
def test_tables_agree_with_what_the_library_builds(spec):
    """One source of truth: a coupling's defaults are its table's, and each default sits in its UI range."""
    info = coupling_info(spec)
    c = make_coupling(spec, D)
    assert c.init == info.defaults
    assert coupling_info(c) == info == coupling_info(CouplingSpec.of(spec))
    for p in info.params:
        assert isinstance(p, Param) and p.lo <= p.default <= p.hi and p.label and p.help
        assert p.positive == (p.name in SCALE_PARAMS or p.name == "z_scale")


def test_expression_info_comes_from_the_parsed_text():
    info = coupling_info("-sum(abs(z-zp))/theta + alpha*dot(z, zp) - tau")
    assert info.kind == "expression" and info.offered_in_app and info.equation is None
    assert info.name == info.formula == "-sum(abs(z - zp)) / theta + alpha * dot(z, zp) - tau"
    assert [(p.name, p.positive, p.default) for p in info.params] == [
        ("theta", True, 1.0),
        ("alpha", False, 0.0),
        ("tau", True, 1.0),
    ]
    for name in (*SCALE_PARAMS, *FREE_PARAMS):
        p = coupling_info(f"dot(z, zp) * {name}").params[0]
        assert p.positive == (name in SCALE_PARAMS) and p.lo < p.default <= p.hi
        assert (p.lo > 0) == p.log


def test_registered_couplings_are_not_offered_by_default(registered):
    info = coupling_info("TEST-L1")
    assert info.kind == "registered" and not info.offered_in_app and info.equation is None
    assert info.help == "Negative L1 distance times a learned-free scale."
    assert [(p.name, p.default, p.positive) for p in info.params] == [("scale", 1.0, False)]
    assert "test-l1" in coupling_names() and canonical_name("Test-L1") == "test-l1"
    assert CouplingSpec.of("TEST-L1", scale=2).spec == "test-l1"
    with pytest.raises(ValueError, match="parameter scale must be a finite number"):
        make_coupling("test-l1", D, scale=math.nan)


def test_register_with_a_table_and_app_flag():
    try:

        @register_coupling(
            "test-scaled-dot",
            params=(Param("kappa", "κ", 2.0, "a positive scale", positive=True, lo=0.1, hi=10, log=True),),
            help="κ zᵀz'",
            offered_in_app=True,
        )
        class ScaledDot(Coupling):
            def forward(self, z, zp):
                return self.init["kappa"] * z @ zp.T

        info = coupling_info("test-scaled-dot")
        assert info.offered_in_app and info.help == "κ zᵀz'" and info.defaults == {"kappa": 2.0}
        assert "test-scaled-dot" in [i.name for i in offered_couplings()]
        assert make_coupling("test-scaled-dot", 2, kappa=3).init == {"kappa": 3.0}
        with pytest.raises(ValueError, match="positive"):
            make_coupling("test-scaled-dot", 2, kappa=-1)
    finally:
        COUPLINGS.pop("test-scaled-dot", None)


@pytest.mark.parametrize("name", ["laplace", "gaussian", "z", "sum", "has space", "", "é"])
def test_register_refuses_names_that_clash_or_cannot_be_typed(name):
    with pytest.raises(ValueError):
        register_coupling(name)


def test_param_table_rows_are_consistent():
    with pytest.raises(ValueError, match="inconsistent"):
        Param("x", "x", -1.0, positive=True, lo=0.1, hi=1)
    with pytest.raises(ValueError, match="inconsistent"):
        Param("x", "x", 1.0, lo=0.0, hi=1, log=True)


def test_describe_is_gone():
    assert not hasattr(Coupling, "describe")
