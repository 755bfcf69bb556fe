"""Deciding what to run from files and tracking rows, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from personal_assistant.database.migrations.errors import (
    ChecksumMismatchError,
    DirtyDatabaseError,
    MissingMigrationError,
    OutOfOrderMigrationError,
    UnknownVersionError,
)
from personal_assistant.database.migrations.files import MigrationFile, parse_migration
from personal_assistant.database.migrations.plan import AppliedMigration, MigrationStatus, State


def file(version: int, sql: str = "SELECT 1;") -> MigrationFile:
    text = f"-- migrate:up\n{sql}\n-- migrate:down\nSELECT 0;\n"
    return parse_migration(text, Path(f"{version:04d}_m{version}.sql"))


def row(f: MigrationFile, *, checksum: str | None = None, success: bool = True) -> AppliedMigration:
    return AppliedMigration(
        version=f.version,
        description=f.description,
        file_name=f.file_name,
        checksum=checksum or f.checksum,
        down_sql="SELECT 0;",
        down_line=4,
        in_transaction=True,
        success=success,
    )


def test_states_cover_applied_pending_missing_changed_and_failed() -> None:
    f1, f2, f3, f4, f5 = (file(v) for v in range(1, 6))
    rows = [row(f1), row(f2, checksum="x"), row(f3), row(f4, success=False)]
    status = MigrationStatus.build([f1, f2, f4, f5], rows)
    assert [(e.version, e.state) for e in status.entries] == [
        (1, State.APPLIED),
        (2, State.CHANGED),
        (3, State.MISSING),
        (4, State.FAILED),
        (5, State.PENDING),
    ]
    assert status.entries[2].file_name == "0003_m3.sql"


def test_upgrade_plan_is_pending_files_in_order_up_to_the_target() -> None:
    files = [file(v) for v in (1, 2, 3, 4)]
    status = MigrationStatus.build(files, [row(files[0])])
    assert [f.version for f in status.upgrade_plan()] == [2, 3, 4]
    assert [f.version for f in status.upgrade_plan(to=3)] == [2, 3]


def test_upgrade_to_an_unknown_version_is_refused() -> None:
    with pytest.raises(UnknownVersionError, match="unknown migration version 9"):
        MigrationStatus.build([file(1)], []).upgrade_plan(to=9)


def test_changed_checksum_stops_the_upgrade_naming_both_checksums() -> None:
    f1, f2 = file(1), file(2)
    status = MigrationStatus.build([f1, f2], [row(f1, checksum="abc123")])
    with pytest.raises(ChecksumMismatchError) as info:
        status.upgrade_plan()
    message = str(info.value)
    assert "0001_m1.sql" in message and "abc123" in message and f1.checksum in message


def test_missing_file_stops_the_upgrade_but_not_the_downgrade() -> None:
    f1, f2 = file(1), file(2)
    status = MigrationStatus.build([f2], [row(f1), row(f2)])
    with pytest.raises(MissingMigrationError, match="0001_m1.sql"):
        status.upgrade_plan()
    assert [r.version for r in status.downgrade_plan(to=0)] == [2, 1]


def test_a_pending_file_older_than_the_newest_applied_is_refused() -> None:
    f1, f2, f3 = file(1), file(2), file(3)
    status = MigrationStatus.build([f1, f2, f3], [row(f1), row(f3)])
    with pytest.raises(OutOfOrderMigrationError, match="renumber it above 3"):
        status.upgrade_plan()


def test_a_failed_no_transaction_migration_blocks_everything() -> None:
    f1 = file(1)
    status = MigrationStatus.build([f1], [row(f1, success=False)])
    with pytest.raises(DirtyDatabaseError):
        status.upgrade_plan()
    with pytest.raises(DirtyDatabaseError):
        status.downgrade_plan()


def test_downgrade_defaults_to_the_newest_migration() -> None:
    files = [file(v) for v in (1, 2, 3)]
    status = MigrationStatus.build(files, [row(f) for f in files])
    assert [r.version for r in status.downgrade_plan()] == [3]
    assert [r.version for r in status.downgrade_plan(steps=2)] == [3, 2]
    assert [r.version for r in status.downgrade_plan(to=1)] == [3, 2]
    assert [r.version for r in status.downgrade_plan(to=0)] == [3, 2, 1]


def test_downgrade_to_a_version_that_is_not_applied_is_refused() -> None:
    files = [file(v) for v in (1, 2)]
    status = MigrationStatus.build(files, [row(files[0])])
    with pytest.raises(UnknownVersionError):
        status.downgrade_plan(to=2)


def test_baseline_marks_pending_files_up_to_the_version() -> None:
    files = [file(v) for v in (1, 2, 3)]
    status = MigrationStatus.build(files, [])
    assert [f.version for f in status.baseline_plan(2)] == [1, 2]
    with pytest.raises(UnknownVersionError):
        status.baseline_plan(7)


def test_repair_lists_changed_and_failed_entries() -> None:
    f1, f2, f3 = file(1), file(2), file(3)
    rows = [row(f1, checksum="old"), row(f2), row(f3, success=False)]
    status = MigrationStatus.build([f1, f2, f3], rows)
    assert [(e.version, e.state) for e in status.repair_plan()] == [
        (1, State.CHANGED),
        (3, State.FAILED),
    ]
