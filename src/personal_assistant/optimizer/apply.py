"""Run the SQL of chosen recommendations: only the kinds in ``SAFE_KINDS``.

``CREATE INDEX CONCURRENTLY`` and ``VACUUM`` cannot run inside a transaction block,
so every statement runs alone on one AUTOCOMMIT connection (the driver's simple
protocol: generated SQL is never scanned for bind parameters). That session, and
only it, runs with ``statement_timeout = 0`` (a database default of seconds would
cancel a long build half way) and a bounded ``lock_timeout``
(``OPTIMIZER_APPLY_LOCK_TIMEOUT_MS``), both reset afterwards.

A build that fails or is cancelled leaves an INVALID index behind; the recommendation's
``undo`` statements drop what it created (and only that: an index whose name is
already taken is never built over), and the outcome says so. One failure does not
stop the others. A lost connection does: one :class:`~.errors.OptimizerDatabaseError`
naming the statement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.database.errors import QueryFailedError
from personal_assistant.optimizer.errors import (
    OptimizerDatabaseError,
    UnsafeRecommendationError,
    database_step,
)
from personal_assistant.optimizer.models import SAFE_KINDS, Recommendation
from personal_assistant.optimizer.queries import MARKER
from personal_assistant.optimizer.settings import OptimizerSettings
from personal_assistant.optimizer.statements import shorten

_DROP_PREFIXES = ("DROP INDEX CONCURRENTLY IF EXISTS ", "DROP INDEX IF EXISTS ")


@dataclass(frozen=True)
class Failure:
    """A recommendation whose SQL failed, and what was done about its leftovers."""

    recommendation: Recommendation
    statement: str
    error: str
    cleanup: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "recommendation": self.recommendation.to_dict(),
            "statement": self.statement,
            "error": self.error,
            "cleanup": self.cleanup,
        }


@dataclass(frozen=True)
class ApplyOutcome:
    """What ``apply()`` did: the recommendations applied, and those that failed."""

    applied: tuple[Recommendation, ...] = ()
    failed: tuple[Failure, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": [r.to_dict() for r in self.applied],
            "failed": [f.to_dict() for f in self.failed],
        }


def check_safe(recommendations: Iterable[Recommendation]) -> list[Recommendation]:
    """The recommendations, if all are safe to apply and have SQL; raises otherwise."""
    chosen = list(recommendations)
    for rec in chosen:
        if rec.kind not in SAFE_KINDS or not rec.steps:
            raise UnsafeRecommendationError(rec.kind.value)
    return chosen


async def apply_recommendations(
    engine: AsyncEngine, recommendations: Iterable[Recommendation], settings: OptimizerSettings
) -> ApplyOutcome:
    """Run each recommendation's statements in order; failures are reported, not raised."""
    chosen = check_safe(recommendations)
    if not chosen:
        return ApplyOutcome()
    applied: list[Recommendation] = []
    failed: list[Failure] = []
    with database_step("connecting to apply the recommendations"):
        conn = await engine.connect()
    try:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        raw = await auto.get_raw_connection()
        session = _Session(raw.driver_connection)
        await session.configure(settings.apply_lock_timeout_ms)
        for rec in chosen:
            failure = await session.apply(rec)
            if failure is None:
                applied.append(rec)
            else:
                failed.append(failure)
        await session.reset()
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
    return ApplyOutcome(tuple(applied), tuple(failed))


class _Session:
    """One AUTOCOMMIT driver connection running the statements."""

    def __init__(self, driver: asyncpg.Connection) -> None:
        self.driver = driver

    async def run(self, sql: str) -> None:
        with database_step(f"running {shorten(sql, 120)!r}"):
            await self.driver.execute(sql)

    async def configure(self, lock_timeout_ms: int) -> None:
        await self.run(
            f"{MARKER} SELECT set_config('statement_timeout', '0', false), "
            f"set_config('lock_timeout', '{int(lock_timeout_ms)}ms', false)"
        )

    async def reset(self) -> None:
        await self.run(f"{MARKER} RESET statement_timeout; RESET lock_timeout")

    async def apply(self, rec: Recommendation) -> Failure | None:
        taken = await self._existing(rec.undo)
        if taken:
            return Failure(
                rec,
                rec.steps[0],
                f"an index named {', '.join(taken)} already exists (an earlier run?)",
                "nothing was changed",
            )
        for sql in rec.steps:
            try:
                await self.run(sql)
            except OptimizerDatabaseError as exc:
                if not isinstance(exc.cause, QueryFailedError):
                    raise  # the connection is gone: nothing more can run
                cause = exc.cause.original
                error = (
                    f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
                )
                return Failure(rec, sql, error, await self._undo(rec.undo))
        return None

    async def _existing(self, undo: Iterable[str]) -> list[str]:
        names = [_target(sql) for sql in undo]
        found = []
        for name in names:
            if await self.driver.fetchval(f"{MARKER} SELECT to_regclass($1) IS NOT NULL", name):
                found.append(name)
        return found

    async def _undo(self, undo: tuple[str, ...]) -> str:
        """Drop what the failed build created; says what was dropped."""
        if not undo:
            return "nothing to clean up"
        left = await self._existing(undo)
        if not left:
            return "nothing was left behind"
        for sql in undo:
            if _target(sql) in left:
                await self.run(sql)
        return f"dropped the invalid index(es) it had created: {', '.join(left)}"


def _target(drop_sql: str) -> str:
    """The qualified index name of an undo statement (``DROP INDEX ... IF EXISTS x;``)."""
    for prefix in _DROP_PREFIXES:
        if drop_sql.startswith(prefix):
            return drop_sql.removeprefix(prefix).rstrip(";")
    raise ValueError(f"not an undo statement: {drop_sql!r}")
