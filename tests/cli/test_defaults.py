"""Defaults the CLI writes out (to show them in ``--help`` without importing the stack)."""

from __future__ import annotations

from personal_assistant.cli import perf
from personal_assistant.monitoring import baseline


def test_perf_min_calls_default_is_the_baseline_modules() -> None:
    assert perf.MIN_CALLS == baseline.MIN_CALLS
