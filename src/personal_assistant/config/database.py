"""Database settings (``DatabaseConfig``) and the engine factory built from them.

Everything configurable comes from ``DATABASE_*`` environment variables (or a ``.env``
file). Invalid values stop start-up with a :class:`ConfigurationError` that names the
variable and the allowed range, because a pool silently falling back to a default is
how production outages start. The URL is kept as a secret: it is only ever rendered
masked (``postgresql+asyncpg://app:***@db/app``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, TypeVar

from annotated_types import Ge, Gt, Le
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from personal_assistant.database.errors import ConfigurationError
from personal_assistant.database.ping import install_pre_ping
from personal_assistant.database.pool import InstrumentedAsyncPool
from personal_assistant.database.pool_stats import PoolStatsCollector
from personal_assistant.database.retry import RetryPolicy, make_async_creator

ENV_PREFIX = "DATABASE_"
SettingsT = TypeVar("SettingsT", bound=BaseSettings)

#: URL schemes we accept; all are rewritten to the asyncpg driver.
ACCEPTED_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")


def normalize_database_url(raw: str) -> URL:
    """Parse ``raw`` and return it as a ``postgresql+asyncpg`` URL.

    Raises ``ValueError`` with a message that never contains the password.
    """
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ValueError(
            "is not a database URL; expected postgresql://user:password@host:port/dbname"
        ) from None
    if url.drivername not in ACCEPTED_SCHEMES:
        raise ValueError(
            f"has unknown scheme {url.drivername!r}; accepted: {', '.join(ACCEPTED_SCHEMES)}"
        )
    return url.set(drivername="postgresql+asyncpg")


def mask_url(url: URL | str) -> str:
    """Render ``url`` with its password replaced by ``***``."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.render_as_string(hide_password=True)


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
    pool_pre_ping_idle: Annotated[float, Ge(0), Le(3600)] = 0.0
    pool_overflow_grace: Annotated[float, Ge(0), Le(3600)] = 10.0
    connect_retries: Annotated[int, Ge(0), Le(20)] = 3
    connect_retry_initial_delay: Annotated[float, Ge(0), Le(60)] = 0.5
    connect_retry_max_delay: Annotated[float, Ge(0), Le(300)] = 10.0
    connect_timeout: Annotated[float, Gt(0), Le(300)] = 10.0
    statement_timeout: int | None = Field(default=None, ge=0, le=86_400_000)
    lock_timeout: int | None = Field(default=None, ge=0, le=86_400_000)
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

    @field_validator("url", mode="before")
    @classmethod
    def _check_url(cls, value: object) -> object:
        if value is None or value == "":
            return None
        raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        normalize_database_url(raw)  # raises ValueError naming the problem
        return raw

    @field_validator("migration_url", mode="before")
    @classmethod
    def _check_migration_url(cls, value: object) -> object:
        return cls._check_url(value)

    @field_validator("replica_urls", mode="before")
    @classmethod
    def _check_replica_urls(cls, value: object) -> object:
        if value is None or value == "":
            return None
        raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        for number, part in enumerate(raw.split(","), start=1):
            if not part.strip():
                raise ValueError(f"entry {number} is empty")
            try:
                normalize_database_url(part)
            except ValueError as exc:
                raise ValueError(f"entry {number} {exc}") from None
        return raw

    @property
    def replica_url_list(self) -> list[URL]:
        """The replicas' asyncpg URLs (passwords included: never print them)."""
        if self.replica_urls is None:
            return []
        raw = self.replica_urls.get_secret_value()
        return [normalize_database_url(part) for part in raw.split(",")]

    @property
    def migration_sqlalchemy_url(self) -> URL:
        """Where migrations connect: ``DATABASE_MIGRATION_URL``, else ``DATABASE_URL``.

        Behind PgBouncer (transaction mode) migrations need a real session: advisory
        locks and statements outside a transaction do not survive transaction pooling.
        """
        if self.migration_url is not None:
            return normalize_database_url(self.migration_url.get_secret_value())
        return self.sqlalchemy_url

    @property
    def sqlalchemy_url(self) -> URL:
        """The asyncpg URL, password included: pass it to drivers, never print it."""
        if self.url is None:
            raise ConfigurationError(
                "DATABASE_URL is not set; start the embedded server "
                "(personal_assistant.database.embedded) or set DATABASE_URL"
            )
        return normalize_database_url(self.url.get_secret_value())

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

    def timeouts(self) -> dict[str, str]:
        """``statement_timeout``/``lock_timeout`` as server settings (only those set)."""
        settings = {}
        if self.statement_timeout is not None:
            settings["statement_timeout"] = str(self.statement_timeout)
        if self.lock_timeout is not None:
            settings["lock_timeout"] = str(self.lock_timeout)
        return settings

    def server_settings(self) -> dict[str, str]:
        """Session parameters sent in the startup packet of every connection.

        Behind PgBouncer only ``application_name`` goes there: PgBouncer rejects other
        startup parameters, and a session-level setting would leak to other clients
        sharing the server connection. Timeouts are then set per transaction instead
        (see :func:`create_engine_from_config`).
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


def _allowed_range(field_name: str) -> str:
    """Describe the bounds declared on a ``DatabaseConfig`` field, e.g. ``1..1000``."""
    field = DatabaseConfig.model_fields[field_name]
    low: Any = None
    high: Any = None
    for meta in field.metadata:
        if isinstance(meta, Ge | Gt):
            low = f">={meta.ge}" if isinstance(meta, Ge) else f">{meta.gt}"
        if isinstance(meta, Le):
            high = meta.le
    if field.annotation is bool:
        return "true or false"
    if low is not None and high is not None:
        return f"{low} and <={high}"
    if field_name == "url":
        return "postgresql://, postgres:// or postgresql+asyncpg:// URL"
    return low or "see docs/configuration.md"


#: Fields whose values may hold passwords: never echoed in errors.
_SECRET_FIELDS = ("url", "migration_url", "replica_urls")


def _config_error(exc: ValidationError, env: Mapping[str, str]) -> ConfigurationError:
    """Turn pydantic's error into one naming the environment variable and its range."""
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        var = f"{ENV_PREFIX}{name.upper()}"
        shown = "<hidden>" if name in _SECRET_FIELDS else repr(env.get(var, ""))
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{var}={shown} is invalid: {msg} (allowed: {_allowed_range(name)})")
    return ConfigurationError("; ".join(lines))


def load_database_config(**overrides: Any) -> DatabaseConfig:
    """Read ``DatabaseConfig`` from the environment, converting errors to ``ConfigurationError``."""
    try:
        return DatabaseConfig(**overrides)
    except ValidationError as exc:
        raise _config_error(exc, os.environ) from None


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Build any other settings class, naming the environment variable on errors.

    Values are not echoed: some settings (Redis URL, tokens) may hold secrets.
    """
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    try:
        return cls()
    except ValidationError as exc:
        problems = [
            f"{prefix}{str(e['loc'][0]).upper()} is invalid: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigurationError("; ".join(problems)) from None
    except SettingsError as exc:  # e.g. a list variable that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"{prefix}{field.group(1).upper()}" if field else cls.__name__
        raise ConfigurationError(f"{name} is invalid: {exc}") from None


@lru_cache(maxsize=1)
def get_database_config() -> DatabaseConfig:
    """The process-wide settings, read once (tests call ``get_database_config.cache_clear()``)."""
    return load_database_config()


def create_engine_from_config(
    config: DatabaseConfig,
    stats: PoolStatsCollector | None = None,
    *,
    url: URL | None = None,
) -> AsyncEngine:
    """Build the async engine and its instrumented pool from ``config``.

    Connections are opened by :func:`make_async_creator`, which retries with
    exponential backoff and jitter; statements are never retried, because one that
    failed half-way may already have had side effects.
    """
    url = url or config.sqlalchemy_url
    collector = stats or PoolStatsCollector(config.pool_size, config.max_overflow)
    holder: dict[str, AsyncEngine] = {}
    async_connect = make_async_creator(
        url,
        policy=config.retry_policy(),
        connect_timeout=config.connect_timeout,
        server_settings=config.server_settings(),
        statement_cache_size=0 if config.pgbouncer else 100,
        masked_url=mask_url(url),
    )

    def creator() -> Any:
        # The adapted DB-API connect is what SQLAlchemy itself would call; going
        # through it keeps SQLAlchemy's asyncpg adaptation while letting us pass
        # the prepared-statement cache size (zero behind PgBouncer).
        dbapi = holder["engine"].sync_engine.dialect.dbapi
        assert dbapi is not None
        return dbapi.connect(
            async_creator_fn=async_connect,
            prepared_statement_cache_size=0 if config.pgbouncer else 100,
        )

    engine = create_async_engine(
        url,
        creator=creator,
        poolclass=InstrumentedAsyncPool,
        pool_size=config.pool_size,
        max_overflow=config.max_overflow,
        pool_timeout=config.pool_timeout,
        pool_recycle=config.pool_recycle,
        pool_pre_ping=False,  # ours is one round trip instead of three (database/ping.py)
        echo=config.echo,
        hide_parameters=True,
    )
    holder["engine"] = engine
    if config.pool_pre_ping:
        install_pre_ping(engine, idle_s=config.pool_pre_ping_idle)
    collector.attach(engine)
    pool = engine.sync_engine.pool
    if isinstance(pool, InstrumentedAsyncPool):
        pool.pa_overflow_grace = config.pool_overflow_grace
    if config.pgbouncer and config.timeouts():
        _set_timeouts_per_transaction(engine, config.timeouts())
    return engine


def _set_timeouts_per_transaction(engine: AsyncEngine, timeouts: dict[str, str]) -> None:
    """Apply timeouts with ``set_config(..., is_local => true)`` at each BEGIN.

    Transaction-local settings vanish at COMMIT/ROLLBACK, so nothing leaks to the
    next client PgBouncer hands the server connection to. Costs one round trip per
    transaction, only in PgBouncer mode.
    """
    calls = ", ".join(f"set_config('{name}', :{name}, true)" for name in timeouts)
    statement = text(f"SELECT {calls}")  # names are our own constants; values are bound

    def on_begin(conn: Any) -> None:
        conn.execute(statement, timeouts)

    event.listen(engine.sync_engine, "begin", on_begin)
