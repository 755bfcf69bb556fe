"""``MigrationManager``: the public face of the migration system.

A thin facade: files come from :mod:`.files`, decisions from :mod:`.plan` (pure), the
validator gate from :mod:`.safety`, database work from :mod:`.runner` under the lock
of :mod:`.lock`, rollback proofs from :mod:`.verify`. The CLI and the app lifespan
use only this class::

    async with MigrationManager(engine) as manager:
        await manager.upgrade()
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

import personal_assistant.database.migrations.preflight as preflight
from personal_assistant.database.failover import ensure_primary
from personal_assistant.database.migrations.adoption import AdoptReport, adopt
from personal_assistant.database.migrations.errors import (
    DirtyDatabaseError,
    MigrationError,
    UnknownVersionError,
)
from personal_assistant.database.migrations.files import (
    DEFAULT_DIRECTORY,
    MigrationFile,
    create_file,
    load_directory,
)
from personal_assistant.database.migrations.leftovers import (
    describe,
    invalid_indexes,
    named_indexes,
)
from personal_assistant.database.migrations.lock import (
    lock_key,
    migration_lock,
    running_versions,
)
from personal_assistant.database.migrations.plan import (
    AppliedMigration,
    Entry,
    MigrationStatus,
    State,
)
from personal_assistant.database.migrations.runner import Runner
from personal_assistant.database.migrations.steps import (
    Event,
    EventCallback,
    RunnerSettings,
    StepResult,
)
from personal_assistant.database.migrations.tracking import DEFAULT_TABLE, Tracking
from personal_assistant.database.migrations.verify import VerifyReport, verify_files
from personal_assistant.database.urls import normalize_database_url


class MigrationManager:
    """Status, upgrade, downgrade, verify, repair and baseline for one directory."""

    def __init__(
        self,
        engine: AsyncEngine | str,
        directory: Path | None = None,
        *,
        schema: str = "public",
        table: str = DEFAULT_TABLE,
        settings: RunnerSettings | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self._owns_engine = isinstance(engine, str)
        if isinstance(engine, str):
            engine = create_async_engine(normalize_database_url(engine), poolclass=NullPool)
        self.engine = engine
        self.directory = directory or DEFAULT_DIRECTORY
        self.tracking = Tracking(schema, table)
        self.settings = settings or RunnerSettings()
        self.on_event = on_event

    async def aclose(self) -> None:
        """Dispose the engine if this manager created it from a URL."""
        if self._owns_engine:
            await self.engine.dispose()

    async def __aenter__(self) -> MigrationManager:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def files(self) -> tuple[MigrationFile, ...]:
        """Parse every file now, so a malformed one fails before any SQL runs."""
        return load_directory(self.directory)

    async def status(self) -> MigrationStatus:
        """Applied, pending, missing-file, changed-checksum, failed and running migrations."""
        files = self.files()
        async with self.engine.connect() as conn:
            return await self._read(conn, files)

    @property
    def _key(self) -> int:
        return lock_key(self.tracking.schema, self.tracking.table.name)

    async def _read(
        self, conn: AsyncConnection, files: tuple[MigrationFile, ...]
    ) -> MigrationStatus:
        """The tracking rows joined with ``files``; unfinished rows checked for a runner."""
        rows = await self.tracking.rows(conn)
        unfinished = [r.version for r in rows if not r.success]
        running = await running_versions(conn, self._key, unfinished)
        return MigrationStatus.build(files, rows, running)

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _waiting(self, holder: str) -> None:
        self._emit(Event("wait", 0, "", holder))

    @asynccontextmanager
    async def _locked(
        self, files: tuple[MigrationFile, ...] | None = None
    ) -> AsyncIterator[tuple[AsyncConnection, MigrationStatus]]:
        files = self.files() if files is None else files
        s = self.settings
        async with migration_lock(
            self.engine,
            self._key,
            timeout_s=s.wait_timeout_s,
            poll_s=s.poll_interval_s,
            on_wait=self._waiting,
        ) as conn:
            await ensure_primary(conn, "running migrations")  # a standby takes no writes
            await self.tracking.ensure(conn)
            # Read only now: everything that decides what runs is read under the lock,
            # so a runner that waited sees what the previous one did.
            yield conn, await self._read(conn, files)

    def _runner(self, conn: AsyncConnection) -> Runner:
        return Runner(
            self.engine, self.tracking, self.settings, conn, self.on_event, lock_key=self._key
        )

    async def plan_upgrade(self, to: int | None = None) -> tuple[MigrationFile, ...]:
        """What ``upgrade(to)`` would apply (read-only: takes no lock, creates nothing)."""
        return preflight.upgrade_plan(await self.status(), to)

    async def _up_to_date(self, files: tuple[MigrationFile, ...], to: int | None) -> bool:
        """Whether a read without the lock already shows that nothing is left to do.

        What most deploys see; they then skip the lock, the tracking table's DDL and the
        validator. Anything else (pending, failed, running, edited files, no table yet)
        is decided under the lock, where the read cannot race with another runner.
        """
        async with self.engine.connect() as conn:
            status = await self._read(conn, files)
        if status.having(State.FAILED, State.RUNNING):
            return False
        try:
            return not preflight.upgrade_plan(status, to)
        except UnknownVersionError:
            raise  # no runner can add a version: refuse before creating anything
        except MigrationError:
            return False

    async def upgrade(
        self, to: int | None = None, *, dry_run: bool = False, allow_dangerous: bool = False
    ) -> list[StepResult]:
        """Apply pending migrations up to ``to`` (all by default), oldest first.

        The directory is parsed once. Under the lock, every planned step is checked
        (:mod:`.preflight`) and the pending files are linted before the first one runs;
        with ``dry_run`` it stops after the checks (without the lock) and returns what
        would run (``attempts == 0``).
        """
        if dry_run:
            planned = await self.plan_upgrade(to)
            return [StepResult(f.version, f.file_name, "up", 0, 0, f.description) for f in planned]
        from personal_assistant.database.migrations.safety import check_pending

        files = self.files()
        if await self._up_to_date(files, to):
            return []
        async with self._locked(files) as (conn, status):
            plan = preflight.upgrade_plan(status, to)
            if not plan:
                return []
            allowed = await check_pending(conn, plan, allow_dangerous=allow_dangerous)
            for f in plan:
                self._emit(Event("planned", f.version, f.file_name, description=f.description))
            runner = self._runner(conn)
            try:
                return [await runner.apply(f, allowed.get(f.version, [])) for f in plan]
            finally:
                await runner.close()

    async def plan_downgrade(
        self, to: int | None = None, *, steps: int | None = None
    ) -> tuple[AppliedMigration, ...]:
        """What ``downgrade`` would roll back, newest first (read-only, pre-flight checked)."""
        plan = preflight.downgrade_plan(await self.status(), to, steps)
        return tuple(r.row for r in plan)

    async def downgrade(
        self, to: int | None = None, *, steps: int | None = None, dry_run: bool = False
    ) -> list[StepResult]:
        """Roll back with the stored down SQL: above ``to``, or ``steps`` (default 1).

        Every rollback is checked before the first one runs (a stored down that parses
        for each, no failed or edited migration on record); see :mod:`.preflight`.
        """
        if dry_run:
            planned = await self.plan_downgrade(to, steps=steps)
            return [
                StepResult(r.version, r.file_name, "down", 0, 0, r.description) for r in planned
            ]
        async with self._locked() as (conn, status):
            plan = preflight.downgrade_plan(status, to, steps)
            for r in plan:
                self._emit(
                    Event("planned", r.row.version, r.row.file_name, "", r.row.description, "down")
                )
            runner = self._runner(conn)
            try:
                return [await runner.revert(r.row, r.statements) for r in plan]
            finally:
                await runner.close()

    async def repair(self) -> list[int]:
        """Re-record checksums of reviewed edits; clear failed no-transaction records.

        Returns the versions touched. Run it only after reviewing the edit, or after
        cleaning up what a failed no-transaction migration left behind.
        """
        async with self._locked() as (conn, status):
            touched = []
            for entry in status.repair_plan():
                if entry.state is State.FAILED:
                    await self._clear_failed(conn, entry)
                elif entry.file is not None:
                    await self.tracking.set_checksum(conn, entry.file)
                touched.append(entry.version)
            return touched

    async def _clear_failed(self, conn: AsyncConnection, entry: Entry) -> None:
        """Forget a failed no-transaction run, but only once its leftovers are gone."""
        names = named_indexes(entry.file.up.statements) if entry.file is not None else frozenset()
        left = [ix for ix in await invalid_indexes(conn) if ix.name in names]
        if left:
            preparer = conn.dialect.identifier_preparer
            raise DirtyDatabaseError(entry.version, entry.file_name, describe(left, preparer))
        await self.tracking.delete(conn, entry.version)

    async def baseline(self, version: int) -> list[int]:
        """Mark pending migrations up to ``version`` as applied without running them."""
        async with self._locked() as (conn, status):
            files = status.baseline_plan(version)
            for file in files:
                await self.tracking.insert(conn, file, success=True, execution_ms=None)
            return [f.version for f in files]

    async def verify(self, *, keep_going: bool = False) -> VerifyReport:
        """Prove each migration's rollback in a scratch database (never the target).

        It stops at the first migration whose step fails, unless ``keep_going``: then
        every file is checked and every failure reported.
        """
        return await verify_files(
            self.engine,
            self.files(),
            tracking=self.tracking,
            settings=self.settings,
            keep_going=keep_going,
        )

    def new(self, name: str) -> Path:
        """Create the next numbered migration file from the template."""
        return create_file(self.directory, name)

    async def adopt(
        self, tool: str, *, table: str | None = None, revision_map: Path | None = None
    ) -> AdoptReport:
        """Record what ``tool`` (golang-migrate, dbmate, flyway, alembic) applied here as
        applied, without running it, so ``upgrade`` continues from there."""
        s = self.settings
        return await adopt(
            self.engine,
            self.files(),
            self.tracking,
            tool,
            table=table,
            map_path=revision_map,
            wait_timeout_s=s.wait_timeout_s,
            poll_s=s.poll_interval_s,
        )

    async def notices(self, versions: Iterable[int]) -> list[tuple[str, str]]:
        """``(file name, notice)`` recorded for ``versions`` (e.g. those just applied)."""
        wanted = set(versions)
        async with self.engine.connect() as conn:
            rows = await self.tracking.rows(conn)
        return [(r.file_name, n) for r in rows if r.version in wanted for n in r.notices]
