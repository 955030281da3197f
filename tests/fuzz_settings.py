"""Hypothesis profiles for the fuzz tests (tests/test_fuzz_*.py import this module).

- ``ci`` (default, what ``make test`` runs): derandomized, so every run tries the same inputs and
  a failure is reproducible; no example database is written; a small budget per test.
- ``long``: random and 20 times the examples, for a deeper run on a developer machine::

      HYPOTHESIS_PROFILE=long .venv/app/bin/pytest tests/test_fuzz_wechat.py tests/test_fuzz_import.py -q

Tests size their budget with ``examples(n)``: ``n`` under ``ci``, ``n * LONG_FACTOR`` under ``long``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG_FACTOR = 20
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,  # a shared 2-core machine: timing is not what these tests check
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    derandomize=False,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(PROFILE if PROFILE in ("ci", "long") else "ci")


def examples(n: int) -> int:
    """The number of examples for a test whose CI budget is ``n``."""
    return n * LONG_FACTOR if PROFILE == "long" else n
