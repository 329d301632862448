"""The shared message helpers (rpm_engine.text): one copy each of first_line, clip, parse_assignment, is_cancelled."""

import threading

import pytest

from rpm_engine.text import clip, first_line, is_cancelled, parse_assignment


def test_first_line():
    assert first_line(ValueError("  bad θ\nTraceback detail\n")) == "bad θ"
    assert first_line(ValueError("\n\n  second\n")) == "second"
    assert first_line(KeyError()) == "KeyError" and first_line(RuntimeError("   ")) == "RuntimeError"


def test_clip():
    assert clip("abc") == "'abc'" and clip(1.5) == "1.5"
    long = clip("x" * 1_000_000)
    assert len(long) == 40 and long.endswith("…") and long.startswith("'xxx")
    assert len(clip(list(range(100)), 10)) == 10
    assert clip("abcdefgh", 10) == "'abcdefgh'"  # exactly n: not clipped
    with pytest.raises(ValueError):
        clip("x", 0)


def test_parse_assignment():
    assert parse_assignment(" theta = 0.5", "--param") == ("theta", " 0.5")
    assert parse_assignment("expr=a=b", "--param") == ("expr", "a=b")  # the first '=' splits
    assert parse_assignment("theta=", "--param") == ("theta", "")
    for bad in ("theta", "=1", "  =1", ""):
        with pytest.raises(ValueError, match=r"^--param expects NAME=NUMBER \(e.g. theta=0.5\), got ") as e:
            parse_assignment(bad, "--param", example="NAME=NUMBER (e.g. theta=0.5)")
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="got 'yyyy"):
        parse_assignment("y" * 10_000, "--param")
    assert len(str(pytest.raises(ValueError, parse_assignment, "y" * 10_000, "--param").value)) < 100


def test_is_cancelled():
    ev = threading.Event()
    assert not is_cancelled(None) and not is_cancelled(ev)
    ev.set()
    assert is_cancelled(ev)
    assert is_cancelled(lambda: 1) and not is_cancelled(lambda: False)
    with pytest.raises(TypeError, match="cancel"):
        is_cancelled(True)
