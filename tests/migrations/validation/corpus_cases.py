"""Load the labelled corpus: each file says its verdict and the table facts it assumes.

Header lines (before the SQL)::

    -- expect: dangerous | safe
    -- rows: users=5000000, tags=12           table sizes the case assumes
    -- columns: users.name=varchar(100)       current column types
    -- not-null-checked: users.email          validated CHECK (col IS NOT NULL)

Tables a case does not list have no facts, so the validator judges them as large,
exactly as it does without a database. The benchmark imports this module too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pglast import ast, parser

from personal_assistant.database.migrations.validation import (
    ColumnType,
    DatabaseFacts,
    TableFacts,
)
from personal_assistant.database.migrations.validation.typeinfo import column_type

CORPUS_DIR = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class Case:
    path: Path
    dangerous: bool
    facts: DatabaseFacts | None


def _type(spelling: str) -> ColumnType:
    stmt = parser.parse_sql(f"SELECT NULL::{spelling}")[0].stmt
    assert isinstance(stmt, ast.SelectStmt)
    target = stmt.targetList[0].val  # type: ignore[index]
    assert isinstance(target, ast.TypeCast)
    return column_type(target.typeName)


def _pairs(value: str) -> list[tuple[str, str]]:
    return [tuple(item.strip().split("=", 1)) for item in value.split(",")]  # type: ignore[misc]


def load_case(path: Path) -> Case:
    header: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("-- ") or ":" not in line:
            break
        key, _, value = line[3:].partition(":")
        header[key.strip()] = value.strip()
    rows = {t: int(n) for t, n in _pairs(header["rows"])} if "rows" in header else {}
    columns: dict[str, dict[str, ColumnType]] = {}
    for qualified, spelling in _pairs(header.get("columns", "")) if "columns" in header else []:
        table, _, column = qualified.rpartition(".")
        columns.setdefault(table, {})[column] = _type(spelling)
    checked: dict[str, set[str]] = {}
    for qualified in filter(None, header.get("not-null-checked", "").split(",")):
        table, _, column = qualified.strip().rpartition(".")
        checked.setdefault(table, set()).add(column)
    tables = {
        name: TableFacts(
            name,
            rows=rows.get(name),
            columns=columns.get(name, {}),
            not_null_checked=frozenset(checked.get(name, ())),
        )
        for name in {*rows, *columns, *checked}
    }
    return Case(path, header["expect"] == "dangerous", DatabaseFacts(tables) if tables else None)


def load_corpus() -> list[Case]:
    return [load_case(p) for p in sorted(CORPUS_DIR.glob("*.sql"))]
