"""Run one migration (up or down) against the database, safely and in few round trips.

A transactional section is sent as **one message** (the simple query protocol takes
many statements) inside a transaction with its tracking-row change, under local
``lock_timeout``/``statement_timeout``: per migration that is ``BEGIN`` (with the
session reset), the timeouts, the section, the tracking row and ``COMMIT``, whatever
the number of statements. It either fully happens or leaves schema and tracking table
as they were. When it fails, the error still names the file line of the failing
statement: from the ``position`` PostgreSQL reports, else by running the section again
statement by statement in a transaction that is rolled back (:mod:`.failures`).

When it hits ``lock_timeout`` (someone holds a conflicting lock) the whole
transaction is retried with backoff (:mod:`.lock_retry`), statement by statement from
the second attempt on, so that the blocked statement is named; a migration never
queues behind a long transaction, blocking everybody queued behind it.

No-transaction migrations are run by :mod:`.no_transaction`.

All transactional migrations of a run share one connection, reset at the start of
each (``SET`` commands, temp tables and advisory locks of one migration never reach
the next) and discarded at the end of the run, so nothing leaks into pooled
application connections either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from personal_assistant.database.migrations.errors import MigrationFailedError
from personal_assistant.database.migrations.execute import (
    COMMIT,
    DRIVER_ERRORS,
    ROLLBACK,
    backend_pid,
    begin_message,
    driver_of,
    first_failing,
    run_statement,
)
from personal_assistant.database.migrations.failures import (
    LOCK_NOT_AVAILABLE,
    ROLLED_BACK_STATE,
    UNKNOWN_STATE,
    error_position,
    line_in_statement,
    locate,
    reason,
    reproducible,
)
from personal_assistant.database.migrations.files import MigrationFile, Section
from personal_assistant.database.migrations.lock import BlockerWatch, worker_namespace
from personal_assistant.database.migrations.lock_retry import Blocked
from personal_assistant.database.migrations.no_transaction import NoTransactionRun
from personal_assistant.database.migrations.notices import listen as listen_for_notices
from personal_assistant.database.migrations.plan import AppliedMigration
from personal_assistant.database.migrations.sql_parse import Statement
from personal_assistant.database.migrations.steps import (
    Event,
    EventCallback,
    RunnerSettings,
    Step,
    StepResult,
)
from personal_assistant.database.migrations.tracking import Tracking

__all__ = ["Event", "EventCallback", "Runner", "RunnerSettings", "Step", "StepResult"]

Finalize = Callable[[AsyncConnection, int], Awaitable[None]]


class _SectionFailed(Exception):
    """The section, sent as one message, failed without saying where (rolled back)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Runner:
    """Applies and rolls back migrations while the caller holds the migration lock."""

    def __init__(
        self,
        engine: AsyncEngine,
        tracking: Tracking,
        settings: RunnerSettings,
        monitor: AsyncConnection,
        on_event: EventCallback | None = None,
        *,
        lock_key: int = 0,
    ) -> None:
        self.engine = engine
        self.tracking = tracking
        self.settings = settings
        self.monitor = monitor  # the lock connection
        self.lock_key = lock_key
        self._on_event = on_event
        self._work: AsyncConnection | None = None
        self._workers: dict[str, int] | None = None

    # -- connections ------------------------------------------------------------------

    async def _work_connection(self) -> AsyncConnection:
        """The connection transactional migrations run on, kept for the whole run.

        Opening (and discarding) a connection per migration was half the time of a
        200-migration run. SQLAlchemy sees it in AUTOCOMMIT: the transactions are the
        runner's own ``BEGIN``/``COMMIT`` messages, so that ``BEGIN`` travels with the
        session reset. It is discarded, never returned to a pool, when the run ends.
        """
        if self._work is None:
            work = await self.engine.connect()
            await work.execution_options(isolation_level="AUTOCOMMIT")
            self._work = work
        return self._work

    async def _discard(self) -> None:
        work, self._work = self._work, None
        if work is not None:
            try:
                await work.invalidate()
            finally:
                await work.close()

    async def close(self) -> None:
        """Discard the run's connection (call when the run ends)."""
        await self._discard()

    async def _worker_params(self) -> dict[str, int]:
        """``(namespace, holder pid)`` of the worker locks under this run's lock."""
        if self._workers is None:
            holder = await backend_pid(self.monitor)
            self._workers = {"namespace": worker_namespace(self.lock_key), "holder": holder}
        return self._workers

    def _emit(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _announce_retry(self, step: Step) -> Callable[[str], None]:
        def announce(blockers: str) -> None:
            self._emit(step.event("retry", f"lock timeout, blocked by {blockers}"))

        return announce

    # -- one transaction --------------------------------------------------------------

    async def _begin(self, conn: AsyncConnection) -> tuple[Any, str]:
        """The driver connection and the ``BEGIN`` prefix of this transaction's message."""
        await listen_for_notices(conn)  # each migration (and retry) hears afresh
        s, workers = self.settings, await self._worker_params()
        prefix = begin_message(
            s.lock_timeout_ms, s.statement_timeout_ms, workers["namespace"], workers["holder"]
        )
        return await driver_of(conn), prefix

    async def _transaction(
        self, conn: AsyncConnection, step: Step, attempt: int, finalize: Finalize
    ) -> int:
        try:
            driver, prefix = await self._begin(conn)
            start = time.monotonic()
            interval = self.settings.watch_interval_s
            async with BlockerWatch(self.monitor, driver.get_server_pid(), interval) as watch:
                if attempt == 1:
                    await _whole(driver, prefix, step, watch)
                else:  # a retry after a lock timeout: one by one, to name the blocked one
                    await driver.execute(prefix)
                    for stmt in step.section.statements:
                        await run_statement(driver, stmt, step.path, watch)
            ms = round((time.monotonic() - start) * 1000)
            await finalize(conn, ms)
            await _commit(driver, step)
        except BaseException:
            await asyncio.shield(self._rollback(conn))
            raise
        await conn.commit()  # SQLAlchemy's own bookkeeping: AUTOCOMMIT sends nothing
        return ms

    async def _rollback(self, conn: AsyncConnection) -> None:
        """End a failed transaction; a connection that cannot is discarded instead."""
        try:
            await (await driver_of(conn)).execute(ROLLBACK)
            await conn.rollback()
        except (*DRIVER_ERRORS, asyncio.CancelledError):
            await self._discard()

    async def _attempt(self, step: Step, attempt: int, finalize: Finalize) -> int:
        conn = await self._work_connection()
        try:
            return await self._transaction(conn, step, attempt, finalize)
        except _SectionFailed as failed:
            raise await self._locate(step, failed.error) from failed.error
        except DRIVER_ERRORS as exc:  # the tracking row, or the connection
            raise MigrationFailedError(step.path, step.section.first_line, "", reason(exc)) from exc

    async def _locate(self, step: Step, error: BaseException) -> MigrationFailedError:
        """Find the statement that raised ``error``: run them one by one, roll back.

        Only for errors that do not depend on timing; anything else (or a section in
        which no statement fails on its own) is reported at the section's first line.
        """
        section = step.section
        unknown = MigrationFailedError(
            step.path,
            section.first_line,
            "",
            f"{reason(error)} (raised by the section as a whole; the statement is not known)",
        )
        if not reproducible(error) or not section.statements:
            return unknown
        conn = await self._work_connection()
        try:
            driver, prefix = await self._begin(conn)
            try:
                await driver.execute(prefix)
                culprit = await first_failing(driver, section.statements)
            finally:
                await asyncio.shield(self._rollback(conn))
        except DRIVER_ERRORS:
            return unknown
        if culprit is None or culprit[1].sqlstate != getattr(error, "sqlstate", None):
            return unknown
        stmt, exc = culprit
        return MigrationFailedError(step.path, line_in_statement(stmt, exc), stmt.sql, reason(exc))

    async def _run_transactional(self, step: Step, finalize: Finalize) -> tuple[int, int]:
        """Run in one transaction, retried whole on lock timeout; ``(ms, attempts)``."""
        return await self.settings.lock_retry.run(
            lambda attempt: self._attempt(step, attempt, finalize),
            path=step.path,
            on_retry=self._announce_retry(step),
        )

    async def _no_transaction(self, step: Step) -> NoTransactionRun:
        return NoTransactionRun(
            self.engine,
            self.tracking,
            self.settings,
            self.monitor,
            await self._worker_params(),
            self.lock_key,
            self._announce_retry(step),
        )

    # -- public -----------------------------------------------------------------------

    async def apply(
        self, file: MigrationFile, allowed: Sequence[dict[str, Any]] = ()
    ) -> StepResult:
        """Apply ``file``'s up section and record it; raises ``MigrationFailedError``."""
        step = Step(file.version, file.file_name, file.description, str(file.path), file.up, "up")

        async def record(conn: AsyncConnection, ms: int) -> None:
            await self.tracking.insert(conn, file, success=True, execution_ms=ms, allowed=allowed)

        if file.in_transaction:
            return await self._run(step, lambda: self._run_transactional(step, record))
        run = await self._no_transaction(step)
        return await self._run(step, lambda: run.apply(step, file, allowed))

    async def revert(self, row: AppliedMigration, statements: tuple[Statement, ...]) -> StepResult:
        """Roll back ``row`` with its stored down SQL (parsed: ``statements``), forget it."""
        assert row.down_sql is not None, "the pre-flight refuses rows without a down"
        section = Section(row.down_sql, row.down_line, statements, row.in_transaction)
        path = f"{row.file_name} (stored down section)"
        step = Step(row.version, row.file_name, row.description, path, section, "down")

        async def forget(conn: AsyncConnection, ms: int) -> None:
            await self.tracking.delete(conn, row.version)

        if row.in_transaction:
            return await self._run(step, lambda: self._run_transactional(step, forget))
        run = await self._no_transaction(step)
        return await self._run(step, lambda: run.revert(step, forget))

    async def _run(self, step: Step, body: Callable[[], Awaitable[tuple[int, int]]]) -> StepResult:
        """Announce ``step``, run it, and say how it ended (and in what state, if not)."""
        self._emit(step.event("start"))
        try:
            ms, attempts = await body()
        except MigrationFailedError as exc:
            if not exc.state:
                exc.state = ROLLED_BACK_STATE if step.section.in_transaction else UNKNOWN_STATE
            self._emit(step.event("failed", exc.state))
            raise
        self._emit(step.event("done", ms=ms))
        return step.result(ms, attempts)


async def _whole(driver: Any, prefix: str, step: Step, watch: BlockerWatch) -> None:
    """``BEGIN`` and the whole section in one message; an error with a position is
    located at once (the position counts from the start of the message)."""
    section = step.section
    try:
        await driver.execute(prefix + section.sql)
    except DRIVER_ERRORS as exc:
        if getattr(exc, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise _blocked_section(section, watch.last_seen) from exc
        offset = error_position(exc)
        if offset is None or offset < len(prefix):
            raise _SectionFailed(exc) from exc
        where = locate(section.sql, section.first_line, section.statements, offset - len(prefix))
        raise MigrationFailedError(step.path, where.line, where.statement, reason(exc)) from exc


async def _commit(driver: Any, step: Step) -> None:
    """``COMMIT``; a connection lost on the way leaves the outcome unknown."""
    try:
        await driver.execute(COMMIT)
    except (asyncpg.InterfaceError, ConnectionError) as exc:
        error = MigrationFailedError(step.path, step.section.first_line, "", reason(exc))
        error.state = UNKNOWN_STATE
        raise error from exc


def _blocked_section(section: Section, blockers: str) -> Blocked:
    first = section.statements[0].line if section.statements else section.first_line
    what = (
        f"one of the {len(section.statements)} statement(s) of the section, sent as one "
        "message (a retry runs them one by one and names it)"
    )
    return Blocked(first, what, blockers or "an unknown session")
