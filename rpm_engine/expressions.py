"""The safe expression language for custom couplings: log f(z, z') typed by a user, checked, never run.

The text goes through ``ast.parse`` only; each node is checked against a short whitelist and rebuilt as a
small immutable tree, which is evaluated with torch operations. User text never reaches eval, exec or compile.

Vocabulary: ``z``, ``zp`` (vectors of length D), ``D``, ``pi``, ``e``, numbers and the learnable scalars
below; ``+ - * / **`` (constant exponents only); ``abs sqrt exp log`` elementwise; ``sum norm mean min max``
of one vector and ``dot(u, v)`` reduce over the vector axis; ``min(a, b)``, ``max(a, b)`` are elementwise.

Rules beyond the grammar, so that every text is either refused with one ``ExpressionError`` or accepted as one
canonical spelling (the run store keys a run by that spelling):

* ASCII only: look-alikes such as a fullwidth ``ｚ`` or ``ℯ`` are refused (Python itself would silently read them
  as ``z`` and ``e``), as are control characters and ``#`` (the language has no comments);
* at most ``MAX_LENGTH`` characters not counting spaces (and ``HARD_LENGTH`` in all), ``MAX_DEPTH`` levels,
  ``MAX_NODES`` parts and exponents of at most ``MAX_EXPONENT`` in size, so any accepted text evaluates quickly;
* log f must mention both ``z`` and ``zp``: a coupling without them gives every pair the same logit, which the
  InfoNCE loss (eq. 6) cannot tell apart from no coupling at all;
* ``Expression.text`` is the canonical spelling, printed back from the checked tree: one space around binary
  operators, none elsewhere, only the parentheses the tree needs, numbers in Python's shortest round-trip form
  without a trailing ``.0``, unary ``+`` dropped. Equal trees print equal texts, and the printed text parses to the
  same tree and prints to itself.
"""

from __future__ import annotations

import ast
import difflib
import math
import numbers
import operator
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where an expression is evaluated: parsing and listing runs need no torch
    import torch

SCALE_PARAMS = (
    "theta",
    "tau",
    "sigma",
    "nu",
    "kappa",
    "lam",
)  # learnable, positive (stored as log), init 1.0
FREE_PARAMS = ("alpha", "beta", "gamma")  # learnable, unconstrained, init 0.0
MAX_LENGTH = 400  # characters, not counting spaces
HARD_LENGTH = 4 * MAX_LENGTH  # characters in all, spaces included
MAX_DIM = 64  # the largest D a coupling is made for (the encoder gives D = 2 * balls <= 12)
CLIP = 40  # at most this many characters of the user's text are echoed in one part of a message
MAX_DEPTH = 24  # levels of the syntax tree
MAX_NODES = 200  # names, numbers, operators and calls
MAX_EXPONENT = 16  # |p| in x**p

CONSTANTS = {"pi": math.pi, "e": math.e}
NAMES = ("z", "zp", "D", *CONSTANTS, *SCALE_PARAMS, *FREE_PARAMS)
FUNCTIONS = ("abs", "sqrt", "exp", "log", "sum", "norm", "dot", "mean", "min", "max")
ALIASES = {  # for "did you mean" only; never accepted silently
    "θ": "theta", "τ": "tau", "σ": "sigma", "ν": "nu", "κ": "kappa", "λ": "lam", "α": "alpha", "β": "beta",
    "γ": "gamma", "π": "pi", "zprime": "zp", "z_prime": "zp", "ln": "log", "lambda": "lam",
}  # fmt: skip

BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
BAD_BINARY = {
    ast.FloorDiv: ("'//' (floor division) is not allowed", "use /"),
    ast.Mod: ("'%' (remainder) is not allowed", ""),
    ast.MatMult: ("'@' is not allowed", "use dot(u, v)"),
    ast.BitXor: ("'^' is not allowed", "use ** for powers"),
    ast.BitAnd: ("'&' is not allowed", ""),
    ast.BitOr: ("'|' is not allowed", ""),
    ast.LShift: ("'<<' is not allowed", ""),
    ast.RShift: ("'>>' is not allowed", ""),
}
FORBIDDEN = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "indexing (subscripts) is not allowed",
    ast.Slice: "slices are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "'and' / 'or' are not allowed",
    ast.IfExp: "'if ... else' is not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.FormattedValue: "strings are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.List: "lists are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
}


class ExpressionError(ValueError):
    """A bad coupling expression; .position is the 0-based column of the problem (or None), .text the text.

    ``str(err)`` is one line; it shows the column 1-based, as editors do: "unknown name 'tehta' at column 5".
    """

    def __init__(self, message: str, text: str = "", position: int | None = None, hint: str = ""):
        self.message = clip(" ".join(str(message).split()), 300)  # a safety net: each echo is clipped already
        self.text = text
        self.position = position
        self.hint = hint
        where = f" at column {position + 1}" if position is not None else ""
        super().__init__(self.message + where + (f" ({hint})" if hint else ""))

    def __reduce__(self):
        return type(self), (self.message, self.text, self.position, self.hint)


def clip(text: str, limit: int = CLIP) -> str:
    """``text`` cut to about ``limit`` characters, saying how long it was: messages never echo a long input."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 20, 8)]}... ({len(text)} characters)"


# The expression tree. Vectors evaluate to (..., D) tensors, scalars-per-pair to (..., 1) or 0-d ones.
@dataclass(frozen=True)
class Num:
    value: float
    name: str | None = field(default=None, compare=False)  # "pi" or "e" for the named constants, printed back


@dataclass(frozen=True)
class Var:
    name: str  # z, zp, D or a learnable scalar


@dataclass(frozen=True)
class Neg:
    arg: Node


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * / **; the right side of ** is a constant tree
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[Node, ...]


Node = Num | Var | Neg | BinOp | Call

ELEMENTWISE = ("abs", "sqrt", "exp", "log")  # the tensor methods of these names
ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": math.pow}


@dataclass(frozen=True)
class Expression:
    """A checked expression for log f: z (B, D), zp (B', D) and the scalars' values give (B, B')."""

    text: str  # the canonical text (see the module docstring), printed from ``tree``
    params: tuple[str, ...]  # learnable scalars used, in order of first appearance
    tree: Node
    dim: int | None = None  # the value of D, or None to take it from z

    def __call__(self, z: torch.Tensor, zp: torch.Tensor, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        import torch

        if z.ndim != 2 or zp.ndim != 2 or z.shape[1] != zp.shape[1]:
            raise ValueError(f"z and zp must have shapes (B, D), got {tuple(z.shape)} and {tuple(zp.shape)}")
        dim = z.shape[1]
        if self.dim is not None and dim != self.dim:
            raise ValueError(f"this expression was made for D = {self.dim}, got z of shape {tuple(z.shape)}")
        env = {"z": z[:, None, :], "zp": zp[None, :, :], "D": z.new_tensor(float(dim))}
        for name in self.params:
            if name not in params:
                raise ValueError(f"no value given for the parameter '{name}' of {self.text!r}")
            v = params[name]
            env[name] = v.to(z.device, z.dtype) if isinstance(v, torch.Tensor) else z.new_tensor(float(v))
        out = _evaluate(self.tree, env, dim)
        return torch.broadcast_to(out, (len(z), len(zp), 1))[..., 0].contiguous()


def _evaluate(node: Node, env: dict[str, torch.Tensor], dim: int) -> torch.Tensor:
    import torch

    if isinstance(node, Num):
        return env["z"].new_tensor(node.value)
    if isinstance(node, Var):
        return env[node.name]
    if isinstance(node, Neg):
        return -_evaluate(node.arg, env, dim)
    if isinstance(node, BinOp):
        a = _evaluate(node.left, env, dim)
        if node.op == "**":
            return a ** _exponent(node.right, dim)
        b = _evaluate(node.right, env, dim)
        return ARITHMETIC[node.op](a, b)
    args = [_evaluate(a, env, dim) for a in node.args]
    fn = node.fn
    if fn in ELEMENTWISE:
        return getattr(args[0], fn)()
    if fn == "dot":
        return (args[0] * args[1]).sum(-1, keepdim=True)
    if len(args) == 2:  # min(a, b) / max(a, b)
        return torch.minimum(*args) if fn == "min" else torch.maximum(*args)
    v = args[0]
    if fn == "sum":
        return v.sum(-1, keepdim=True)
    if fn == "mean":
        return v.mean(-1, keepdim=True)
    if fn == "norm":
        return torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    return v.amin(-1, keepdim=True) if fn == "min" else v.amax(-1, keepdim=True)


def _is_constant(node: Node) -> bool:
    """Numbers, pi, e and D combined arithmetically."""
    if isinstance(node, Num):
        return True
    if isinstance(node, Var):
        return node.name == "D"
    if isinstance(node, Neg):
        return _is_constant(node.arg)
    return isinstance(node, BinOp) and _is_constant(node.left) and _is_constant(node.right)


def _constant(node: Node, dim: int | None) -> float | None:
    """The value of a constant tree, None while D is unknown; may raise ArithmeticError or ValueError."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):  # only D is constant
        return None if dim is None else float(dim)
    if isinstance(node, Neg):
        v = _constant(node.arg, dim)
        return None if v is None else -v
    a, b = _constant(node.left, dim), _constant(node.right, dim)
    return None if a is None or b is None else ARITHMETIC[node.op](a, b)


def _exponent(node: Node, dim: int | None) -> float | None:
    """An exponent's value, checked to be finite and at most MAX_EXPONENT in size; None while D is unknown."""
    try:
        value = _constant(node, dim)
    except (ArithmeticError, ValueError):
        raise ExpressionError("the exponent is not a valid number") from None
    if value is not None and not (math.isfinite(value) and abs(value) <= MAX_EXPONENT):
        raise ExpressionError(f"exponent too large: {value:g} (at most {MAX_EXPONENT} in size)")
    return value


# Printing a tree back as canonical text. Precedence as in Python: + - < * / < unary - < ** < atoms; ** is
# right-associative and binds tighter than a unary minus on its left (-x ** 2 is -(x ** 2)).
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 4}
_UNARY, _ATOM = 3, 5


def format_number(value: float) -> str:
    """Python's shortest round-trip text for a float, with no trailing '.0' and no '+' or leading zeros in the
    exponent: 2.0 -> '2', 0.001 -> '0.001', 1e-05 -> '1e-5', 1.5e+20 -> '1.5e20'."""
    text = repr(float(value))
    mantissa, _, exponent = text.partition("e")
    if mantissa.endswith(".0"):
        mantissa = mantissa[:-2]
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def _print(node: Node) -> tuple[str, int]:
    """(text, precedence) of a tree."""
    if isinstance(node, Num):
        return (node.name or format_number(node.value)), _ATOM
    if isinstance(node, Var):
        return node.name, _ATOM
    if isinstance(node, Call):
        return f"{node.fn}({', '.join(to_text(a) for a in node.args)})", _ATOM
    if isinstance(node, Neg):
        return "-" + _wrap(node.arg, _UNARY), _UNARY
    p = _PRECEDENCE[node.op]
    if node.op == "**":  # (a ** b) ** c and (-a) ** b need parentheses; a ** -b and a ** b ** c do not
        left, right = _wrap(node.left, _ATOM), _wrap(node.right, _UNARY)
    else:  # left-associative: a - (b - c) keeps its parentheses, (a - b) - c loses them
        left, right = _wrap(node.left, p), _wrap(node.right, p + 1)
    return f"{left} {node.op} {right}", p


def _wrap(node: Node, at_least: int) -> str:
    text, p = _print(node)
    return text if p >= at_least else f"({text})"


def to_text(node: Node) -> str:
    """The canonical text of a tree; ``parse_expression(to_text(t)).tree == t``."""
    return _print(node)[0]


def _variables(node: Node) -> set[str]:
    if isinstance(node, Var):
        return {node.name}
    if isinstance(node, Neg):
        return _variables(node.arg)
    if isinstance(node, BinOp):
        return _variables(node.left) | _variables(node.right)
    if isinstance(node, Call):
        return set().union(*(_variables(a) for a in node.args))
    return set()


def _suggest(name: str, choices: tuple[str, ...], kind: str) -> str:
    """A 'did you mean' hint, or the list of what is allowed."""
    close = [ALIASES[name]] if ALIASES.get(name) in choices else difflib.get_close_matches(name, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else f"{kind}: {', '.join(choices)}"


class _Parser:
    """Turns a Python syntax tree into an expression tree, refusing everything off the whitelist."""

    def __init__(self, text: str, dim: int | None):
        self.text, self.dim = text, dim
        self.nodes = 0
        self.params: list[str] = []

    def column(self, byte_offset: int | None) -> int | None:
        """ast gives UTF-8 byte offsets; the text is one line, so its character index is the column."""
        if byte_offset is None:
            return None
        return len(self.text.encode()[:byte_offset].decode("utf-8", "ignore"))

    def error(self, message: str, node: ast.AST | None = None, hint: str = "", at: int | None = None):
        position = self.column(getattr(node, "col_offset", None)) if at is None else at
        return ExpressionError(message, self.text, position, hint)

    def build(self, node: ast.AST, depth: int) -> tuple[Node, bool]:
        """(tree, is_vector) for one syntax node."""
        if depth > MAX_DEPTH:
            raise self.error(f"the expression is nested too deeply (at most {MAX_DEPTH} levels)", node)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(f"the expression has too many parts (at most {MAX_NODES})", node)
        if isinstance(node, ast.Constant):
            return self.number(node), False
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.BinOp):
            return self.binary(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Attribute):
            raise self.attribute(node)
        if isinstance(node, ast.Subscript):  # point at the '['
            raise self.error(FORBIDDEN[ast.Subscript], at=self.column(node.value.end_col_offset))
        message = FORBIDDEN.get(type(node), f"'{type(node).__name__}' is not allowed")
        raise self.error(message, node)

    def number(self, node: ast.Constant) -> Num:
        v = node.value
        if isinstance(v, (str, bytes)):
            raise self.error("strings are not allowed", node)
        if isinstance(v, complex):
            raise self.error("complex numbers are not allowed", node)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(f"{clip(repr(v))} is not allowed", node, "use a number")
        try:
            value = float(v)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise self.error("number too large", node)
        return Num(value)

    def name(self, node: ast.Name) -> tuple[Node, bool]:
        n = node.id
        if n in ("z", "zp"):
            return Var(n), True
        if n == "D":
            return Var(n), False
        if n in CONSTANTS:
            return Num(CONSTANTS[n], n), False
        if n in SCALE_PARAMS or n in FREE_PARAMS:
            if n not in self.params:
                self.params.append(n)
            return Var(n), False
        if n in FUNCTIONS:
            raise self.error(f"'{n}' is a function", node, f"call it, e.g. {n}(z - zp)")
        raise self.error(f"unknown name '{clip(n)}'", node, _suggest(n, NAMES, "names"))

    def unary(self, node: ast.UnaryOp, depth: int) -> tuple[Node, bool]:
        if isinstance(node.op, (ast.Not, ast.Invert)):
            raise self.error(f"'{'not' if isinstance(node.op, ast.Not) else '~'}' is not allowed", node)
        arg, vector = self.build(node.operand, depth + 1)
        return (Neg(arg) if isinstance(node.op, ast.USub) else arg), vector

    def binary(self, node: ast.BinOp, depth: int) -> tuple[Node, bool]:
        op = BINARY.get(type(node.op))
        if op is None:
            message, hint = BAD_BINARY.get(type(node.op), ("this operator is not allowed", ""))
            raise self.error(message, hint=hint, at=self.operator_column(node))
        left, left_vector = self.build(node.left, depth + 1)
        right, right_vector = self.build(node.right, depth + 1)
        if op == "**":
            if not _is_constant(right):
                hint = "write exp(x) for e**x" if left == Num(math.e) else "numbers, pi, e and D only"
                raise self.error("the exponent must be a constant", node.right, hint)
            try:
                _exponent(right, self.dim)
            except ExpressionError as err:
                raise self.error(err.message, node.right) from None
        return BinOp(op, left, right), left_vector or right_vector

    def operator_column(self, node: ast.BinOp) -> int | None:
        """A binary operator's column: the first character after the left operand that is not ' ' or ')'."""
        start, end = self.column(node.left.end_col_offset), self.column(node.right.col_offset)
        if start is None or end is None:
            return self.column(node.col_offset)
        gap = self.text[start:end]
        skip = len(gap) - len(gap.lstrip(" )"))
        return start + skip

    def attribute(self, node: ast.Attribute) -> ExpressionError:
        hint = f"write {node.attr}(...)" if node.attr in FUNCTIONS else ""
        at = self.column(node.value.end_col_offset)  # the '.'
        return self.error("attribute access is not allowed", hint=hint, at=at)

    def call(self, node: ast.Call, depth: int) -> tuple[Node, bool]:
        if isinstance(node.func, ast.Attribute):
            raise self.attribute(node.func)
        if not isinstance(node.func, ast.Name):
            raise self.error("only named functions can be called", node.func, ", ".join(FUNCTIONS))
        fn = node.func.id
        if fn not in FUNCTIONS:
            if fn in NAMES:
                raise self.error(f"'{fn}' is not a function", node, "use * to multiply")
            raise self.error(f"unknown function '{clip(fn)}'", node, _suggest(fn, FUNCTIONS, "functions"))
        if node.keywords:
            raise self.error("keyword arguments are not allowed", node.keywords[0])
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.error("starred arguments are not allowed", a)
        args = [self.build(a, depth + 1) for a in node.args]
        vectors = [vector for _, vector in args]
        n = len(args)
        if fn in ELEMENTWISE:
            if n != 1:
                raise self.error(f"{fn}() takes 1 argument, got {n}", node)
            vector = vectors[0]
        elif fn == "dot":
            if n != 2:
                raise self.error(f"dot() takes 2 arguments, got {n}", node, "dot(u, v)")
            if not all(vectors):
                bad = node.args[vectors.index(False)]
                raise self.error("dot() needs two vectors", bad, "a scalar has nothing to sum over; use *")
            vector = False
        elif fn in ("min", "max") and n == 2:
            vector = vectors[0] or vectors[1]
        else:
            if n != 1:
                takes = "1 or 2 arguments" if fn in ("min", "max") else "1 argument"
                raise self.error(f"{fn}() takes {takes}, got {n}", node)
            if not vectors[0]:
                raise self.error(f"{fn}() needs a vector, got a scalar", node.args[0], "e.g. z - zp")
            vector = False
        return Call(fn, tuple(tree for tree, _ in args)), vector


def _syntax_error(exc: SyntaxError, text: str) -> ExpressionError:
    position = None
    if exc.offset is not None and (exc.lineno or 1) == 1:
        position = min(max(exc.offset - 1, 0), len(text))
    hint = ""
    if "z'" in text:
        hint = "write z' as zp"
    elif "lambda" in text:
        hint = "'lambda' is reserved: the scalar is called 'lam'"
    return ExpressionError(f"syntax error: {clip(exc.msg, 80)}", text, position, hint)


def check_dim(dim: object) -> int:
    """``dim`` as an int from 1 to ``MAX_DIM``, checked before anything is allocated; else ``ValueError``."""
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or not 1 <= dim <= MAX_DIM:
        shown = clip(repr(dim)) if isinstance(dim, numbers.Number) else type(dim).__name__
        raise ValueError(f"dim must be an integer from 1 to {MAX_DIM} (the length of z), got {shown}")
    return int(dim)


WHITESPACE = str.maketrans({"\t": " ", "\n": " ", "\r": " ", "\f": " ", "\v": " "})


def _check_characters(text: str) -> None:
    """Refuse what Python would read in a way the user cannot see: non-ASCII look-alikes, control characters, '#'."""
    for i, ch in enumerate(text):
        if ch == "#":
            raise ExpressionError("'#' is not allowed: expressions have no comments", text, i)
        if ch == "\x00":
            raise ExpressionError("null bytes are not allowed", text, i)
        if ord(ch) < 32 or ord(ch) == 127:
            raise ExpressionError(f"control character U+{ord(ch):04X} is not allowed", text, i)
        if not ch.isascii():
            plain = ALIASES.get(ch) or unicodedata.normalize("NFKC", ch)
            hint = f"did you mean '{plain}'?" if plain.isascii() and plain.isprintable() and plain.strip() else ""
            raise ExpressionError(f"only ASCII characters are allowed, got {ch!r} (U+{ord(ch):04X})", text, i, hint)


def _check_length(text: str) -> None:
    visible = len(text) - text.count(" ")
    if visible > MAX_LENGTH:
        seen, at = 0, None
        for i, ch in enumerate(text):
            seen += ch != " "
            if seen > MAX_LENGTH:
                at = i
                break
        message = f"the expression is too long ({visible} characters, at most {MAX_LENGTH} not counting spaces)"
        raise ExpressionError(message, text[:HARD_LENGTH], at)
    if len(text) > HARD_LENGTH:
        message = f"the expression is too long ({len(text)} characters with spaces, at most {HARD_LENGTH})"
        raise ExpressionError(message, text[:HARD_LENGTH], HARD_LENGTH)


def parse_expression(text: str, dim: int | None = None) -> Expression:
    """Parse and check an expression for log f(z, z') (the user's own coupling in eq. 21); raise ExpressionError
    pointing at the problem. ``dim`` is D, the length of z (None: checked when called). Any text, however
    hostile, is refused or accepted in well under a second, and the result's ``text`` is the canonical spelling.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"the expression must be text, got {type(text).__name__}")
    if dim is not None:
        try:
            dim = check_dim(dim)
        except ValueError as exc:
            raise ExpressionError(str(exc)) from None
    # One line: newlines and tabs become spaces (same length, so columns still match what was typed).
    text = text.replace("\r\n", "\n").translate(WHITESPACE).strip(" ")  # not str.strip(): U+00A0 is no space here
    if not text:
        raise ExpressionError("the expression is empty", text, None, "e.g. -sum(abs(z - zp)) / theta")
    _check_length(text)
    _check_characters(text)
    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal" for 1if: the error below says enough
            warnings.simplefilter("ignore", SyntaxWarning)
            syntax = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(exc, text) from None
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply", text) from None
    except ValueError as exc:
        raise ExpressionError(f"syntax error: {clip(exc, 80)}", text) from None
    parser = _Parser(text, dim)
    try:
        tree, vector = parser.build(syntax.body, 1)
    except ExpressionError:
        raise
    except Exception as exc:  # a bug here must still read as a refused expression, never a crash
        raise ExpressionError(f"could not read the expression: {clip(exc, 80)}", text) from None
    if vector:
        raise ExpressionError(
            "the expression gives a vector; reduce it with sum(...), norm(...) or dot(...)", text, None
        )
    missing = [v for v in ("z", "zp") if v not in _variables(tree)]
    if missing:
        raise ExpressionError(
            f"log f must depend on z and zp, and this expression has no {' or '.join(missing)}",
            text,
            None,
            "e.g. -sum(abs(z - zp)) / theta",
        )
    canonical = to_text(tree)
    if len(canonical) - canonical.count(" ") > MAX_LENGTH:  # only numbers can grow (1e15 -> 1000000000000000)
        raise ExpressionError(f"the expression is too long once its numbers are written out (at most {MAX_LENGTH})")
    return Expression(canonical, tuple(parser.params), tree, dim)


def check_finite(expr: Expression, dim: int, params: Mapping[str, float] | None = None) -> None:
    """Refuse an expression whose value or gradient is not finite on a small fixed probe batch.

    The probe is 4 points in [0, 256)^dim for z and zp, with z[0] == zp[0]; scalars take the values given,
    else 1.0 (scale) or 0.0 (free).
    """
    import torch

    params = dict(params or {})
    g = torch.Generator().manual_seed(0)
    z = torch.rand(4, dim, generator=g) * 256
    zp = torch.rand(4, dim, generator=g) * 256
    zp[0] = z[0]
    z.requires_grad_(True)
    zp.requires_grad_(True)
    values = {}
    for p in expr.params:
        default = 1.0 if p in SCALE_PARAMS else 0.0
        values[p] = torch.tensor(float(params.get(p, default)), requires_grad=True)
    equal = torch.zeros(4, 4, dtype=torch.bool)
    equal[0, 0] = True  # the only pair with z == zp
    row0 = torch.zeros(4, dim, dtype=torch.bool)
    row0[0] = True  # the gradient entries that pair touches
    try:
        with torch.enable_grad():
            out = expr(z, zp, values)
            _require_finite(out.detach(), "the expression", expr.text, equal)
            out.sum().backward()
    except ExpressionError:
        raise
    except (RuntimeError, ArithmeticError, ValueError) as exc:
        raise ExpressionError(f"the expression cannot be evaluated: {exc}", expr.text) from None
    for name, t in [("z", z), ("zp", zp), *values.items()]:
        if t.grad is not None:
            _require_finite(t.grad, f"its gradient in {name}", expr.text, row0 if t.ndim else None)


def _require_finite(t: torch.Tensor, what: str, text: str, equal: torch.Tensor | None) -> None:
    """Raise if t is not finite; ``equal`` marks the entries that come from the probe's pair with z == zp."""
    import torch

    bad = ~torch.isfinite(t)
    if not bad.any():
        return
    kind = "NaN" if torch.isnan(t).any() else "infinity"
    hint = "log or sqrt of a negative number?" if kind == "NaN" else "division by zero, log(0) or overflow?"
    where = "where z == zp" if equal is not None and not (bad & ~equal).any() else "on test inputs"
    if where == "where z == zp" and what.startswith("its gradient"):
        hint = "sqrt and similar have an infinite slope at 0; norm(z - zp) does not"
    raise ExpressionError(f"{what} gives {kind} {where}", text, None, hint)
