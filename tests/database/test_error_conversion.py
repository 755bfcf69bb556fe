"""``wrap_db_errors()``: driver errors become the database tree once, ``from`` the original."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from personal_assistant.database.errors import (
    ConnectionLostError,
    DatabaseError,
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    PoolExhaustedError,
    QueryFailedError,
    convert_db_error,
    wrap_db_errors,
)

SECRET_ADDRESS = "Connect call failed ('10.0.0.5', 5432) postgresql://app:hunter2@db/app"


def _raised(exc: BaseException) -> BaseException:
    with pytest.raises(BaseException) as info, wrap_db_errors("reading the figures"):
        raise exc
    return info.value


def test_a_timeout_becomes_a_database_timeout_error_from_the_original() -> None:
    original = TimeoutError()
    error = _raised(original)
    assert isinstance(error, DatabaseTimeoutError) and isinstance(error, DatabaseUnavailableError)
    assert error.__cause__ is original and error.original is original
    assert str(error).startswith("reading the figures failed: ")


def test_a_refused_connection_becomes_connection_lost_without_the_address() -> None:
    error = _raised(ConnectionRefusedError(111, SECRET_ADDRESS))
    assert isinstance(error, ConnectionLostError)
    assert "ConnectionRefusedError" in str(error)
    assert "10.0.0.5" not in str(error) and "hunter2" not in str(error)


def test_an_invalidated_sqlalchemy_connection_is_a_lost_connection() -> None:
    lost = DBAPIError("SELECT 1", None, Exception(SECRET_ADDRESS), connection_invalidated=True)
    assert isinstance(_raised(lost), ConnectionLostError)


def test_a_server_shutting_down_is_a_lost_connection() -> None:
    assert isinstance(_raised(asyncpg.AdminShutdownError()), ConnectionLostError)
    assert isinstance(_raised(asyncpg.InternalClientError()), ConnectionLostError)


def test_a_rejected_statement_is_a_query_failure_naming_only_class_and_sqlstate() -> None:
    orig = Exception(SECRET_ADDRESS)
    orig.sqlstate = "42P01"  # type: ignore[attr-defined]
    error = _raised(ProgrammingError("SELECT * FROM secret_table", {"pw": "hunter2"}, orig))
    assert isinstance(error, QueryFailedError) and error.sqlstate == "42P01"
    assert "ProgrammingError, SQLSTATE 42P01" in str(error)
    assert "secret_table" not in str(error) and "hunter2" not in str(error)


def test_an_operational_error_without_a_lost_connection_is_a_query_failure() -> None:
    error = _raised(OperationalError("SELECT 1", None, Exception("boom")))
    assert isinstance(error, QueryFailedError)


def test_errors_of_the_tree_pass_through_unchanged() -> None:
    exhausted = PoolExhaustedError(capacity=2, timeout_s=1.0, checked_out=2)
    assert _raised(exhausted) is exhausted


def test_other_errors_and_cancellation_are_not_converted() -> None:
    bug = ValueError("a bug")
    assert _raised(bug) is bug
    cancelled = asyncio.CancelledError()
    assert _raised(cancelled) is cancelled
    assert convert_db_error(KeyError("x"), "anything") is None


async def test_it_converts_around_await_inside_an_asyncio_timeout() -> None:
    with pytest.raises(DatabaseError) as info, wrap_db_errors("sleeping"):
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)
    assert isinstance(info.value, DatabaseTimeoutError)
