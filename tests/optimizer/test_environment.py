"""The optimizer's behaviour around the checks: silence on health, quoting, missing
extensions, read-only bounded queries, snapshot windows and replicas."""

from __future__ import annotations

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.optimization import DatabaseOptimizer, OptimizerSettings
from personal_assistant.optimizer.fetch import read_only
from personal_assistant.optimizer.models import Kind
from tests.fixtures.postgres import ServerInfo, create_database, drop_database
from tests.optimizer.conftest import analyze, flush_stats

HEALTHY = """
    CREATE TABLE customers (id int PRIMARY KEY, email text UNIQUE NOT NULL);
    CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                         customer_id int NOT NULL REFERENCES customers, placed date);
    CREATE INDEX orders_customer_id_idx ON orders (customer_id);
    INSERT INTO customers SELECT g, 'c' || g || '@x' FROM generate_series(1, 2000) g;
    INSERT INTO orders (customer_id, placed)
        SELECT g % 2000 + 1, date '2024-01-01' + g % 300 FROM generate_series(1, 20000) g;
"""


async def test_a_healthy_database_gets_no_recommendation(
    engine: AsyncEngine, db: asyncpg.Connection
) -> None:
    await db.execute(HEALTHY)
    await flush_stats(db)
    await db.execute("ANALYZE")
    for i in range(5):
        await db.fetch("SELECT * FROM orders WHERE customer_id = $1", i + 1)
        await db.fetch("SELECT * FROM customers WHERE email = $1", f"c{i}@x")
    await flush_stats(db)
    strict = OptimizerSettings(unused_index_min_stats_age_hours=0, bloat_min_bytes=0)
    report = await analyze(engine, strict)
    assert report.recommendations == ()
    assert report.unavailable == ()


async def test_hostile_identifiers_are_quoted_in_runnable_sql(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute('''
        CREATE SCHEMA "weird""; DROP TABLE x; --";
        CREATE TABLE x (id int PRIMARY KEY);
        CREATE TABLE "weird""; DROP TABLE x; --"."Parent Table" (id int PRIMARY KEY);
        CREATE TABLE "weird""; DROP TABLE x; --"."Child ""T""" (
            id int PRIMARY KEY,
            "Parent Id" int REFERENCES "weird""; DROP TABLE x; --"."Parent Table");
        INSERT INTO "weird""; DROP TABLE x; --"."Child ""T"""
            SELECT g, NULL FROM generate_series(1, 2000) g;
        ANALYZE;
    ''')
    recs = (await analyze(engine, settings)).of_kind(Kind.MISSING_FK_INDEX)
    assert [(r.schema, r.table, r.columns) for r in recs] == [
        ('weird"; DROP TABLE x; --', 'Child "T"', ("Parent Id",))
    ]
    assert recs[0].sql == (
        'CREATE INDEX CONCURRENTLY "Child ""T""_Parent Id_idx" '
        'ON "weird""; DROP TABLE x; --"."Child ""T""" ("Parent Id");'
    )
    outcome = await DatabaseOptimizer(engine, settings).apply(recs)
    assert outcome.applied == tuple(recs) and not outcome.failed
    assert await db.fetchval("SELECT to_regclass('x')") is not None
    assert not (await analyze(engine, settings)).of_kind(Kind.MISSING_FK_INDEX)


async def test_missing_extensions_are_listed_as_unavailable(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("DROP EXTENSION hypopg; DROP EXTENSION pg_stat_statements")
    await db.execute("CREATE TABLE t (a int)")
    report = await analyze(engine, settings)
    assert [u.split(":")[0] for u in report.unavailable] == ["pg_stat_statements", "hypopg"]
    assert report.of_kind(Kind.MISSING_PRIMARY_KEY)  # the catalog checks still ran


async def test_analysis_runs_read_only_with_a_statement_timeout(engine: AsyncEngine) -> None:
    async with read_only(engine, 1234) as conn:
        assert await conn.fetchval("SHOW transaction_read_only") == "on"
        assert await conn.fetchval("SHOW statement_timeout") == "1234ms"


async def test_windows_come_from_snapshot_differences(
    engine: AsyncEngine, db: asyncpg.Connection
) -> None:
    await db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    for i in range(4):
        await db.fetch("SELECT * FROM t WHERE id = $1", i)
    optimizer = DatabaseOptimizer(engine, OptimizerSettings(window="hour"))
    assert await optimizer.snapshot() >= 1
    await db.execute(
        "UPDATE pa_stat_statements_snapshots SET captured_at = now() - interval '2 hours'"
    )
    for i in range(3):
        await db.fetch("SELECT * FROM t WHERE id = $1", i)
    report = await optimizer.analyze()
    hour = {w["query"]: w["calls"] for w in report.windows["hour"]}
    assert hour["SELECT * FROM t WHERE id = $1"] == 3  # 7 in total, 3 in the window
    assert "day" not in report.windows  # no snapshot a day old yet
    assert {p.statement.calls for p in report.statements} == {3}


async def test_index_scans_on_a_replica_keep_an_index_from_being_unused(
    engine: AsyncEngine, db: asyncpg.Connection, pg_server: ServerInfo
) -> None:
    schema = "CREATE TABLE t (id int PRIMARY KEY, a int); CREATE INDEX t_a ON t (a);"
    await db.execute(schema)
    replica_name = create_database(pg_server, prefix="replica")
    try:
        replica = await asyncpg.connect(pg_server.url(replica_name, driver="postgresql"))
        await replica.execute(schema + "INSERT INTO t SELECT g, g FROM generate_series(1, 5000) g")
        await replica.execute("ANALYZE t")
        await replica.fetch("SELECT * FROM t WHERE a = 5")
        await flush_stats(replica)
        await replica.close()
        aged = {"unused_index_min_stats_age_hours": 0}
        alone = OptimizerSettings(**aged)
        assert {r.index for r in (await analyze(engine, alone)).of_kind(Kind.UNUSED_INDEX)} == {
            "t_a"
        }
        with_replica = OptimizerSettings(**aged, replica_urls=[pg_server.url(replica_name)])
        assert not (await analyze(engine, with_replica)).of_kind(Kind.UNUSED_INDEX)
        gone = OptimizerSettings(**aged, replica_urls=["postgresql://u@127.0.0.1:1/none"])
        report = await analyze(engine, gone)
        assert not report.of_kind(Kind.UNUSED_INDEX)
        assert any("unreachable" in u for u in report.unavailable)
    finally:
        drop_database(pg_server, replica_name)
