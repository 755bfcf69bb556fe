"""``verify``: prove that every migration's down section undoes its up section.

In a scratch database created for the purpose on the target's server (never the
target itself), each migration in turn is applied, rolled back and applied again, with
a catalog snapshot taken around each step. A migration passes when the schema after
its down equals the schema before its up, and the second up gives the same schema as
the first. What this proves: the down restores tables, columns, types, defaults,
constraints, indexes, sequences, views, functions, enum/domain types, triggers and
extensions. What it does not: that data survives a round trip (a dropped column's
values are gone), or that the steps are fast on a large table.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from personal_assistant.database.migrations.errors import MigrationError, MigrationFailedError
from personal_assistant.database.migrations.files import MigrationFile, parse_section
from personal_assistant.database.migrations.lock import migration_lock
from personal_assistant.database.migrations.plan import AppliedMigration
from personal_assistant.database.migrations.runner import Runner, RunnerSettings
from personal_assistant.database.migrations.schema_snapshot import (
    Difference,
    SchemaSnapshot,
    diff,
    take_snapshot,
)
from personal_assistant.database.migrations.tracking import Tracking

SCRATCH_PREFIX = "pa_verify_"
Outcome = Literal["ok", "no-down", "not-restored", "not-repeatable", "failed"]


@dataclass(frozen=True)
class VerifyResult:
    """What verify found for one migration."""

    version: int
    file_name: str
    outcome: Outcome
    differences: tuple[Difference, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True)
class VerifyReport:
    """Every migration's result; ``ok`` only when each one round-trips."""

    results: tuple[VerifyResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


@asynccontextmanager
async def scratch_database(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """A new empty database on ``engine``'s server, dropped afterwards."""
    name = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    quoted = engine.dialect.identifier_preparer.quote_identifier(name)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            await conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
        except DBAPIError as exc:
            raise MigrationError(
                f"verify needs a scratch database but could not create one ({exc.orig}); "
                "grant CREATEDB to the migration user"
            ) from exc
    scratch = create_async_engine(engine.url.set(database=name), poolclass=NullPool)
    try:
        yield scratch
    finally:
        await scratch.dispose()
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")


class _Verifier:
    def __init__(self, runner: Runner, tracking: Tracking, conn: AsyncConnection) -> None:
        self.runner = runner
        self.tracking = tracking
        self.conn = conn

    async def snapshot(self) -> SchemaSnapshot:
        table = self.tracking.table
        return await take_snapshot(
            self.conn, skip_schema=self.tracking.schema, skip_table=table.name
        )

    async def check(self, file: MigrationFile) -> VerifyResult:
        """Up, down, up again; raises ``MigrationFailedError`` when a step fails.

        A down that does not restore the schema is reported at once: the second up
        would usually fail on what the down left behind, hiding the real problem.
        """
        before = await self.snapshot()
        await self.runner.apply(file)
        after_up = await self.snapshot()
        if not file.has_down:
            return VerifyResult(file.version, file.file_name, "no-down")
        row = await self.row(file.version)
        assert row is not None and row.down_sql is not None, "applied with a down section"
        path = f"{row.file_name} (stored down section)"
        statements = parse_section(row.down_sql, path=path, first_line=row.down_line)
        await self.runner.revert(row, statements)
        restored = diff(before, await self.snapshot())
        if restored:
            return VerifyResult(file.version, file.file_name, "not-restored", restored)
        await self.runner.apply(file)
        repeated = diff(after_up, await self.snapshot())
        if repeated:
            return VerifyResult(file.version, file.file_name, "not-repeatable", repeated)
        return VerifyResult(file.version, file.file_name, "ok")

    async def row(self, version: int) -> AppliedMigration | None:
        return next((r for r in await self.tracking.rows(self.conn) if r.version == version), None)

    async def reapply(self, file: MigrationFile) -> str:
        """After a bad down, apply the file again so later ones can be checked; error or ''."""
        try:
            await self.runner.apply(file)
        except MigrationFailedError as exc:
            return f"stopped here: re-applying after the incomplete down failed: {exc}"
        return ""

    async def recover(self, file: MigrationFile) -> str:
        """After a failed step (``--keep-going``), leave ``file`` applied if possible.

        The later files are written against a schema that has it. Returns a note when
        that cannot be done: the later files are then checked without it.
        """
        row = await self.row(file.version)
        if row is not None and row.success:
            return ""  # its down failed and was rolled back: the up is still in place
        if row is not None:  # a no-transaction up that stopped half-way
            await self.tracking.delete(self.conn, file.version)
        try:
            await self.runner.apply(file)
        except MigrationFailedError:
            return "later migrations were checked without it (its up does not apply)"
        return ""


async def verify_files(
    engine: AsyncEngine,
    files: tuple[MigrationFile, ...],
    *,
    tracking: Tracking,
    settings: RunnerSettings,
    keep_going: bool = False,
) -> VerifyReport:
    """Round-trip ``files`` in order in a scratch database.

    It stops at the first failure, unless ``keep_going``: then every file is checked.
    """
    results: list[VerifyResult] = []
    async with scratch_database(engine) as scratch:
        key = 0  # nobody else knows the scratch database: any key will do
        async with migration_lock(scratch, key, timeout_s=1, poll_s=0.1) as conn:
            await tracking.ensure(conn)
            runner = Runner(scratch, tracking, settings, conn)
            verifier = _Verifier(runner, tracking, conn)
            try:
                await _verify_each(verifier, files, results, keep_going)
            finally:
                await runner.close()
    return VerifyReport(tuple(results))


async def _verify_each(
    verifier: _Verifier,
    files: Sequence[MigrationFile],
    results: list[VerifyResult],
    keep_going: bool,
) -> None:
    for file in files:
        try:
            result = await verifier.check(file)
        except MigrationFailedError as exc:
            result = VerifyResult(file.version, file.file_name, "failed", error=str(exc))
            if not keep_going:
                results.append(result)
                return
            note = await verifier.recover(file)
            results.append(replace(result, error=f"{result.error}\n{note}".strip()))
            continue
        if result.outcome == "not-restored":
            result = replace(result, error=await verifier.reapply(file))
        results.append(result)
        if result.error and not keep_going:
            return
