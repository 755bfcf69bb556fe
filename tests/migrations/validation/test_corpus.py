"""Every labelled corpus file gets its expected verdict (blocked or not)."""

from __future__ import annotations

import pytest

from personal_assistant.database.migrations.validation import lint_file
from tests.migrations.validation.corpus_cases import Case, load_corpus

CASES = load_corpus()


def test_corpus_is_large_enough_and_mixed() -> None:
    assert len(CASES) >= 40
    assert {case.dangerous for case in CASES} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=[c.path.stem for c in CASES])
def test_corpus_file_gets_its_expected_verdict(case: Case) -> None:
    result = lint_file(case.path, facts=case.facts)
    blocked = bool(result.errors)
    assert blocked == case.dangerous, [
        (f.rule, f.severity.value, f.message) for f in result.findings
    ]
