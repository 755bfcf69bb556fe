"""Hot statements: a SQLAlchemy Core ``SELECT`` compiled once, run without per-call ORM work.

A permission check runs on every request. Through ``session.scalar(statement)`` each
call builds an ORM execution state, looks the statement up in the compiled cache by
its cache key, creates an execution context, a cursor and a result, and processes
every row through them: more Python time than the query takes on the server. A
:class:`CompiledStatement` does that work once per dialect instead: the SQL text, the
order of the positional parameters and the result processors of the columns returned
(none, for most PostgreSQL types under asyncpg) are kept, and each call only orders
its parameters and hands the text to the driver.

One API whatever the session::

    HAS_PERMISSION = CompiledStatement(select(exists(...).where(... == bindparam("user_id"))))
    allowed = await HAS_PERMISSION.scalar(session, {"user_id": 7})

On a read session (:func:`~personal_assistant.database.session.read_session`,
``ReadSessionDep``) that holds no connection the statement runs on the fast path
(:mod:`.fast_path`): one pooled connection checked out for that statement, one round
trip as a prepared statement of the driver, the connection returned at once, pool
statistics, cursor events (the query tracker) and replica routing as for any other
statement, and one transparent retry on a fresh connection when the one it got had
died. On any other session (a transaction, or a read session already holding a
connection) it runs through the session as an ordinary statement, with the same
answer.

Only what can be decided once is accepted: a ``SELECT`` whose parameters are named
``bindparam()`` values or literals. Expanding (``IN``) parameters and other
render-time parameters are refused when the statement is first compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql import CompoundSelect, Select

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["CompiledStatement", "Plan"]

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement compiled for one dialect: what a call needs, and nothing more."""

    sql: str
    #: Parameter names in positional order; ``None`` where the value is fixed.
    names: tuple[str | None, ...]
    #: The fixed values (literals in the statement), by position; ``None`` elsewhere.
    fixed: tuple[Any, ...]
    #: Bind processors by position, or ``None`` when no parameter needs one.
    bind_processors: tuple[Processor | None, ...] | None
    #: Result processors by column, or ``None`` when no column returned needs one.
    result_processors: tuple[Processor | None, ...] | None
    #: Every position is a named parameter (no literal to fill in).
    all_named: bool

    def arguments(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional values for ``params`` (bound names, literals filled in)."""
        try:
            if self.all_named:
                values = tuple(params[name] for name in self.names)  # type: ignore[index]
            else:
                values = tuple(
                    fixed if name is None else params[name]
                    for name, fixed in zip(self.names, self.fixed, strict=True)
                )
        except KeyError as exc:
            raise ArgumentError(f"a value is required for bind parameter {exc.args[0]!r}") from None
        processors = self.bind_processors
        if processors is None:
            return values
        return tuple(v if p is None else p(v) for v, p in zip(values, processors, strict=True))

    def value(self, column: int, raw: Any) -> Any:
        """``raw`` as the ORM would return it for ``column`` of the result."""
        processors = self.result_processors
        if processors is None or raw is None:
            return raw
        processor = processors[column]
        return raw if processor is None else processor(raw)


def compile_plan(statement: Select[Any] | CompoundSelect[Any], dialect: Dialect) -> Plan:
    """Compile ``statement`` for ``dialect`` into a :class:`Plan` (raises if it cannot be)."""
    compiled: Any = statement.compile(dialect=dialect)
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise ArgumentError(
            "a CompiledStatement cannot hold expanding or render-time parameters "
            "(IN lists, literal_execute): run this statement through the session instead"
        )
    names: list[str | None] = []
    fixed: list[Any] = []
    processors: list[Processor | None] = []
    for compiled_name in compiled.positiontup or ():
        bind = compiled.binds[compiled_name]
        if bind.callable is not None or not bind.required:
            names.append(None)
            fixed.append(bind.effective_value)
        else:
            names.append(bind.key)
            fixed.append(None)
        processors.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.selected_columns
    )
    return Plan(
        sql=compiled.string,
        names=tuple(names),
        fixed=tuple(fixed),
        bind_processors=tuple(processors) if any(processors) else None,
        result_processors=results if any(results) else None,
        all_named=None not in names,
    )


def _fast_path(session: AsyncSession) -> Any:
    """A read session's ``run_compiled`` when it holds no connection, else ``None``.

    Looked up rather than imported: the read session's module imports the fast path,
    which knows this module's plans.
    """
    holds = getattr(session, "holds_connection", None)
    if holds is None or holds():
        return None
    return session.run_compiled  # type: ignore[attr-defined]


class CompiledStatement:
    """A ``SELECT`` built once; see the module docstring.

    Plans are kept per engine by the fast path (:class:`.fast_path.Target`), so a
    replica's dialect gets its own and nothing outlives the engine.
    """

    __slots__ = ("statement",)

    def __init__(self, statement: Select[Any] | CompoundSelect[Any]) -> None:
        if not isinstance(statement, Select | CompoundSelect):
            raise ArgumentError("a CompiledStatement holds a SELECT (select(), union(), ...)")
        self.statement = statement

    def plan(self, dialect: Dialect) -> Plan:
        return compile_plan(self.statement, dialect)

    async def scalar(self, session: AsyncSession, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or ``None`` (as ``session.scalar``)."""
        fast = _fast_path(session)
        if fast is not None:
            return await fast(self, params, scalar=True)
        return await session.scalar(self.statement, params)

    async def scalars(self, session: AsyncSession, params: Mapping[str, Any]) -> Sequence[Any]:
        """The first column of every row (as ``(await session.scalars(...)).all()``)."""
        fast = _fast_path(session)
        if fast is not None:
            values: Sequence[Any] = await fast(self, params, scalar=False)
            return values
        return (await session.scalars(self.statement, params)).all()

    def __repr__(self) -> str:
        first_line = str(self.statement).split("\n", 1)[0]
        return f"CompiledStatement({first_line[:60]!r})"
