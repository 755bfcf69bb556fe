"""Table facts read from a real PostgreSQL, and the pure estimates behind them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from personal_assistant.database.migrations.files import parse_migration
from personal_assistant.database.migrations.validation import (
    ColumnType,
    fetch_table_facts,
    lint_against,
    lint_sql,
)
from personal_assistant.database.migrations.validation.facts import (
    RelationStats,
    checked_column,
    decode_type,
    estimate_rows,
)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def test_fetch_reports_rows_columns_and_missing_tables(conn: AsyncConnection) -> None:
    await conn.execute(text("CREATE TABLE big (id bigint, name varchar(100), email text)"))
    await conn.execute(text("INSERT INTO big SELECT g, 'n', 'e' FROM generate_series(1, 20000) g"))
    await conn.execute(text('CREATE TABLE "Small" (x numeric(10, 2))'))
    await conn.execute(text("ANALYZE big"))
    facts = await fetch_table_facts(conn, ["big", "Small", "public.big", "nowhere"])
    big = facts.tables["big"]
    assert big.exists and big.rows is not None and 19_000 <= big.rows <= 21_000
    assert big.size_bytes > 0
    assert big.columns["name"] == ColumnType("varchar", (100,))
    assert facts.tables["public.big"].rows == big.rows
    assert facts.tables["Small"].rows == 0
    assert facts.tables["Small"].columns["x"] == ColumnType("numeric", (10, 2))
    assert not facts.tables["nowhere"].exists


async def test_validated_not_null_check_is_reported(conn: AsyncConnection) -> None:
    await conn.execute(text("CREATE TABLE t (a int, b int NOT NULL, c int)"))
    await conn.execute(text("ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL)"))
    await conn.execute(text("ALTER TABLE t ADD CONSTRAINT c_nn CHECK (c IS NOT NULL) NOT VALID"))
    facts = await fetch_table_facts(conn, ["t"])
    assert facts.tables["t"].not_null_checked == {"a", "b"}


async def test_facts_make_small_table_index_acceptable(conn: AsyncConnection) -> None:
    await conn.execute(text("CREATE TABLE tags (id bigint, label text)"))
    await conn.execute(text("INSERT INTO tags SELECT g, 'x' FROM generate_series(1, 10) g"))
    await conn.execute(text("ANALYZE tags"))
    facts = await fetch_table_facts(conn, ["tags"])
    assert lint_sql("CREATE INDEX i ON tags (label)", facts=facts).ok


async def test_no_names_means_no_query(conn: AsyncConnection) -> None:
    assert (await fetch_table_facts(conn, [])).tables == {}


def test_never_analyzed_table_gets_an_upper_bound() -> None:
    stats = RelationStats("r", reltuples=-1, relpages=0, heap_bytes=8192 * 2, block_size=8192)
    assert estimate_rows(stats) == 2 * 291


def test_estimate_scales_stale_statistics_to_current_size() -> None:
    stats = RelationStats("r", reltuples=1000, relpages=10, heap_bytes=8192 * 100, block_size=8192)
    assert estimate_rows(stats) == 10_000


def test_partitioned_parent_without_statistics_is_unknown() -> None:
    assert estimate_rows(RelationStats("p", -1, 0, 0, 8192)) is None


def test_decode_type_reads_typmods() -> None:
    assert decode_type("varchar", 104) == ColumnType("varchar", (100,))
    assert decode_type("numeric", ((10 << 16) | 2) + 4) == ColumnType("numeric", (10, 2))
    assert decode_type("text", -1) == ColumnType("text")


def test_checked_column_parses_constraint_definitions() -> None:
    assert checked_column("CHECK ((email IS NOT NULL))") == "email"
    assert checked_column("CHECK ((a > 0))") is None


async def test_lint_against_reads_facts_for_the_named_tables(conn: AsyncConnection) -> None:
    await conn.execute(text("CREATE TABLE small (a int)"))
    up = "CREATE INDEX i ON small (a);\nCREATE INDEX j ON later (a);\nTRUNCATE small;"
    file = parse_migration(f"-- migrate:up\n{up}\n", Path("0003_x.sql"))
    result = await lint_against(conn, file)
    assert [(f.path, f.rule, f.line) for f in result.errors] == [
        ("0003_x.sql", "truncating-table", 4)
    ]
