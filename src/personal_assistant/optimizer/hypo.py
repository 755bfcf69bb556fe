"""Plan the top statements and test candidate indexes with HypoPG.

For each statement: EXPLAIN it (never ANALYZE: nothing is executed), compare the
planner's row estimate with pg_stat_statements' rows per call (:mod:`.estimates`),
collect the columns it uses, then for each candidate create a hypothetical index
(``hypopg_create_index``), plan again and drop it. Normalized statements carry
``$n`` parameters; PostgreSQL 15 has no ``EXPLAIN (GENERIC_PLAN)``, so they are
``PREPARE``d and explained with ``EXECUTE stmt(NULL, ...)`` under
``plan_cache_mode = force_generic_plan`` (the NULLs are never looked at), or, when
the estimates are off by orders of magnitude, with values from pg_stats under
``force_custom_plan``. A cached plan ignores new hypothetical indexes, so each test
prepares the statement afresh. :func:`check_set` then holds the chosen indexes all at
once and plans again: what each statement uses with the whole set present.

Everything runs in one READ ONLY transaction that is rolled back, with a savepoint
per statement so one statement that no longer plans (a dropped table, a missing
privilege) does not stop the others.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg

from personal_assistant.optimizer import estimates, parsing, queries
from personal_assistant.optimizer.candidates import build_candidates
from personal_assistant.optimizer.fetch import read_only
from personal_assistant.optimizer.identifiers import qualified, quote
from personal_assistant.optimizer.models import CatalogFacts
from personal_assistant.optimizer.statements import (
    Candidate,
    ColumnUse,
    Estimate,
    StatementPlan,
    StatementStat,
    Trial,
    shorten,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from personal_assistant.optimizer.settings import OptimizerSettings

_STMT = "pa_optimizer_stmt"
_SAVEPOINT = "pa_optimizer_sp"
_CANDIDATE_SAVEPOINT = "pa_optimizer_candidate_sp"
#: Errors that end the whole analysis rather than one statement's: the connection or
#: server failing (08, 57P), and a cancellation (57014: statement_timeout or
#: pg_cancel_backend), which :func:`.errors.database_step` reports as such.
_FATAL_SQLSTATES = ("08", "57P", "57014")
_M = queries.MARKER
_HYPO_NAME = re.compile(r"^<(\d+)>")


def top_statements(statements: Sequence[StatementStat], count: int) -> list[StatementStat]:
    """The ``count`` highest by total time, then those highest by mean time."""
    by_total = sorted(statements, key=lambda s: -s.total_time_ms)[:count]
    by_mean = sorted(statements, key=lambda s: -s.mean_time_ms)[:count]
    chosen = {s.queryid: s for s in [*by_total, *by_mean]}
    return [s for s in chosen.values() if parsing.is_plannable(s.query)]


async def plan_statements(
    engine: AsyncEngine, facts: CatalogFacts, settings: OptimizerSettings
) -> tuple[list[StatementPlan], list[str]]:
    """Plans of the top statements (with hypothetical-index costs when HypoPG is
    there), and notes on what could not be tested."""
    chosen = top_statements(facts.statements, settings.top_statements)
    if not chosen:
        return [], []
    async with _session(engine, facts, settings) as tester:
        plans = [await tester.plan(stmt) for stmt in chosen]
        return plans, tester.notes


async def check_set(
    engine: AsyncEngine,
    facts: CatalogFacts,
    settings: OptimizerSettings,
    plans: Sequence[StatementPlan],
    chosen: Sequence[Candidate],
) -> list[StatementPlan]:
    """``plans`` re-planned with every ``chosen`` index hypothetically present at once."""
    if not chosen or not facts.has_hypopg:
        return list(plans)
    async with _session(engine, facts, settings) as tester:
        return await tester.joint(plans, chosen)


@asynccontextmanager
async def _session(
    engine: AsyncEngine, facts: CatalogFacts, settings: OptimizerSettings
) -> AsyncIterator[_Tester]:
    async with read_only(engine, settings.statement_timeout_ms) as conn:
        await conn.execute(f"{_M} SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
        yield _Tester(conn, facts, settings)


class _Tester:
    """Plans statements on one connection inside the caller's transaction."""

    def __init__(
        self, driver: asyncpg.Connection, facts: CatalogFacts, settings: OptimizerSettings
    ) -> None:
        self.driver = driver
        self.facts = facts
        self.settings = settings
        self.notes: list[str] = []
        self.prepared = False
        #: Access methods HypoPG refused ("gin" in HypoPG 1.3): not tried again.
        self.unsupported: dict[str, str] = {}

    async def _exec(self, sql: str) -> None:
        await self.driver.execute(f"{_M} {sql}")

    async def plan(self, stmt: StatementStat) -> StatementPlan:
        facts = self.facts
        uses = tuple(parsing.column_uses(stmt.query, facts.columns, facts.search_path))
        nparams = parsing.param_count(stmt.query)
        await self._exec(f"SAVEPOINT {_SAVEPOINT}")
        try:
            base = await self._explain(stmt.query, nparams, None)
            estimate = estimates.mismatch(base, stmt.rows_per_call)
            values: tuple[str | None, ...] | None = None
            if estimate and estimate.ratio >= self.settings.estimate_mismatch_ratio and nparams:
                if probed := await self._probe(stmt, uses, nparams, estimate):
                    values, base, estimate = probed
            tested = await self._candidates(stmt, uses, nparams, values, _cost(base))
        except asyncpg.PostgresError as exc:
            await self._recover(exc)
            return StatementPlan(stmt, None, columns=uses, error=_describe(exc))
        await self._exec(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        self._trigram_note(stmt, uses, base)
        return StatementPlan(
            statement=stmt,
            cost=_cost(base),
            node_types=tuple(_nodes(base)),
            columns=uses,
            hypothetical=tuple(tested),
            estimate=estimate,
        )

    async def _recover(self, exc: asyncpg.PostgresError) -> None:
        """Back to the statement's savepoint, unless the connection itself failed."""
        if (exc.sqlstate or "").startswith(_FATAL_SQLSTATES):
            raise exc
        await self._exec(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        if self.prepared:
            await self._exec(f"DEALLOCATE {_STMT}")
            self.prepared = False
        if self.facts.has_hypopg:
            await self._exec("SELECT hypopg_reset()")

    async def _candidates(
        self,
        stmt: StatementStat,
        uses: Sequence[ColumnUse],
        nparams: int,
        values: tuple[str | None, ...] | None,
        cost: float,
    ) -> list[Trial]:
        facts = self.facts
        if not facts.has_hypopg:
            return []
        read = parsing.read_columns(stmt.query, facts.columns, facts.search_path)
        found = build_candidates(
            uses,
            facts.indexes,
            self.settings.max_candidates_per_statement,
            read=read,
            trigram=facts.has_pg_trgm,
        )
        limit = cost * (1 - self.settings.min_cost_reduction)
        tested = []
        for candidate in found:
            if candidate.method not in self.unsupported:
                result = await self._test(candidate, stmt.query, nparams, values, limit)
                tested += [result] if result else []
        return tested

    async def _test(
        self,
        candidate: Candidate,
        query: str,
        nparams: int,
        values: tuple[str | None, ...] | None,
        limit: float,
    ) -> Trial | None:
        oid = await self._create(candidate)
        if oid is None:
            return None
        try:
            cost = _cost(await self._explain(query, nparams, values))
            size = None
            if cost <= limit:
                size = await self.driver.fetchval(f"{_M} SELECT hypopg_relation_size($1)", oid)
        finally:
            await self._exec(f"SELECT hypopg_drop_index({oid})")
        return Trial(candidate, cost, int(size) if size is not None else None)

    async def _create(self, candidate: Candidate) -> int | None:
        """A hypothetical index; None when HypoPG or the server refuses it.

        Expression and non-btree candidates can be refused (a function that is not
        IMMUTABLE, an access method HypoPG does not support): they get a savepoint.
        """
        risky = candidate.method != "btree" or candidate.expression is not None
        create = f"{_M} SELECT indexrelid FROM hypopg_create_index($1)"
        if not risky:
            return int(await self.driver.fetchval(create, candidate.hypothetical_ddl()))
        await self._exec(f"SAVEPOINT {_CANDIDATE_SAVEPOINT}")
        try:
            oid = int(await self.driver.fetchval(create, candidate.hypothetical_ddl()))
        except asyncpg.PostgresError as exc:
            if (exc.sqlstate or "").startswith(_FATAL_SQLSTATES):
                raise
            await self._exec(f"ROLLBACK TO SAVEPOINT {_CANDIDATE_SAVEPOINT}")
            if "not supported" in str(exc):
                self.unsupported[candidate.method] = _describe(exc)
            return None
        await self._exec(f"RELEASE SAVEPOINT {_CANDIDATE_SAVEPOINT}")
        return oid

    async def _explain(
        self, query: str, nparams: int, values: tuple[str | None, ...] | None
    ) -> dict[str, Any]:
        if nparams == 0:
            return _plan(await self.driver.fetchval(f"{_M} EXPLAIN (FORMAT JSON, VERBOSE) {query}"))
        # Simple-protocol execute: the statement text goes through the server's own
        # parser exactly once, as it was recorded (is_plannable checked it is one
        # statement).
        await self._exec(f"PREPARE {_STMT} AS {query}")
        self.prepared = True
        args = ", ".join(_literal(v) for v in values or [None] * nparams)
        if values is not None:
            await self._exec("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
        raw = await self.driver.fetchval(
            f"{_M} EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE {_STMT}({args})"
        )
        if values is not None:
            await self._exec("SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
        await self._exec(f"DEALLOCATE {_STMT}")
        self.prepared = False
        return _plan(raw)

    async def _probe(
        self, stmt: StatementStat, uses: Sequence[ColumnUse], nparams: int, generic: Estimate
    ) -> tuple[tuple[str | None, ...], dict[str, Any], Estimate] | None:
        """Plan with values chosen so the planner expects about the observed rows."""
        mapped = {
            u.param: u
            for u in uses
            if u.param and u.usage in ("eq", "range") and u.expression is None
        }
        if parsing.qual_params(stmt.query) - set(mapped):
            return None  # a NULL in a condition would fold the plan to nothing
        options = {}
        for number, use in sorted(mapped.items()):
            row = await self.driver.fetchrow(
                queries.COLUMN_STATS, use.schema, use.table, use.column
            )
            found = estimates.probe_values(_column_stats(row)) if row else []
            if not found:
                return None
            options[number] = found
        tried = []
        combos = itertools.product(*options.values())
        for combo in itertools.islice(combos, estimates.MAX_COMBINATIONS):
            values: list[str | None] = [None] * nparams
            for number, value in zip(options, combo, strict=True):
                values[number - 1] = value
            plan = await self._explain(stmt.query, nparams, tuple(values))
            if (scan := estimates.scan_of(plan)) is not None:
                tried.append(((tuple(values), scan.rows), plan))
        if not tried:
            return None
        (best, rows), plan = min(
            tried, key=lambda t: estimates.distance(t[0][1], generic.observed_rows)
        )
        if estimates.distance(rows, generic.observed_rows) >= estimates.distance(
            generic.estimated_rows, generic.observed_rows
        ):
            return None
        return best, plan, dataclasses.replace(generic, values=best, value_rows=rows)

    def _trigram_note(
        self, stmt: StatementStat, uses: Sequence[ColumnUse], plan: dict[str, Any]
    ) -> None:
        """Say why a LIKE/ILIKE on a sequentially scanned table got no trigram index."""
        scanned = {
            n.removeprefix("Seq Scan on ") for n in _nodes(plan) if n.startswith("Seq Scan on ")
        }
        likes = [u for u in uses if u.usage == "like" and u.table in scanned]
        if not likes:
            return
        col = likes[0]
        index = (
            f"CREATE INDEX CONCURRENTLY ON {qualified(col.schema, col.table)} "
            f"USING gin ({quote(col.column)} gin_trgm_ops)"
        )
        if not self.facts.has_pg_trgm:
            why = "needs the pg_trgm extension (CREATE EXTENSION pg_trgm), then re-run to test it"
        elif "gin" in self.unsupported:
            why = (
                f"could not be tested: HypoPG refused it ({self.unsupported['gin']}), "
                "so it is not a recommendation"
            )
        else:
            return
        self.notes.append(
            f"{shorten(stmt.query, 80)!r} filters {col.column} with LIKE/ILIKE on a "
            f"sequential scan: a trigram index ({index}) might serve it but {why}"
        )

    async def joint(
        self, plans: Sequence[StatementPlan], chosen: Sequence[Candidate]
    ) -> list[StatementPlan]:
        oids = {}
        for candidate in chosen:
            if (oid := await self._create(candidate)) is not None:
                oids[oid] = candidate
        tables = {(c.schema, c.table) for c in chosen}
        out = []
        for plan in plans:
            touched = {(u.schema, u.table) for u in plan.columns} & tables
            if plan.cost is None or not touched:
                out.append(plan)
                continue
            values = plan.estimate.values if plan.estimate and plan.estimate.values else None
            nparams = parsing.param_count(plan.statement.query)
            await self._exec(f"SAVEPOINT {_SAVEPOINT}")
            try:
                tree = await self._explain(plan.statement.query, nparams, values)
            except asyncpg.PostgresError as exc:
                await self._recover(exc)
                out.append(plan)
                continue
            await self._exec(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            used = tuple(oids[o] for o in sorted(_index_oids(tree)) if o in oids)
            out.append(dataclasses.replace(plan, joint_cost=_cost(tree), joint_used=used))
        await self._exec("SELECT hypopg_reset()")
        return out


def _column_stats(row: Any) -> estimates.ColumnStats:
    return estimates.ColumnStats(
        mcv=tuple(row["mcv"] or ()),
        freqs=tuple(row["freqs"] or ()),
        histogram=tuple(row["histogram"] or ()),
        category=str(row["category"] or ""),
    )


def _literal(value: str | None) -> str:
    """A value as an SQL literal; the values come from pg_stats, not from a user."""
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'"


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


def _index_oids(plan: dict[str, Any]) -> set[int]:
    """The hypothetical indexes (``<oid>btree_...``) a plan uses."""
    found = set()
    if (name := plan.get("Index Name")) and (match := _HYPO_NAME.match(str(name))):
        found.add(int(match.group(1)))
    for child in plan.get("Plans", []):
        found |= _index_oids(child)
    return found


def _describe(exc: asyncpg.PostgresError) -> str:
    return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
