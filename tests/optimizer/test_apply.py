"""``--apply`` hardened, and the report's formats (text piped, JSON, SQL)."""

from __future__ import annotations

import json

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.optimization import DatabaseOptimizer, OptimizerSettings
from personal_assistant.optimizer.models import Kind, Recommendation
from tests.optimizer.conftest import analyze, flush_stats, run_cli

LOOKUP = "SELECT id, note FROM orders WHERE customer_id = $1"


async def plant(db: asyncpg.Connection, schema: str = "public") -> None:
    await db.execute(f"""
        CREATE SCHEMA IF NOT EXISTS {schema};
        CREATE TABLE {schema}.orders (id int PRIMARY KEY, customer_id int NOT NULL, note text);
        INSERT INTO {schema}.orders
            SELECT g, g % 4000, repeat('n', 30) FROM generate_series(1, 200000) g;
    """)
    await flush_stats(db)
    await db.execute("ANALYZE")
    for i in range(5):
        await db.fetch(LOOKUP.replace("orders", f"{schema}.orders"), i)
    await flush_stats(db)


async def suggestion(engine: AsyncEngine, settings: OptimizerSettings) -> Recommendation:
    (rec,) = (await analyze(engine, settings)).of_kind(Kind.MISSING_INDEX)
    return rec


async def invalid_indexes(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch(
        "SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid"
    )
    return [r["name"] for r in rows]


async def test_a_build_ignores_a_short_database_statement_timeout(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings, database_name: str
) -> None:
    await plant(db)
    rec = await suggestion(engine, settings)
    await db.execute(f'ALTER DATABASE "{database_name}" SET statement_timeout = 5')  # 5 ms
    outcome = await DatabaseOptimizer(engine, settings).apply([rec])
    assert outcome.applied == (rec,) and outcome.failed == ()
    assert await invalid_indexes(db) == []
    assert await db.fetchval("SELECT to_regclass('orders_customer_id_idx') IS NOT NULL")


async def test_a_build_that_fails_drops_the_invalid_index_it_left_and_says_so(
    engine: AsyncEngine, db: asyncpg.Connection, database_dsn: str
) -> None:
    await plant(db)
    settings = OptimizerSettings(apply_lock_timeout_ms=300)
    rec = await suggestion(engine, settings)
    # An open snapshot: CREATE INDEX CONCURRENTLY waits for it after building the
    # (still invalid) index, and gives up at lock_timeout.
    holder = await asyncpg.connect(database_dsn)
    try:
        await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
        outcome = await DatabaseOptimizer(engine, settings).apply([rec])
    finally:
        await holder.close()
    assert outcome.applied == ()
    (failure,) = outcome.failed
    assert "LockNotAvailableError" in failure.error
    assert failure.cleanup == (
        "dropped the invalid index(es) it had created: public.orders_customer_id_idx"
    )
    assert await invalid_indexes(db) == []
    assert await db.fetchval("SHOW lock_timeout") == "0"  # this session untouched


async def test_json_with_apply_lists_what_was_applied_and_what_failed(
    db: asyncpg.Connection, database_url: str, require_extensions: None
) -> None:
    await plant(db)
    done = run_cli("optimize", "--json", "--apply", "missing_index", "--yes",
                   "--database-url", database_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert set(doc) == {"report", "applied", "failed"}
    assert [r["index"] for r in doc["applied"]] == ["orders_customer_id_idx"]
    assert doc["failed"] == [] and "will run" in done.stderr


async def test_sql_format_prints_only_the_statements(
    db: asyncpg.Connection, database_url: str, require_extensions: None
) -> None:
    await plant(db)
    done = run_cli("optimize", "--format", "sql", "--database-url", database_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);"
    )
    refused = run_cli("optimize", "--format", "sql", "--apply", "missing_index",
                      "--database-url", database_url)  # fmt: skip
    assert refused.returncode == 2 and "cannot be combined" in refused.stderr


async def test_the_piped_text_report_never_wraps_inside_sql(
    db: asyncpg.Connection, database_url: str, require_extensions: None
) -> None:
    schema = "schema_name_long_enough_to_push_past_eighty_cols"
    await plant(db, schema)
    done = run_cli("optimize", "--database-url", database_url)
    assert done.returncode == 0, done.stderr
    # The whole statement on one line (it may cover the selected columns: INCLUDE ...).
    head = f"CREATE INDEX CONCURRENTLY orders_customer_id_idx ON {schema}.orders (customer_id)"
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert any(line.startswith(head) and line.endswith(";") for line in lines), done.stdout
    assert "ms/day" in done.stdout
