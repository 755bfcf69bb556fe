"""Run the rules over a migration: statements in order, state carried along.

This is the only place that knows about files and suppressions; rules only see one
statement and its :class:`RuleContext`. Statements arrive parsed (by
:mod:`personal_assistant.database.migrations.sql_parse`, with their ``-- pa:allow``
comments): ``migrate up`` hands over the sections it has already parsed, and the
``lint_*`` conveniences for text parse it once through the same parser.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from personal_assistant.database.migrations.files import Section, up_section
from personal_assistant.database.migrations.sql_parse import Allow, Statement, parse_statements
from personal_assistant.database.migrations.validation.context import (
    DatabaseFacts,
    LintSettings,
    MigrationState,
    RuleContext,
    Severity,
)
from personal_assistant.database.migrations.validation.identifier_rules import check_identifiers
from personal_assistant.database.migrations.validation.rules import CATALOGUE, check_statement
from personal_assistant.database.migrations.validation.tracking import advance
from personal_assistant.database.migrations.validation.verdicts import Violation

DEFAULT_SETTINGS = LintSettings()


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one statement of one file.

    ``suppressed_reason`` is set when a ``-- pa:allow`` comment allowed it; the manager
    stores it with the applied migration so the decision stays on record.
    """

    rule: str
    severity: Severity
    path: str
    line: int
    message: str
    hint: str
    suppressed_reason: str | None = None

    @property
    def blocking(self) -> bool:
        """``True`` when this finding stops ``migrate up``."""
        return self.severity is Severity.ERROR and self.suppressed_reason is None


@dataclass(frozen=True)
class LintResult:
    """All findings for one file (or SQL string), suppressed ones included."""

    path: str
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings that block the migration."""
        return tuple(f for f in self.findings if f.blocking)

    @property
    def active(self) -> tuple[Finding, ...]:
        """Findings not allowed by a ``-- pa:allow`` comment."""
        return tuple(f for f in self.findings if f.suppressed_reason is None)

    @property
    def suppressed(self) -> tuple[Finding, ...]:
        """Findings allowed by a ``-- pa:allow`` comment, with their reasons."""
        return tuple(f for f in self.findings if f.suppressed_reason is not None)

    @property
    def ok(self) -> bool:
        """``True`` when nothing blocks the migration."""
        return not self.errors


def _invalid_allows(allows: tuple[Allow, ...], path: str) -> Iterator[Finding]:
    for allow in allows:
        if allow.rule not in CATALOGUE:
            problem, severity = f"names unknown rule {allow.rule!r}", Severity.WARNING
        elif not allow.reason:
            problem, severity = "has no reason, so it allows nothing", Severity.ERROR
        else:
            continue
        yield Finding(
            "invalid-suppression",
            severity,
            path,
            allow.line,
            f"'-- pa:allow {allow.rule}' {problem}",
            "-- pa:allow <rule-id> <why this is safe here>",
        )


def _finding(v: Violation, stmt: Statement, path: str) -> Finding:
    reason = next((a.reason for a in stmt.allows if a.rule == v.rule and a.reason), None)
    return Finding(v.rule, v.severity, path, stmt.line, v.message, v.hint, reason)


def lint_statements(
    statements: tuple[Statement, ...],
    *,
    path: str = "<string>",
    in_transaction: bool = True,
    facts: DatabaseFacts | None = None,
    settings: LintSettings = DEFAULT_SETTINGS,
) -> LintResult:
    """Judge already-parsed statements."""
    state = MigrationState()
    findings: list[Finding] = []
    for stmt in statements:
        ctx = RuleContext(facts, settings, state, in_transaction)
        findings.extend(_finding(v, stmt, path) for v in check_statement(stmt.node, ctx))
        # Read from the tokens: the parse tree already holds the truncated names.
        findings.extend(_finding(v, stmt, path) for v in check_identifiers(stmt.sql))
        findings.extend(_invalid_allows(stmt.allows, path))
        state = advance(state, stmt.node)
    return LintResult(path, tuple(findings))


def lint_sql(
    sql: str,
    *,
    path: str = "<string>",
    in_transaction: bool = True,
    facts: DatabaseFacts | None = None,
    settings: LintSettings = DEFAULT_SETTINGS,
    first_line: int = 1,
) -> LintResult:
    """Lint SQL that runs as one migration step.

    ``first_line`` is the file line where ``sql`` starts, so findings point into the
    file. Raises :class:`MigrationParseError` when the SQL does not parse.
    """
    statements = parse_statements(sql, path=path, first_line=first_line)
    return lint_statements(
        statements, path=path, in_transaction=in_transaction, facts=facts, settings=settings
    )


def lint_section(
    section: Section,
    *,
    path: str = "<string>",
    facts: DatabaseFacts | None = None,
    settings: LintSettings = DEFAULT_SETTINGS,
) -> LintResult:
    """Judge a parsed section (``MigrationFile.up``): how ``migrate up`` lints, no re-parse."""
    return lint_statements(
        section.statements,
        path=path,
        in_transaction=section.in_transaction,
        facts=facts,
        settings=settings,
    )


def lint_text(
    text: str,
    *,
    path: str = "<string>",
    facts: DatabaseFacts | None = None,
    settings: LintSettings = DEFAULT_SETTINGS,
) -> LintResult:
    """Lint the ``up`` section of a migration file's text (a plain file is all ``up``)."""
    return lint_section(up_section(text, path), path=path, facts=facts, settings=settings)


def lint_file(
    path: str | Path,
    facts: DatabaseFacts | None = None,
    settings: LintSettings = DEFAULT_SETTINGS,
) -> LintResult:
    """Read and lint one migration or plain ``.sql`` file."""
    file = Path(path)
    return lint_text(
        file.read_text(encoding="utf-8"), path=str(file), facts=facts, settings=settings
    )
