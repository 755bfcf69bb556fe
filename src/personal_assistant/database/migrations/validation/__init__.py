"""Migration safety validator: PostgreSQL's parser, lock-aware rules, table facts.

``lint_sql`` / ``lint_file`` parse SQL once with the parser ``migrate up`` uses
(:mod:`personal_assistant.database.migrations.sql_parse`); ``lint_section`` and
``lint_against`` judge a section already parsed (``MigrationFile.up``). Each applies
the rules in :mod:`.rules` and returns a :class:`LintResult` of :class:`Finding` values. Pass
:class:`DatabaseFacts` (from :func:`fetch_table_facts`) to let size-dependent rules
tell a 10-row table from a 10-million-row one; without facts every existing table is
judged as large. A ``-- pa:allow RULE reason`` comment on the line before a statement
allows that rule for that statement and records the reason.
"""

from __future__ import annotations

from personal_assistant.database.migrations.files import Section, up_section
from personal_assistant.database.migrations.sql_parse import Statement, parse_statements
from personal_assistant.database.migrations.validation.context import (
    ColumnType,
    DatabaseFacts,
    LintSettings,
    Severity,
    TableFacts,
)
from personal_assistant.database.migrations.validation.engine import (
    Finding,
    LintResult,
    lint_file,
    lint_section,
    lint_sql,
    lint_statements,
    lint_text,
)
from personal_assistant.database.migrations.validation.errors import (
    FactsFileError,
    MigrationParseError,
    MigrationValidationError,
)
from personal_assistant.database.migrations.validation.facts import fetch_table_facts, lint_against
from personal_assistant.database.migrations.validation.relations import referenced_relations
from personal_assistant.database.migrations.validation.rules import CATALOGUE

__all__ = [
    "CATALOGUE",
    "ColumnType",
    "DatabaseFacts",
    "FactsFileError",
    "Finding",
    "LintResult",
    "LintSettings",
    "MigrationParseError",
    "MigrationValidationError",
    "Section",
    "Severity",
    "Statement",
    "TableFacts",
    "fetch_table_facts",
    "lint_against",
    "lint_file",
    "lint_section",
    "lint_sql",
    "lint_statements",
    "lint_text",
    "parse_statements",
    "referenced_relations",
    "up_section",
]
