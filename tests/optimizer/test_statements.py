"""Statement analysis on real PostgreSQL: slow queries and HypoPG-proven index suggestions."""

from __future__ import annotations

import time

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.optimization import DatabaseOptimizer, OptimizerSettings
from personal_assistant.optimizer.models import Kind
from tests.optimizer.conftest import analyze

LOOKUP = "SELECT id, total FROM orders WHERE customer_id = $1"
BY_PK = "SELECT id, total FROM orders WHERE id = $1"


async def plant_orders(db: asyncpg.Connection) -> None:
    await db.execute("""
        CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL,
                             total numeric NOT NULL, note text);
        INSERT INTO orders
            SELECT g, g % 5000, g % 997, repeat('n', 40) FROM generate_series(1, 200000) g;
        CREATE TABLE tiny (id int PRIMARY KEY, code int);
        INSERT INTO tiny SELECT g, g FROM generate_series(1, 20) g;
    """)
    await db.execute("ANALYZE orders, tiny")


async def median_ms(db: asyncpg.Connection, query: str, *args: object, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await db.fetch(query, *args)
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


async def test_missing_index_is_proven_with_hypopg_and_speeds_up_the_query(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await plant_orders(db)
    before_ms = await median_ms(db, LOOKUP, 42)
    for i in range(5):
        await db.fetch(BY_PK, i)  # control: already indexed
        await db.fetch("SELECT * FROM tiny WHERE code = $1", i)  # control: too small
    report = await analyze(engine, settings)
    recs = report.of_kind(Kind.MISSING_INDEX)
    assert [(r.table, r.columns) for r in recs] == [("orders", ("customer_id",))]
    rec = recs[0]
    assert rec.estimated_cost_before and rec.estimated_cost_after
    assert rec.estimated_cost_after <= rec.estimated_cost_before * 0.5
    assert rec.sql == (
        "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);"
    )

    outcome = await DatabaseOptimizer(engine, settings).apply(recs)
    assert outcome.applied == tuple(recs)
    after_ms = await median_ms(db, LOOKUP, 42)
    assert after_ms < before_ms / 2, (before_ms, after_ms)
    assert not (await analyze(engine, settings)).of_kind(Kind.MISSING_INDEX)


async def test_slow_query_is_reported_with_plan_and_filtered_columns(
    engine: AsyncEngine, db: asyncpg.Connection
) -> None:
    await plant_orders(db)
    for i in range(3):
        await db.fetch(LOOKUP, i)
        await db.fetch(BY_PK, i)
    slow = OptimizerSettings(slow_query_mean_ms=2.0)
    report = await analyze(engine, slow)
    recs = report.of_kind(Kind.SLOW_QUERY)
    assert [r.columns for r in recs] == [("customer_id",)]
    assert recs[0].table == "orders"
    assert "Seq Scan on orders" in recs[0].reason
    planned = {p.statement.query: p for p in report.statements}
    assert planned[LOOKUP].columns[0].column == "customer_id"


async def test_optimizer_queries_leave_pg_stat_statements_and_the_schema_alone(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await plant_orders(db)
    for i in range(3):
        await db.fetch(LOOKUP, i)
    count = "SELECT sum(calls) FROM pg_stat_statements WHERE query = $1"
    calls_before = await db.fetchval(count, LOOKUP)
    report = await analyze(engine, settings)
    assert await db.fetchval(count, LOOKUP) == calls_before  # never reset, never run
    assert await db.fetchval("SELECT to_regclass('pa_stat_statements_snapshots')") is None
    assert await db.fetchval("SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'") == 1
    assert all(not p.statement.query.startswith("/* pa:") for p in report.statements)


async def test_a_statement_that_no_longer_plans_is_noted_and_the_rest_still_run(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await plant_orders(db)
    await db.execute("CREATE TABLE gone (id int, v int)")
    for i in range(3):
        await db.fetch("SELECT * FROM gone WHERE v = $1", i)
        await db.fetch(LOOKUP, i)
    await db.execute("DROP TABLE gone")
    report = await analyze(engine, settings)
    assert any("could not plan" in n and "UndefinedTableError" in n for n in report.notes)
    assert [r.table for r in report.of_kind(Kind.MISSING_INDEX)] == ["orders"]


async def test_an_index_that_would_not_pay_for_its_writes_is_left_out_with_a_note(
    engine: AsyncEngine, db: asyncpg.Connection
) -> None:
    await plant_orders(db)
    await db.execute("CREATE TABLE quiet (LIKE orders INCLUDING ALL)")
    await db.execute("INSERT INTO quiet SELECT * FROM orders")
    await db.execute("ANALYZE quiet")
    await db.execute("SELECT pg_stat_force_next_flush()")  # the copy lands before the window
    optimizer = DatabaseOptimizer(engine, OptimizerSettings(window="hour"))
    await optimizer.snapshot()
    await db.execute("""
        UPDATE pa_stat_tables_snapshots SET captured_at = now() - interval '2 hours';
        UPDATE pa_stat_statements_snapshots SET captured_at = now() - interval '2 hours';
    """)
    await db.execute(  # 200,000 index writes in the window on orders, none on quiet
        "INSERT INTO orders SELECT g, g % 5000, 1, 'n' FROM generate_series(200001, 400000) g"
    )
    for i in range(3):
        await db.fetch(LOOKUP, i)
        await db.fetch(LOOKUP.replace("orders", "quiet"), i)
    await db.execute("SELECT pg_stat_force_next_flush()")
    report = await optimizer.analyze()
    assert [r.table for r in report.of_kind(Kind.MISSING_INDEX)] == ["quiet"], report.notes
    assert any(
        "public.orders (customer_id) would save about" in n and "in index maintenance" in n
        for n in report.notes
    ), report.notes
    (rec,) = report.of_kind(Kind.MISSING_INDEX)
    assert rec.write_cost_ms_per_day == 0 and rec.saved_ms_per_day
