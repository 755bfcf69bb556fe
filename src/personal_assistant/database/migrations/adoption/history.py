"""What another tool says is applied, decided from its rows alone (pure, no I/O).

Each tool records its history differently, so each gets a function from its rows to a
:class:`ForeignHistory`: golang-migrate keeps only the newest version (everything up
to it is applied) and a ``dirty`` flag; dbmate keeps every applied version; Flyway
keeps every run, including failures, undos, baselines and repeatables; Alembic keeps
the head revision, which a map turns into a version. A state that cannot be taken
over safely (a dirty golang-migrate version, a failed Flyway run, Alembic branches) is
an :class:`AdoptionError` that says what to do first; nothing is changed then.
:func:`plan` joins the history with today's files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from personal_assistant.database.migrations.errors import AdoptionError
from personal_assistant.database.migrations.files import MigrationFile

#: Flyway ``type`` values of runs that applied a versioned migration.
FLYWAY_APPLIED = frozenset({"SQL", "JDBC", "SPRING_JDBC", "SCRIPT", "CUSTOM"})
FLYWAY_UNDONE = frozenset({"UNDO_SQL", "UNDO_JDBC", "UNDO_SCRIPT", "DELETE"})
FLYWAY_BASELINE = frozenset({"BASELINE", "SQL_BASELINE", "JDBC_BASELINE"})


@dataclass(frozen=True)
class ForeignHistory:
    """Applied versions as another tool records them.

    ``versions`` are applied one by one; ``up_to`` means every file numbered up to it
    is applied (golang-migrate, Alembic, a Flyway baseline). ``notes`` are what the
    operator should know but need not act on.
    """

    tool: str
    versions: frozenset[int] = frozenset()
    up_to: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlywayRow:
    """The ``flyway_schema_history`` columns adoption reads."""

    installed_rank: int
    version: str | None
    description: str
    type: str
    script: str
    success: bool


def _number(tool: str, text: str, where: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise AdoptionError(
            f"{tool} recorded version {text!r} ({where}), which is not a whole number; "
            "pa-db versions are digit strings: rename the file and fix that row by hand first"
        )
    return int(text)


def golang_migrate(rows: Sequence[tuple[int, bool]], table: str) -> ForeignHistory:
    """golang-migrate: one row ``(version, dirty)``; none means nothing applied."""
    if not rows:
        return ForeignHistory("golang-migrate", notes=(f"{table} is empty: nothing applied",))
    if len(rows) > 1:
        raise AdoptionError(f"{table} has {len(rows)} rows; golang-migrate keeps exactly one")
    version, dirty = rows[0]
    if dirty:
        shown = "no version" if version < 0 else f"version {version}"
        raise AdoptionError(
            f"{table} is dirty at {shown}: golang-migrate failed half-way through it and "
            "the database may be partly changed. Fix the database by hand, then tell "
            f"golang-migrate where it really is ('migrate force {max(version, 0)}' if that "
            "migration is now fully applied, or force the version before it if you undid "
            "it), and run adopt again"
        )
    return ForeignHistory("golang-migrate", up_to=version if version >= 0 else None)


def dbmate(versions: Iterable[str], table: str) -> ForeignHistory:
    """dbmate: one row per applied version, as text."""
    return ForeignHistory("dbmate", frozenset(_number("dbmate", v, table) for v in versions))


def _flyway_failed(row: FlywayRow, table: str) -> AdoptionError:
    return AdoptionError(
        f"{table} records a failed Flyway run: {row.script} (version {row.version}, "
        f"installed_rank {row.installed_rank}). The database may be partly changed: fix it "
        "by hand, run 'flyway repair' to remove the failed row (or finish with 'flyway "
        "migrate'), then run adopt again"
    )


def flyway(rows: Sequence[FlywayRow], table: str) -> ForeignHistory:
    """Flyway: every run in ``installed_rank`` order; undos and deletes take versions back."""
    applied: set[int] = set()
    baseline: int | None = None
    notes: list[str] = []
    for row in sorted(rows, key=lambda r: r.installed_rank):
        if not row.success:
            raise _flyway_failed(row, table)
        if row.version is None:
            notes.append(f"Flyway ran repeatable {row.script}; pa-db does not re-run it")
            continue
        if row.type == "SCHEMA":  # Flyway created the schemas it manages: not a migration
            continue
        version = _number("Flyway", row.version, f"{row.script}, rank {row.installed_rank}")
        if row.type in FLYWAY_BASELINE:
            baseline = version
        elif row.type in FLYWAY_UNDONE:
            applied.discard(version)
        elif row.type in FLYWAY_APPLIED:
            applied.add(version)
        else:
            raise AdoptionError(
                f"{table} has a run of unknown type {row.type!r} ({row.script}); "
                f"adopt cannot tell whether it applied version {row.version}"
            )
    return ForeignHistory("flyway", frozenset(applied), baseline, tuple(notes))


def alembic(revisions: Sequence[str], mapping: Mapping[str, int], table: str) -> ForeignHistory:
    """Alembic: the head revision, mapped to a version by ``--map`` or file comments."""
    if not revisions:
        return ForeignHistory("alembic", notes=(f"{table} is empty: nothing applied",))
    if len(revisions) > 1:
        raise AdoptionError(
            f"{table} has {len(revisions)} heads ({', '.join(sorted(revisions))}): the "
            "history is branched; merge the heads with 'alembic merge' and upgrade first"
        )
    revision = revisions[0]
    if revision not in mapping:
        raise AdoptionError(
            f"{table} says revision {revision}, which maps to no file: give "
            f"'--map FILE' with {revision} = <version>, or put '-- alembic: {revision}' "
            "in the migration file it corresponds to"
        )
    return ForeignHistory("alembic", up_to=mapping[revision])


def plan(files: Sequence[MigrationFile], history: ForeignHistory) -> tuple[MigrationFile, ...]:
    """The files to record as applied; every applied version must have its file."""
    by_version = {f.version: f for f in files}
    if history.up_to is not None and history.up_to not in by_version:
        raise AdoptionError(
            f"{history.tool} is at version {history.up_to}, which no migration file has: "
            f"import or write it ('pa-db migrate import --from ...'), then run adopt again"
        )
    missing = sorted(history.versions - by_version.keys())
    if missing:
        shown = ", ".join(map(str, missing))
        raise AdoptionError(
            f"{history.tool} applied version(s) {shown}, which no migration file has: import "
            "or write them (an empty '-- migrate:up' section is a recorded no-op), then run "
            "adopt again"
        )
    up_to = history.up_to if history.up_to is not None else -1
    return tuple(f for f in files if f.version <= up_to or f.version in history.versions)
