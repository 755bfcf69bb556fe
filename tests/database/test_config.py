"""DatabaseConfig: defaults, accepted URLs, and errors that name the variable."""

from __future__ import annotations

import pytest

from personal_assistant.config.database import (
    DatabaseConfig,
    load_database_config,
    mask_url,
)
from personal_assistant.database.errors import ConfigurationError

SECRET = "s3cr3t-pa55"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("DATABASE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_defaults_match_the_documented_sizing() -> None:
    config = load_database_config()
    assert (config.pool_size, config.max_overflow, config.pool_timeout) == (20, 30, 30.0)
    assert (config.pool_recycle, config.pool_pre_ping, config.connect_retries) == (1800, True, 3)
    assert config.statement_timeout == 30_000 and config.lock_timeout == 5_000
    assert config.effective_command_timeout == 35.0
    assert config.echo is False and config.url is None


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@db:5432/app",
        "postgres://u:p@db:5432/app",
        "postgresql+asyncpg://u:p@db:5432/app",
    ],
)
def test_accepted_url_schemes_become_asyncpg(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    config = load_database_config()
    assert config.sqlalchemy_url.drivername == "postgresql+asyncpg"
    assert config.sqlalchemy_url.database == "app"


def test_environment_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("DATABASE_STATEMENT_TIMEOUT", "1500")
    monkeypatch.setenv("DATABASE_POOL_PRE_PING", "false")
    config = load_database_config()
    assert config.pool_size == 7
    assert config.server_settings()["statement_timeout"] == "1500"
    assert config.pool_pre_ping is False


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DATABASE_POOL_SIZE", "0", ">=1"),
        ("DATABASE_POOL_SIZE", "-5", ">=1"),
        ("DATABASE_POOL_SIZE", "many", "integer"),
        ("DATABASE_MAX_OVERFLOW", "-1", ">=0"),
        ("DATABASE_POOL_TIMEOUT", "soon", "number"),
        ("DATABASE_POOL_TIMEOUT", "0", ">0"),
        ("DATABASE_POOL_RECYCLE", "-2", ">=-1"),
        ("DATABASE_POOL_PRE_PING", "perhaps", "true or false"),
        ("DATABASE_CONNECT_RETRIES", "100", "<=20"),
        ("DATABASE_STATEMENT_TIMEOUT", "-1", ">=0"),
        ("DATABASE_ECHO", "loud", "true or false"),
        ("DATABASE_URL", "mysql://u:p@h/db", "unknown scheme 'mysql'"),
        ("DATABASE_URL", "not a url", "not a database URL"),
    ],
)
def test_invalid_values_name_the_variable_and_the_allowed_range(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as info:
        load_database_config()
    message = str(info.value)
    assert message.startswith(f"{variable}=")
    assert expected in message


def test_a_bad_url_error_does_not_show_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"mysql://app:{SECRET}@db/app")
    with pytest.raises(ConfigurationError) as info:
        load_database_config()
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


def test_repr_and_masked_url_hide_the_password() -> None:
    config = DatabaseConfig(url=f"postgresql://app:{SECRET}@db:5432/app")
    for shown in (repr(config), str(config), config.masked_url, str(config.model_dump())):
        assert SECRET not in shown
    assert "***" in config.masked_url
    assert mask_url(f"postgresql://app:{SECRET}@db/app") == "postgresql://app:***@db/app"


def test_with_url_refuses_a_bad_url_without_showing_it() -> None:
    with pytest.raises(ConfigurationError, match="unknown scheme 'mysql'") as info:
        DatabaseConfig().with_url(f"mysql://app:{SECRET}@db/app")
    assert SECRET not in str(info.value)
