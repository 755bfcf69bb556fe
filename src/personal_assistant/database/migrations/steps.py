"""What a run is made of, as data: its settings, its steps, their results and events.

:mod:`.runner` and :mod:`.no_transaction` run :class:`Step` values; the CLI hears
:class:`Event` values and renders :class:`StepResult` values. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from personal_assistant.database.migrations.files import Section
from personal_assistant.database.migrations.lock_retry import (
    RETRY_DELAY_S,
    RETRY_JITTER_S,
    RETRY_MAX_DELAY_S,
    LockRetry,
)

Direction = Literal["up", "down"]
EventKind = Literal["planned", "wait", "start", "retry", "done", "failed"]


@dataclass(frozen=True)
class RunnerSettings:
    """Timeouts and retries; the defaults suit an online production database."""

    lock_timeout_ms: int = 2000
    statement_timeout_ms: int = 0  # 0: no limit
    lock_retries: int = 3
    retry_delay_s: float = RETRY_DELAY_S
    retry_max_delay_s: float = RETRY_MAX_DELAY_S
    retry_jitter_s: float = RETRY_JITTER_S
    wait_timeout_s: float = 300.0
    poll_interval_s: float = 0.5

    @property
    def lock_retry(self) -> LockRetry:
        """The retry policy for steps that hit ``lock_timeout``."""
        return LockRetry(
            self.lock_retries, self.retry_delay_s, self.retry_max_delay_s, self.retry_jitter_s
        )

    @property
    def watch_interval_s(self) -> float:
        """Poll blockers several times per lock timeout so one is seen before it fires."""
        return max(0.02, min(0.2, self.lock_timeout_ms / 4000))

    def timeouts(self) -> dict[str, str]:
        """The ``lock`` and ``statement`` parameters of the timeout queries."""
        return {"lock": f"{self.lock_timeout_ms}ms", "statement": f"{self.statement_timeout_ms}ms"}


@dataclass(frozen=True)
class StepResult:
    """One migration applied or rolled back."""

    version: int
    file_name: str
    direction: Direction
    execution_ms: int
    attempts: int
    description: str = ""


@dataclass(frozen=True)
class Event:
    """Progress for the CLI, one migration at a time.

    ``planned`` (under the lock, once per step about to run, in order), ``wait``
    (another runner holds the lock; ``detail`` says what it is doing; version 0),
    ``start``, ``retry``, ``done`` (``ms`` set) and ``failed`` (``detail``: in what
    state the step left the database).
    """

    kind: EventKind
    version: int
    file_name: str
    detail: str = ""
    description: str = ""
    direction: Direction = "up"
    ms: int | None = None


EventCallback = Callable[[Event], None]


@dataclass(frozen=True)
class Step:
    """One migration step: the section it runs, and where that comes from."""

    version: int
    file_name: str
    description: str
    path: str  # what messages name: the file, or the stored down section
    section: Section
    direction: Direction

    def event(self, kind: EventKind, detail: str = "", ms: int | None = None) -> Event:
        return Event(
            kind, self.version, self.file_name, detail, self.description, self.direction, ms
        )

    def result(self, ms: int, attempts: int) -> StepResult:
        return StepResult(
            self.version, self.file_name, self.direction, ms, attempts, self.description
        )
