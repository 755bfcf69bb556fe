"""Errors raised by the migration validator, rooted in the migration error tree.

The tree::

    PersonalAssistantError              (personal_assistant.errors)
    └── MigrationError                  (personal_assistant.database.migrations.errors)
        ├── MigrationFileError          a file is malformed; carries path and line
        │   └── MigrationParseError     the validator could not parse the SQL
        └── MigrationValidationError    root of the validator's own errors
            └── MigrationParseError

``MigrationValidationError`` was called ``ValidationError`` until it was renamed so
that it no longer shadows pydantic's ``ValidationError`` in modules that import both.

Findings about dangerous SQL are not errors: they are data (``Finding``) returned to
the caller. These exceptions mean the validator could not read the migration at all,
so the CLI's ``MigrationError`` handling covers them without a new branch.
"""

from __future__ import annotations

from personal_assistant.database.migrations.errors import MigrationError, MigrationFileError

_MODULE = "personal_assistant.database.migrations.validation"


class MigrationValidationError(MigrationError):
    """Root of every error raised by the migration validator."""

    __module__ = _MODULE


class MigrationParseError(MigrationFileError, MigrationValidationError):
    """Raised when PostgreSQL's parser rejects SQL being linted; names the file and line."""

    __module__ = _MODULE
