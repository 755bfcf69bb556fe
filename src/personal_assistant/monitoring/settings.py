"""Monitoring settings, read from the environment (or ``.env``).

Every field maps to the environment variable of the same name in upper case, e.g.
``health_db_timeout`` → ``HEALTH_DB_TIMEOUT``. ``HEALTH_TOKEN`` lives in
:mod:`personal_assistant.api.settings` and ``DATABASE_SLOW_QUERY_MS`` in
:class:`~personal_assistant.database.settings.DatabaseConfig`, where their siblings are.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from annotated_types import Ge, Gt, Le
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from personal_assistant.database.settings_loader import load_settings, raw_text


class MonitoringSettings(BaseSettings):
    """Timeouts and thresholds of the health endpoints, alert rules and fan-out targets."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    # -- /health/database and /health/ready ----------------------------------------
    health_db_timeout: Annotated[float, Gt(0), Le(60)] = Field(
        default=2.0, description="seconds a database health round trip may take"
    )
    health_db_cache_s: Annotated[float, Ge(0), Le(60)] = Field(
        default=1.0,
        description="seconds a database probe result answers later health requests "
        "(concurrent requests always share one probe); 0: probe per request",
    )
    health_db_slow_ms: Annotated[float, Gt(0)] = Field(
        default=500.0, description="round trip above this many ms reports warn"
    )
    health_connections_warn: Annotated[float, Gt(0), Le(1)] = Field(
        default=0.8, description="server connections / max_connections above this: warn"
    )
    health_connections_fail: Annotated[float, Gt(0), Le(1)] = Field(
        default=0.95, description="server connections / max_connections above this: fail"
    )
    health_migrations_cache_s: Annotated[float, Ge(0)] = Field(
        default=30.0, description="how long readiness trusts a 'no pending migrations' answer"
    )
    # -- blocked and long-running sessions (/health/database) -------------------------
    health_blocked_warn_s: Annotated[float, Gt(0), Le(86_400)] = Field(
        default=5.0, description="a session waiting on a lock longer than this many s: warn"
    )
    health_blocked_fail_s: Annotated[float, Gt(0), Le(86_400)] = Field(
        default=30.0, description="a session waiting on a lock longer than this many s: fail"
    )
    health_long_running_s: Annotated[float, Gt(0), Le(86_400)] = Field(
        default=60.0,
        description="a transaction open longer than this many s is listed as long-running",
    )
    # -- /health/database/pool -------------------------------------------------------
    health_pool_warn_utilization: Annotated[float, Gt(0), Le(1)] = 0.8
    health_pool_warn_wait_ratio: Annotated[float, Gt(0), Le(1)] = 0.1
    health_pool_warn_wait_p95_ms: Annotated[float, Gt(0)] = 100.0
    # -- query performance and alerts ------------------------------------------------
    perf_window_s: Annotated[float, Ge(10), Le(86_400)] = Field(
        default=300.0, description="rolling window of the live percentiles"
    )
    perf_max_fingerprints: Annotated[int, Ge(1), Le(10_000)] = Field(
        default=200, description="distinct statements tracked; the rest count as 'other'"
    )
    perf_slow_buffer: Annotated[int, Ge(1), Le(10_000)] = 100
    perf_alert_factor: Annotated[float, Gt(1)] = Field(
        default=1.5, description="rolling p95 above baseline p95 times this raises an alert"
    )
    perf_alert_floor_ms: Annotated[float, Ge(0)] = Field(
        default=10.0, description="statement alerts need the rolling p95 above this too"
    )
    perf_alert_overall_p95_ms: Annotated[float, Gt(0)] = 100.0
    perf_alert_min_samples: Annotated[int, Ge(1)] = Field(
        default=20, description="rolling samples a statement needs before it can alert"
    )
    perf_eval_interval_s: Annotated[float, Gt(0), Le(3600)] = 10.0
    alert_webhook_url: str | None = Field(
        default=None, description="alerts raised and cleared are POSTed here as JSON"
    )
    # -- PgBouncer -------------------------------------------------------------------------
    pgbouncer_admin_url: SecretStr | None = Field(
        default=None,
        description="PgBouncer admin console URL (database 'pgbouncer'): SHOW POOLS/STATS",
    )
    # -- several workers -----------------------------------------------------------------
    redis_url: SecretStr | None = Field(
        default=None, description="workers publish their snapshots here; unset: per process"
    )
    redis_key_prefix: str = "pa:monitoring"
    worker_publish_interval_s: Annotated[float, Gt(0), Le(3600)] = 5.0
    worker_snapshot_ttl_s: Annotated[float, Gt(0), Le(86_400)] = 20.0
    redis_timeout: Annotated[float, Gt(0), Le(60)] = 0.5

    @field_validator("redis_url", "alert_webhook_url", "pgbouncer_admin_url", mode="before")
    @classmethod
    def _check_url_scheme(cls, value: object, info: ValidationInfo) -> object:
        """Refuse a URL of the wrong kind at start-up, not at the first publish or alert."""
        raw = raw_text(value)
        if raw is None:
            return None
        allowed = _URL_SCHEMES[str(info.field_name)]
        scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
        if scheme not in allowed:
            raise ValueError(
                f"must be a URL starting with {' or '.join(s + '://' for s in allowed)}"
            )
        return raw


#: Schemes each URL setting accepts.
_URL_SCHEMES = {
    "redis_url": ("redis", "rediss", "unix"),
    "alert_webhook_url": ("http", "https"),
    "pgbouncer_admin_url": ("postgresql", "postgres"),
}


@lru_cache(maxsize=1)
def get_monitoring_settings() -> MonitoringSettings:
    """The process-wide settings (tests override the FastAPI dependency instead)."""
    return load_settings(MonitoringSettings)
