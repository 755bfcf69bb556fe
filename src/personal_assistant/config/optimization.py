"""Database optimizer: settings (``OPTIMIZER_*``) and the :class:`DatabaseOptimizer` facade.

``DatabaseOptimizer(engine).analyze()`` reads the catalogs, pg_stat_statements and
HypoPG-tested plans, and returns an :class:`OptimizationReport` of
:class:`Recommendation` objects; it never changes the database. ``apply()`` runs the
SQL of chosen safe recommendations (concurrent index builds, VACUUM, ANALYZE), and
``snapshot()`` records a pg_stat_statements snapshot for the time windows. The work is
done in :mod:`personal_assistant.optimizer`; docs/performance-optimization.md
explains every check and threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Le
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.database import load_database_config, load_settings
from personal_assistant.optimizer import apply as apply_mod
from personal_assistant.optimizer import fetch, hypo, rules, snapshots
from personal_assistant.optimizer.errors import OptimizerError
from personal_assistant.optimizer.models import (
    Kind,
    OptimizationReport,
    Recommendation,
    Severity,
)

Ratio = Annotated[float, Ge(0), Le(1)]


class OptimizerSettings(BaseSettings):
    """Thresholds of every check; defaults follow PgHero and Dexter where they have one."""

    model_config = SettingsConfigDict(
        env_prefix="OPTIMIZER_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    #: Bound on every query the optimizer runs (milliseconds).
    statement_timeout_ms: Annotated[int, Ge(100), Le(600_000)] = 5_000
    #: How many statements (by total and by mean time) get planned and index-tested.
    top_statements: Annotated[int, Ge(1), Le(500)] = 20
    statement_min_calls: Annotated[int, Ge(1)] = 2
    #: Which counters rank the statements: since the last reset, or a snapshot window.
    window: Literal["total", "hour", "day"] = "total"
    snapshot_retention_days: Annotated[int, Ge(1), Le(3650)] = 14
    #: A hypothetical index is recommended only if it cuts the estimated cost this much.
    min_cost_reduction: Annotated[float, Gt(0), Le(0.99)] = 0.5
    max_candidates_per_statement: Annotated[int, Ge(1), Le(100)] = 12
    slow_query_mean_ms: Annotated[float, Ge(0)] = 100.0
    #: Unused-index checks wait until the statistics cover this long (hours).
    unused_index_min_stats_age_hours: Annotated[float, Ge(0)] = 168.0
    unused_index_max_scans: Annotated[int, Ge(0)] = 0
    #: Read replicas whose index scans count too (``OPTIMIZER_REPLICA_URLS='["..."]'``).
    replica_urls: list[SecretStr] = []
    vacuum_dead_ratio: Ratio = 0.2
    vacuum_min_dead_tuples: Annotated[int, Ge(0)] = 1_000
    analyze_mod_ratio: Ratio = 0.2
    analyze_min_rows: Annotated[int, Ge(0)] = 1_000
    sequence_used_ratio: Ratio = 0.75
    sequence_critical_ratio: Ratio = 0.9
    bloat_ratio: Ratio = 0.5
    bloat_min_bytes: Annotated[int, Ge(0)] = 10 * 1024 * 1024
    cache_hit_ratio_min: Ratio = 0.95
    cache_min_blocks: Annotated[int, Ge(0)] = 10_000
    fk_index_min_rows: Annotated[int, Ge(0)] = 1_000


@lru_cache(maxsize=1)
def get_optimizer_settings() -> OptimizerSettings:
    """Process-wide settings (tests call ``get_optimizer_settings.cache_clear()``).

    Without ``OPTIMIZER_REPLICA_URLS`` the application's own ``DATABASE_REPLICA_URLS``
    count: an index idle on the primary may be what the replicas' reads use.
    """
    settings = load_settings(OptimizerSettings)
    if settings.replica_urls:
        return settings
    replicas = load_database_config().replica_urls
    if replicas is None:
        return settings
    urls = [SecretStr(url.strip()) for url in replicas.get_secret_value().split(",")]
    return settings.model_copy(update={"replica_urls": urls})


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


__all__ = [
    "DatabaseOptimizer",
    "Kind",
    "OptimizationReport",
    "OptimizerError",
    "OptimizerSettings",
    "Recommendation",
    "Severity",
    "get_optimizer_settings",
]
