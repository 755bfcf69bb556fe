"""The :class:`DatabaseOptimizer` facade over the optimizer's steps.

``DatabaseOptimizer(engine).analyze()`` reads the catalogs, pg_stat_statements and
HypoPG-tested plans, and returns an :class:`OptimizationReport` of
:class:`Recommendation` objects; it never changes the database. ``apply()`` runs the
SQL of chosen safe recommendations (concurrent index builds, VACUUM, ANALYZE), and
``snapshot()`` records a pg_stat_statements snapshot for the time windows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.optimizer import apply as apply_mod
from personal_assistant.optimizer import fetch, hypo, rules, snapshots
from personal_assistant.optimizer.models import OptimizationReport, Recommendation
from personal_assistant.optimizer.settings import OptimizerSettings, get_optimizer_settings


class DatabaseOptimizer:
    """Analyze one database and, when asked, apply chosen safe recommendations."""

    def __init__(self, engine: AsyncEngine, settings: OptimizerSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings or get_optimizer_settings()

    async def analyze(self) -> OptimizationReport:
        """Read-only: collect the catalog facts and statements, then run the rules."""
        facts = await fetch.fetch_facts(self.engine, self.settings)
        plans, hypo_notes = await hypo.plan_statements(self.engine, facts, self.settings)
        recs = rules.all_recommendations(facts, plans, self.settings)
        return OptimizationReport(
            generated_at=datetime.now(UTC),
            recommendations=tuple(recs),
            tables=facts.tables,
            indexes=facts.indexes,
            statements=tuple(plans),
            unavailable=facts.unavailable,
            notes=facts.notes + tuple(hypo_notes),
            stats_age_seconds=facts.stats_age_seconds,
            windows={
                name: [s.__dict__ for s in stmts[:10]] for name, stmts in facts.windows.items()
            },
        )

    async def snapshot(self) -> int:
        """Record pg_stat_statements now (creates the table on first use); rows stored."""
        return await snapshots.take_snapshot(self.engine, self.settings)

    async def apply(self, recommendations: Iterable[Recommendation]) -> list[Recommendation]:
        """Run the SQL of safe recommendations one by one; returns those applied."""
        return await apply_mod.apply_recommendations(self.engine, recommendations)
