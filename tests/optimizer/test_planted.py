"""Planted problems on real PostgreSQL: each is reported with runnable SQL, controls are not.

Every test plants one problem next to a healthy control, checks the report, runs the
recommended SQL and checks the problem is gone.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.optimization import OptimizerSettings
from personal_assistant.optimizer.models import Kind, OptimizationReport, Recommendation
from tests.optimizer.conftest import analyze, flush_stats


def only(report: OptimizationReport, kind: Kind) -> list[Recommendation]:
    return report.of_kind(kind)


def tables(recs: list[Recommendation]) -> set[str | None]:
    return {r.table for r in recs}


def indexes(recs: list[Recommendation]) -> set[str | None]:
    return {r.index for r in recs}


async def run_sql(db: asyncpg.Connection, rec: Recommendation) -> None:
    assert rec.sql
    await db.execute(rec.sql)  # simple protocol: multi-statement SQL allowed


async def test_missing_fk_index_is_reported_and_fixed(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("""
        CREATE TABLE parent (id int PRIMARY KEY);
        INSERT INTO parent SELECT generate_series(1, 100);
        CREATE TABLE child_bare (id int PRIMARY KEY, parent_id int REFERENCES parent);
        CREATE TABLE child_indexed (id int PRIMARY KEY, parent_id int REFERENCES parent);
        CREATE INDEX ON child_indexed (parent_id);
        INSERT INTO child_bare SELECT g, g % 100 + 1 FROM generate_series(1, 5000) g;
        INSERT INTO child_indexed SELECT g, g % 100 + 1 FROM generate_series(1, 5000) g;
        ANALYZE;
    """)
    recs = only(await analyze(engine, settings), Kind.MISSING_FK_INDEX)
    assert tables(recs) == {"child_bare"}
    assert recs[0].columns == ("parent_id",)
    assert recs[0].sql == (
        "CREATE INDEX CONCURRENTLY child_bare_parent_id_idx ON public.child_bare (parent_id);"
    )
    await run_sql(db, recs[0])
    assert not only(await analyze(engine, settings), Kind.MISSING_FK_INDEX)


async def test_duplicate_index_is_reported_and_fixed(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("""
        CREATE TABLE t (id int PRIMARY KEY, a int, b int);
        CREATE INDEX t_a_one ON t (a);
        CREATE INDEX t_a_two ON t (a);
        CREATE INDEX t_b_btree ON t (b);
        CREATE INDEX t_b_hash ON t USING hash (b);
        CREATE INDEX t_b_partial ON t (b) WHERE b > 0;
    """)
    recs = only(await analyze(engine, settings), Kind.DUPLICATE_INDEX)
    assert len(recs) == 1 and indexes(recs) <= {"t_a_one", "t_a_two"}
    await run_sql(db, recs[0])
    assert not only(await analyze(engine, settings), Kind.DUPLICATE_INDEX)


async def test_redundant_prefix_index_is_reported_and_fixed(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("""
        CREATE TABLE t (id int PRIMARY KEY, a int, b int, c int);
        CREATE INDEX t_a ON t (a);
        CREATE INDEX t_a_b ON t (a, b);
        CREATE UNIQUE INDEX t_c_unique ON t (c);
        CREATE INDEX t_c_a ON t (c, a);
        CREATE INDEX t_b ON t (b);
    """)
    recs = only(await analyze(engine, settings), Kind.REDUNDANT_INDEX)
    assert indexes(recs) == {"t_a"}
    assert recs[0].sql == "DROP INDEX CONCURRENTLY public.t_a;"
    await run_sql(db, recs[0])
    assert not only(await analyze(engine, settings), Kind.REDUNDANT_INDEX)


async def test_unused_index_is_reported_and_fixed_once_statistics_are_old_enough(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("""
        CREATE TABLE parent (id int PRIMARY KEY);
        CREATE TABLE t (id int PRIMARY KEY, a int, b int, email text UNIQUE,
                        parent_id int REFERENCES parent);
        CREATE INDEX t_a_unused ON t (a);
        CREATE INDEX t_b_used ON t (b);
        CREATE INDEX t_parent ON t (parent_id);
        INSERT INTO t (id, a, b) SELECT g, g, g FROM generate_series(1, 20000) g;
        ANALYZE t;
    """)
    await db.fetch("SELECT * FROM t WHERE b = 5")
    await flush_stats(db)
    # Fresh statistics (this cluster started minutes ago): nothing is called unused.
    assert not only(await analyze(engine, settings), Kind.UNUSED_INDEX)
    aged = settings.model_copy(update={"unused_index_min_stats_age_hours": 0})
    recs = only(await analyze(engine, aged), Kind.UNUSED_INDEX)
    # Not the used one, the unique/primary ones, or the FK's only support.
    assert indexes(recs) == {"t_a_unused"}
    await run_sql(db, recs[0])
    assert not only(await analyze(engine, aged), Kind.UNUSED_INDEX)


async def test_invalid_index_is_reported_and_fixed(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("""
        CREATE TABLE t (id int PRIMARY KEY, a int);
        INSERT INTO t SELECT g, g % 10 FROM generate_series(1, 1000) g;
        CREATE INDEX t_id_a ON t (id, a);
    """)
    try:
        await db.execute("CREATE UNIQUE INDEX CONCURRENTLY t_a_broken ON t (a)")
    except asyncpg.UniqueViolationError:
        pass  # leaves an INVALID index behind, as in production
    recs = only(await analyze(engine, settings), Kind.INVALID_INDEX)
    assert indexes(recs) == {"t_a_broken"}
    await run_sql(db, recs[0])
    assert not only(await analyze(engine, settings), Kind.INVALID_INDEX)


async def test_missing_primary_key_is_reported_and_fixed(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("""
        CREATE TABLE no_pk (a int, b text);
        INSERT INTO no_pk SELECT g, 'x' FROM generate_series(1, 100) g;
        CREATE TABLE with_pk (id int PRIMARY KEY);
    """)
    recs = only(await analyze(engine, settings), Kind.MISSING_PRIMARY_KEY)
    assert tables(recs) == {"no_pk"}
    await run_sql(db, recs[0])
    assert not only(await analyze(engine, settings), Kind.MISSING_PRIMARY_KEY)


async def test_vacuum_needed_is_reported_and_fixed(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("""
        CREATE TABLE churned (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false);
        CREATE TABLE steady (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false);
        INSERT INTO churned SELECT g, 'x' FROM generate_series(1, 10000) g;
        INSERT INTO steady SELECT g, 'x' FROM generate_series(1, 10000) g;
        ANALYZE churned, steady;
        DELETE FROM churned WHERE id % 2 = 0;
        DELETE FROM steady WHERE id % 100 = 0;
    """)
    await flush_stats(db)
    report = await analyze(engine, settings)
    recs = only(report, Kind.VACUUM_NEEDED)
    assert tables(recs) == {"churned"}
    assert "5,000 dead rows" in recs[0].reason
    assert recs[0].sql == "VACUUM (ANALYZE) public.churned;"
    assert "churned" not in tables(only(report, Kind.ANALYZE_NEEDED))
    await run_sql(db, recs[0])
    await flush_stats(db)
    assert not only(await analyze(engine, settings), Kind.VACUUM_NEEDED)


async def test_analyze_needed_is_reported_and_fixed(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("""
        CREATE TABLE fresh (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
        CREATE TABLE known (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
        INSERT INTO fresh SELECT generate_series(1, 5000);
        INSERT INTO known SELECT generate_series(1, 5000);
    """)
    await flush_stats(db)  # else the pending insert counts land after ANALYZE's reset
    await db.execute("ANALYZE known")
    await flush_stats(db)
    recs = only(await analyze(engine, settings), Kind.ANALYZE_NEEDED)
    assert tables(recs) == {"fresh"}
    assert "never analyzed" in recs[0].reason
    await run_sql(db, recs[0])
    await flush_stats(db)
    assert not only(await analyze(engine, settings), Kind.ANALYZE_NEEDED)


async def test_sequence_exhaustion_is_reported_for_int_and_bigint_sequences(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("""
        CREATE TABLE small_serial (id serial PRIMARY KEY);
        CREATE TABLE big_seq_int_col (id int PRIMARY KEY);
        CREATE SEQUENCE wide_seq AS bigint OWNED BY big_seq_int_col.id;
        ALTER TABLE big_seq_int_col ALTER COLUMN id SET DEFAULT nextval('wide_seq');
        CREATE TABLE healthy (id serial PRIMARY KEY);
        SELECT setval('small_serial_id_seq', 1900000000);
        SELECT setval('wide_seq', 2000000000);
        SELECT setval('healthy_id_seq', 1000);
    """)
    recs = only(await analyze(engine, settings), Kind.SEQUENCE_EXHAUSTION)
    assert tables(recs) == {"small_serial", "big_seq_int_col"}
    by_table = {r.table: r for r in recs}
    assert by_table["small_serial"].sql == (
        "ALTER TABLE public.small_serial ALTER COLUMN id TYPE bigint; "
        "ALTER SEQUENCE public.small_serial_id_seq AS bigint;"
    )
    assert by_table["big_seq_int_col"].severity == "critical"  # 93 % of int4
    for rec in recs:
        await run_sql(db, rec)
    assert not only(await analyze(engine, settings), Kind.SEQUENCE_EXHAUSTION)


async def test_table_bloat_is_reported_and_fixed(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    await db.execute("""
        CREATE TABLE bloated (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false);
        CREATE TABLE compact (id int PRIMARY KEY, pad text);
        INSERT INTO bloated SELECT g, repeat('x', 80) FROM generate_series(1, 100000) g;
        INSERT INTO compact SELECT g, repeat('x', 80) FROM generate_series(1, 100000) g;
        DELETE FROM bloated WHERE id % 10 <> 0;
    """)
    await db.execute("VACUUM ANALYZE bloated")  # empties pages but keeps them
    await db.execute("VACUUM ANALYZE compact")
    recs = only(await analyze(engine, settings), Kind.TABLE_BLOAT)
    assert tables(recs) == {"bloated"}
    assert recs[0].sql == "VACUUM (FULL, ANALYZE) public.bloated;"
    await run_sql(db, recs[0])
    assert not only(await analyze(engine, settings), Kind.TABLE_BLOAT)


async def test_low_cache_hit_ratio_is_reported_for_a_table_read_from_disk(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    shared = await db.fetchval(
        "SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'"
    )
    rows = int(shared * 0.4 / 120)  # larger than a quarter of shared_buffers: ring buffer
    await db.execute(f"""
        CREATE TABLE big_scan AS
            SELECT g AS id, repeat('x', 80) AS pad FROM generate_series(1, {rows}) g;
        ALTER TABLE big_scan ADD PRIMARY KEY (id);
        CREATE TABLE hot (id int PRIMARY KEY, v int);
        INSERT INTO hot SELECT g, g FROM generate_series(1, 1000) g;
        ANALYZE big_scan, hot;
    """)
    for _ in range(2):
        await db.fetchval("SELECT count(*) FROM big_scan WHERE pad <> 'y'")
    for _ in range(300):
        await db.fetchval("SELECT count(*) FROM hot")
    await flush_stats(db)
    recs = only(await analyze(engine, settings), Kind.LOW_CACHE_HIT_RATIO)
    assert tables(recs) == {"big_scan"}
    assert "shared buffers" in recs[0].reason
