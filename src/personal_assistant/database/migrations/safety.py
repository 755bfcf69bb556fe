"""The validator's gate in front of ``migrate up``.

Pending migrations are linted as they were parsed when loaded (no second read or
parse), with live table facts from the target database (row counts decide whether a
lock is a blip or an outage). Blocking findings stop the run
before anything executes unless ``allow_dangerous``; what was allowed, by a
``-- pa:allow RULE reason`` comment or by ``--allow-dangerous``, is returned per
version so the runner stores it in the tracking row's ``allowed_findings``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from personal_assistant.database.migrations.errors import DangerousMigrationError
from personal_assistant.database.migrations.files import MigrationFile
from personal_assistant.database.migrations.validation.engine import Finding, lint_section
from personal_assistant.database.migrations.validation.facts import fetch_table_facts
from personal_assistant.database.migrations.validation.relations import referenced_relations

ALLOW_DANGEROUS_REASON = "applied with --allow-dangerous"


def _record(finding: Finding, reason: str) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": str(finding.severity.value),
        "line": finding.line,
        "message": finding.message,
        "reason": reason,
    }


async def check_pending(
    conn: AsyncConnection, files: Sequence[MigrationFile], *, allow_dangerous: bool
) -> dict[int, list[dict[str, Any]]]:
    """Lint ``files``; raise :class:`DangerousMigrationError` or return allowed findings.

    The table facts of every file are read in one go, before anything runs (as the
    per-file reads were), so 200 pending files cost two or three queries, not 400.
    """
    relations = referenced_relations([s for file in files for s in file.up.statements])
    facts = await fetch_table_facts(conn, relations)
    allowed: dict[int, list[dict[str, Any]]] = {}
    blocking: list[str] = []
    for file in files:
        result = lint_section(file.up, path=str(file.path), facts=facts)
        records = [_record(f, f.suppressed_reason or "") for f in result.suppressed]
        if allow_dangerous:
            records += [_record(f, ALLOW_DANGEROUS_REASON) for f in result.errors]
        allowed[file.version] = records
        blocking += [f"{f.path}:{f.line}: [{f.rule}] {f.message}" for f in result.errors]
    if blocking and not allow_dangerous:
        raise DangerousMigrationError(blocking)
    return allowed
