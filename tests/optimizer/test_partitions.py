"""Partitioned tables: one index on the parent, built without blocking writes.

A payment table partitioned by date (one partition partitioned again), with a foreign
key declared on the parent and a query on the foreign key's column: one suggestion on
the parent (serving both), ``--apply`` builds it ON ONLY + CONCURRENTLY per partition +
ATTACH, and every index ends valid; the next report finds nothing more to do.
"""

from __future__ import annotations

import json

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.optimization import OptimizerSettings
from personal_assistant.optimizer.models import Kind
from tests.optimizer.conftest import analyze, flush_stats, run_cli

SCHEMA = """
    CREATE TABLE rental (id int PRIMARY KEY, customer_id int NOT NULL);
    INSERT INTO rental SELECT g, g % 500 FROM generate_series(1, 20000) g;
    CREATE TABLE payment (id int NOT NULL, rental_id int NOT NULL REFERENCES rental,
                          paid date NOT NULL, amount numeric NOT NULL)
        PARTITION BY RANGE (paid);
    CREATE TABLE payment_2023 PARTITION OF payment
        FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
    CREATE TABLE payment_2024 PARTITION OF payment
        FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE payment_2025 PARTITION OF payment
        FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY RANGE (paid);
    CREATE TABLE payment_2025_h1 PARTITION OF payment_2025
        FOR VALUES FROM ('2025-01-01') TO ('2025-07-01');
    CREATE TABLE payment_2025_h2 PARTITION OF payment_2025
        FOR VALUES FROM ('2025-07-01') TO ('2026-01-01');
    INSERT INTO payment
        SELECT g, g % 20000 + 1, date '2023-01-01' + g % 1090, g % 50
        FROM generate_series(1, 80000) g;
"""
BY_RENTAL = "SELECT id, amount FROM payment WHERE rental_id = $1"
INDEXES = """
    SELECT c.relname AS "table", i.relname AS index, x.indisvalid AS valid
    FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
    WHERE c.relname LIKE 'payment%' ORDER BY 1
"""


async def plant(db: asyncpg.Connection) -> None:
    await db.execute(SCHEMA)
    await flush_stats(db)
    await db.execute("ANALYZE")
    for i in range(6):
        await db.fetch(BY_RENTAL, i + 1)
    await flush_stats(db)


async def test_one_index_on_the_parent_serves_the_query_and_the_foreign_key(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await plant(db)
    report = await analyze(engine, settings)
    recs = report.of_kind(Kind.MISSING_INDEX, Kind.MISSING_FK_INDEX)
    assert [(r.kind, r.table, r.columns) for r in recs] == [
        (Kind.MISSING_INDEX, "payment", ("rental_id",))
    ]
    (rec,) = recs
    assert "supports foreign key 'payment_rental_id_fkey'" in rec.reason
    assert "ON ONLY" in rec.reason or "partitioned table" in rec.reason
    assert rec.statements == (
        "CREATE INDEX payment_rental_id_idx ON ONLY public.payment (rental_id);",
        "CREATE INDEX CONCURRENTLY payment_2023_rental_id_idx ON public.payment_2023 (rental_id);",
        "ALTER INDEX public.payment_rental_id_idx "
        "ATTACH PARTITION public.payment_2023_rental_id_idx;",
        "CREATE INDEX CONCURRENTLY payment_2024_rental_id_idx ON public.payment_2024 (rental_id);",
        "ALTER INDEX public.payment_rental_id_idx "
        "ATTACH PARTITION public.payment_2024_rental_id_idx;",
        "CREATE INDEX payment_2025_rental_id_idx ON ONLY public.payment_2025 (rental_id);",
        "CREATE INDEX CONCURRENTLY payment_2025_h1_rental_id_idx "
        "ON public.payment_2025_h1 (rental_id);",
        "ALTER INDEX public.payment_2025_rental_id_idx "
        "ATTACH PARTITION public.payment_2025_h1_rental_id_idx;",
        "CREATE INDEX CONCURRENTLY payment_2025_h2_rental_id_idx "
        "ON public.payment_2025_h2 (rental_id);",
        "ALTER INDEX public.payment_2025_rental_id_idx "
        "ATTACH PARTITION public.payment_2025_h2_rental_id_idx;",
        "ALTER INDEX public.payment_rental_id_idx "
        "ATTACH PARTITION public.payment_2025_rental_id_idx;",
    )  # fmt: skip


async def test_apply_leaves_a_valid_index_on_the_parent_and_every_partition(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings, database_url: str
) -> None:
    await plant(db)
    done = run_cli("optimize", "--apply", "missing_index", "--yes", "--json",
                   "--database-url", database_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert [r["table"] for r in outcome["applied"]] == ["payment"] and outcome["failed"] == []
    indexes = await db.fetch(INDEXES)
    assert len(indexes) == 6 and all(r["valid"] for r in indexes), indexes
    assert {r["table"] for r in indexes} == {
        "payment", "payment_2023", "payment_2024", "payment_2025",
        "payment_2025_h1", "payment_2025_h2",
    }  # fmt: skip
    again = await analyze(engine, settings)
    kinds = {r.kind for r in again.recommendations if r.table and r.table.startswith("payment")}
    assert kinds == set(), again.recommendations


async def test_partition_indexes_attached_to_the_parent_are_not_reported_alone(
    engine: AsyncEngine, db: asyncpg.Connection
) -> None:
    await db.execute(SCHEMA)
    await db.execute("CREATE INDEX payment_rental ON payment (rental_id)")
    await db.execute("CREATE INDEX payment_rental_again ON payment (rental_id)")
    aged = OptimizerSettings(unused_index_min_stats_age_hours=0)
    report = await analyze(engine, aged)
    dropped = report.of_kind(Kind.DUPLICATE_INDEX, Kind.UNUSED_INDEX, Kind.REDUNDANT_INDEX)
    assert {r.table for r in dropped} == {"payment"}  # never payment_2023 and friends
    duplicate = report.of_kind(Kind.DUPLICATE_INDEX)[0]
    assert duplicate.sql and duplicate.sql.startswith("DROP INDEX public.payment_rental")
    assert "cannot be dropped CONCURRENTLY" in duplicate.reason
