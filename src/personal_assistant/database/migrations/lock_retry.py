"""Retrying a migration step that hit ``lock_timeout``, with tenacity's backoff.

A statement waiting for its lock blocks every query queued behind it, so the runner
gives up quickly (``lock_timeout``) and tries the whole step again later. The waits
are tenacity's ``wait_exponential_jitter``, the strategy the database layer uses for
connecting: :data:`RETRY_DELAY_S`, doubled per attempt up to :data:`RETRY_MAX_DELAY_S`,
plus up to :data:`RETRY_JITTER_S` at random so that competing runners do not retry in
step. When the retries run out, the error names the session that blocked the step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from personal_assistant.database.migrations.errors import MigrationBlockedError
from personal_assistant.database.migrations.sql_parse import Statement

RETRY_DELAY_S = 0.5
RETRY_MAX_DELAY_S = 8.0
RETRY_JITTER_S = 0.25

_T = TypeVar("_T")


class Blocked(Exception):
    """A step hit ``lock_timeout``; carries where and what the watch saw blocking it.

    ``line`` and ``sql`` name the waiting statement when it is known; a section sent
    as one message only knows its first line (the retries run statement by statement).
    """

    def __init__(self, line: int, sql: str, blockers: str) -> None:
        self.line = line
        self.sql = sql
        self.blockers = blockers

    @classmethod
    def at(cls, stmt: Statement, blockers: str) -> Blocked:
        return cls(stmt.line, stmt.sql, blockers)


@dataclass(frozen=True)
class LockRetry:
    """How often, and how patiently, a step blocked by a lock is tried again."""

    retries: int
    delay_s: float = RETRY_DELAY_S
    max_delay_s: float = RETRY_MAX_DELAY_S
    jitter_s: float = RETRY_JITTER_S

    def _retrying(self, on_retry: Callable[[str], None]) -> AsyncRetrying:
        def announce(state: RetryCallState) -> None:
            blocked = state.outcome.exception() if state.outcome else None
            on_retry(blocked.blockers if isinstance(blocked, Blocked) else "?")

        return AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential_jitter(
                multiplier=self.delay_s, max=self.max_delay_s, jitter=self.jitter_s
            ),
            retry=retry_if_exception_type(Blocked),
            before_sleep=announce,
            reraise=True,
        )

    async def run(
        self, step: Callable[[int], Awaitable[_T]], *, path: str, on_retry: Callable[[str], None]
    ) -> tuple[_T, int]:
        """``(step(attempt), attempts)``, retried while ``step`` raises :class:`Blocked`.

        ``on_retry`` gets the blockers before each wait; once the retries run out,
        :class:`MigrationBlockedError` names them and the statement's file line. The
        first attempt runs on its own (most steps get their lock at once, and
        tenacity's loop cost ~0.15 ms per step); tenacity takes over from its outcome.
        """
        try:
            return await step(1), 1
        except Blocked as blocked:
            first = blocked

        async def resume(attempt: int) -> _T:
            if attempt == 1:
                raise first
            return await step(attempt)

        return await self._retried(resume, path, on_retry)

    async def _retried(
        self, step: Callable[[int], Awaitable[_T]], path: str, on_retry: Callable[[str], None]
    ) -> tuple[_T, int]:
        attempts = 0
        try:
            async for attempt in self._retrying(on_retry):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    return await step(attempts), attempts
        except Blocked as blocked:
            raise MigrationBlockedError(
                path, blocked.line, blocked.sql, attempts, blocked.blockers
            ) from blocked.__cause__
        raise AssertionError("unreachable: tenacity either returns or raises")
