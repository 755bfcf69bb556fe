"""Identifier quoting in generated SQL."""

from __future__ import annotations

from personal_assistant.optimizer.identifiers import column_list, qualified, quote


def test_plain_names_stay_bare() -> None:
    assert qualified("public", "orders") == "public.orders"


def test_hostile_names_become_one_quoted_identifier() -> None:
    assert quote('weird"; DROP TABLE x; --') == '"weird""; DROP TABLE x; --"'
    assert quote("Orders") == '"Orders"'
    assert quote("user") == '"user"'
    assert quote("two words") == '"two words"'
    assert column_list(["a", "B c"]) == '(a, "B c")'
