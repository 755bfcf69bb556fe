"""The SQL that creates and drops indexes without blocking writes, where it can (pure).

A plain table gets ``CREATE INDEX CONCURRENTLY``. A partitioned table cannot (
"cannot create index on partitioned table concurrently"), so it gets PostgreSQL's own
recipe: ``CREATE INDEX ... ON ONLY parent`` (instant, no scan; the index stays invalid
until every partition has one), then per partition ``CREATE INDEX CONCURRENTLY`` and
``ALTER INDEX parent_index ATTACH PARTITION partition_index``; a partition that is
itself partitioned gets the same recipe one level down, and a partition that already
has a matching index has it attached instead of a new one. Indexes are always named,
so a failed build can be dropped by name (:func:`undo_statements`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from personal_assistant.optimizer.identifiers import qualified, quote
from personal_assistant.optimizer.models import IndexStat, PartitionLink
from personal_assistant.optimizer.statements import Candidate

#: PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
MAX_NAME_BYTES = 63


@dataclass
class Names:
    """Relation names already taken, per schema (indexes share the table namespace)."""

    taken: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, tables: Iterable[tuple[str, str]], indexes: Iterable[IndexStat]) -> Names:
        names = cls()
        for schema, name in tables:
            names.taken.setdefault(schema, set()).add(name)
        for index in indexes:
            names.taken.setdefault(index.schema, set()).add(index.name)
        return names

    def choose(self, schema: str, table: str, candidate: Candidate) -> str:
        """``table_col1_col2_idx`` as PostgreSQL names it, numbered when taken."""
        parts = [_expression_name(candidate.expression)] if candidate.expression else []
        parts = parts or list(candidate.columns)
        taken = self.taken.setdefault(schema, set())
        for number in range(1000):
            suffix = "idx" + (str(number) if number else "")
            name = _fit(table, "_".join(parts), suffix)
            if name not in taken:
                taken.add(name)
                return name
        raise ValueError(f"no free index name for {schema}.{table}")  # pragma: no cover


def _expression_name(expression: str) -> str:
    """What PostgreSQL calls an expression column: the function, or the cast column."""
    head = expression.split("(")[0].split("::")[0].split(".")[-1].strip('"')
    return re.sub(r"\W", "", head) or "expr"


def _fit(table: str, columns: str, suffix: str) -> str:
    """``table_columns_suffix`` cut to 63 bytes, shortening the longer part first."""
    room = MAX_NAME_BYTES - len(suffix.encode()) - 2
    while len(table.encode()) + len(columns.encode()) > room:
        if len(table.encode()) >= len(columns.encode()):
            table = table[:-1]
        else:
            columns = columns[:-1]
    return f"{table}_{columns}_{suffix}"


@dataclass(frozen=True)
class Build:
    """The statements that create one index, and what they create (for an undo)."""

    statements: tuple[str, ...]
    #: (schema, name, is_partitioned_index) of every index created, in order.
    creates: tuple[tuple[str, str, bool], ...]


def create_statements(
    candidate: Candidate,
    names: Names,
    partitions: Sequence[PartitionLink],
    indexes: Sequence[IndexStat] = (),
) -> Build:
    """How to build ``candidate`` without blocking writes (see the module docstring)."""
    children = _children(partitions)
    statements: list[str] = []
    creates: list[tuple[str, str, bool]] = []
    _build(candidate, candidate.schema, candidate.table, names, children, indexes,
           statements, creates)  # fmt: skip
    return Build(tuple(statements), tuple(creates))


def _children(partitions: Sequence[PartitionLink]) -> dict[tuple[str, str], list[PartitionLink]]:
    out: dict[tuple[str, str], list[PartitionLink]] = {}
    for link in partitions:
        out.setdefault((link.parent_schema, link.parent), []).append(link)
    return out


def _build(
    candidate: Candidate,
    schema: str,
    table: str,
    names: Names,
    children: dict[tuple[str, str], list[PartitionLink]],
    indexes: Sequence[IndexStat],
    statements: list[str],
    creates: list[tuple[str, str, bool]],
) -> str:
    """Append the statements for ``schema.table``; returns the index's qualified name."""
    name = names.choose(schema, table, candidate)
    target = qualified(schema, table)
    kids = children.get((schema, table))
    if kids is None:
        statements.append(
            f"CREATE INDEX CONCURRENTLY {quote(name)} ON {target} {candidate.definition()};"
        )
        creates.append((schema, name, False))
        return qualified(schema, name)
    statements.append(f"CREATE INDEX {quote(name)} ON ONLY {target} {candidate.definition()};")
    creates.append((schema, name, True))
    parent_index = qualified(schema, name)
    for kid in kids:
        if kid.is_foreign:
            continue  # foreign tables hold no index; PostgreSQL skips them too
        existing = _matching(candidate, kid, indexes)
        if existing is not None:
            child_index = qualified(kid.schema, existing.name)
        else:
            child_index = _build(
                candidate, kid.schema, kid.table, names, children, indexes, statements, creates
            )
        statements.append(f"ALTER INDEX {parent_index} ATTACH PARTITION {child_index};")
    return parent_index


def _matching(
    candidate: Candidate, kid: PartitionLink, indexes: Sequence[IndexStat]
) -> IndexStat | None:
    """A valid, unattached index on the partition with the candidate's exact shape."""
    for index in indexes:
        if (
            (index.schema, index.table) == (kid.schema, kid.table)
            and index.is_valid
            and index.attached_to is None
            and not index.is_partitioned
            and index.access_method == candidate.method
            and candidate.expression is None
            and index.columns == candidate.columns
            and index.include == candidate.include
            and index.predicate is None
            and candidate.predicate is None
        ):
            return index
    return None


def undo_statements(creates: Iterable[tuple[str, str, bool]]) -> list[str]:
    """Drop what a failed build created: partitioned indexes first (that drops the
    partitions' attached ones too), then the rest without blocking writes."""
    items = list(creates)
    parents = [f"DROP INDEX IF EXISTS {qualified(s, n)};" for s, n, p in items if p]
    rest = [f"DROP INDEX CONCURRENTLY IF EXISTS {qualified(s, n)};" for s, n, p in items if not p]
    return parents + rest


def drop_statement(index: IndexStat) -> str:
    """``DROP INDEX CONCURRENTLY``, except for a partitioned index, which cannot be."""
    if index.is_partitioned:
        return f"DROP INDEX {qualified(index.schema, index.name)};"
    return f"DROP INDEX CONCURRENTLY {qualified(index.schema, index.name)};"
