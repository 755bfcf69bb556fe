"""The shape of a rule's verdict and the helpers every rule module shares.

Kept apart from :mod:`.rules` so rule modules can import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast
from pglast.stream import RawStream, maybe_double_quote_name

from personal_assistant.database.migrations.validation.context import RuleContext, Severity

_ERROR, _INFO = Severity.ERROR, Severity.INFO


@dataclass(frozen=True)
class Violation:
    """A rule's verdict before the engine adds file, line and suppression."""

    rule: str
    severity: Severity
    message: str
    hint: str


def sql(node: ast.Node) -> str:
    """Deparse ``node`` back to SQL, for hints that show the statement to write."""
    return str(RawStream()(node))


def ident(name: str) -> str:
    """Quote ``name`` for a hint only when PostgreSQL would need it."""
    return ".".join(maybe_double_quote_name(part) for part in name.split("."))


def gated(ctx: RuleContext, table: str, rule: str, message: str, hint: str) -> Violation:
    """An error on a large (or unknown) table, an info note on a small or new one."""
    size = ctx.size(table)
    if size.large:
        return Violation(rule, _ERROR, f"{message} ({size.reason})", hint)
    return Violation(rule, _INFO, f"{message}; allowed because {size.reason}", hint)


def in_transaction(ctx: RuleContext, what: str) -> Violation:
    """``CONCURRENTLY`` (and friends) inside the transaction the runner opens."""
    return Violation(
        "concurrently-in-transaction",
        _ERROR,
        f"{what} cannot run inside a transaction block; the migration would fail",
        "put the statement in its own migration whose first line is '-- migrate:no-transaction'",
    )
