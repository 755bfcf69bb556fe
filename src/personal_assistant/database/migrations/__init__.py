"""Versioned SQL migrations: recorded, tamper-evident, reversible, with proven rollbacks.

Use :class:`MigrationManager` (``pa-db migrate`` is a thin CLI over it); the file
format, commands and safety model are described in ``docs/migrations.md``.
"""

from __future__ import annotations

from personal_assistant.database.migrations.errors import (
    AdoptionError,
    ChecksumMismatchError,
    DangerousMigrationError,
    DirtyDatabaseError,
    ForeignHistoryError,
    ImportConflictError,
    IrreversibleMigrationError,
    LockTimeoutError,
    MigrationBlockedError,
    MigrationError,
    MigrationFailedError,
    MigrationFileError,
    MigrationLockTimeout,
    MigrationParseError,
    MissingMigrationError,
    OutOfOrderMigrationError,
    PreflightError,
    UnknownVersionError,
)
from personal_assistant.database.migrations.files import DEFAULT_DIRECTORY, MigrationFile
from personal_assistant.database.migrations.manager import MigrationManager
from personal_assistant.database.migrations.plan import AppliedMigration, MigrationStatus, State
from personal_assistant.database.migrations.runner import Event, RunnerSettings, StepResult
from personal_assistant.database.migrations.verify import VerifyReport, VerifyResult

__all__ = [
    "DEFAULT_DIRECTORY",
    "AdoptionError",
    "AppliedMigration",
    "ChecksumMismatchError",
    "DangerousMigrationError",
    "DirtyDatabaseError",
    "Event",
    "ForeignHistoryError",
    "ImportConflictError",
    "IrreversibleMigrationError",
    "LockTimeoutError",
    "MigrationBlockedError",
    "MigrationError",
    "MigrationFailedError",
    "MigrationFileError",
    "MigrationFile",
    "MigrationLockTimeout",
    "MigrationManager",
    "MigrationParseError",
    "MigrationStatus",
    "MissingMigrationError",
    "OutOfOrderMigrationError",
    "PreflightError",
    "RunnerSettings",
    "State",
    "StepResult",
    "UnknownVersionError",
    "VerifyReport",
    "VerifyResult",
]
