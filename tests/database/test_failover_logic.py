"""Failover detection: which errors mean the primary is gone, and the tracker's account."""

from __future__ import annotations

import asyncpg
import pytest

from personal_assistant.database.failover import (
    PrimaryTracker,
    _host_of,
    primary_gone_reason,
)
from tests.fixtures.postgres import ServerInfo


def _error(sqlstate: str) -> Exception:
    exc = Exception("driver error")
    exc.sqlstate = sqlstate  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("25006", "read-only"),
        ("57P01", "went away"),
        ("57P02", "went away"),
        ("57P03", "went away"),
        ("08006", "went away"),
    ],
)
def test_errors_that_mean_the_primary_is_gone(sqlstate: str, expected: str) -> None:
    assert expected in (primary_gone_reason(_error(sqlstate)) or "")


@pytest.mark.parametrize("sqlstate", ["23505", "57014", "40001", "42P01"])
def test_errors_of_the_statement_itself_are_not(sqlstate: str) -> None:
    assert primary_gone_reason(_error(sqlstate)) is None


def test_the_cause_chain_is_followed() -> None:
    wrapper = RuntimeError("wrapped")
    wrapper.__cause__ = _error("25006")
    assert primary_gone_reason(wrapper) is not None


def test_a_loss_then_another_host_counts_one_failover() -> None:
    tracker = PrimaryTracker(hosts=("db1:5432", "db2:5432"))
    tracker.reached("db1:5432", writable=True)
    tracker.lost("the server went away (SQLSTATE 57P01, AdminShutdown)")
    assert tracker.gap() is not None and tracker.as_dict()["host"] is None
    tracker.reached("db2:5432", writable=True)
    assert tracker.gap() is None
    assert (tracker.failovers, tracker.recoveries, tracker.current) == (1, 1, "db2:5432")
    assert tracker.last_outage_s is not None


def test_reaching_a_standby_does_not_end_the_gap() -> None:
    tracker = PrimaryTracker(hosts=("db",))
    tracker.reached("db:5432", writable=True)
    tracker.lost("the server is read-only (SQLSTATE 25006: a standby now)")
    tracker.reached("db:5432", writable=False)
    assert "standby" in (tracker.gap() or "")
    assert tracker.recoveries == 0


def test_the_gap_names_no_host() -> None:
    tracker = PrimaryTracker(hosts=("db1.internal:5432",))
    tracker.reached("db1.internal:5432", writable=True)
    tracker.lost("the connection was lost (ConnectionResetError)")
    assert "db1" not in (tracker.gap() or "")


async def test_asyncpg_still_records_the_host_it_chose(pg_server: ServerInfo) -> None:
    """``_host_of`` reads asyncpg's private ``Connection._addr``: pinned here."""
    conn = await asyncpg.connect(pg_server.url("postgres", driver="postgresql"))
    try:
        assert _host_of(conn) == f"{pg_server.host}:{pg_server.port}"
    finally:
        await conn.close()


def test_the_body_names_hosts_only_when_there_is_a_choice() -> None:
    single = PrimaryTracker(hosts=("db.internal:5432",))
    single.reached("db.internal:5432", writable=True)
    assert "db.internal" not in str(single.as_dict())
    pair = PrimaryTracker(hosts=("db1:5432", "db2:5432"))
    pair.reached("db2:5432", writable=True)
    assert pair.as_dict()["host"] == "db2:5432"
