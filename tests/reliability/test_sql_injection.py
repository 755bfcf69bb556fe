"""Hostile names cannot turn the project's SQL into something else.

Statically, every SQL string the project formats itself is checked against a reviewed
list of what may be formatted in (constants, identifiers quoted by SQLAlchemy, integers);
values travel as bound parameters. Dynamically, tables, indexes, schemas, roles,
permission names and migration file names built to break out of their quotes are fed
to the optimizer, the migration runner and the RBAC queries, and the catalog is
compared before and after: only the intended object changes.
"""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from personal_assistant.config.optimization import DatabaseOptimizer, OptimizerSettings
from personal_assistant.database.migrations import MigrationManager
from personal_assistant.database.queries.rbac import list_user_permissions, user_has_permission
from personal_assistant.database.seed import seed
from personal_assistant.optimizer.models import Kind
from tests.migrations.helpers import write

SRC = Path(__file__).resolve().parents[2] / "src"
EVIL = '"; DROP TABLE victim; --'
EVIL_QUOTE = "'); DROP TABLE victim; --"

#: What project code may format into SQL text, and why that is safe.
ALLOWED_IN_SQL = {
    "calls": "config/database.py: set_config() calls over the project's own setting names",
    "quoted": "migrations/verify.py: scratch database name quoted by the dialect",
    "_PRIMARY_ROLE": "seed.py: a constant CASE expression",
    "TABLE": "monitoring/baseline.py: the constant name of the baseline table",
    "queries.MARKER": "optimizer: the constant comment marking its own statements",
    "_SAVEPOINT": "optimizer/hypo.py: a constant savepoint name",
    "_STMT": "optimizer/hypo.py: a constant prepared-statement name",
    "int(oid)": "optimizer/hypo.py: an integer",
    "nulls": "optimizer/hypo.py: 'NULL, NULL, ...'",
    "query": "optimizer/hypo.py: a recorded pg_stat_statements statement, checked to be one "
    "plannable statement, only EXPLAINed, in a READ ONLY transaction",
    "_M": "optimizer/hypo.py: queries.MARKER, the constant comment tagging its statements",
    "MARKER": "optimizer/apply.py: the same constant comment; the name travels as $1",
    "sql": "optimizer/hypo.py: _exec's callers pass the constants and values listed here",
    "args": "optimizer/hypo.py: pg_stats values as literals, quotes doubled (standard strings)",
    "int(settings.statement_timeout_ms)": "optimizer/snapshots.py: an integer setting",
    "_ADVISORY": "migrations/lock.py: a constant WHERE clause over pg_locks",
    "_ACTIVITY": "migrations/lock.py: a constant select list over pg_stat_activity",
    "prefix + section.sql": "migrations/runner.py: the migration file's own SQL, which is "
    "what the operator asked to run, after BEGIN and constant set_config calls",
    "table": "migrations/tracking.py: the tracking table's name quoted by the dialect",
    "', '.join(changes)": "migrations/tracking.py: constant ALTER TABLE clauses",
    "old": "migrations/adoption: a table name quoted by the dialect's format_table",
    "quote(new)": "migrations/adoption: a new table name quoted by the dialect",
    "_quoted(conn, schema, index)": "migrations/adoption: an index name quoted by the dialect",
    "quote(renamed)": "migrations/adoption: a new index name quoted by the dialect",
}
SQL_CALLS = {"text", "execute", "exec_driver_sql", "fetch", "fetchval", "fetchrow", "scalar"}


def formatted_sql() -> list[tuple[str, str]]:
    """``(where, expression)`` for every expression formatted into a SQL call's text."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name not in SQL_CALLS:
                continue
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            if isinstance(first, ast.JoinedStr):
                found += [
                    (where, ast.unparse(v.value))
                    for v in first.values
                    if isinstance(v, ast.FormattedValue)
                ]
            elif isinstance(first, ast.BinOp) or (
                isinstance(first, ast.Call) and getattr(first.func, "attr", "") == "format"
            ):
                found.append((where, ast.unparse(first)))
    return found


def test_only_reviewed_expressions_are_formatted_into_sql() -> None:
    found = formatted_sql()
    assert len(found) > 10  # the scan does see the project's SQL
    unreviewed = [(where, expr) for where, expr in found if expr not in ALLOWED_IN_SQL]
    assert not unreviewed, f"bind these as parameters or quote them, then review: {unreviewed}"


# -- the database ------------------------------------------------------------------------

CATALOG = """
    SELECT n.nspname, c.relname, c.relkind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""


async def catalog(conn: asyncpg.Connection) -> set[tuple[str, str, str]]:
    return {(r[0], r[1], r[2]) for r in await conn.fetch(CATALOG)}


@pytest.fixture
async def conn(database_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_dsn)
    await connection.execute(
        "CREATE TABLE victim (id int PRIMARY KEY, note text);"
        "INSERT INTO victim SELECT g, 'keep' FROM generate_series(1, 100) g"
    )
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url, poolclass=NullPool)
    try:
        yield eng
    finally:
        await eng.dispose()


async def victim_intact(conn: asyncpg.Connection) -> bool:
    return await conn.fetchval("SELECT count(*) FROM victim WHERE note = 'keep'") == 100


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.mark.usefixtures("require_extensions")
async def test_optimizer_sql_for_hostile_table_and_index_names_touches_only_them(
    conn: asyncpg.Connection, engine: AsyncEngine
) -> None:
    table, index, twin = f"t{EVIL}", f"ix{EVIL}", f"ix2{EVIL}"
    await conn.execute(
        f"CREATE TABLE {q(table)} (id int PRIMARY KEY, a int);"
        f"INSERT INTO {q(table)} SELECT g, g FROM generate_series(1, 3000) g;"
        f"CREATE INDEX {q(index)} ON {q(table)} (a); CREATE INDEX {q(twin)} ON {q(table)} (a);"
    )
    await conn.execute("SELECT pg_stat_force_next_flush()")  # counters visible to others now
    before = await catalog(conn)
    settings = OptimizerSettings(analyze_min_rows=100)
    report = await DatabaseOptimizer(engine, settings).analyze()
    analyze = [r for r in report.of_kind(Kind.ANALYZE_NEEDED) if r.table == table]
    duplicate = [r for r in report.of_kind(Kind.DUPLICATE_INDEX) if r.table == table]
    assert analyze and duplicate
    # Applied through the optimizer (ANALYZE is safe), run by hand (DROP INDEX is not).
    await DatabaseOptimizer(engine, settings).apply(analyze)
    assert duplicate[0].sql is not None
    await conn.execute(duplicate[0].sql)
    after = await catalog(conn)
    assert await victim_intact(conn)
    dropped = before - after
    assert len(dropped) == 1 and dropped.pop()[1] in (index, twin)
    assert after - before == set()
    analyzed = await conn.fetchval(
        "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = $1", table
    )
    assert analyzed


async def test_migrations_with_hostile_schema_table_and_file_names_touch_only_them(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    schema, table = f"s{EVIL}", f"m{EVIL}"
    write(tmp_path, f"0001_x{EVIL_QUOTE}.sql", "CREATE TABLE made (id int);", "DROP TABLE made;")
    before = await catalog(conn)
    async with MigrationManager(database_url, tmp_path, schema=schema, table=table) as manager:
        applied = await manager.upgrade()
        status = await manager.status()
    assert [r.version for r in applied] == [1]
    assert status.entries[0].description == f"x{EVIL_QUOTE}".replace("_", " ")
    created = await catalog(conn) - before
    assert {(s, n) for s, n, _ in created} >= {(schema, table), ("public", "made")}
    assert {s for s, _, _ in created} <= {schema, "public"}
    assert before - await catalog(conn) == set()
    assert await victim_intact(conn)


async def test_a_hostile_role_name_is_recorded_as_data(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    role = f"r{EVIL_QUOTE}"
    await conn.execute(f"CREATE ROLE {q(role)} LOGIN SUPERUSER")
    try:
        url: URL = make_url(database_url).set(username=role)
        write(tmp_path, "0001_made.sql", "CREATE TABLE made (id int);", "DROP TABLE made;")
        async with MigrationManager(url.render_as_string(hide_password=False), tmp_path) as m:
            await m.upgrade()
        applied_by = await conn.fetchval("SELECT applied_by FROM schema_migrations")
    finally:
        await conn.execute(f"DROP OWNED BY {q(role)} CASCADE")
        await conn.execute(f"DROP ROLE {q(role)}")
    assert applied_by == role
    assert await victim_intact(conn)


async def test_rbac_queries_treat_hostile_permission_names_as_values(
    conn: asyncpg.Connection, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with MigrationManager(engine) as manager:
        await manager.upgrade()
    await seed(engine, 50)
    user_id = await conn.fetchval(
        "SELECT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
        "JOIN users u ON u.id = ur.user_id WHERE r.name = 'viewer' AND u.is_active LIMIT 1"
    )
    before = await catalog(conn)
    hostile = [
        f"documents:read{EVIL_QUOTE}",
        "x' OR '1'='1",
        "documents:write' OR name LIKE '%",
        "%",
        "documents:%",
        f"users:admin{EVIL}",
    ]
    from personal_assistant.database.session import SessionLocal

    async with SessionLocal(bind=engine) as session:
        assert await user_has_permission(session, user_id, "documents:read")
        for name in hostile:
            assert not await user_has_permission(session, user_id, name), name
        permissions = await list_user_permissions(session, user_id)
        count = await session.scalar(text("SELECT count(*) FROM users"))
    assert "documents:read" in permissions and "documents:write" not in permissions
    assert count == 50
    assert await catalog(conn) == before
    assert await victim_intact(conn)
