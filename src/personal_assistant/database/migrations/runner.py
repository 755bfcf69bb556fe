"""Run one migration (up or down) against the database, safely.

Statements run one at a time with ``exec_driver_sql``, so a failure names its line.
A transactional migration runs with its tracking-row change in one transaction under
``SET LOCAL lock_timeout``/``statement_timeout``: it either fully happens or leaves
schema and tracking table as they were. When it hits ``lock_timeout`` (someone holds a
conflicting lock) the whole transaction is retried with backoff (:mod:`.lock_retry`),
so it never queues behind a long transaction and blocks everybody queued behind it.

A no-transaction migration is recorded as failed *before* its first statement and as
succeeded after its last, so a crash half-way leaves a failed row that stops the next
run. After it, INVALID indexes it left are reported with their cleanup SQL.

Each migration gets a fresh connection that is discarded afterwards, so ``SET``
commands in migration files never leak into pooled application connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from personal_assistant.database.migrations.errors import (
    IrreversibleMigrationError,
    MigrationBlockedError,
    MigrationFailedError,
)
from personal_assistant.database.migrations.files import MigrationFile, parse_section
from personal_assistant.database.migrations.leftovers import (
    InvalidIndex,
    describe,
    invalid_indexes,
    left_behind,
    named_indexes,
)
from personal_assistant.database.migrations.lock import BlockerWatch
from personal_assistant.database.migrations.lock_retry import (
    RETRY_DELAY_S,
    RETRY_JITTER_S,
    RETRY_MAX_DELAY_S,
    Blocked,
    LockRetry,
)
from personal_assistant.database.migrations.notices import listen as listen_for_notices
from personal_assistant.database.migrations.plan import AppliedMigration
from personal_assistant.database.migrations.sql_parse import Statement
from personal_assistant.database.migrations.tracking import Tracking

LOCK_NOT_AVAILABLE = "55P03"
#: Everything DISCARD ALL does except DEALLOCATE ALL (the drivers cache prepared
#: statements on the connection and would then reference ones that no longer exist).
RESET_SESSION = (
    "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; "
    "SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES"
)
SET_TIMEOUTS = text(
    "SELECT set_config('lock_timeout', :lock, :local), "
    "set_config('statement_timeout', :statement, :local), pg_backend_pid() AS pid"
)
STARTED = "started but did not finish (the runner stopped half-way)"


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


@dataclass(frozen=True)
class StepResult:
    """One migration applied or rolled back."""

    version: int
    file_name: str
    direction: Literal["up", "down"]
    execution_ms: int
    attempts: int


@dataclass(frozen=True)
class Event:
    """Progress report for the CLI: ``start``, ``retry`` or ``done``."""

    kind: Literal["start", "retry", "done"]
    version: int
    file_name: str
    detail: str = ""


EventCallback = Callable[[Event], None]


def _reason(exc: DBAPIError) -> str:
    cause: Any = exc.orig.__cause__ if exc.orig is not None else None
    message = getattr(cause, "message", None) or str(exc.orig)
    detail = getattr(cause, "detail", None)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    prefix = f"[{sqlstate}] " if sqlstate else ""
    return prefix + message + (f" ({detail})" if detail else "")


def _error_line(exc: DBAPIError, stmt: Statement) -> int:
    """The file line of the error: the statement's line plus the error's offset in it."""
    cause: Any = exc.orig.__cause__ if exc.orig is not None else None
    position = getattr(cause, "position", None)
    if not position or not str(position).isdigit():
        return stmt.line
    return stmt.line + stmt.sql[: int(position) - 1].count("\n")


class Runner:
    """Applies and rolls back migrations while the caller holds the migration lock."""

    def __init__(
        self,
        engine: AsyncEngine,
        tracking: Tracking,
        settings: RunnerSettings,
        monitor: AsyncConnection,
        on_event: EventCallback | None = None,
    ) -> None:
        self.engine = engine
        self.tracking = tracking
        self.settings = settings
        self.monitor = monitor
        self._on_event = on_event
        self._work: AsyncConnection | None = None

    async def _work_connection(self) -> AsyncConnection:
        """The connection transactional migrations run on, kept for the whole run.

        Opening (and discarding) a connection per migration was half the time of a
        200-migration run. It is reset after each migration (:data:`RESET_SESSION`), so
        one migration's ``SET`` or temp table never reaches the next, and it is
        discarded, never returned to a pool, when the run ends or anything fails.
        """
        if self._work is None:
            self._work = await self.engine.connect()
        return self._work

    async def _reset(self, conn: AsyncConnection) -> None:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None, "a checked-out connection has a driver connection"
        await driver.execute(RESET_SESSION)  # one round trip, simple query protocol

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

    def _emit(
        self, kind: Literal["start", "retry", "done"], version: int, name: str, detail: str = ""
    ) -> None:
        if self._on_event is not None:
            self._on_event(Event(kind, version, name, detail))

    async def _set_timeouts(self, conn: AsyncConnection, *, local: bool) -> int:
        # Every migration (and every retry) starts here: collect its notices afresh.
        await listen_for_notices(conn)
        s = self.settings
        params = {
            "lock": f"{s.lock_timeout_ms}ms",
            "statement": f"{s.statement_timeout_ms}ms",
            "local": local,
        }
        row = (await conn.execute(SET_TIMEOUTS, params)).one()
        return int(row.pid)

    async def _execute(
        self, conn: AsyncConnection, stmt: Statement, path: str, watch: BlockerWatch
    ) -> None:
        try:
            await conn.exec_driver_sql(stmt.sql)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise Blocked(stmt, watch.last_seen or "an unknown session") from exc
            raise MigrationFailedError(
                path, _error_line(exc, stmt), stmt.sql, _reason(exc)
            ) from exc

    # -- transactional ----------------------------------------------------------------

    async def _attempt(
        self,
        path: str,
        statements: Sequence[Statement],
        finalize: Callable[[AsyncConnection, int], Awaitable[None]],
    ) -> int:
        conn = await self._work_connection()
        try:
            async with conn.begin():
                pid = await self._set_timeouts(conn, local=True)
                start = time.monotonic()
                async with BlockerWatch(self.monitor, pid, self.settings.watch_interval_s) as w:
                    for stmt in statements:
                        await self._execute(conn, stmt, path, w)
                ms = round((time.monotonic() - start) * 1000)
                await finalize(conn, ms)
            await self._reset(conn)
        except BaseException:
            await asyncio.shield(self._discard())
            raise
        return ms

    async def _transactional(
        self,
        version: int,
        path: str,
        statements: Sequence[Statement],
        finalize: Callable[[AsyncConnection, int], Awaitable[None]],
    ) -> tuple[int, int]:
        """Run in one transaction, retried whole on lock timeout; ``(ms, attempts)``."""
        return await self.settings.lock_retry.run(
            lambda _attempt: self._attempt(path, statements, finalize),
            path=path,
            on_retry=self._announce_retry(version, path),
        )

    def _announce_retry(self, version: int, path: str) -> Callable[[str], None]:
        def announce(blockers: str) -> None:
            self._emit("retry", version, path, f"lock timeout, blocked by {blockers}")

        return announce

    # -- no transaction ---------------------------------------------------------------

    async def _autocommit_statement(
        self,
        conn: AsyncConnection,
        pid: int,
        version: int,
        stmt: Statement,
        path: str,
        before: frozenset[InvalidIndex],
    ) -> None:
        """Run one statement on its own, retrying on lock timeout if it left nothing."""

        async def run(attempt: int) -> None:
            try:
                async with BlockerWatch(self.monitor, pid, self.settings.watch_interval_s) as w:
                    await self._execute(conn, stmt, path, w)
            except Blocked as blocked:
                after = await invalid_indexes(conn)
                if left_behind(before, after, named_indexes([stmt])):
                    raise MigrationBlockedError(
                        path, stmt.line, stmt.sql, attempt, blocked.blockers
                    ) from None
                raise

        await self.settings.lock_retry.run(
            run, path=path, on_retry=self._announce_retry(version, path)
        )

    async def _no_transaction_up(
        self, conn: AsyncConnection, file: MigrationFile, allowed: Sequence[dict[str, Any]]
    ) -> int:
        path = str(file.path)
        pid = await self._set_timeouts(conn, local=False)
        before = await invalid_indexes(conn)
        await self.tracking.insert(
            conn, file, success=False, execution_ms=None, allowed=allowed, error=STARTED
        )
        start = time.monotonic()
        names = named_indexes(file.up.statements)
        done = 0
        try:
            for stmt in file.up.statements:
                await self._autocommit_statement(conn, pid, file.version, stmt, path, before)
                done += 1
        except MigrationFailedError as exc:
            await self._record_failure(conn, file, exc, before, names, done)
            raise
        ms = round((time.monotonic() - start) * 1000)
        left = left_behind(before, await invalid_indexes(conn), names)
        if left:
            left_names = {ix.name for ix in left}
            culprit = next(
                (s for s in file.up.statements if named_indexes([s]) & left_names),
                file.up.statements[-1],
            )
            error = MigrationFailedError(path, culprit.line, culprit.sql, "left an INVALID index")
            await self._record_failure(conn, file, error, before, names, done)
            raise error
        await self.tracking.finish(conn, file.version, success=True, ms=ms, error=None)
        return ms

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
            return
        preparer = conn.dialect.identifier_preparer
        report = [f"failed at line {exc.line}: {exc.reason}"]
        report.append(f"{done} of {len(file.up.statements)} statement(s) completed before it")
        if left:
            report.append(describe(left, preparer))
        detail = "\n".join(report)
        await self.tracking.finish(conn, file.version, success=False, ms=0, error=detail)
        exc.add_detail(detail)

    # -- public -----------------------------------------------------------------------

    async def apply(
        self, file: MigrationFile, allowed: Sequence[dict[str, Any]] = ()
    ) -> StepResult:
        """Apply ``file``'s up section and record it; raises ``MigrationFailedError``."""
        self._emit("start", file.version, file.file_name)
        attempts = 1
        if file.in_transaction:

            async def record(conn: AsyncConnection, ms: int) -> None:
                await self.tracking.insert(
                    conn, file, success=True, execution_ms=ms, allowed=allowed
                )

            ms, attempts = await self._transactional(
                file.version, str(file.path), file.up.statements, record
            )
        else:
            async with self.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                try:
                    ms = await self._no_transaction_up(conn, file, allowed)
                finally:
                    await conn.invalidate()
        self._emit("done", file.version, file.file_name, f"{ms} ms")
        return StepResult(file.version, file.file_name, "up", ms, attempts)

    async def revert(self, row: AppliedMigration) -> StepResult:
        """Roll back ``row`` with its stored down SQL and delete its tracking row."""
        if not row.down_sql:
            raise IrreversibleMigrationError(row.version, row.file_name)
        path = f"{row.file_name} (stored down section)"
        statements = parse_section(row.down_sql, path=path, first_line=row.down_line)
        self._emit("start", row.version, row.file_name)

        async def forget(conn: AsyncConnection, ms: int) -> None:
            await self.tracking.delete(conn, row.version)

        if row.in_transaction:
            ms, attempts = await self._transactional(row.version, path, statements, forget)
        else:
            ms, attempts = await self._no_transaction_down(row, path, statements, forget), 1
        self._emit("done", row.version, row.file_name, f"{ms} ms")
        return StepResult(row.version, row.file_name, "down", ms, attempts)

    async def _no_transaction_down(
        self,
        row: AppliedMigration,
        path: str,
        statements: Sequence[Statement],
        forget: Callable[[AsyncConnection, int], Awaitable[None]],
    ) -> int:
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                pid = await self._set_timeouts(conn, local=False)
                before = await invalid_indexes(conn)
                start = time.monotonic()
                for stmt in statements:
                    await self._autocommit_statement(conn, pid, row.version, stmt, path, before)
                ms = round((time.monotonic() - start) * 1000)
                await forget(conn, ms)
                return ms
            finally:
                await conn.invalidate()
