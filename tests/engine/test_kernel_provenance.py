"""A compiled kernel is loaded only for the source and torch it was built from, a failed build shows the compiler's own
message, and ``fast.provenance()`` says which numerics a run gets (issues 18, 20)."""

import logging
import shutil

import pytest
import torch

from rpm_engine import fast


def test_the_build_name_follows_the_source_bytes(tmp_path):
    src = tmp_path / "kernels" / "encoder_cpu.cpp"
    src.parent.mkdir()
    shutil.copy(fast._SOURCE, src)
    first = fast.extension_name(src)
    assert fast.extension_name(src) == first  # stable for the same bytes at the same path
    src.write_bytes(fast._SOURCE.read_bytes() + b"\n// an older or newer version of the kernels\n")
    changed = fast.extension_name(src)
    assert changed != first and changed.startswith("rpm_encoder_cpu_")
    src.write_bytes(fast._SOURCE.read_bytes())  # back to the same bytes (a roll-back): back to the same build
    assert fast.extension_name(src) == first


def test_the_build_name_follows_the_torch_version(monkeypatch):
    here = fast.extension_name()
    monkeypatch.setattr(torch, "__version__", torch.__version__ + ".other")
    assert fast.extension_name() != here


def test_compiler_message_keeps_the_compilers_words():
    out = (
        "Error building extension 'rpm_encoder_cpu_x': [1/2] c++ -MMD -MF main.o.d -O3 -c /src/k.cpp -o k.o\n"
        "FAILED: k.o\n"
        "c++ -MMD -MF k.o.d -O3 -c /src/k.cpp -o k.o\n"
        "/src/k.cpp: In function 'int f()':\n"
        "/src/k.cpp:3:10: error: 'nope' was not declared in this scope\n"
        "    3 |   return nope;\n"
        "      |          ^~~~\n"
        "ninja: build stopped: subcommand failed.\n"
    )
    msg = fast.compiler_message(out)
    assert msg.startswith("/src/k.cpp:3:10: error: 'nope' was not declared in this scope")
    assert "ninja" not in msg and "FAILED" not in msg
    assert fast.compiler_message("no compiler here\n") == "no compiler here"
    assert fast.compiler_message("") == ""


@pytest.mark.skipif(shutil.which("c++") is None or shutil.which("ninja") is None, reason="needs c++ and ninja")
def test_a_failed_build_shows_the_compilers_message(monkeypatch, tmp_path, caplog):
    """A source that does not compile: the log (and provenance) carry gcc's error line, not ninja's last words."""
    bad = tmp_path / "src" / "broken_kernel.cpp"
    bad.parent.mkdir()
    bad.write_text("int broken() { return rpm_undeclared_name; }\n")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    monkeypatch.setenv(fast.ENV_VAR, "1")
    monkeypatch.setattr(fast, "_SOURCE", bad)
    monkeypatch.setattr(fast, "_ext", None)
    monkeypatch.setattr(fast, "_tried", False)
    monkeypatch.setattr(fast, "_error", None)
    with caplog.at_level(logging.WARNING, logger=fast.__name__):
        assert fast.extension() is None
    said = [r.getMessage() for r in caplog.records if "fused CPU kernels unavailable" in r.getMessage()]
    assert len(said) == 1 and "rpm_undeclared_name" in said[0] and "error" in said[0], said
    assert "ninja: build stopped" not in said[0]
    prov = fast.provenance()
    assert prov["fused"] is False and "rpm_undeclared_name" in prov["reason"]
    assert prov["kernel_source_sha256"] == fast.source_sha(bad)


def test_provenance_names_the_numerics(monkeypatch):
    prov = fast.provenance()
    assert set(prov) >= {"fused", "kernel_source_sha256", "torch", "cpu", "cpu_flags_sha256", "threads"}
    assert prov["torch"] == torch.__version__ and prov["threads"] == torch.get_num_threads()
    assert prov["kernel_source_sha256"] == fast.source_sha() and len(prov["kernel_source_sha256"]) == 64
    assert prov["fused"] == (fast.extension() is not None)
    monkeypatch.setenv(fast.ENV_VAR, "0")
    off = fast.provenance()
    assert off["fused"] is False and off["reason"] == "disabled"
    assert off["kernel_source_sha256"] == prov["kernel_source_sha256"]


def test_eight_lanes_on_request_are_their_own_build(monkeypatch):
    """RPM_ENGINE_LANES=8 (the bits of 8-lane machines on an AVX-512 one) is another build, and provenance says so."""
    monkeypatch.delenv(fast.LANES_VAR, raising=False)
    fast.extension()  # this process's kernels are loaded (or refused) before the variable is set: no second build
    default = fast.extension_name()
    assert "-DRPM_VW=8" not in fast._cflags()
    monkeypatch.setenv(fast.LANES_VAR, "8")
    assert fast.extension_name() != default and "-DRPM_VW=8" in fast._cflags()
    assert "-DRPM_VW=8" in fast.provenance()["cflags"]
