"""Errors raised by the migration system.

The tree hangs under the package's root error, so the one ``except
PersonalAssistantError`` of the command line covers every migration failure too::

    PersonalAssistantError               personal_assistant.errors
    └── MigrationError                   root: catch this to handle any migration failure
        ├── MigrationFileError           a file is malformed (no up section, bad name, bad
        │   │                            SQL, duplicate version); carries path and line
        │   └── MigrationParseError      PostgreSQL's parser rejected the SQL (whether
        │                                ``migrate up`` or ``migrate lint`` read it)
        ├── MigrationValidationError     root of the validator's own errors (see
        │                                ``personal_assistant.database.migrations.validation``)
        ├── ChecksumMismatchError        an applied migration's file was edited afterwards
        ├── MissingMigrationError        an applied migration has no file any more
        ├── OutOfOrderMigrationError     a pending file is older than the newest applied one
        ├── UnknownVersionError          ``--to``/``baseline`` names a version that is not there
        ├── IrreversibleMigrationError   a rollback was asked of a migration without a down
        ├── PreflightError               several planned steps cannot be done (each one
        │                                listed); nothing was run
        ├── DangerousMigrationError      the validator found errors and they were not allowed
        ├── DirtyDatabaseError           a no-transaction migration failed half-way earlier
        ├── LockTimeoutError             another runner held the migration lock too long
        │                                (alias ``MigrationLockTimeout``)
        ├── ForeignHistoryError          another tool's tracking table is in the way; run
        │                                ``pa-db migrate adopt`` first
        ├── AdoptionError                ``adopt`` cannot take over that history (dirty or
        │                                failed state, a version without a file)
        ├── ImportConflictError          ``import`` would overwrite a different file
        └── MigrationFailedError         a statement failed; carries path, line, statement
            └── MigrationBlockedError    it kept hitting ``lock_timeout``; names the blockers

Every message names the file (and line, where there is one), because the operator's
next step is always to open that file. Driver errors are converted once, in the
runner, with ``raise ... from`` so the original stays in the traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from personal_assistant.errors import PersonalAssistantError

__all__ = [
    "AdoptionError",
    "ChecksumMismatchError",
    "DangerousMigrationError",
    "DirtyDatabaseError",
    "ForeignHistoryError",
    "ImportConflictError",
    "IrreversibleMigrationError",
    "LockTimeoutError",
    "MigrationBlockedError",
    "MigrationError",
    "MigrationFailedError",
    "MigrationFileError",
    "MigrationLockTimeout",
    "MigrationParseError",
    "MissingMigrationError",
    "OutOfOrderMigrationError",
    "PreflightError",
    "UnknownVersionError",
]

_MODULE = "personal_assistant.database.migrations.errors"


class MigrationError(PersonalAssistantError):
    """Root of every error raised by the migration system."""

    __module__ = _MODULE


class MigrationFileError(MigrationError):
    """Raised when a migration file cannot be used: bad name, no up section, bad SQL."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")


class MigrationParseError(MigrationFileError):
    """Raised when PostgreSQL's scanner or parser rejects migration SQL; names file and line."""


class ChecksumMismatchError(MigrationError):
    """Raised when an applied migration's up section no longer matches its checksum."""

    def __init__(self, version: int, path: str, recorded: str, actual: str) -> None:
        self.version = version
        self.path = path
        self.recorded = recorded
        self.actual = actual
        super().__init__(
            f"{path}: migration {version} was changed after it was applied "
            f"(recorded checksum {recorded}, file now {actual}); revert the edit, or run "
            "'pa-db migrate repair' after reviewing that the change is deliberate"
        )


class MissingMigrationError(MigrationError):
    """Raised when applied migrations have no file in the directory any more."""

    def __init__(self, missing: Sequence[tuple[int, str]]) -> None:
        self.missing = tuple(missing)
        names = ", ".join(f"{version} ({name})" for version, name in self.missing)
        super().__init__(
            f"applied migration(s) have no file: {names}; restore the file(s), or roll them "
            "back with 'pa-db migrate down' (the down SQL is stored in the database)"
        )


class OutOfOrderMigrationError(MigrationError):
    """Raised when a pending migration is numbered below the newest applied one."""

    def __init__(self, path: str, version: int, newest_applied: int) -> None:
        self.path = path
        self.version = version
        self.newest_applied = newest_applied
        super().__init__(
            f"{path}: pending migration {version} is older than applied migration "
            f"{newest_applied}; renumber it above {newest_applied}"
        )


class UnknownVersionError(MigrationError):
    """Raised when a command names a version that no file or tracking row has."""

    def __init__(self, version: int, known: Sequence[int]) -> None:
        self.version = version
        shown = ", ".join(str(v) for v in known) or "none"
        super().__init__(f"unknown migration version {version} (known: {shown})")


class IrreversibleMigrationError(MigrationError):
    """Raised when rolling back a migration that was recorded without a down section."""

    def __init__(self, version: int, file_name: str) -> None:
        self.version = version
        self.file_name = file_name
        super().__init__(
            f"{file_name}: migration {version} has no down section, so it cannot be "
            "rolled back automatically"
        )


class PreflightError(MigrationError):
    """Raised before anything runs when several planned steps cannot be done."""

    def __init__(self, problems: Sequence[MigrationError]) -> None:
        self.problems = tuple(problems)
        listed = "\n".join(f"  - {problem}".replace("\n", "\n    ") for problem in problems)
        super().__init__(
            f"nothing was run: {len(self.problems)} planned step(s) cannot be done:\n{listed}"
        )


class DangerousMigrationError(MigrationError):
    """Raised when the validator reports errors and ``--allow-dangerous`` was not given."""

    def __init__(self, findings: Sequence[str]) -> None:
        self.findings = tuple(findings)
        listed = "\n  ".join(self.findings)
        super().__init__(
            f"the validator refused {len(self.findings)} finding(s):\n  {listed}\n"
            "fix them, allow one with '-- pa:allow RULE reason' above the statement, or "
            "pass --allow-dangerous"
        )


class DirtyDatabaseError(MigrationError):
    """Raised when a no-transaction migration failed half-way and was not cleaned up."""

    def __init__(self, version: int, file_name: str, detail: str) -> None:
        self.version = version
        self.file_name = file_name
        self.detail = detail
        super().__init__(
            f"{file_name}: no-transaction migration {version} failed half-way and may have "
            f"left objects behind:\n{detail}\nclean up, then run 'pa-db migrate repair' "
            "to clear the failed record and 'pa-db migrate up' to run it again"
        )


class LockTimeoutError(MigrationError):
    """Raised when the migration advisory lock was not obtained within the wait timeout."""

    def __init__(self, timeout_s: float, holder: str) -> None:
        self.timeout_s = timeout_s
        self.holder = holder
        super().__init__(
            f"another migration runner held the migration lock for more than "
            f"{timeout_s:g}s ({holder}); try again later or raise --wait-timeout"
        )


#: The name the issue uses for the advisory-lock timeout.
MigrationLockTimeout = LockTimeoutError


class ForeignHistoryError(MigrationError):
    """Raised when another migration tool's tracking table is found and not adopted yet."""

    def __init__(self, table: str, tool: str | None, columns: Sequence[str]) -> None:
        self.table = table
        self.tool = tool
        self.columns = tuple(columns)
        shape = f"columns {', '.join(self.columns)}"
        if tool is None:
            message = (
                f"{table} is not a pa-db tracking table ({shape}); if another migration "
                "tool owns it, take its history over with 'pa-db migrate adopt --from TOOL', "
                "or keep pa-db's table in another schema with --schema"
            )
        else:
            message = (
                f"{table} is {tool}'s tracking table ({shape}); pa-db will not mix its "
                f"history with {tool}'s: run 'pa-db migrate adopt --from {tool}' to take "
                "that history over first"
            )
        super().__init__(message)


class AdoptionError(MigrationError):
    """Raised when ``adopt`` cannot take over another tool's history; nothing was changed."""


class ImportConflictError(MigrationError):
    """Raised when ``import`` would write over a different file; nothing was written."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}; nothing was written")


class MigrationFailedError(MigrationError):
    """Raised when a migration statement fails; ``state`` says what the failure left."""

    def __init__(self, path: str, line: int, statement: str, reason: str) -> None:
        self.path = path
        self.line = line
        self.statement = statement
        self.reason = reason
        #: In what state the step left the database (set by the runner): rolled back
        #: cleanly, or dirty and in need of repair for a no-transaction migration.
        self.state = ""
        super().__init__(self._render())

    def _render(self) -> str:
        first = self.statement.strip().splitlines()[0] if self.statement.strip() else ""
        shown = f"\n  statement: {first}" if first else ""
        return f"{self.path}:{self.line}: {self.reason}{shown}"

    def add_detail(self, detail: str) -> None:
        """Append what a failed no-transaction migration left behind to the message."""
        self.reason = f"{self.reason}\n{detail}"
        self.args = (self._render(),)


class MigrationBlockedError(MigrationFailedError):
    """Raised when a statement kept hitting ``lock_timeout`` through every retry."""

    def __init__(self, path: str, line: int, statement: str, attempts: int, blockers: str) -> None:
        self.attempts = attempts
        self.blockers = blockers
        super().__init__(
            path,
            line,
            statement,
            f"could not get its lock after {attempts} attempt(s); blocked by {blockers}",
        )
