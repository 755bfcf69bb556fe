"""One consistent index set: apply every suggested index, run again, and the report
must not call any of them redundant or duplicate, nor ask for more of the same.

Each scenario plants a schema where suggestions chosen one by one would contradict
each other (the issue's ``rental(customer_id)`` for a foreign key next to
``rental(customer_id, rental_date)`` for a query, which made the first redundant).
"""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.optimization import DatabaseOptimizer, OptimizerSettings
from personal_assistant.optimizer.models import Kind
from tests.optimizer.conftest import analyze, flush_stats

RENTAL = """
    CREATE TABLE customer (id int PRIMARY KEY);
    INSERT INTO customer SELECT generate_series(1, 5000);
    CREATE TABLE staff (id int PRIMARY KEY);
    INSERT INTO staff VALUES (1), (2);
    CREATE TABLE rental (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customer,
                         staff_id int NOT NULL REFERENCES staff,
                         rental_date timestamptz NOT NULL, return_date timestamptz);
    INSERT INTO rental
        SELECT g, g % 5000 + 1, g % 2 + 1, timestamptz '2024-01-01' + g * interval '1 min',
               CASE WHEN g % 50 = 0 THEN NULL ELSE timestamptz '2024-02-01' END
        FROM generate_series(1, 150000) g;
"""
PREFIXES = """
    CREATE TABLE events (id int PRIMARY KEY, account int NOT NULL, kind int NOT NULL,
                         at timestamptz NOT NULL, pad text);
    INSERT INTO events
        SELECT g, g % 3000, g % 40, timestamptz '2024-01-01' + g * interval '1 s', 'p'
        FROM generate_series(1, 150000) g;
"""
COMPOSITE_FK = """
    CREATE TABLE shelf (room int, slot int, PRIMARY KEY (room, slot));
    INSERT INTO shelf SELECT r, s FROM generate_series(1, 50) r, generate_series(1, 40) s;
    CREATE TABLE book (id int PRIMARY KEY, room int NOT NULL, slot int NOT NULL, title text,
                       FOREIGN KEY (room, slot) REFERENCES shelf);
    INSERT INTO book SELECT g, g % 50 + 1, g % 40 + 1, 't' FROM generate_series(1, 100000) g;
"""
SCENARIOS = {
    "rental": (
        RENTAL,
        [
            "SELECT * FROM rental WHERE customer_id = $1 ORDER BY rental_date",
            "SELECT id FROM rental WHERE customer_id = $1 AND return_date IS NULL",
        ],
    ),
    "prefixes": (
        PREFIXES,
        [
            "SELECT * FROM events WHERE account = $1",
            "SELECT * FROM events WHERE account = $1 AND kind = $2",
            "SELECT * FROM events WHERE account = $1 ORDER BY at DESC LIMIT 10",
        ],
    ),
    "composite_fk": (COMPOSITE_FK, ["SELECT * FROM book WHERE room = $1 AND slot = $2"]),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_applied_suggestions_are_never_called_redundant_or_duplicate(
    scenario: str, engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    schema, queries = SCENARIOS[scenario]
    await db.execute(schema)
    await flush_stats(db)
    await db.execute("ANALYZE")
    for query in queries:
        for i in range(4):
            await db.fetch(query, *range(1, query.count("$") + 1 + i)[: query.count("$")])
    await flush_stats(db)

    report = await analyze(engine, settings)
    suggested = report.of_kind(Kind.MISSING_INDEX, Kind.MISSING_FK_INDEX)
    assert suggested, report.notes
    outcome = await DatabaseOptimizer(engine, settings).apply(suggested)
    assert not outcome.failed, outcome.failed
    created = {r.index for r in suggested}

    again = await analyze(engine, settings)
    called = again.of_kind(Kind.REDUNDANT_INDEX, Kind.DUPLICATE_INDEX)
    assert not [r for r in called if r.index in created], called
    assert not again.of_kind(Kind.MISSING_INDEX, Kind.MISSING_FK_INDEX), again.recommendations


async def test_the_rental_foreign_key_and_its_query_share_one_index(
    engine: AsyncEngine, db: asyncpg.Connection, settings: OptimizerSettings
) -> None:
    schema, queries = SCENARIOS["rental"]
    await db.execute(schema)
    await flush_stats(db)
    await db.execute("ANALYZE")
    for i in range(4):
        await db.fetch(queries[0], i + 1)
    await flush_stats(db)
    report = await analyze(engine, settings)
    on_customer = [
        r
        for r in report.of_kind(Kind.MISSING_INDEX, Kind.MISSING_FK_INDEX)
        if r.columns and r.columns[0] == "customer_id"
    ]
    assert [r.kind for r in on_customer] == [Kind.MISSING_INDEX]  # one index, not two
    assert "supports foreign key 'rental_customer_id_fkey'" in on_customer[0].reason
    # staff_id (2 values) gets its foreign-key index, ranked after the measured one.
    kinds = [r.kind for r in report.recommendations]
    assert kinds.index(Kind.MISSING_INDEX) < kinds.index(Kind.MISSING_FK_INDEX)
