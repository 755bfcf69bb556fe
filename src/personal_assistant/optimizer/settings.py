"""Optimizer settings (``OPTIMIZER_*``): the threshold of every check, in one place.

docs/performance-optimization.md explains every check and threshold.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Le
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from personal_assistant.database.settings import get_database_settings
from personal_assistant.database.settings_loader import load_settings

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
    max_candidates_per_statement: Annotated[int, Ge(1), Le(100)] = 16
    #: The planner's row estimate and pg_stat_statements' rows per call disagreeing by
    #: this factor (or more) makes the statement be planned with observed values, and,
    #: with ``stale_min_mod_ratio`` of the table changed since ANALYZE, a
    #: ``stale_statistics`` recommendation.
    estimate_mismatch_ratio: Annotated[float, Ge(2)] = 100.0
    stale_min_mod_ratio: Ratio = 0.01
    #: Estimated time one row write spends maintaining one more btree index (ms): what
    #: an index costs per day is the table's index writes per day times this.
    index_write_cost_ms: Annotated[float, Ge(0)] = 0.01
    #: ``--apply`` waits at most this long for a lock (its session only; builds
    #: themselves run with ``statement_timeout = 0``).
    apply_lock_timeout_ms: Annotated[int, Ge(100), Le(3_600_000)] = 10_000
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
    replicas = get_database_settings().replica_url_list
    urls = [SecretStr(url.render_as_string(hide_password=False)) for url in replicas]
    return settings.model_copy(update={"replica_urls": urls}) if urls else settings
