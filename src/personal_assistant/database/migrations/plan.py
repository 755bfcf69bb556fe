"""What to run, decided from files and tracking rows alone (no I/O, no database).

Every command first builds a :class:`MigrationStatus` from the parsed files and the
rows of the tracking table, then asks it for a plan. Integrity checks (changed
checksums, missing files, failed no-transaction migrations, out-of-order files) live
here too, so they are unit-tested without PostgreSQL and applied identically by
``up``, ``down`` and ``status``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from personal_assistant.database.migrations.errors import (
    ChecksumMismatchError,
    DirtyDatabaseError,
    MissingMigrationError,
    OutOfOrderMigrationError,
    UnknownVersionError,
)
from personal_assistant.database.migrations.files import MigrationFile


@dataclass(frozen=True)
class AppliedMigration:
    """One row of the tracking table."""

    version: int
    description: str
    file_name: str
    checksum: str
    down_sql: str | None
    down_line: int
    in_transaction: bool
    success: bool
    applied_at: datetime | None = None
    applied_by: str | None = None
    execution_ms: int | None = None
    error: str | None = None
    allowed_findings: tuple[dict[str, Any], ...] = field(default=(), compare=False)
    #: Notices (``NOTICE: identifier ... will be truncated``) the server sent while it ran.
    notices: tuple[str, ...] = field(default=(), compare=False)


class State(enum.StrEnum):
    """Where one migration stands."""

    APPLIED = "applied"
    PENDING = "pending"
    MISSING = "missing-file"
    CHANGED = "changed-checksum"
    FAILED = "failed"
    #: A no-transaction migration on record as unfinished whose runner is still at it.
    RUNNING = "running"


@dataclass(frozen=True)
class Entry:
    """One version's file and tracking row (either may be absent) and its state."""

    version: int
    state: State
    file: MigrationFile | None
    row: AppliedMigration | None
    #: The server process running it, when ``state`` is ``RUNNING``.
    runner_pid: int | None = None

    @property
    def description(self) -> str:
        if self.file is not None:
            return self.file.description
        return self.row.description if self.row is not None else ""

    @property
    def file_name(self) -> str:
        if self.file is not None:
            return self.file.file_name
        return self.row.file_name if self.row is not None else ""


def _state(file: MigrationFile | None, row: AppliedMigration | None, running: bool) -> State:
    if row is None:
        return State.PENDING
    if not row.success:
        return State.RUNNING if running else State.FAILED
    if file is None:
        return State.MISSING
    return State.CHANGED if file.checksum != row.checksum else State.APPLIED


@dataclass(frozen=True)
class MigrationStatus:
    """Files and tracking rows, joined by version."""

    entries: tuple[Entry, ...]

    @classmethod
    def build(
        cls,
        files: Sequence[MigrationFile],
        rows: Sequence[AppliedMigration],
        running: Mapping[int, int] | None = None,
    ) -> MigrationStatus:
        """Join ``files`` and ``rows``; ``running`` maps versions being run to their pid."""
        by_file = {f.version: f for f in files}
        by_row = {r.version: r for r in rows}
        pids = running or {}
        versions = sorted(by_file.keys() | by_row.keys())
        entries = tuple(
            Entry(
                v,
                _state(by_file.get(v), by_row.get(v), v in pids),
                by_file.get(v),
                by_row.get(v),
                pids.get(v),
            )
            for v in versions
        )
        return cls(entries)

    def having(self, *states: State) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.state in states)

    @property
    def pending(self) -> tuple[MigrationFile, ...]:
        return tuple(e.file for e in self.having(State.PENDING) if e.file is not None)

    @property
    def applied(self) -> tuple[AppliedMigration, ...]:
        """Rows of successfully applied migrations, oldest first."""
        return tuple(e.row for e in self.entries if e.row is not None and e.row.success)

    @property
    def current_version(self) -> int:
        return max((r.version for r in self.applied), default=0)

    def check_dirty(self) -> None:
        """Refuse to go on while a failed no-transaction migration is on record."""
        for entry in self.having(State.FAILED):
            assert entry.row is not None
            raise DirtyDatabaseError(entry.version, entry.file_name, entry.row.error or "")

    def check_checksums(self) -> None:
        """Stop at the first applied migration whose file changed since it ran."""
        for entry in self.having(State.CHANGED):
            assert entry.file is not None and entry.row is not None
            raise ChecksumMismatchError(
                entry.version, str(entry.file.path), entry.row.checksum, entry.file.checksum
            )

    def check_missing(self) -> None:
        missing = self.having(State.MISSING)
        if missing:
            raise MissingMigrationError([(e.version, e.file_name) for e in missing])

    def check_order(self) -> None:
        newest = self.current_version
        for file in self.pending:
            if file.version < newest:
                raise OutOfOrderMigrationError(str(file.path), file.version, newest)

    def upgrade_plan(self, to: int | None = None) -> tuple[MigrationFile, ...]:
        """Pending files up to and including ``to``, oldest first, after every check."""
        self.check_dirty()
        self.check_checksums()
        self.check_missing()
        self.check_order()
        if to is not None and to not in {e.version for e in self.entries}:
            raise UnknownVersionError(to, [e.version for e in self.entries])
        return tuple(f for f in self.pending if to is None or f.version <= to)

    def downgrade_plan(
        self, to: int | None = None, steps: int | None = None
    ) -> tuple[AppliedMigration, ...]:
        """Applied rows to roll back, newest first: above ``to``, or the last ``steps``.

        With neither given, the newest migration alone is rolled back. Missing files
        are fine here (the down SQL is stored), changed files are not.
        """
        self.check_dirty()
        self.check_checksums()
        return self.rollback_rows(to, steps)

    def rollback_rows(
        self, to: int | None = None, steps: int | None = None
    ) -> tuple[AppliedMigration, ...]:
        """The rows :meth:`downgrade_plan` picks, without its checks (for a pre-flight)."""
        applied = list(reversed(self.applied))
        if to is not None:
            if to != 0 and to not in {r.version for r in applied}:
                raise UnknownVersionError(to, [r.version for r in self.applied])
            return tuple(r for r in applied if r.version > to)
        return tuple(applied[: 1 if steps is None else max(steps, 0)])

    def baseline_plan(self, version: int) -> tuple[MigrationFile, ...]:
        """Files to mark as applied (without running them) so the database is at ``version``."""
        self.check_dirty()
        if version not in {e.version for e in self.entries if e.file is not None}:
            raise UnknownVersionError(version, [e.version for e in self.entries])
        return tuple(f for f in self.pending if f.version <= version)

    def repair_plan(self) -> tuple[Entry, ...]:
        """Changed-checksum entries (re-record) and failed entries (clear), by version."""
        return self.having(State.CHANGED, State.FAILED)
