"""Answers through PgBouncer (transaction mode) are the database's answers, under load.

Two app engines (two "workers", each with its own pool) talk to one real PgBouncer
1.18 in transaction mode, so server connections are shared between them and between
transactions. Each round reloads the demo data with several loaders racing (the
advisory lock lets one seed), then checks it; then many concurrent clients run the
permission check and the permission list on every path (a transaction, autocommit
ORM execution, and the read path's fast path straight to asyncpg) and compare every
answer with the one PostgreSQL gives directly, bypassing PgBouncer. Zero wrong, empty
or failed answers.

The table is truncated without restarting its identity, so every round's ids start
where the last round's ended: a seed that assumed ids ``1..N`` would give roles to
nobody. The default run takes seconds; ``-m soak`` runs the long variant.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database.demo import DEMO_USERS, load_demo_data
from personal_assistant.database.engine import create_engine_from_config
from personal_assistant.database.fast_path import Route, Target
from personal_assistant.database.migrations import MigrationManager
from personal_assistant.database.queries.rbac import list_user_permissions, user_has_permission
from personal_assistant.database.reads import ReadSession
from tests.fixtures.pgbouncer import PgBouncer
from tests.fixtures.postgres import ServerInfo

#: What each user may do, straight from PostgreSQL (inactive users: nothing).
EXPECTED = """
SELECT u.id,
       coalesce(array_agg(DISTINCT p.name ORDER BY p.name)
                FILTER (WHERE p.name IS NOT NULL AND u.is_active), '{}')
FROM users u
LEFT JOIN user_roles ur ON ur.user_id = u.id
LEFT JOIN role_permissions rp ON rp.role_id = ur.role_id
LEFT JOIN permissions p ON p.id = rp.permission_id
WHERE u.id = ANY(%s)
GROUP BY u.id
"""
WITHOUT_ROLE = (
    "SELECT count(*) FROM users u "
    "WHERE NOT EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id)"
)
SAMPLE = "SELECT id FROM users ORDER BY id LIMIT 40"
INACTIVE_SAMPLE = "SELECT id FROM users WHERE NOT is_active ORDER BY id LIMIT 5"


@dataclass(frozen=True)
class Stress:
    rounds: int  # demo data reloads
    loaders: int  # concurrent load_demo_data calls per round
    clients: int  # concurrent permission-checking clients
    iterations: int  # checks per client


DEFAULT = Stress(rounds=12, loaders=4, clients=8, iterations=60)
SOAK = Stress(rounds=150, loaders=6, clients=16, iterations=1500)


@dataclass
class Tally:
    answers: int = 0
    wrong: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Setup:
    workers: tuple[AsyncEngine, AsyncEngine]
    direct_dsn: str


@pytest.fixture
async def setup(
    pgbouncer: PgBouncer, pg_server: ServerInfo, database_name: str
) -> AsyncIterator[Setup]:
    direct = pg_server.url(database_name)
    async with MigrationManager(direct) as manager:
        await manager.upgrade()
    config = DatabaseConfig(
        url=pgbouncer.url(database_name),
        pgbouncer=True,
        pool_size=4,
        max_overflow=4,
        statement_timeout=10_000,
    )
    workers = (create_engine_from_config(config), create_engine_from_config(config))
    try:
        yield Setup(workers, pg_server.url(database_name, driver="postgresql"))
    finally:
        await asyncio.gather(*(engine.dispose() for engine in workers))


def _direct(dsn: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


async def _reload_demo_data(setup: Setup, loaders: int) -> None:
    """Empty the users (ids keep counting), then let ``loaders`` race to seed them."""
    _direct(setup.direct_dsn, "TRUNCATE users CASCADE")
    engines = itertools.cycle(setup.workers)
    await asyncio.gather(*(load_demo_data(next(engines)) for _ in range(loaders)))


def _expectations(dsn: str) -> dict[int, list[str]]:
    ids = [row[0] for row in _direct(dsn, SAMPLE) + _direct(dsn, INACTIVE_SAMPLE)]
    return {int(row[0]): list(row[1]) for row in _direct(dsn, EXPECTED, ids)}


async def _check_round(setup: Setup, expected: dict[int, list[str]], tally: Tally) -> None:
    (users,) = _direct(setup.direct_dsn, "SELECT count(*) FROM users")[0]
    (without_role,) = _direct(setup.direct_dsn, WITHOUT_ROLE)[0]
    if (users, without_role) != (DEMO_USERS, 0):
        tally.wrong.append(f"demo data: {users} users, {without_role} without a role")
    first = min(expected)
    async with _session(setup.workers[1], 2) as session:
        got = await list_user_permissions(session, first)
    tally.answers += 1
    if got != expected[first] or not got:
        tally.wrong.append(f"first demo user {first}: {got} != {expected[first]}")


def _session(engine: AsyncEngine, path: int) -> AsyncSession:
    """0: a transaction; 1: autocommit, ORM execution; 2: the read path's fast path."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    if path == 2:
        return ReadSession(Route((Target(autocommit),)))
    return AsyncSession(autocommit if path == 1 else engine)


async def _client(
    number: int, setup: Setup, expected: dict[int, list[str]], iterations: int, tally: Tally
) -> None:
    engine = setup.workers[number % 2]
    cases = list(expected.items())
    for i in range(iterations):
        user_id, perms = cases[(number * 7 + i) % len(cases)]
        probe = perms[i % len(perms)] if perms else "documents:read"
        try:
            async with _session(engine, (number + i) % 3) as session:
                listed = await list_user_permissions(session, user_id)
                has = await user_has_permission(session, user_id, probe)
                never = await user_has_permission(session, user_id, "no.such.permission")
        except Exception as exc:  # every failure is a finding to report, not a crash
            tally.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            continue
        tally.answers += 3
        if listed != perms:
            tally.wrong.append(f"user {user_id} listed {listed}, expected {perms}")
        if has != bool(perms) or never:
            tally.wrong.append(f"user {user_id}: has {probe}={has}, no.such={never}")


async def run_stress(setup: Setup, stress: Stress) -> Tally:
    tally = Tally()
    expected: dict[int, list[str]] = {}
    for _ in range(stress.rounds):
        await _reload_demo_data(setup, stress.loaders)
        expected = _expectations(setup.direct_dsn)
        await _check_round(setup, expected, tally)
    assert sum(1 for perms in expected.values() if perms) >= 30  # the cases mean something
    assert any(not perms for perms in expected.values())  # inactive users included
    await asyncio.gather(
        *(_client(n, setup, expected, stress.iterations, tally) for n in range(stress.clients))
    )
    return tally


async def test_permission_checks_and_demo_seeds_through_pgbouncer_are_always_right(
    setup: Setup,
) -> None:
    tally = await run_stress(setup, DEFAULT)
    assert tally.errors == [] and tally.wrong == []
    assert tally.answers >= DEFAULT.clients * DEFAULT.iterations * 3


@pytest.mark.soak
async def test_a_long_stress_through_pgbouncer_gives_no_wrong_answer(setup: Setup) -> None:
    tally = await run_stress(setup, SOAK)
    assert tally.errors == [] and tally.wrong == []
    assert tally.answers >= SOAK.clients * SOAK.iterations * 3


async def test_the_ids_really_move_between_rounds(setup: Setup) -> None:
    """The premise of the stress: after a reload the ids do not start at 1 again."""
    await _reload_demo_data(setup, 2)
    await _reload_demo_data(setup, 2)
    ((low,),) = _direct(setup.direct_dsn, "SELECT min(id) FROM users")
    assert low == DEMO_USERS + 1
    async with AsyncSession(setup.workers[0]) as session:
        assert (await session.execute(text("SELECT count(*) FROM users"))).scalar() == DEMO_USERS
