"""What a rule knows besides the statement: table facts, settings and migration state.

Rules stay pure by receiving everything as frozen data. The validator is only as smart
as its facts: with a database it knows that ``users`` has 5 million rows and that
``tags`` has 12, so a lock on ``tags`` is harmless. Without a database every table that
the migration did not create is judged as if it were large, because a false alarm costs
a ``-- pa:allow`` comment while a false "safe" costs an outage; unless the migration
history says more (:mod:`.history`), in which case the facts are marked as a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

#: Tables with fewer estimated rows than this are locked too briefly to matter.
DEFAULT_LARGE_TABLE_ROWS = 10_000


class Severity(StrEnum):
    """How much a finding matters: only ``ERROR`` blocks ``pa-db migrate up``."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class LintSettings:
    """Tunable thresholds; the defaults suit a typical OLTP database."""

    large_table_rows: int = DEFAULT_LARGE_TABLE_ROWS


@dataclass(frozen=True)
class ColumnType:
    """A column type reduced to what type-change rules compare: name and modifiers.

    ``name`` is PostgreSQL's internal type name (``varchar``, ``int4``, ``numeric``);
    ``modifiers`` are the declared ones (``(255,)`` for ``varchar(255)``, ``(10, 2)`` for
    ``numeric(10,2)``, ``()`` when unconstrained).
    """

    name: str
    modifiers: tuple[int, ...] = ()


@dataclass(frozen=True)
class TableFacts:
    """What the target database says about one relation (a table or an index).

    ``rows`` is the planner's estimate, or ``None`` when it cannot be trusted (never
    analyzed and not provably small). ``exists`` is ``False`` when the relation is not
    in the database yet, e.g. an earlier pending migration creates it.
    """

    name: str
    rows: int | None
    size_bytes: int = 0
    exists: bool = True
    columns: Mapping[str, ColumnType] = field(default_factory=dict)
    #: Columns covered by a validated ``CHECK (col IS NOT NULL)`` constraint.
    not_null_checked: frozenset[str] = frozenset()
    #: Set when the facts are guessed from the migration history rather than read from
    #: a database: why the size is what it is (:mod:`.history`).
    guess: str = ""


@dataclass(frozen=True)
class DatabaseFacts:
    """Facts about the relations a migration touches, keyed as the SQL names them."""

    tables: Mapping[str, TableFacts] = field(default_factory=dict)

    def get(self, name: str) -> TableFacts | None:
        """Facts for ``name`` (``schema.table`` or ``table``), ``None`` if never fetched."""
        found = self.tables.get(name)
        if found is None and "." in name:
            # ``public.users`` written in SQL but facts fetched for ``users`` (or the
            # reverse) name the same table in the common single-schema set-up.
            schema, _, bare = name.rpartition(".")
            if schema == "public":
                found = self.tables.get(bare)
        elif found is None:
            found = self.tables.get(f"public.{name}")
        return found


@dataclass(frozen=True)
class MigrationState:
    """What earlier statements of the same migration did, as far as rules care.

    ``not_valid`` maps constraint names added ``NOT VALID`` to their table, and
    ``pending_not_null`` maps ``CHECK (col IS NOT NULL)`` constraint names to
    ``(table, column)`` until a ``VALIDATE CONSTRAINT`` proves them.
    """

    tables_created: frozenset[str] = frozenset()
    not_valid: Mapping[str, str] = field(default_factory=dict)
    pending_not_null: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    validated_not_null: frozenset[tuple[str, str]] = frozenset()

    def with_table(self, table: str) -> MigrationState:
        """Record that ``table`` is created by this migration."""
        return replace(self, tables_created=self.tables_created | {table})


@dataclass(frozen=True)
class SizeVerdict:
    """Whether a lock on a relation hurts, and the phrase that explains why."""

    large: bool
    reason: str


@dataclass(frozen=True)
class RuleContext:
    """Everything a rule may consult for one statement."""

    facts: DatabaseFacts | None
    settings: LintSettings
    state: MigrationState
    in_transaction: bool = True

    def is_new(self, table: str) -> bool:
        """``True`` when the migration created ``table`` or the database lacks it."""
        if table in self.state.tables_created:
            return True
        found = self.facts.get(table) if self.facts is not None else None
        return found is not None and not found.exists

    def size(self, table: str) -> SizeVerdict:
        """Judge whether locking ``table`` for a scan or rewrite would block traffic."""
        if table in self.state.tables_created:
            return SizeVerdict(False, f"{table} is created earlier in this migration")
        found = self.facts.get(table) if self.facts is not None else None
        if found is None:
            return SizeVerdict(True, f"no database facts for {table}: assuming it is large")
        if not found.exists:
            return SizeVerdict(False, f"{table} does not exist in the target database yet")
        if found.guess:
            limit = self.settings.large_table_rows
            return SizeVerdict(found.rows is None or found.rows >= limit, found.guess)
        if found.rows is None:
            return SizeVerdict(True, f"{table} has never been analyzed: assuming it is large")
        limit = self.settings.large_table_rows
        if found.rows >= limit:
            return SizeVerdict(True, f"{table} has ~{found.rows:,} rows (limit {limit:,})")
        return SizeVerdict(False, f"{table} has ~{found.rows:,} rows (below {limit:,})")

    def column_type(self, table: str, column: str) -> ColumnType | None:
        """The current type of ``table.column`` according to the database, if known."""
        found = self.facts.get(table) if self.facts is not None else None
        return None if found is None else found.columns.get(column)

    def not_null_proven(self, table: str, column: str) -> bool:
        """``True`` when a validated ``CHECK (column IS NOT NULL)`` covers the column."""
        if (table, column) in self.state.validated_not_null:
            return True
        found = self.facts.get(table) if self.facts is not None else None
        return found is not None and column in found.not_null_checked
