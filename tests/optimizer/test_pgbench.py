"""A real client's workload: pgbench's TPC-B plus a custom script, on stale statistics.

``pgbench -i`` analyzes ``pgbench_accounts`` while every ``abalance`` is 0
(``n_distinct = 1``); with autovacuum off on the table, TPC-B then changes about 4 %
of the rows (under autoanalyze's threshold), and a custom script looks accounts up
by balance: a handful of rows per call, while the generic plan expects every row.
The optimizer must say the statistics are stale (with the ANALYZE to run), still
prove the index by planning with values matching the observed rows, suggest nothing
for TPC-B's primary-key lookups, and after the ANALYZE prove the index plainly.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from personal_assistant.config.optimization import OptimizerSettings
from personal_assistant.optimizer.models import Kind
from tests.optimizer.conftest import Role, analyze, pgbench

BY_BALANCE = "\\set v random(-5000, 5000)\nSELECT * FROM pgbench_accounts WHERE abalance = :v;\n"
MONITOR = (
    "GRANT pg_monitor TO {role}",
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
)


async def workload(dsn: str, db: asyncpg.Connection, tmp: Path) -> None:
    pgbench(dsn, "-i", "-s", "1", "-q", "-I", "dtgp")  # no vacuum step: ours comes after
    await db.execute("ALTER TABLE pgbench_accounts SET (autovacuum_enabled = off)")
    await db.execute("VACUUM ANALYZE")  # pgbench's backend has exited: its counts are in
    pgbench(dsn, "-n", "-c", "4", "-j", "2", "-t", "1000")  # TPC-B: ~4 % of accounts
    script = tmp / "by_balance.sql"
    script.write_text(BY_BALANCE)
    pgbench(dsn, "-n", "-c", "1", "-t", "25", "-f", str(script))


async def test_stale_statistics_are_reported_and_the_index_is_still_proven(
    engine: AsyncEngine,
    db: asyncpg.Connection,
    database_dsn: str,
    settings: OptimizerSettings,
    tmp_path: Path,
    make_role: Role,
) -> None:
    await workload(database_dsn, db, tmp_path)
    report = await analyze(engine, settings)

    (stale,) = report.of_kind(Kind.STALE_STATISTICS)
    assert (stale.table, stale.sql) == ("pgbench_accounts", "ANALYZE public.pgbench_accounts;")
    expected = re.search(r"the planner expects ([\d,]+) row\(s\) per call", stale.reason)
    assert expected and int(expected.group(1).replace(",", "")) >= 100_000  # every row
    assert "4,000 rows (4%) changed since" in stale.reason
    assert "abalance = $1" in stale.reason
    missing = report.of_kind(Kind.MISSING_INDEX)
    assert [(r.table, r.columns) for r in missing] == [("pgbench_accounts", ("abalance",))]
    assert "planned with parameter values matching the rows" in missing[0].reason
    assert missing[0].saved_ms_per_day and missing[0].saved_ms_per_day > 0
    assert report.recommendations[0] == missing[0]  # the biggest win ranks first
    analyze_needed = {r.table for r in report.of_kind(Kind.ANALYZE_NEEDED)}
    assert "pgbench_accounts" not in analyze_needed  # said once, as stale_statistics
    assert not any("typeinfo_tree" in n or "operator does not exist" in n for n in report.notes)

    # The same, for a pg_monitor role that may only read.
    monitor = create_async_engine(make_role(*MONITOR), poolclass=NullPool)
    try:
        as_monitor = await analyze(monitor, settings)
    finally:
        await monitor.dispose()
    assert [r.columns for r in as_monitor.of_kind(Kind.MISSING_INDEX)] == [("abalance",)]
    assert [r.table for r in as_monitor.of_kind(Kind.STALE_STATISTICS)] == ["pgbench_accounts"]
    assert all(u.startswith("statement plans") for u in as_monitor.unavailable)  # TPC-B's writes

    await db.execute(stale.sql or "")
    after = await analyze(engine, settings)
    assert not after.of_kind(Kind.STALE_STATISTICS)
    proven = after.of_kind(Kind.MISSING_INDEX)
    assert [(r.table, r.columns) for r in proven] == [("pgbench_accounts", ("abalance",))]
    assert "planned with parameter values" not in proven[0].reason  # the generic plan sees it
