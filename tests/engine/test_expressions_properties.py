"""Property tests of the expression language (hypothesis).

(a) Any text, unicode or grammar-biased token soup, gives a coupling or an ``ExpressionError``, never another
exception, within 2 s, evaluation on a (30, D) batch included; an accepted text's canonical spelling is a fixed point.
(b) Valid expressions from a small recursive grammar agree with an independent numpy evaluation written here (not
the library's evaluator), or are refused as non-finite by the library's probe.

Profiles: "ci" (200 examples a test, the default run) and "long" (10,000 a test). The long tests carry the ``long``
marker and run only with ``HYPOTHESIS_PROFILE=long``:

    HYPOTHESIS_PROFILE=long python -m pytest tests/engine/test_expressions_properties.py -m long -q
"""

import math
import re
import time

import numpy as np
import pytest
import torch
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import CI, LONG, PROFILE, long_only  # noqa: E402,F401 - shared profiles

from rpm_engine.couplings import CouplingSpec, make_coupling
from rpm_engine.expressions import MAX_DEPTH, ExpressionError, parse_expression

D = 6
SECONDS = 2.0

# -- (a) any text ------------------------------------------------------------------------------------------------
TOKENS = [
    "z", "zp", "theta", "tau", "nu", "alpha", "lam", "lambda", "x", "D", "pi", "e", "1", "2.5", "0", "16", "17",
    "1e400", "1e-300", "0x1f", "1_0", "+", "-", "*", "/", "**", "//", "%", "@", "(", ")", "[", "]", ",", ".",
    "sum", "abs", "exp", "log", "sqrt", "norm", "dot", "mean", "min", "max", "len", "__import__", "__class__",
    "if", "else", "not", "and", ":", "=", "'", '"', "#", " ", " ", "\n", "\t", "\x00", "\\", "z'", "rbf", "RBF",
    "laplace", "Gaussian", "\uff5a", "\u212f", "\u03b8", "\u2212", "\u00a0", "\u202e", "\U0001d433",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=60).map("".join)
GRAMMAR_TOKENS = ["z", "zp", "z - zp", "theta", "alpha", "D", "2", "2.5", "16", "+", "-", "*", "/", "**", "(", ")",
                  "abs(", "exp(", "log(", "sqrt(", "sum(", "norm(", "min(", "max(", ",", " ", "#", "\uff5a"]  # fmt: skip
well_formed_soup = st.builds(  # more often valid: a reduction of a short soup plus a term in both z and zp
    lambda a, op, b: f"{a}({b}) {op} dot(z, zp)",
    st.sampled_from(["sum", "norm", "mean", "min", "max", "-sum", "exp", "log"]),
    st.sampled_from(["+", "-", "*", "/"]),
    st.lists(st.sampled_from(GRAMMAR_TOKENS), min_size=1, max_size=8).map("".join),
)
BATCH = torch.rand(30, D, generator=torch.Generator().manual_seed(0)) * 64


# -- (b) valid expressions against numpy ---------------------------------------------------------------------------
# A tree is a tuple; vectors and scalars are kept apart so that every generated expression is well-typed.
SCALE = ("theta", "tau")
FREE = ("alpha", "beta")
EXPONENTS = (-2, -1, 2, 3, 0.5)

vec_leaf = st.sampled_from([("z",), ("zp",)])
scal_leaf = st.one_of(
    st.sampled_from([0.5, 1.0, 2.0, 2.5, 3.0, 10.0, 0.125]).map(lambda v: ("num", v)),
    st.sampled_from([("D",), ("pi",), ("e",)] + [("param", p) for p in SCALE + FREE]),
)


def _vec_extend(v):
    return st.one_of(
        st.tuples(st.just("bin"), st.sampled_from("+-*/"), v, v),
        st.tuples(st.just("bin"), st.sampled_from("+-*/"), v, scal_leaf),
        st.tuples(st.just("bin"), st.sampled_from("+-*/"), scal_leaf, v),
        st.tuples(st.just("fn"), st.sampled_from(["abs", "exp", "log", "sqrt"]), v),
        st.tuples(st.just("neg"), v),
        st.tuples(st.just("pow"), v, st.sampled_from(EXPONENTS)),
        st.tuples(st.just("min2"), st.sampled_from(["min", "max"]), v, st.one_of(v, scal_leaf)),
    )


vectors = st.recursive(vec_leaf, _vec_extend, max_leaves=5)
reductions = st.one_of(
    st.tuples(st.just("red"), st.sampled_from(["sum", "mean", "norm", "min", "max"]), vectors),
    st.tuples(st.just("dot"), vectors, vectors),
)


def _scal_extend(s):
    return st.one_of(
        st.tuples(st.just("bin"), st.sampled_from("+-*/"), s, s),
        st.tuples(st.just("fn"), st.sampled_from(["abs", "exp", "log", "sqrt"]), s),
        st.tuples(st.just("neg"), s),
        st.tuples(st.just("pow"), s, st.sampled_from(EXPONENTS)),
        st.tuples(st.just("min2"), st.sampled_from(["min", "max"]), s, s),
    )


scalars = st.recursive(st.one_of(reductions, reductions, scal_leaf), _scal_extend, max_leaves=4)


def render(t) -> str:
    """The text of a tree, every compound in parentheses (the library prints its own canonical form)."""
    k = t[0]
    if k in ("z", "zp", "D", "pi", "e"):
        return k
    if k == "num":
        return repr(t[1])
    if k == "param":
        return t[1]
    if k == "bin":
        return f"({render(t[2])} {t[1]} {render(t[3])})"
    if k == "fn":
        return f"{t[1]}({render(t[2])})"
    if k == "neg":
        return f"(-{render(t[1])})"
    if k == "pow":
        return f"({render(t[1])} ** ({t[2]!r}))"
    if k == "min2":
        return f"{t[1]}({render(t[2])}, {render(t[3])})"
    if k == "red":
        return f"{t[1]}({render(t[2])})"
    if k == "dot":
        return f"dot({render(t[1])}, {render(t[2])})"
    raise KeyError(k)


def depth(t) -> int:
    children = [c for c in t[1:] if isinstance(c, tuple)]
    return 1 + max((depth(c) for c in children), default=0) + (t[0] == "pow")


def names(t) -> set:
    if t[0] in ("z", "zp"):
        return {t[0]}
    if t[0] == "param":
        return {t[1]}
    return set().union(*(names(c) for c in t[1:] if isinstance(c, tuple)))


class Reference:
    """numpy evaluation of a tree on z (B, 1, D) and zp (1, C, D); vectors are (..., D), scalars (..., 1)."""

    def __init__(self, dtype, z, zp, params):
        self.dtype = dtype
        self.env = {"z": z.astype(dtype)[:, None, :], "zp": zp.astype(dtype)[None, :, :]}
        self.params = {k: dtype(v) for k, v in params.items()}
        self.scale = 0.0  # the largest finite magnitude seen: the size of rounding errors that can cancel

    def __call__(self, t):
        out = np.asarray(self.eval(t), dtype=self.dtype)
        return np.broadcast_to(
            out, np.broadcast_shapes(out.shape, (self.env["z"].shape[0], self.env["zp"].shape[1], 1))
        )[..., 0]

    def eval(self, t):
        out = self._eval(t)
        finite = np.abs(np.asarray(out, dtype=self.dtype))
        finite = finite[np.isfinite(finite)]
        if finite.size:
            self.scale = max(self.scale, float(finite.max()))
        return out

    def _eval(self, t):
        k, dt = t[0], self.dtype
        if k in ("z", "zp"):
            return self.env[k]
        if k == "num":
            return dt(t[1])
        if k == "D":
            return dt(D)
        if k == "pi":
            return dt(math.pi)
        if k == "e":
            return dt(math.e)
        if k == "param":
            return self.params[t[1]]
        if k == "bin":
            a, b = self.eval(t[2]), self.eval(t[3])
            return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[t[1]](a, b)
        if k == "fn":
            return {"abs": np.abs, "exp": np.exp, "log": np.log, "sqrt": np.sqrt}[t[1]](self.eval(t[2]))
        if k == "neg":
            return -self.eval(t[1])
        if k == "pow":
            return np.power(self.eval(t[1]), dt(t[2]))
        if k == "min2":
            return (np.minimum if t[1] == "min" else np.maximum)(self.eval(t[2]), self.eval(t[3]))
        if k == "red":
            v = self.eval(t[2])
            if t[1] == "norm":
                return np.sqrt(np.sum(v * v, axis=-1, keepdims=True))
            return {"sum": np.sum, "mean": np.mean, "min": np.min, "max": np.max}[t[1]](v, axis=-1, keepdims=True)
        if k == "dot":
            return np.sum(self.eval(t[1]) * self.eval(t[2]), axis=-1, keepdims=True)
        raise KeyError(k)


def agree(a, b, scale, rtol):
    """Equal where both are non-finite in the same way, close (relative to the largest magnitude) elsewhere."""
    same_nonfinite = (np.isnan(a) & np.isnan(b)) | (np.isinf(a) & (a == b))
    with np.errstate(all="ignore"):  # inf - inf is masked out by the isfinite terms
        close = np.isfinite(a) & np.isfinite(b) & (np.abs(a - b) <= rtol * (np.abs(b) + scale + 1.0))
    return same_nonfinite | close


any_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="ascii"), max_size=500),
    st.text(min_size=350, max_size=2000),
    token_soup,
    well_formed_soup,
    st.deferred(lambda: scalars.map(render)),  # valid by construction, unless z or zp is missing
)


@st.composite
def cases(draw):
    tree = draw(scalars)
    if not {"z", "zp"} <= names(tree):  # log f must mention both: add a term in them
        tree = ("bin", "+", tree, ("dot", ("z",), ("zp",)))
    assume(depth(tree) <= MAX_DEPTH - 4)
    params = {p: draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])) for p in SCALE if p in names(tree)}
    params |= {p: draw(st.sampled_from([-2.0, -0.5, 0.0, 1.5])) for p in FREE if p in names(tree)}
    seed = draw(st.integers(0, 2**32 - 1))
    positive = draw(st.booleans())
    return tree, params, seed, positive


def check_against_numpy(case) -> None:
    tree, params, seed, positive = case
    text = render(tree)
    try:
        c = make_coupling(text, D, **params)
    except ExpressionError as err:  # the only refusal allowed: the probe saw NaN or infinity
        assert re.search(r"gives (NaN|infinity)", str(err)), f"{text}: {err}"
        event("refused as non-finite")
        return
    rng = np.random.default_rng(seed)
    lo, hi = (0.1, 3.0) if positive else (-3.0, 3.0)
    z, zp = rng.uniform(lo, hi, (5, D)), rng.uniform(lo, hi, (4, D))
    with torch.no_grad():
        got = c.double()(torch.from_numpy(z), torch.from_numpy(zp)).numpy()
    values = c.values()  # exp(log θ) as the coupling holds it
    with np.errstate(all="ignore"):
        ref = Reference(np.float64, z, zp, values)
        want = ref(tree)
        precise = Reference(np.longdouble, z, zp, values)(tree).astype(np.float64)
    assert got.shape == (5, 4)
    assume(ref.scale < 1e100)  # near overflow, norm and friends may legitimately differ in where they overflow
    stable = agree(want, precise, ref.scale, 1e-9)  # points where float64 rounding does not decide the value
    ok = agree(got, want, ref.scale, 1e-7)
    event(f"compared at {'all' if stable.all() else 'some' if stable.any() else 'no'} points")
    bad = stable & ~ok
    assert not bad.any(), f"{text} -> {c.expression.text}: library {got[bad][:3]} vs numpy {want[bad][:3]}"


@settings(CI)
@given(cases())
def test_valid_expressions_agree_with_numpy(case):
    check_against_numpy(case)


@pytest.mark.long
@long_only
@settings(LONG)
@given(cases())
def test_valid_expressions_agree_with_numpy_long(case):
    check_against_numpy(case)


# -- (a) checks, defined here as they draw on (b)'s grammar too -------------------------------------------
def check_any_text(text: str) -> None:
    start = time.perf_counter()
    try:
        c = make_coupling(text, D)
    except ExpressionError as err:
        assert "\n" not in str(err) and len(str(err)) < 400
        event("refused")
    except Exception as exc:  # pragma: no cover - the property under test
        raise AssertionError(f"{type(exc).__name__} escaped for {text[:200]!r}: {exc}") from exc
    else:
        event("accepted")
        with torch.no_grad():
            out = c(BATCH, BATCH.flip(0))
        assert out.shape == (30, 30)
        expression = getattr(c, "expression", None)
        if expression is not None:  # the canonical text is a fixed point, and the spec uses it
            again = parse_expression(expression.text, D)
            assert (again.text, again.tree) == (expression.text, expression.tree)
            assert CouplingSpec.of(text).spec in (expression.text, c.name)
    elapsed = time.perf_counter() - start
    assert elapsed < SECONDS, f"{elapsed:.2f} s for {text[:200]!r}"


@settings(CI)
@given(any_text)
def test_any_text_gives_a_coupling_or_an_expression_error(text):
    check_any_text(text)


@pytest.mark.long
@long_only
@settings(LONG)
@given(any_text)
def test_any_text_long(text):
    check_any_text(text)
