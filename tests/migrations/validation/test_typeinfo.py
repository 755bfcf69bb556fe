"""Which type changes rewrite the table."""

from __future__ import annotations

import pytest

from personal_assistant.database.migrations.validation import ColumnType
from personal_assistant.database.migrations.validation.typeinfo import change_is_safe


@pytest.mark.parametrize(
    ("old", "new", "safe"),
    [
        (ColumnType("varchar", (10,)), ColumnType("varchar", (20,)), True),
        (ColumnType("varchar", (10,)), ColumnType("varchar"), True),
        (ColumnType("varchar", (10,)), ColumnType("text"), True),
        (ColumnType("text"), ColumnType("varchar"), True),
        (ColumnType("numeric", (10, 2)), ColumnType("numeric", (12, 2)), True),
        (ColumnType("numeric", (10, 2)), ColumnType("numeric"), True),
        (ColumnType("varchar", (20,)), ColumnType("varchar", (10,)), False),
        (ColumnType("text"), ColumnType("varchar", (10,)), False),
        (ColumnType("numeric", (10, 2)), ColumnType("numeric", (12, 4)), False),
        (ColumnType("numeric"), ColumnType("numeric", (12, 2)), False),
        (ColumnType("int4"), ColumnType("int8"), False),
        (ColumnType("timestamp"), ColumnType("timestamptz"), False),
    ],
)
def test_change_is_safe_only_for_binary_compatible_widening(
    old: ColumnType, new: ColumnType, safe: bool
) -> None:
    assert change_is_safe(old, new) is safe
