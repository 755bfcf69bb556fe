"""The one identifier-quoting helper: bare when safe, one quoted identifier otherwise."""

from __future__ import annotations

import pytest

from personal_assistant.database.identifiers import qualified, quote_identifier


@pytest.mark.parametrize("name", ["orders", "user_roles", "_x", "t2"])
def test_plain_lower_case_words_stay_bare(name: str) -> None:
    assert quote_identifier(name) == name


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("user", '"user"'),  # reserved word
        ("Orders", '"Orders"'),  # mixed case
        ("1abc", '"1abc"'),  # leading digit
        ("a$b", '"a$b"'),  # legal for PostgreSQL, still quoted: not a plain word
        ('x"; DROP TABLE y; --', '"x""; DROP TABLE y; --"'),
    ],
)
def test_anything_else_becomes_one_quoted_identifier(name: str, quoted: str) -> None:
    assert quote_identifier(name) == quoted


def test_qualified_quotes_each_part_on_its_own() -> None:
    assert qualified("public", "Orders") == 'public."Orders"'
