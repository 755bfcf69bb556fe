"""Every rule id is documented with its own section in docs/migration-safety.md."""

from __future__ import annotations

from pathlib import Path

from personal_assistant.database.migrations.validation import CATALOGUE

DOC = Path(__file__).resolve().parents[3] / "docs" / "migration-safety.md"


def test_every_rule_has_a_documented_section() -> None:
    text = DOC.read_text()
    missing = [rule for rule in CATALOGUE if f"### {rule}\n" not in text]
    assert missing == []
