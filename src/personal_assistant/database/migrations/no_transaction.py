"""Run a ``-- migrate:no-transaction`` migration: one statement at a time, autocommitted.

Such a migration is recorded as failed *before* its first statement and as succeeded
after its last, so a crash half-way leaves a failed row that stops the next run. While
it runs, its connection holds the lock of its version (:func:`.lock.version_key`), so
``status`` and a waiting runner read a failed row whose version lock is held as
*running*, not as failed half-way. After it, INVALID indexes it left are reported
with their cleanup SQL. A statement that hits ``lock_timeout`` is retried only if it
left nothing behind.

Each such migration gets a connection of its own, discarded afterwards, so its
session settings reach nothing else.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from personal_assistant.database.migrations.errors import (
    MigrationBlockedError,
    MigrationError,
    MigrationFailedError,
)
from personal_assistant.database.migrations.execute import (
    SET_SESSION_TIMEOUTS,
    backend_pid,
    driver_of,
    run_statement,
)
from personal_assistant.database.migrations.failures import (
    DIRTY_STATE,
    UNCHANGED_STATE,
    partly_rolled_back_state,
)
from personal_assistant.database.migrations.files import MigrationFile
from personal_assistant.database.migrations.leftovers import (
    InvalidIndex,
    describe,
    invalid_indexes,
    left_behind,
    named_indexes,
)
from personal_assistant.database.migrations.lock import (
    NO_TRANSACTION_LOCKS,
    BlockerWatch,
    version_key,
)
from personal_assistant.database.migrations.lock_retry import Blocked
from personal_assistant.database.migrations.notices import listen as listen_for_notices
from personal_assistant.database.migrations.sql_parse import Statement
from personal_assistant.database.migrations.steps import RunnerSettings, Step
from personal_assistant.database.migrations.tracking import Tracking

STARTED = "started but did not finish (the runner stopped half-way)"

Finalize = Callable[[AsyncConnection, int], Awaitable[None]]


@dataclass(frozen=True)
class NoTransactionRun:
    """Everything one no-transaction step needs from the run it belongs to."""

    engine: AsyncEngine
    tracking: Tracking
    settings: RunnerSettings
    monitor: AsyncConnection  # the lock connection, which watches for blockers
    workers: Mapping[str, int]  # the worker lock's parameters (namespace, holder)
    lock_key: int
    on_retry: Callable[[str], None]

    @asynccontextmanager
    async def _connection(self, step: Step) -> AsyncIterator[tuple[AsyncConnection, int]]:
        """A fresh AUTOCOMMIT connection holding the worker and version locks; its pid."""
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                params = {**self.workers, "version_key": version_key(self.lock_key, step.version)}
                _, own = (await conn.execute(NO_TRANSACTION_LOCKS, params)).one()
                if not own:
                    raise MigrationError(
                        f"{step.path}: migration {step.version} is being run by another "
                        "session right now; wait for it to finish"
                    )
                await conn.execute(SET_SESSION_TIMEOUTS, self.settings.timeouts())
                await listen_for_notices(conn)
                yield conn, await backend_pid(conn)
            finally:
                await conn.invalidate()

    async def _statement(
        self,
        conn: AsyncConnection,
        pid: int,
        step: Step,
        stmt: Statement,
        before: frozenset[InvalidIndex],
    ) -> None:
        """Run one statement on its own, retrying on lock timeout if it left nothing."""
        driver = await driver_of(conn)

        async def run(attempt: int) -> None:
            try:
                interval = self.settings.watch_interval_s
                async with BlockerWatch(self.monitor, pid, interval) as watch:
                    await run_statement(driver, stmt, step.path, watch)
            except Blocked as blocked:
                after = await invalid_indexes(conn)
                if left_behind(before, after, named_indexes([stmt])):
                    raise MigrationBlockedError(
                        step.path, stmt.line, stmt.sql, attempt, blocked.blockers
                    ) from None
                raise

        await self.settings.lock_retry.run(run, path=step.path, on_retry=self.on_retry)

    async def apply(
        self, step: Step, file: MigrationFile, allowed: Sequence[dict[str, Any]]
    ) -> tuple[int, int]:
        """Apply ``file`` statement by statement, recorded before and after; ``(ms, 1)``."""
        statements = file.up.statements
        async with self._connection(step) as (conn, pid):
            before = await invalid_indexes(conn)
            await self.tracking.insert(
                conn, file, success=False, execution_ms=None, allowed=allowed, error=STARTED
            )
            start = time.monotonic()
            names = named_indexes(statements)
            done = 0
            try:
                for stmt in statements:
                    await self._statement(conn, pid, step, stmt, before)
                    done += 1
            except MigrationFailedError as exc:
                await self._record_failure(conn, file, exc, before, names, done)
                raise
            ms = round((time.monotonic() - start) * 1000)
            left = left_behind(before, await invalid_indexes(conn), names)
            if left:
                error = _invalid_index_error(step.path, statements, {ix.name for ix in left})
                await self._record_failure(conn, file, error, before, names, done)
                raise error
            await self.tracking.finish(conn, file.version, success=True, ms=ms, error=None)
        return ms, 1

    async def _record_failure(
        self,
        conn: AsyncConnection,
        file: MigrationFile,
        exc: MigrationFailedError,
        before: frozenset[InvalidIndex],
        names: frozenset[str],
        done: int,
    ) -> None:
        """Keep a failed row (and say what is left) unless nothing at all changed."""
        left = left_behind(before, await invalid_indexes(conn), names)
        if not left and done == 0:
            await self.tracking.delete(conn, file.version)
            exc.state = UNCHANGED_STATE
            return
        preparer = conn.dialect.identifier_preparer
        report = [f"failed at line {exc.line}: {exc.reason}"]
        report.append(f"{done} of {len(file.up.statements)} statement(s) completed before it")
        if left:
            report.append(describe(left, preparer))
        detail = "\n".join(report)
        await self.tracking.finish(conn, file.version, success=False, ms=0, error=detail)
        exc.add_detail(detail)
        exc.state = DIRTY_STATE

    async def revert(self, step: Step, forget: Finalize) -> tuple[int, int]:
        """Run a stored no-transaction down statement by statement, then forget the row."""
        statements = step.section.statements
        async with self._connection(step) as (conn, pid):
            before = await invalid_indexes(conn)
            start = time.monotonic()
            done = 0
            try:
                for stmt in statements:
                    await self._statement(conn, pid, step, stmt, before)
                    done += 1
            except MigrationFailedError as exc:
                exc.state = partly_rolled_back_state(done, len(statements))
                raise
            ms = round((time.monotonic() - start) * 1000)
            await forget(conn, ms)
        return ms, 1


def _invalid_index_error(
    path: str, statements: Sequence[Statement], left: set[str]
) -> MigrationFailedError:
    """The error for a migration that "succeeded" but left an INVALID index."""
    culprit = next((s for s in statements if named_indexes([s]) & left), statements[-1])
    return MigrationFailedError(path, culprit.line, culprit.sql, "left an INVALID index")
