"""Retrying connection establishment with exponential backoff and jitter.

Only *opening* a connection is retried (start-up, and each new connection the pool
creates): it has no side effects. Statements are never retried here, because a
statement that failed half-way may already have changed data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import URL
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from personal_assistant.database.errors import DatabaseUnavailableError
from personal_assistant.database.urls import libpq_url

logger = logging.getLogger(__name__)

#: Query keys only SQLAlchemy understands; asyncpg's DSN parser rejects them.
_SQLALCHEMY_ONLY_QUERY_KEYS = ("prepared_statement_cache_size", "prepared_statement_name_func")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry opening a connection."""

    retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 10.0
    jitter: float = 0.25

    @property
    def attempts(self) -> int:
        return self.retries + 1


def is_transient_connect_error(exc: BaseException) -> bool:
    """True for failures that a later attempt may not meet (server starting, network).

    Authentication failures, unknown databases and bad parameters are not retried:
    waiting does not fix them, and retrying an authentication error can lock accounts.
    """
    if isinstance(exc, asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError):
        return True
    if isinstance(exc, asyncpg.TargetServerAttributeNotMatched):
        return True  # no host accepts writes (yet): a failover in progress
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return False
    return isinstance(exc, OSError | TimeoutError | ConnectionError)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def asyncpg_dsn(url: URL) -> str:
    """The libpq-style DSN asyncpg accepts, from a SQLAlchemy URL (password included).

    Several hosts go back into the authority (``h1:5432,h2:5432``): asyncpg keeps only
    the last of SQLAlchemy's ``?host=`` pairs.
    """
    plain = url.set(drivername="postgresql").difference_update_query(_SQLALCHEMY_ONLY_QUERY_KEYS)
    return libpq_url(plain, hide_password=False)


def make_async_creator(
    url: URL,
    *,
    policy: RetryPolicy,
    connect_timeout: float,
    server_settings: dict[str, str],
    statement_cache_size: int,
    masked_url: str,
    command_timeout: float | None = None,
) -> Callable[[], Awaitable[Any]]:
    """Return a coroutine function opening one asyncpg connection, with retries."""
    dsn = asyncpg_dsn(url)

    def _log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "connecting to %s failed (attempt %d of %d: %s); retrying in %.2fs",
            masked_url,
            state.attempt_number,
            policy.attempts,
            _describe(exc) if exc else "?",
            delay,
        )

    async def connect() -> Any:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_exponential_jitter(
                multiplier=policy.initial_delay, max=policy.max_delay, jitter=policy.jitter
            ),
            retry=retry_if_exception(is_transient_connect_error),
            before_sleep=_log_retry,
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await asyncpg.connect(
                        dsn,
                        timeout=connect_timeout,
                        server_settings=server_settings,
                        statement_cache_size=statement_cache_size,
                        command_timeout=command_timeout,
                    )
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise DatabaseUnavailableError(
                masked_url, policy.attempts, _describe(last) if last else "unknown"
            ) from last
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
        ) as exc:
            # Not transient (e.g. authentication failed): fail at once, clearly.
            raise DatabaseUnavailableError(masked_url, 1, _describe(exc)) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    return connect
