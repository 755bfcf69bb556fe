"""Identifiers longer than PostgreSQL keeps: silently truncated to 63 bytes.

PostgreSQL cuts every identifier to ``NAMEDATALEN - 1`` = 63 bytes (bytes, not
characters) and only says so in a NOTICE. The object then exists under another name
than the one in the migration, ORMs and later migrations that spell it out in full can
disagree with ``pg_dump``, and two long names with one prefix collide. squawk calls
the rule ``identifier-too-long`` too.

The truncation happens in PostgreSQL's scanner, so the parse tree already holds the
short name: this rule reads the statement's tokens (pglast's scanner, the same one)
instead, where identifiers keep their full spelling. String constants, dollar-quoted
bodies and comments are other tokens and are never taken for identifiers.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import parser

from personal_assistant.database.migrations.validation.context import Severity
from personal_assistant.database.migrations.validation.verdicts import Violation

#: ``NAMEDATALEN - 1``: the bytes of an identifier PostgreSQL keeps.
MAX_IDENTIFIER_BYTES = 63


def _identifier(token: str) -> str:
    """An ``IDENT`` token's name: quotes removed, or folded to lower case like PostgreSQL."""
    if token.startswith('"') and token.endswith('"') and len(token) > 1:
        return token[1:-1].replace('""', '"')
    return token.lower()


def identifiers(sql: str) -> Iterator[str]:
    """Every identifier of ``sql`` as written (unparseable text yields nothing)."""
    try:
        tokens = parser.scan(sql)
    except parser.ParseError:
        return
    for token in tokens:
        if token.name == "IDENT":
            yield _identifier(sql[token.start : token.end + 1])


def truncated(name: str) -> str:
    """``name`` as PostgreSQL keeps it: 63 bytes, never cutting a character in two."""
    return name.encode("utf-8")[:MAX_IDENTIFIER_BYTES].decode("utf-8", errors="ignore")


def check_identifiers(sql: str) -> Iterator[Violation]:
    """One warning per distinct identifier of the statement longer than 63 bytes."""
    seen: set[str] = set()
    for name in identifiers(sql):
        size = len(name.encode("utf-8"))
        if name in seen or size <= MAX_IDENTIFIER_BYTES:
            continue
        seen.add(name)
        short = truncated(name)
        yield Violation(
            "identifier-too-long",
            Severity.WARNING,
            f"{name} is {size} bytes: PostgreSQL keeps the first {MAX_IDENTIFIER_BYTES} "
            f"and names it {short}, saying so only in a NOTICE",
            f"use a name of at most {MAX_IDENTIFIER_BYTES} bytes, e.g. {short}",
        )
