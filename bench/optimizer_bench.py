"""Benchmark: ``DatabaseOptimizer.analyze()`` on 1,000 tables and 3,000 indexes.

Creates a fresh database with N tables (primary key + two secondary indexes each,
a foreign key on every other table, a few rows and recorded statements), then times
``analyze()`` (median of 3) against the reference: the raw catalog queries alone
(pg_stat_user_tables + pg_stat_user_indexes + pg_index joins) over asyncpg. The
difference is the optimizer's own overhead. The target is under 5 s.

    .venv/bin/python bench/optimizer_bench.py                 # throwaway cluster
    .venv/bin/python bench/optimizer_bench.py --database-url postgresql://...
    .venv/bin/python bench/optimizer_bench.py --smoke --out /tmp/x

Writes ``optimizer.json`` and ``optimizer.png`` to ``--out`` (bench/results/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personal_assistant.config.optimization import (  # noqa: E402
    DatabaseOptimizer,
    OptimizerSettings,
)

TARGET_S = 5.0
RUNS = 3

#: The reference: what any index report has to read, with nothing done on top.
RAW_CATALOG = """
SELECT s.relid, s.n_live_tup, s.n_dead_tup, s.seq_scan, s.idx_scan,
       i.indexrelid, i.idx_scan AS index_scans, x.indisunique, x.indisvalid, x.indkey,
       pg_relation_size(i.indexrelid) AS size
FROM pg_stat_user_tables s
JOIN pg_stat_user_indexes i ON i.relid = s.relid
JOIN pg_index x ON x.indexrelid = i.indexrelid
"""


def schema_sql(tables: int) -> list[str]:
    """One batch per 100 tables: 3 indexes per table, an FK on every other table."""
    batches, batch = [], []
    for n in range(tables):
        fk = f", parent_id int REFERENCES t{n - 1}" if n % 2 and n else ""
        batch.append(
            f"CREATE TABLE t{n} (id int PRIMARY KEY, a int, b int, c text{fk});"
            f"CREATE INDEX t{n}_a ON t{n} (a); CREATE INDEX t{n}_b_c ON t{n} (b, c);"
            f"INSERT INTO t{n} (id, a, b, c) SELECT g, g, g, 'x' FROM generate_series(1, 5) g;"
        )
        if len(batch) == 100:
            batches.append("".join(batch))
            batch = []
    if batch:
        batches.append("".join(batch))
    return batches


async def build(dsn: str, tables: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for sql in schema_sql(tables):
            await conn.execute(sql)
        await conn.execute("ANALYZE")
        for n in range(min(tables, 50)):
            for i in range(3):
                await conn.fetch(f"SELECT * FROM t{n} WHERE c = $1 ORDER BY a", str(i))
    finally:
        await conn.close()


async def time_optimizer(url: str) -> list[float]:
    engine = create_async_engine(url, poolclass=NullPool)
    optimizer = DatabaseOptimizer(engine, OptimizerSettings(statement_timeout_ms=30_000))
    times = []
    try:
        for _ in range(RUNS):
            start = time.perf_counter()
            report = await optimizer.analyze()
            times.append(time.perf_counter() - start)
        print(f"  last report: {len(report.recommendations)} recommendations")
    finally:
        await engine.dispose()
    return times


async def time_raw(dsn: str) -> list[float]:
    conn = await asyncpg.connect(dsn)
    times = []
    try:
        for _ in range(RUNS):
            start = time.perf_counter()
            await conn.fetch(RAW_CATALOG)
            times.append(time.perf_counter() - start)
    finally:
        await conn.close()
    return times


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["raw catalog queries\n(asyncpg)", "DatabaseOptimizer.analyze()"]
    values = [result["raw_median_s"], result["optimizer_median_s"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(labels, values, color=["#8da0cb", "#fc8d62"])
    ax.bar_label(bars, labels=[f"{v:.3f} s" for v in values])
    ax.axhline(TARGET_S, color="red", linestyle="--", label=f"target {TARGET_S:g} s")
    ax.set_ylabel("median seconds (3 runs)")
    ax.set_title(f"Optimizer analysis: {result['tables']} tables, {result['indexes']} indexes")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(admin_dsn: str, tables: int, out: Path) -> dict[str, Any]:
    import psycopg
    from psycopg import sql

    name = f"bench_opt_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = "postgresql://" + dsn_to_url(psycopg.conninfo.make_conninfo(admin_dsn, dbname=name))
    url = dsn.replace("postgresql://", "postgresql+asyncpg://")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for ext in ("pg_stat_statements", "hypopg"):
                try:
                    conn.execute(
                        sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext))
                    )
                except psycopg.Error as exc:
                    print(f"  {ext} unavailable: {exc}")
        asyncio.run(build(dsn, tables))
        optimizer_times = asyncio.run(time_optimizer(url))
        raw_times = asyncio.run(time_raw(dsn))
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    result = {
        "tables": tables,
        "indexes": tables * 3,
        "runs": RUNS,
        "optimizer_runs_s": optimizer_times,
        "optimizer_median_s": statistics.median(optimizer_times),
        "raw_runs_s": raw_times,
        "raw_median_s": statistics.median(raw_times),
        "target_s": TARGET_S,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "optimizer.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out / "optimizer.png")
    return result


def dsn_to_url(dsn: str) -> str:
    """user[:password]@host:port/dbname from a libpq DSN (for SQLAlchemy)."""
    import psycopg

    p = psycopg.conninfo.conninfo_to_dict(dsn)
    auth = str(p.get("user", "postgres")) + (f":{p['password']}" if p.get("password") else "")
    return f"{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{p['dbname']}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="libpq URL of a server allowing CREATE DATABASE")
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="20 tables: checks it still runs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    tables = 20 if args.smoke else args.tables
    cluster = None
    admin = args.database_url
    if admin is None:
        from tests.fixtures.postgres import start_throwaway_cluster

        cluster = start_throwaway_cluster()
        admin = cluster.url(driver="postgresql")
    try:
        result = run(admin.replace("postgresql+asyncpg://", "postgresql://"), tables, args.out)
    finally:
        if cluster is not None:
            cluster.cleanup()
    print(
        f"{result['tables']} tables / {result['indexes']} indexes: analyze() median "
        f"{result['optimizer_median_s']:.3f} s, raw catalog queries {result['raw_median_s']:.3f} s"
        f" (target < {TARGET_S:g} s)"
    )
    return result


if __name__ == "__main__":
    outcome = main()
    sys.exit(0 if outcome["optimizer_median_s"] < TARGET_S else 1)
