"""URLs naming several hosts: libpq's form, SQLAlchemy's form, and what each part asks for."""

from __future__ import annotations

import pytest

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database.retry import asyncpg_dsn
from personal_assistant.database.urls import (
    mask_url,
    normalize_database_url,
    split_url_list,
    url_hosts,
)

SECRET = "s3cr/et:pw"
TWO_HOSTS = "postgresql://app:s3cr%2Fet%3Apw@db1:5432,db2:5433/app"


def test_libpq_host_lists_are_read_as_hosts_in_order() -> None:
    url = normalize_database_url(TWO_HOSTS)
    assert url_hosts(url) == ("db1:5432", "db2:5433")
    assert url.database == "app" and url.password == SECRET


def test_sqlalchemy_host_pairs_are_read_the_same_way() -> None:
    url = normalize_database_url("postgresql://app@/app?host=db1:5432&host=db2:5433")
    assert url_hosts(url) == ("db1:5432", "db2:5433")


def test_asyncpg_gets_the_hosts_back_in_the_authority() -> None:
    dsn = asyncpg_dsn(DatabaseConfig(url=TWO_HOSTS).sqlalchemy_url)
    assert dsn == (
        "postgresql://app:s3cr%2Fet%3Apw@db1:5432,db2:5433/app?target_session_attrs=read-write"
    )


def test_the_primary_asks_for_the_writable_host_only_when_it_names_several() -> None:
    assert "target_session_attrs" not in str(
        DatabaseConfig(url="postgresql://a@db/app").sqlalchemy_url
    )
    chosen = DatabaseConfig(url=TWO_HOSTS + "?target_session_attrs=primary").sqlalchemy_url
    assert chosen.query["target_session_attrs"] == "primary"
    migrations = DatabaseConfig(url="postgresql://a@db/app", migration_url=TWO_HOSTS)
    assert migrations.migration_sqlalchemy_url.query["target_session_attrs"] == "read-write"


def test_replica_entries_keep_their_host_lists_and_prefer_a_standby() -> None:
    config = DatabaseConfig(
        url="postgresql://a@db/app",
        replica_urls="postgresql://r@r1:5432,r2:5432/app, postgresql://r@r3/app",
    )
    first, second = config.replica_url_list
    assert url_hosts(first) == ("r1:5432", "r2:5432")
    assert first.query["target_session_attrs"] == "prefer-standby"
    assert url_hosts(second) == ("r3",) and "target_session_attrs" not in second.query


def test_masked_urls_show_every_host_and_no_password() -> None:
    shown = mask_url(normalize_database_url(TWO_HOSTS))
    assert shown == "postgresql+asyncpg://app:***@db1:5432,db2:5433/app"
    assert DatabaseConfig(url=TWO_HOSTS).masked_url.startswith("postgresql+asyncpg://app:***@db1")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("postgresql://app:pw@db1,,db2/app", "host 2 is 'empty'"),
        ("postgresql://app:pw@db1:port,db2/app", "host 1 is 'db1:port'"),
        ("postgresql://app:pw@db1,db2/app?host=db3", "names its hosts twice"),
    ],
)
def test_a_bad_host_list_is_refused_without_the_password(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        normalize_database_url(raw)
    assert "pw" not in str(info.value).replace("postgresql", "")


def test_an_empty_replica_entry_is_still_named() -> None:
    with pytest.raises(ValueError, match="entry 2 is empty"):
        split_url_list("postgresql://a@r1,r2/app,,postgresql://a@r3/app")


def test_a_unix_socket_directory_is_one_host() -> None:
    url = normalize_database_url("postgresql://postgres:@/postgres?host=/tmp/pa")
    assert url_hosts(url) == ("/tmp/pa",)
    assert "target_session_attrs" not in str(DatabaseConfig(url=str(url)).sqlalchemy_url)
