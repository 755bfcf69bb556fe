"""Database settings: :class:`DatabaseConfig`, read from ``DATABASE_*`` variables.

Everything configurable comes from ``DATABASE_*`` environment variables (or a ``.env``
file). Invalid values stop start-up with a :class:`ConfigurationError` that names the
variable and the allowed range, because a pool silently falling back to a default is
how production outages start. URLs are kept as secrets: they are only ever rendered
masked (``postgresql+asyncpg://app:***@db/app``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

from personal_assistant.database.retry import RetryPolicy
from personal_assistant.database.settings_loader import load_settings, raw_text
from personal_assistant.database.urls import (
    PRIMARY_SESSION_ATTRS,
    REPLICA_SESSION_ATTRS,
    mask_url,
    normalize_database_url,
    split_url_list,
    with_session_attrs,
)
from personal_assistant.errors import ConfigurationError

ENV_PREFIX = "DATABASE_"


class DatabaseConfig(BaseSettings):
    """Connection and pool settings, read from ``DATABASE_*`` environment variables.

    Defaults follow the service's sizing: 20 pooled connections plus 30 overflow, a
    30 s checkout timeout and recycling after 30 minutes (below typical load-balancer
    and PgBouncer idle cut-offs).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
    )

    url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL; unset means the embedded server under ./.pa-data/",
    )
    pool_size: Annotated[int, Ge(1), Le(1000)] = 20
    max_overflow: Annotated[int, Ge(0), Le(1000)] = 30
    pool_timeout: Annotated[float, Gt(0), Le(3600)] = 30.0
    pool_recycle: Annotated[int, Ge(-1), Le(86400)] = 1800
    pool_pre_ping: bool = True
    #: Ping only connections idle this long (s); reads on warmer ones retry once instead.
    pool_pre_ping_idle: Annotated[float, Ge(0), Le(3600)] = 10.0
    pool_overflow_grace: Annotated[float, Ge(0), Le(3600)] = 10.0
    connect_retries: Annotated[int, Ge(0), Le(20)] = 3
    connect_retry_initial_delay: Annotated[float, Ge(0), Le(60)] = 0.5
    connect_retry_max_delay: Annotated[float, Ge(0), Le(300)] = 10.0
    connect_timeout: Annotated[float, Gt(0), Le(300)] = 10.0
    #: Request connections' bounds (ms): a lock pile-up ends in errors (503), not in
    #: hung workers. Per session: ``SET LOCAL statement_timeout = ...`` in a transaction.
    statement_timeout: int | None = Field(default=30_000, ge=0, le=86_400_000)
    lock_timeout: int | None = Field(default=5_000, ge=0, le=86_400_000)
    #: The client's last bound on one statement (s): asyncpg's ``command_timeout``,
    #: for a server that stops answering mid-statement. Unset: statement_timeout + 5 s.
    command_timeout: float | None = Field(default=None, gt=0, le=86_400)
    echo: bool = False
    pgbouncer: bool = False
    migration_url: SecretStr | None = Field(
        default=None,
        description="direct PostgreSQL URL for migrations when DATABASE_URL goes through PgBouncer",
    )
    replica_urls: SecretStr | None = Field(
        default=None, description="comma-separated URLs of read replicas"
    )
    max_replica_lag_ms: Annotated[float, Ge(0), Le(86_400_000)] = 1000.0
    replica_check_interval: Annotated[float, Gt(0), Le(3600)] = 2.0
    slow_query_ms: Annotated[float, Ge(0), Le(3_600_000)] = 100.0
    application_name: Annotated[str, Field(min_length=1, max_length=63)] = "personal-assistant"

    @field_validator("url", "migration_url", "replica_urls", mode="before")
    @classmethod
    def _check_urls(cls, value: object, info: ValidationInfo) -> object:
        """Refuse a malformed URL at start-up; the message never holds the password."""
        raw = raw_text(value)
        if raw is None:
            return None
        if info.field_name == "replica_urls":
            split_url_list(raw)  # raises ValueError naming the entry
        else:
            normalize_database_url(raw)  # raises ValueError naming the problem
        return raw

    @property
    def replica_url_list(self) -> list[URL]:
        """The replicas' asyncpg URLs (passwords included: never print them).

        An entry naming several hosts asks for a standby among them unless it says
        otherwise (``target_session_attrs=prefer-standby``).
        """
        if self.replica_urls is None:
            return []
        urls = split_url_list(self.replica_urls.get_secret_value())
        return [with_session_attrs(url, REPLICA_SESSION_ATTRS) for url in urls]

    @property
    def migration_sqlalchemy_url(self) -> URL:
        """Where migrations connect: ``DATABASE_MIGRATION_URL``, else ``DATABASE_URL``.

        Behind PgBouncer (transaction mode) migrations need a real session: advisory
        locks and statements outside a transaction do not survive transaction pooling.
        """
        if self.migration_url is not None:
            url = normalize_database_url(self.migration_url.get_secret_value())
            return with_session_attrs(url, PRIMARY_SESSION_ATTRS)
        return self.sqlalchemy_url

    def for_migrations(self) -> DatabaseConfig:
        """The settings migrations connect with: the one place that picks their URL.

        ``DATABASE_MIGRATION_URL`` when set (a direct server behind PgBouncer, so
        ``pgbouncer`` mode is off), else ``DATABASE_URL``. No request timeouts: the
        migration runner sets its own per step.
        """
        config = self.for_maintenance()
        if self.migration_url is None:
            return config
        return config.model_copy(
            update={"url": self.migration_url, "migration_url": None, "pgbouncer": False}
        )

    def for_maintenance(self) -> DatabaseConfig:
        """These settings without the request timeouts, for long operator work (CLI)."""
        return self.model_copy(
            update={"statement_timeout": None, "lock_timeout": None, "command_timeout": None}
        )

    @property
    def effective_command_timeout(self) -> float | None:
        """``command_timeout`` as set, else ``statement_timeout`` plus 5 s (``None``: none)."""
        if self.command_timeout is not None:
            return self.command_timeout
        if self.statement_timeout:
            return self.statement_timeout / 1000 + 5.0
        return None

    @property
    def sqlalchemy_url(self) -> URL:
        """The asyncpg URL, password included: pass it to drivers, never print it.

        With several hosts and no ``target_session_attrs``, it asks for the one that
        accepts writes (``read-write``): the pool follows the primary through a failover.
        """
        if self.url is None:
            raise ConfigurationError(
                "DATABASE_URL is not set; start the embedded server "
                "(personal_assistant.database.embedded.database_server) or set DATABASE_URL"
            )
        url = normalize_database_url(self.url.get_secret_value())
        return with_session_attrs(url, PRIMARY_SESSION_ATTRS)

    @property
    def masked_url(self) -> str:
        """The URL safe for logs, errors and endpoints."""
        if self.url is None:
            return "<unset>"
        return mask_url(self.sqlalchemy_url)

    @property
    def capacity(self) -> int:
        """Most connections the pool will ever open at once."""
        return self.pool_size + self.max_overflow

    def with_url(self, url: str) -> DatabaseConfig:
        """A copy of this config pointing at ``url`` (validated: ``ConfigurationError``)."""
        try:
            normalize_database_url(url)
        except ValueError as exc:
            raise ConfigurationError(f"the database URL {exc}") from None
        return self.model_copy(update={"url": SecretStr(url)})

    def timeouts(self, *, explicit_only: bool = False) -> dict[str, str]:
        """``statement_timeout``/``lock_timeout`` as server settings (only those set)."""
        settings = {}
        for name in ("statement_timeout", "lock_timeout"):
            value = getattr(self, name)
            if value is not None and (not explicit_only or name in self.model_fields_set):
                settings[name] = str(value)
        return settings

    def server_settings(self) -> dict[str, str]:
        """Session parameters sent in the startup packet of every connection.

        Behind PgBouncer only ``application_name`` goes there: PgBouncer rejects other
        startup parameters, and a session-level setting would leak to other clients
        sharing the server connection. Timeouts set explicitly are then set per
        transaction instead (see :func:`create_engine_from_config`); the defaults are
        not, to spare every transaction a round trip: there ``command_timeout`` (and
        PgBouncer's own ``query_timeout``) bound a statement.
        """
        settings = {"application_name": self.application_name}
        if not self.pgbouncer:
            settings.update(self.timeouts())
        return settings

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            retries=self.connect_retries,
            initial_delay=self.connect_retry_initial_delay,
            max_delay=self.connect_retry_max_delay,
        )

    def __repr__(self) -> str:
        return (
            f"DatabaseConfig(url={self.masked_url!r}, pool_size={self.pool_size}, "
            f"max_overflow={self.max_overflow}, pool_timeout={self.pool_timeout:g})"
        )

    __str__ = __repr__


def load_database_config(**overrides: Any) -> DatabaseConfig:
    """Read ``DatabaseConfig`` from the environment; bad values raise ``ConfigurationError``."""
    return load_settings(DatabaseConfig, **overrides)


@lru_cache(maxsize=1)
def get_database_settings() -> DatabaseConfig:
    """The process-wide settings, read once (tests call ``cache_clear()``)."""
    return load_database_config()


#: The seed's name for :func:`get_database_settings`.
get_database_config = get_database_settings
