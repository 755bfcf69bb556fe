"""The indexes worth testing for one statement, from the columns it uses (pure).

Like Dexter: every filtered, joined or sorted column alone, then ordered pairs led by
an equality column. Beyond Dexter: a recurring ``IS NULL`` or boolean-column
condition makes partial candidates (``(customer_id) WHERE return_date IS NULL``), a
condition on ``lower(col)`` or ``col::date`` an expression candidate, a statement that
reads few columns a covering one (``INCLUDE``) for an index-only scan, and
``LIKE``/``ILIKE`` with a pattern the planner cannot see a trigram GIN candidate when
pg_trgm is installed. HypoPG proves or drops each one afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from personal_assistant.optimizer.models import IndexStat
from personal_assistant.optimizer.parsing import Table
from personal_assistant.optimizer.statements import Candidate, ColumnUse

#: A covering index is tried when it adds at most this many INCLUDE columns.
MAX_INCLUDE = 3
TRIGRAM = "gin_trgm_ops"


def build_candidates(
    uses: Sequence[ColumnUse],
    indexes: Sequence[IndexStat],
    limit: int,
    read: Mapping[Table, set[str]] | None = None,
    trigram: bool = False,
) -> list[Candidate]:
    """Candidates in the order they are tested; those an existing index covers are left out.

    ``read`` is :func:`.parsing.read_columns` (for covering candidates); ``trigram``
    says pg_trgm's operator class exists.
    """
    by_table: dict[Table, list[ColumnUse]] = {}
    for use in uses:
        by_table.setdefault((use.schema, use.table), []).append(use)
    found: dict[Candidate, None] = {}
    for table, table_uses in by_table.items():
        columns = (read or {}).get(table)
        for candidate in _for_table(table, table_uses, columns, trigram):
            found[candidate] = None
    fresh = [c for c in found if not covered(c, indexes)]
    return fresh[:limit]


def _for_table(
    table: Table, uses: Sequence[ColumnUse], read: set[str] | None, trigram: bool
) -> Iterable[Candidate]:
    schema, name = table
    plain = [u for u in uses if u.expression is None]
    eq = _names(u for u in plain if u.usage in ("eq", "join"))
    keys = _names(u for u in plain if u.usage in ("eq", "join", "range", "sort"))
    for column in keys:
        yield Candidate(schema, name, (column,))
    for use in uses:
        if use.expression is not None:
            yield Candidate(schema, name, (use.column,), expression=use.expression)
    for use in plain:
        if use.usage == "null" and use.predicate:
            lead = [k for k in keys if k != use.column][:2] or [use.column]
            for key in lead:
                yield Candidate(schema, name, (key,), predicate=use.predicate)
                # The predicate's column is implied, not needed for an index-only scan.
                extra = tuple(sorted((read or set()) - {key, use.column}))
                if read and 0 < len(extra) <= MAX_INCLUDE:
                    yield Candidate(schema, name, (key,), include=extra, predicate=use.predicate)
    pairs = [(first, second) for first in eq for second in keys if second != first]
    for pair in pairs:
        yield Candidate(schema, name, pair)
    if read:
        covering: list[tuple[str, ...]] = [(k,) for k in keys[:2]]
        for lead_columns in covering + list(pairs[:1]):
            extra = tuple(sorted(read - set(lead_columns)))
            if 0 < len(extra) <= MAX_INCLUDE:
                yield Candidate(schema, name, lead_columns, include=extra)
    if trigram:
        for column in _names(u for u in plain if u.usage == "like"):
            yield Candidate(schema, name, (column,), method="gin", opclass=TRIGRAM)


def _names(uses: Iterable[ColumnUse]) -> list[str]:
    return list(dict.fromkeys(u.column for u in uses))


def covered(candidate: Candidate, indexes: Sequence[IndexStat]) -> bool:
    """Whether an existing valid index already does what the candidate would.

    A plain candidate is covered by any index (any method) leading with its columns
    in order: creating it would make a duplicate or a redundant prefix. Others need
    the same method, predicate and expression, and for ``INCLUDE`` every column held.
    """
    same_table = [
        i
        for i in indexes
        if (i.schema, i.table) == (candidate.schema, candidate.table) and i.is_valid
    ]
    return any(_covers(i, candidate) for i in same_table)


def _covers(index: IndexStat, candidate: Candidate) -> bool:
    if _norm(index.predicate) != _norm(candidate.predicate):
        return False
    if candidate.expression is not None:
        return bool(index.columns) and _norm(index.columns[0]) == _norm(candidate.expression)
    width = len(candidate.columns)
    if index.columns[:width] != candidate.columns:
        return False
    if candidate.method != "btree" or candidate.predicate is not None:
        return index.access_method == candidate.method
    return set(candidate.include) <= set(index.columns) | set(index.include)


def _norm(sql: str | None) -> str | None:
    """SQL text compared loosely: case, spaces, quotes, outer parentheses, ``::text``."""
    if sql is None:
        return None
    out = sql.lower().replace("::text", "").replace('"', "")
    out = "".join(out.split())
    while out.startswith("(") and out.endswith(")"):
        out = out[1:-1]
    return out
