"""The SQLAlchemy internals the fast path relies on, pinned (no database needed).

``database/fast_path.py`` calls three private pieces so that its errors and its
invalidations are the ORM path's: ``Pool._invalidate`` (pool-wide invalidation on a
disconnect), ``ExceptionContextImpl`` (the ``handle_error`` event's context) and the
asyncpg adapter's ``_handle_exception`` (asyncpg errors to DB-API classes);
``database/greenlets.py`` relies on the attribute ``await_()`` looks for. A SQLAlchemy
release that changes any of them fails here first, by name.
"""

from __future__ import annotations

import inspect
from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine.base import ExceptionContextImpl
from sqlalchemy.pool import Pool
from sqlalchemy.util import concurrency


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_pool_invalidate_takes_the_connection_and_the_exception() -> None:
    assert parameters(Pool._invalidate) == ["self", "connection", "exception", "_checkin"]


def test_the_exception_context_is_built_from_these_arguments_in_this_order() -> None:
    assert parameters(ExceptionContextImpl.__init__) == [
        "self", "exception", "sqlalchemy_exception", "engine", "dialect", "connection",
        "cursor", "statement", "parameters", "context", "is_disconnect",
        "invalidate_pool_on_disconnect", "is_pre_ping",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (asyncpg.exceptions.UniqueViolationError("dup"), "IntegrityError"),
        (asyncpg.exceptions.UndefinedTableError("no table"), "ProgrammingError"),
        (asyncpg.exceptions.InterfaceError("connection is closed"), "InterfaceError"),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed"), "Error"),
    ],
)
def test_the_adapter_maps_asyncpg_errors_to_dbapi_classes(error: Exception, expected: str) -> None:
    dbapi = asyncpg_dialect.dialect.import_dbapi()  # type: ignore[no-untyped-call]
    adapter = asyncpg_dialect.AsyncAdapt_asyncpg_connection
    assert parameters(adapter._handle_exception) == ["self", "error"]
    with pytest.raises(dbapi.Error) as raised:
        adapter._handle_exception_no_connection(dbapi, error)
    assert expected in [cls.__name__ for cls in type(raised.value).__mro__]


def test_await_looks_for_the_greenlet_provider_attribute() -> None:
    assert "__sqlalchemy_greenlet_provider__" in inspect.getsource(concurrency.await_)
