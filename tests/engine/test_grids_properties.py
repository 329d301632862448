"""Grids and seed lists are bounded before they are expanded (rpm_engine.grids): huge and adversarial texts (1 MB
strings, a COUNT of 10¹², a seed range of 10¹¹, 10,000 commas, separators nested deep) are each parsed or refused
with one line naming the field, within the 1 s hypothesis deadline of every example; and on small inputs the parsers
agree with a naive reference written here (the seed list it would have built, the grid's count)."""

import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import CI

from rpm_engine.grids import MAX_TEXT, MAX_VALUES, check_product, count_grid, parse_grid, parse_seeds

FAST = settings(CI, deadline=timedelta(seconds=1))  # each example, parsed or refused, within 1 s


def one_line(exc: ValueError, field: str) -> None:
    msg = str(exc)
    assert msg.startswith(f"{field}: ") and "\n" not in msg and len(msg) < 200, msg


# -- the behaviour the sweep and the Explore page rely on --------------------------------------------------------
def test_grids_as_before():
    assert parse_grid("0.1, 1,10", "theta") == (0.1, 1.0, 10.0)
    assert parse_grid("log:0.1:10:5", "theta") == (0.1, 0.316228, 1.0, 3.16228, 10.0)
    assert parse_grid("lin:0:1:3", "w_init") == (0.0, 0.5, 1.0)
    assert parse_grid("log:1:100:5", "epochs", integer=True) == (1, 3, 10, 32, 100)
    assert parse_grid("1,2,2", "epochs", integer=True) == (1, 2)
    assert parse_grid([0.5, 2], "lr") == (0.5, 2.0) and parse_grid(3, "theta") == (3.0,)
    assert parse_grid("log:1:2:500", "theta")[-1] == 2.0  # exactly the limit is allowed
    for bad, needle in [
        ("", "empty grid"),
        ("log:0.1:10:0", "empty grid"),
        ("1,,2", "empty value"),
        ("a", "not a number"),
        ("log:0:1:3", "positive ends"),
        ("log:1:2", "log:START:STOP:COUNT"),
        ("nan", "finite"),
        ("log:1:2:501", "more than the limit of 500"),
        ("log:1:2:2.5", "whole number"),
        (",".join(["1"] * 501), "501 values"),
        ([1.0] * 501, "501 values"),
    ]:
        with pytest.raises(ValueError, match=needle) as e:
            parse_grid(bad, "theta")
        one_line(e.value, "--param theta")
    with pytest.raises(ValueError, match="whole number"):
        parse_grid("1.5", "epochs", integer=True)
    with pytest.raises(ValueError, match="^rbf θ: "):
        parse_grid("x", "theta", field="rbf θ")


def test_seeds_as_before():
    assert parse_seeds("0-2", max_seed=9) == (0, 1, 2)
    assert parse_seeds("0, 3", max_seed=9) == (0, 3)
    assert parse_seeds("4", max_seed=9) == (4,)
    assert parse_seeds("5,0-6,2", max_seed=9) == (5, 0, 1, 2, 3, 4, 6)  # first mention's order, no duplicates
    assert parse_seeds("007", max_seed=9) == (7,)
    for bad, needle in [
        ("", "not a seed"),
        ("a", "not a seed"),
        ("2-1", "backwards"),
        ("-1", "not a seed"),
        ("10", "10 is over this server's limit"),
        ("5-99999999999", "10 is over"),
        ("1" * 40, "40 digits"),
    ]:
        with pytest.raises(ValueError, match=needle) as e:
            parse_seeds(bad, max_seed=9, limit="this server's limit")
        one_line(e.value, "seeds")
    with pytest.raises(ValueError, match="11 seeds, more than the limit of 10"):
        parse_seeds("0-5,3-10", max_seed=100, max_count=10)


def test_products_are_multiplied_before_anything_is_expanded():
    assert check_product([5, 3, 2], 30, "rbf") == 30 and check_product([], 1, "x") == 1
    assert check_product([10**12, 0], 5, "x") == 0  # an empty axis: nothing to run
    with pytest.raises(
        ValueError, match=r"^rbf grids: 500 x 500 x 500 x 500 x 500 x 500 x … is more than the limit"
    ) as e:
        check_product([500] * 100_000, 500, "rbf grids")
    one_line(e.value, "rbf grids")
    with pytest.raises(ValueError, match="whole number"):
        check_product([-1], 5, "x")


# -- huge and adversarial texts ----------------------------------------------------------------------------------
def _huge(kind: str, n: int) -> str:
    return {
        "letters": "x" * n,
        "commas": "," * n,
        "ones": "1," * n,
        "digits": "9" * n,
        "colons": ":" * n,
        "dashes": "-" * n,
        "log count": "log:1:2:" + "9" * n,
        "lin count": "lin:0:1:" + "9" * (n % 5000),
        "seed range": "0-" + "9" * n,
        "ranges": ",".join(["0-99999"] * (n // 8 + 1)),
        "nested": "log:" * n + "1:2:3",
        "mixed": ("1-2,:log:-," * n)[: 3 * n],
    }[kind]


KINDS = ["letters", "commas", "ones", "digits", "colons", "dashes", "log count", "lin count", "seed range", "ranges"]
KINDS += ["nested", "mixed"]
SIZES = st.sampled_from([1, 10, 999, 1_000, 1_999, 2_000, 10_000, 100_000, 1_000_000])


@FAST
@given(st.sampled_from(KINDS), SIZES)
def test_huge_texts_are_parsed_or_refused_in_one_line(kind, n):
    text = _huge(kind, n)
    for parse, field in [
        (lambda t: parse_grid(t, "theta"), "--param theta"),
        (lambda t: parse_grid(t, "epochs", integer=True), "--param epochs"),
        (lambda t: count_grid(t, "xf"), "xf"),
        (lambda t: parse_seeds(t, max_seed=9_999, max_count=1_000), "seeds"),
    ]:
        try:
            out = parse(text)
        except ValueError as e:
            one_line(e, field)
        else:
            assert len(text) <= MAX_TEXT
            assert (out if isinstance(out, int) else len(out)) <= MAX_VALUES + 500


@FAST
@given(st.text(alphabet="0123456789,:-.+eE lgoinan", max_size=3_000))
def test_any_separator_soup_is_parsed_or_refused_in_one_line(text):
    try:
        grid = parse_grid(text, "theta")
    except ValueError as e:
        one_line(e, "--param theta")
    else:
        assert 1 <= len(grid) <= count_grid(text) <= MAX_VALUES and all(math.isfinite(v) for v in grid)
    try:
        seeds = parse_seeds(text, max_seed=10**6, max_count=10_000)
    except ValueError as e:
        one_line(e, "seeds")
    else:
        assert len(set(seeds)) == len(seeds) <= 10_000 and all(0 <= s <= 10**6 for s in seeds)


# -- agreement with a naive reference on small inputs ------------------------------------------------------------
ranges = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 12)), min_size=1, max_size=25)


@FAST
@given(ranges, st.integers(0, 80), st.integers(1, 400))
def test_seeds_agree_with_the_list_a_naive_parser_builds(rs, max_seed, max_count):
    text = ", ".join(f"{a}" if w == 0 else f"{a}-{a + w}" for a, w in rs)
    naive: list[int] = []
    for a, w in rs:
        naive += [s for s in range(a, a + w + 1) if s not in naive]
    try:
        got = parse_seeds(text, max_seed=max_seed, max_count=max_count)
    except ValueError as e:
        one_line(e, "seeds")
        assert max(naive) > max_seed or len(naive) > max_count
    else:
        assert list(got) == naive and max(naive) <= max_seed and len(naive) <= max_count


@FAST
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_a_comma_list_counts_and_parses_like_its_values(values):
    text = ",".join(repr(v) for v in values)
    assert count_grid(text) == len(values)
    assert parse_grid(text, "theta") == tuple(dict.fromkeys(float(f"{v:.6g}") for v in values))


@FAST
@given(st.lists(st.integers(0, 40), max_size=12), st.integers(0, 10**6))
def test_check_product_is_the_product_or_refused(counts, limit):
    total = math.prod(counts)
    if total <= limit:
        assert check_product(counts, limit, "grid") == total
    else:
        with pytest.raises(ValueError, match="more than the limit") as e:
            check_product(counts, limit, "grid")
        one_line(e.value, "grid")
