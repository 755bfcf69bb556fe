"""Check every step of ``up``/``down`` before the first one runs (pure: no I/O).

A rollback of 62 migrations that stops at the 63rd because it has no down leaves the
database somewhere nobody chose. So the manager asks this module, under the lock and
with the tracking rows just read, whether *every* planned step can be done: the
tracking state (no failed or running no-transaction migration, no edited file, no
missing file or out-of-order file for ``up``), and for each rollback a stored down
section that parses. Every problem is collected; one is raised as itself, several as
:class:`PreflightError` listing them all. Nothing has run when either is raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from personal_assistant.database.migrations.errors import (
    ChecksumMismatchError,
    DirtyDatabaseError,
    IrreversibleMigrationError,
    MigrationError,
    MigrationFileError,
    MissingMigrationError,
    OutOfOrderMigrationError,
    PreflightError,
)
from personal_assistant.database.migrations.files import MigrationFile, parse_section
from personal_assistant.database.migrations.plan import (
    AppliedMigration,
    MigrationStatus,
    State,
)
from personal_assistant.database.migrations.sql_parse import Statement


@dataclass(frozen=True)
class Rollback:
    """One planned rollback: the tracking row and its stored down, parsed."""

    row: AppliedMigration
    statements: tuple[Statement, ...]


def _unfinished(status: MigrationStatus) -> Iterator[MigrationError]:
    """No-transaction migrations on record as unfinished: failed, or still running."""
    for entry in status.having(State.FAILED, State.RUNNING):
        row = entry.row
        assert row is not None
        if entry.state is State.FAILED:
            yield DirtyDatabaseError(entry.version, entry.file_name, row.error or "")
        else:
            yield MigrationError(
                f"{entry.file_name}: no-transaction migration {entry.version} is still being "
                f"run by server process {entry.runner_pid} although its runner let go of the "
                f"migration lock; wait for it, or stop it with "
                f"SELECT pg_cancel_backend({entry.runner_pid})"
            )


def _changed(status: MigrationStatus) -> Iterator[MigrationError]:
    for entry in status.having(State.CHANGED):
        assert entry.file is not None and entry.row is not None
        yield ChecksumMismatchError(
            entry.version, str(entry.file.path), entry.row.checksum, entry.file.checksum
        )


def _missing(status: MigrationStatus) -> Iterator[MigrationError]:
    missing = status.having(State.MISSING)
    if missing:
        yield MissingMigrationError([(e.version, e.file_name) for e in missing])


def _out_of_order(status: MigrationStatus) -> Iterator[MigrationError]:
    newest = status.current_version
    for file in status.pending:
        if file.version < newest:
            yield OutOfOrderMigrationError(str(file.path), file.version, newest)


def _raise(problems: list[MigrationError]) -> None:
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise PreflightError(problems)


def upgrade_plan(status: MigrationStatus, to: int | None = None) -> tuple[MigrationFile, ...]:
    """The files ``up --to`` applies, once nothing stands in the way of any of them."""
    _raise([*_unfinished(status), *_changed(status), *_missing(status), *_out_of_order(status)])
    return status.upgrade_plan(to)


def _stored_down(row: AppliedMigration) -> tuple[Statement, ...] | MigrationError:
    """The row's stored down, parsed; or why it cannot be run."""
    if row.down_sql is None:
        return IrreversibleMigrationError(row.version, row.file_name)
    path = f"{row.file_name} (stored down section)"
    try:
        return parse_section(row.down_sql, path=path, first_line=row.down_line)
    except MigrationFileError as exc:
        return exc


def downgrade_plan(
    status: MigrationStatus, to: int | None = None, steps: int | None = None
) -> tuple[Rollback, ...]:
    """The rollbacks ``down`` runs, newest first, once every one of them can be done."""
    problems = [*_unfinished(status), *_changed(status)]
    plan: list[Rollback] = []
    for row in status.rollback_rows(to, steps):
        down = _stored_down(row)
        if isinstance(down, MigrationError):
            problems.append(down)
        else:
            plan.append(Rollback(row, down))
    _raise(problems)
    return tuple(plan)
