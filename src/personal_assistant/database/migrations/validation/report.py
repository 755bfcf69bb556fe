"""Render lint results for people (text) and for tools (JSON).

Pure functions from results to strings, so the CLI only prints and picks an exit code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from personal_assistant.database.migrations.validation.context import Severity
from personal_assistant.database.migrations.validation.engine import Finding, LintResult


def _text_finding(finding: Finding) -> list[str]:
    head = f"{finding.path}:{finding.line}: {finding.severity.value} [{finding.rule}]"
    lines = [f"{head} {finding.message}"]
    if finding.severity is not Severity.INFO:
        lines.append(f"    safe alternative: {finding.hint}")
    return lines


def summary(results: Sequence[LintResult]) -> dict[str, int]:
    """Counts over all files: what the last line of the text report says."""
    active = [f for r in results for f in r.active]
    return {
        "files": len(results),
        "errors": sum(f.severity is Severity.ERROR for f in active),
        "warnings": sum(f.severity is Severity.WARNING for f in active),
        "info": sum(f.severity is Severity.INFO for f in active),
        "suppressed": sum(len(r.suppressed) for r in results),
    }


def render_text(results: Sequence[LintResult], notes: Sequence[str] = ()) -> str:
    """``file:line: severity [rule] why`` plus the safe alternative, one block each;
    ``notes`` (e.g. that sizes were guessed) come last, before the counts."""
    lines: list[str] = []
    for result in results:
        for finding in result.active:
            lines.extend(_text_finding(finding))
        for finding in result.suppressed:
            lines.append(
                f"{finding.path}:{finding.line}: allowed [{finding.rule}] "
                f"{finding.suppressed_reason}"
            )
    lines.extend(f"note: {note}" for note in notes)
    counts = summary(results)
    lines.append(
        f"{counts['errors']} error(s), {counts['warnings']} warning(s), "
        f"{counts['suppressed']} allowed, in {counts['files']} file(s)"
    )
    return "\n".join(lines)


def _json_finding(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": finding.severity.value,
        "line": finding.line,
        "message": finding.message,
        "hint": finding.hint,
    }


def render_json(results: Sequence[LintResult], notes: Sequence[str] = ()) -> str:
    """``{"files": [{"path", "findings": [...], "suppressed": [...]}], "summary": {...},
    "notes": [...]}``."""
    files = [
        {
            "path": result.path,
            "findings": [_json_finding(f) for f in result.active],
            "suppressed": [
                {**_json_finding(f), "reason": f.suppressed_reason} for f in result.suppressed
            ],
        }
        for result in results
    ]
    return json.dumps({"files": files, "summary": summary(results), "notes": list(notes)}, indent=2)
