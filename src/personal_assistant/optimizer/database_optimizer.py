"""The :class:`DatabaseOptimizer` facade over the optimizer's steps.

``DatabaseOptimizer(engine).analyze()`` reads the catalogs, pg_stat_statements and
HypoPG-tested plans, and returns an :class:`OptimizationReport` of
:class:`Recommendation` objects; it never changes the database. ``apply()`` runs the
SQL of chosen safe recommendations (concurrent index builds, VACUUM, ANALYZE), and
``snapshot()`` records a pg_stat_statements snapshot for the time windows.

Every step runs inside :func:`.errors.database_step`: the server going away or a
statement being cancelled ends the analysis with one
:class:`~.errors.OptimizerDatabaseError` naming the step, never a driver traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.optimizer import apply as apply_mod
from personal_assistant.optimizer import choose, fetch, hypo, ranking, rules, snapshots, suggest
from personal_assistant.optimizer.errors import database_step
from personal_assistant.optimizer.models import CatalogFacts, OptimizationReport, Recommendation
from personal_assistant.optimizer.privileges import unplanned_statements
from personal_assistant.optimizer.settings import OptimizerSettings, get_optimizer_settings
from personal_assistant.optimizer.statements import StatementPlan, shorten


class DatabaseOptimizer:
    """Analyze one database and, when asked, apply chosen safe recommendations."""

    def __init__(self, engine: AsyncEngine, settings: OptimizerSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings or get_optimizer_settings()

    async def analyze(self) -> OptimizationReport:
        """Read-only: collect the facts and plans, choose the index set, run the rules."""
        settings = self.settings
        with database_step("reading the catalogs, statistics and pg_stat_statements"):
            facts = await fetch.fetch_facts(self.engine, settings)
        with database_step("planning the top statements and testing indexes with HypoPG"):
            plans, notes = await hypo.plan_statements(self.engine, facts, settings)
        needs = choose.fk_needs(facts.foreign_keys, facts.indexes, settings.fk_index_min_rows)
        choices = choose.choose(plans, needs, settings.min_cost_reduction)
        with database_step("planning the statements with the chosen indexes together"):
            plans = await hypo.check_set(
                self.engine, facts, settings, plans, [c.candidate for c in choices]
            )
        index_recs, index_notes = suggest.index_recommendations(choices, plans, facts, settings)
        recs = ranking.rank(
            [*rules.maintenance_recommendations(facts, plans, settings), *index_recs]
        )
        refused, failed = _plan_problems(plans, facts)
        return OptimizationReport(
            generated_at=datetime.now(UTC),
            recommendations=tuple(recs),
            tables=facts.tables,
            indexes=facts.indexes,
            statements=tuple(plans),
            unavailable=facts.unavailable + refused,
            notes=facts.notes + tuple(notes) + failed + tuple(index_notes),
            stats_age_seconds=facts.stats_age_seconds,
            windows={
                name: [s.__dict__ for s in stmts[:10]] for name, stmts in facts.windows.items()
            },
            period_seconds=facts.statements_period_seconds,
            ranking=ranking.RULE,
        )

    async def snapshot(self) -> int:
        """Record pg_stat_statements now (creates the table on first use); rows stored."""
        with database_step("recording a pg_stat_statements snapshot"):
            return await snapshots.take_snapshot(self.engine, self.settings)

    async def apply(self, recommendations: Iterable[Recommendation]) -> apply_mod.ApplyOutcome:
        """Run the SQL of safe recommendations one by one: what was applied, what failed."""
        return await apply_mod.apply_recommendations(self.engine, recommendations, self.settings)


def _plan_problems(
    plans: Sequence[StatementPlan], facts: CatalogFacts
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Statements refused for lack of privileges (``unavailable``), and other failures."""
    refused = [p.statement.query for p in plans if (p.error or "").startswith("InsufficientPriv")]
    failed = tuple(
        f"could not plan {shorten(p.statement.query, 80)!r} (queryid {p.statement.queryid}): "
        f"{p.error}"
        for p in plans
        if p.error and not p.error.startswith("InsufficientPriv")
    )
    unavailable = (unplanned_statements(facts.privileges.role, refused),) if refused else ()
    return unavailable, failed
