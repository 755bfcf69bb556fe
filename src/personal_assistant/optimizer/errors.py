"""Errors raised by the optimizer.

The tree::

    PersonalAssistantError             (personal_assistant.errors)
    └── OptimizerError                 root: any optimizer failure
        ├── UnsafeRecommendationError  apply() was asked to run a kind it never runs
        └── ApplyError                 a recommendation's SQL failed on the server

Analysis itself does not raise for missing extensions or replicas: those are listed
in the report's ``unavailable`` entries instead.
"""

from __future__ import annotations

from personal_assistant.errors import PersonalAssistantError

__all__ = ["ApplyError", "OptimizerError", "UnsafeRecommendationError"]

_MODULE = "personal_assistant.optimizer.errors"


class OptimizerError(PersonalAssistantError):
    """Root of every error raised by the optimizer."""

    __module__ = _MODULE


class UnsafeRecommendationError(OptimizerError):
    """Raised when asked to apply a kind outside ``SAFE_KINDS`` (drops, rewrites)."""

    __module__ = _MODULE

    def __init__(self, kind: str) -> None:
        from personal_assistant.optimizer.models import SAFE_KINDS

        self.kind = kind
        allowed = ", ".join(sorted(k.value for k in SAFE_KINDS))
        super().__init__(
            f"recommendations of kind {kind!r} are never applied automatically; "
            f"run their SQL by hand after review (applicable kinds: {allowed})"
        )


class ApplyError(OptimizerError):
    """Raised when a recommendation's SQL fails; earlier ones stay applied."""

    __module__ = _MODULE

    def __init__(self, sql: str, reason: str) -> None:
        self.sql = sql
        self.reason = reason
        super().__init__(f"applying {sql!r} failed: {reason}")
