"""The hypothesis profiles every property test shares: "ci" (200 examples a test, the default run) and "long"
(10,000 a test, with ``HYPOTHESIS_PROFILE=long`` and ``-m long``)."""

import os

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "database": None, "suppress_health_check": list(HealthCheck), "print_blob": True}
settings.register_profile("ci", max_examples=200, **_COMMON)
settings.register_profile("long", max_examples=10_000, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
CI, LONG = settings.get_profile("ci"), settings.get_profile("long")
long_only = pytest.mark.skipif(PROFILE != "long", reason="set HYPOTHESIS_PROFILE=long to run 10,000 examples a test")
