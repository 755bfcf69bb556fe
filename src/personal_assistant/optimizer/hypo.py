"""Plan the top statements and test candidate indexes with HypoPG.

For each statement: EXPLAIN it (never ANALYZE: nothing is executed), collect the
columns it filters on, then for each candidate create a hypothetical index
(``hypopg_create_index``), plan again and drop it. Normalized statements carry
``$n`` parameters; PostgreSQL 15 has no ``EXPLAIN (GENERIC_PLAN)``, so they are
``PREPARE``d and explained with ``EXECUTE stmt(NULL, ...)`` under
``plan_cache_mode = force_generic_plan`` (the NULLs are never used: the generic plan
does not look at values). A cached plan ignores new hypothetical indexes, so each
test prepares the statement afresh.

Everything runs in one READ ONLY transaction that is rolled back, with a savepoint
per statement so one statement that no longer plans (a dropped table, a temporary
table) does not stop the others.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import text

from personal_assistant.optimizer import candidates, queries
from personal_assistant.optimizer.fetch import read_only
from personal_assistant.optimizer.identifiers import column_list, qualified
from personal_assistant.optimizer.models import (
    Candidate,
    CatalogFacts,
    StatementPlan,
    StatementStat,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from personal_assistant.optimizer.settings import OptimizerSettings

_STMT = "pa_optimizer_stmt"
_SAVEPOINT = "pa_optimizer_sp"


def top_statements(statements: Sequence[StatementStat], count: int) -> list[StatementStat]:
    """The ``count`` highest by total time, then those highest by mean time."""
    by_total = sorted(statements, key=lambda s: -s.total_time_ms)[:count]
    by_mean = sorted(statements, key=lambda s: -s.mean_time_ms)[:count]
    chosen = {s.queryid: s for s in [*by_total, *by_mean]}
    return [s for s in chosen.values() if candidates.is_plannable(s.query)]


async def plan_statements(
    engine: AsyncEngine, facts: CatalogFacts, settings: OptimizerSettings
) -> tuple[list[StatementPlan], list[str]]:
    """Plans (with hypothetical-index costs when HypoPG is there) and notes on failures."""
    chosen = top_statements(facts.statements, settings.top_statements)
    if not chosen:
        return [], []
    plans: list[StatementPlan] = []
    notes: list[str] = []
    async with read_only(engine, settings.statement_timeout_ms) as conn:
        await conn.execute(
            text(
                f"{queries.MARKER} SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"
            )
        )
        raw = await conn.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        tester = _Tester(driver, facts, settings)
        for stmt in chosen:
            plan = await tester.plan(stmt)
            if plan.error:
                notes.append(f"could not plan statement {stmt.queryid}: {plan.error}")
            plans.append(plan)
    return plans, notes


class _Tester:
    """Plans statements on one connection inside the caller's transaction."""

    def __init__(
        self, driver: asyncpg.Connection, facts: CatalogFacts, settings: OptimizerSettings
    ) -> None:
        self.driver = driver
        self.facts = facts
        self.settings = settings

    async def plan(self, stmt: StatementStat) -> StatementPlan:
        uses = tuple(candidates.column_uses(stmt.query, self.facts.columns, self.facts.search_path))
        nparams = candidates.param_count(stmt.query)
        await self.driver.execute(f"{queries.MARKER} SAVEPOINT {_SAVEPOINT}")
        try:
            before = await self._explain(stmt.query, nparams)
            tested = []
            if self.facts.has_hypopg:
                found = candidates.build_candidates(
                    uses, self.facts.indexes, self.settings.max_candidates_per_statement
                )
                for candidate in found:
                    tested.append((candidate, await self._with_index(candidate, stmt, nparams)))
        except asyncpg.PostgresError as exc:
            await self.driver.execute(f"{queries.MARKER} ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            await self._reset()
            return StatementPlan(stmt, None, columns=uses, error=_describe(exc))
        await self.driver.execute(f"{queries.MARKER} RELEASE SAVEPOINT {_SAVEPOINT}")
        return StatementPlan(
            statement=stmt,
            cost=_cost(before),
            node_types=tuple(_nodes(before)),
            columns=uses,
            hypothetical=tuple(tested),
        )

    async def _with_index(self, candidate: Candidate, stmt: StatementStat, nparams: int) -> float:
        ddl = f"CREATE INDEX ON {qualified(candidate.schema, candidate.table)} " + column_list(
            candidate.columns
        )
        oid = await self.driver.fetchval(
            f"{queries.MARKER} SELECT indexrelid FROM hypopg_create_index($1)", ddl
        )
        try:
            return _cost(await self._explain(stmt.query, nparams))
        finally:
            await self.driver.execute(f"{queries.MARKER} SELECT hypopg_drop_index({int(oid)})")

    async def _explain(self, query: str, nparams: int) -> dict[str, Any]:
        if nparams == 0:
            raw = await self.driver.fetchval(f"{queries.MARKER} EXPLAIN (FORMAT JSON) {query}")
            return _plan(raw)
        # Simple-protocol execute: the statement text goes through the server's own
        # parser exactly once, as it was recorded (is_plannable checked it is one
        # statement).
        await self.driver.execute(f"{queries.MARKER} PREPARE {_STMT} AS {query}")
        try:
            nulls = ", ".join(["NULL"] * nparams)
            raw = await self.driver.fetchval(
                f"{queries.MARKER} EXPLAIN (FORMAT JSON) EXECUTE {_STMT}({nulls})"
            )
        except asyncpg.PostgresError:
            await self.driver.execute(f"{queries.MARKER} ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            await self.driver.execute(f"{queries.MARKER} DEALLOCATE {_STMT}")
            raise
        await self.driver.execute(f"{queries.MARKER} DEALLOCATE {_STMT}")
        return _plan(raw)

    async def _reset(self) -> None:
        if self.facts.has_hypopg:
            await self.driver.execute(f"{queries.MARKER} SELECT hypopg_reset()")


def _plan(raw: Any) -> dict[str, Any]:
    doc = json.loads(raw) if isinstance(raw, str) else raw
    plan: dict[str, Any] = doc[0]["Plan"]
    return plan


def _cost(plan: dict[str, Any]) -> float:
    return float(plan["Total Cost"])


def _nodes(plan: dict[str, Any]) -> list[str]:
    """Node types depth first, with the relation for scans (``Seq Scan on orders``)."""
    label = str(plan.get("Node Type", "?"))
    if "Relation Name" in plan:
        label += f" on {plan['Relation Name']}"
    if "Index Name" in plan:
        label += f" using {plan['Index Name']}"
    out = [label]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


def _describe(exc: asyncpg.PostgresError) -> str:
    return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
