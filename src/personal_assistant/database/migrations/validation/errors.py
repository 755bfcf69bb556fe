"""The validator's root error, in the migration error tree.

The tree::

    PersonalAssistantError              (personal_assistant.errors)
    └── MigrationError                  (personal_assistant.database.migrations.errors)
        ├── MigrationFileError          a file is malformed; carries path and line
        │   └── MigrationParseError     PostgreSQL's parser rejected the SQL
        └── MigrationValidationError    root of the validator's own errors
            └── FactsFileError          a table facts file cannot be read or is not one

The validator reads SQL through the same parser as ``migrate up``
(:mod:`personal_assistant.database.migrations.sql_parse`), so SQL it cannot read is a
``MigrationParseError`` like anywhere else; it is exported here too, where lint users
have always found it. ``MigrationValidationError`` was called ``ValidationError`` until
it was renamed so that it no longer shadows pydantic's ``ValidationError``.

Findings about dangerous SQL are not errors: they are data (``Finding``) returned to
the caller, so the CLI's ``MigrationError`` handling covers everything raised here.
"""

from __future__ import annotations

from personal_assistant.database.migrations.errors import MigrationError, MigrationParseError

__all__ = ["FactsFileError", "MigrationParseError", "MigrationValidationError"]


class MigrationValidationError(MigrationError):
    """Root of the errors the migration validator raises about itself."""

    __module__ = "personal_assistant.database.migrations.validation"


class FactsFileError(MigrationValidationError):
    """Raised when a ``--facts`` file cannot be read or is not a pa-db table facts file."""

    __module__ = "personal_assistant.database.migrations.validation"
