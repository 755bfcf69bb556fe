"""Least privilege: as an application role, a pg_monitor role, through the CLI and HTTP.

Each check a missing privilege turns off lands in ``unavailable`` with the grant that
turns it back on; everything else still runs; the CLI exits 0 and the endpoint
answers 200.
"""

from __future__ import annotations

import json

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from personal_assistant.api.deps import get_engine, optimizer_settings
from personal_assistant.api.optimization import router
from personal_assistant.api.security import security_settings
from personal_assistant.api.settings import SecuritySettings
from personal_assistant.config.optimization import DatabaseOptimizer, OptimizerSettings
from personal_assistant.optimizer.models import Kind, Privileges
from personal_assistant.optimizer.privileges import gaps
from tests.optimizer.conftest import Role, flush_stats, run_cli

SCHEMA = """
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, note text);
    INSERT INTO orders SELECT g, g % 3000, 'n' FROM generate_series(1, 100000) g;
    CREATE TABLE secrets (id serial PRIMARY KEY, v text);
"""
LOOKUP = "SELECT id, note FROM orders WHERE customer_id = $1"
APP_ROLE = ("GRANT SELECT ON orders TO {role}",)
MONITOR_ROLE = (
    "GRANT pg_monitor TO {role}",
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
)
SETTINGS = OptimizerSettings(bloat_min_bytes=1024 * 1024, cache_min_blocks=1000)


async def plant(db: asyncpg.Connection) -> None:
    await db.execute(SCHEMA)
    await flush_stats(db)  # before ANALYZE, or the inserts count as changes since
    await db.execute("ANALYZE")
    for i in range(5):
        await db.fetch(LOOKUP, i)  # recorded under the superuser: another role's
    await flush_stats(db)


async def report_as(url: str) -> dict[str, object]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        return (await DatabaseOptimizer(engine, SETTINGS).analyze()).to_dict()
    finally:
        await engine.dispose()


async def test_an_application_role_gets_a_report_with_the_grants_it_lacks(
    db: asyncpg.Connection, make_role: Role, require_extensions: None
) -> None:
    await plant(db)
    doc = await report_as(make_role(*APP_ROLE))
    unavailable = doc["unavailable"]
    assert isinstance(unavailable, list)
    hidden = [u for u in unavailable if u.startswith("statements of other roles")]
    assert hidden and "GRANT pg_monitor TO" in hidden[0] and "<insufficient privilege>" in hidden[0]
    tables = [u for u in unavailable if u.startswith("plans and bloat")]
    assert tables and "public.secrets" in tables[0]
    assert "GRANT SELECT ON ALL TABLES IN SCHEMA public TO" in tables[0]
    sequences = [u for u in unavailable if u.startswith("sequence_exhaustion")]
    assert sequences and "public.secrets_id_seq" in sequences[0]
    kinds = {r["kind"] for r in doc["recommendations"]}  # type: ignore[union-attr]
    assert Kind.MISSING_INDEX.value not in kinds  # it cannot see the statement...
    assert Kind.MISSING_PRIMARY_KEY.value not in kinds  # ...but the catalog checks ran


async def test_a_pg_monitor_role_sees_every_statement_and_gets_the_proven_index(
    db: asyncpg.Connection, make_role: Role, require_extensions: None
) -> None:
    await plant(db)
    doc = await report_as(make_role(*MONITOR_ROLE))
    assert doc["unavailable"] == []
    recs = doc["recommendations"]
    assert isinstance(recs, list)
    assert [(r["kind"], r["columns"]) for r in recs] == [("missing_index", ["customer_id"])]


async def test_the_cli_as_an_application_role_exits_0_without_a_traceback(
    db: asyncpg.Connection, make_role: Role, require_extensions: None
) -> None:
    await plant(db)
    url = make_role(*APP_ROLE)
    text = run_cli("optimize", "--database-url", url)
    assert text.returncode == 0, text.stderr
    assert "Traceback" not in text.stderr + text.stdout
    assert "unavailable:" in text.stdout and "pg_monitor" in text.stdout
    as_json = run_cli("optimize", "--json", "--database-url", url)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["unavailable"]


async def test_the_endpoint_answers_200_for_an_application_role(
    db: asyncpg.Connection, make_role: Role, require_extensions: None
) -> None:
    await plant(db)
    engine = create_async_engine(make_role(*APP_ROLE), poolclass=NullPool)
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[get_engine] = lambda: engine
    app.dependency_overrides[optimizer_settings] = lambda: SETTINGS
    app.dependency_overrides[security_settings] = lambda: SecuritySettings(health_token="t")
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.get(
                "/health/database/optimization", headers={"Authorization": "Bearer t"}
            )
    finally:
        await engine.dispose()
    assert answer.status_code == 200, answer.text
    assert any("pg_monitor" in u for u in answer.json()["unavailable"])


async def test_a_role_that_cannot_plan_write_statements_is_told_so(
    db: asyncpg.Connection, make_role: Role, require_extensions: None
) -> None:
    await plant(db)
    for i in range(3):
        await db.execute("UPDATE orders SET note = 'x' WHERE customer_id = $1", i)
    await flush_stats(db)
    doc = await report_as(make_role(*MONITOR_ROLE))
    refused = [u for u in doc["unavailable"] if u.startswith("statement plans")]  # type: ignore[union-attr]
    assert refused and "UPDATE orders SET note" in refused[0]


def test_gaps_name_each_check_and_its_grant() -> None:
    everything = Privileges(role="app", superuser=False, read_all_stats=True)
    assert gaps(everything) == []
    hidden = Privileges(
        role="app", superuser=False, read_all_stats=False, hidden_statements=3,
        hidden_time_ms=900.0, visible_time_ms=100.0,
    )  # fmt: skip
    (entry,) = gaps(hidden)
    assert "3 statement(s) (90% of the recorded execution time)" in entry
    assert entry.endswith("GRANT pg_monitor TO app (or pg_read_all_stats)")
