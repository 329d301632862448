"""Property tests of the URL codec (hypothesis): any query mapping gives a valid view within the server's limits plus
notices (never an exception, never more than ``ECHO`` characters of a bad value repeated), and every view the codec
can produce survives ``to_query`` then ``from_query`` unchanged, with no notice.

Profiles: "ci" (200 examples a test, the default run) and "long" (10,000 a test). The long tests carry the ``long``
marker and run only with ``HYPOTHESIS_PROFILE=long``:

    HYPOTHESIS_PROFILE=long python -m pytest tests/explorer/test_state_properties.py -m long -q
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import CI, LONG, PROFILE, long_only  # noqa: E402,F401 - shared profiles

from explorer.state import ECHO, KEY_RE, MAX_RUNS, QUERY_NAMES, from_query, heatmap_strides, to_query
from rpm_service.limits import Limits

LIMITS = [
    Limits(),
    Limits(frames=64, size=32, balls=2, epochs=5, seeds=2, allow_expressions=False),
    Limits(frames=300, size=128, epochs=50, seeds=3),
]
# Values a URL might carry: plausible ones for every parameter, near misses, and any text.
PLAUSIBLE = st.sampled_from(
    [
        "0", "1", "2", "3", "8", "8.0", "8.5", "16", "24", "32", "64", "100", "128", "129", "500", "5000", "-1",
        "1e3", "nan", "inf", "-0", "0x10", " 12 ", "", "true", "no", "ff7f50", "#00ff00", "ff7f50,40a0ff,fad228",
        "rbf", "linear", "supervised", "untrained", "laplace", "rbf;theta=0.5", "rbf;theta=", "rbf;theta=nan",
        "linear;w_init=0.001", "-sum(abs(z - zp)) / theta;theta=2", "-sum((z - zp)**2)", "__import__('os')",
        "a" * 24, "0123456789abcdef01234567", "A" * 24, "z" * 60,
    ]
)  # fmt: skip
VALUE = st.one_of(PLAUSIBLE, st.text(max_size=60), st.text(alphabet="0123456789.-e,;=abcdef#", max_size=30))
NAME = st.one_of(st.sampled_from(QUERY_NAMES), st.text(max_size=8))
QUERY = st.dictionaries(NAME, st.one_of(VALUE, st.lists(VALUE, max_size=6)), max_size=10)


def check_valid(params: dict, lim: Limits) -> None:
    view, notices = from_query(params, lim)
    lim.check_video(view.video)
    v = view.video
    assert 1 <= view.epochs <= lim.epochs and 1 <= view.seeds <= lim.seeds
    assert view.frame is None or 0 <= view.frame <= v.frames - 2
    assert 0 <= view.ball < v.balls
    assert view.stride is None or view.stride in heatmap_strides(v.size, v.size)
    assert len(view.runs) <= MAX_RUNS and all(KEY_RE.fullmatch(k) for k in view.runs)
    for item in (*view.items, view.prior):
        lim.check_run(item.run_config(v, view.epochs, view.seeds - 1))  # every item trains on this server
    values = [str(x) for val in params.values() for x in (val if isinstance(val, list) else [val])]
    for n in notices:
        assert isinstance(n, str) and len(n) <= 400
        for raw in values:
            for i in range(max(0, len(raw) - ECHO)):
                assert raw[i : i + ECHO + 1] not in n, f"notice repeats more than {ECHO} characters of {raw!r}"
    # The view read from any URL round-trips: written and read again, it is the same view, with no notice.
    back, again = from_query(to_query(view, lim), lim)
    assert back == view and again == [], (to_query(view, lim), again)


@settings(CI)
@given(QUERY, st.sampled_from(LIMITS))
def test_any_query_gives_a_valid_view_that_round_trips(params, lim):
    check_valid(params, lim)


@pytest.mark.long
@long_only
@settings(LONG)
@given(QUERY, st.sampled_from(LIMITS))
def test_any_query_gives_a_valid_view_that_round_trips_long(params, lim):
    check_valid(params, lim)
