"""Which columns a statement filters, joins and sorts on, and the indexes worth testing.

The statement text is parsed with pglast (PostgreSQL's own parser), never matched with
regular expressions: aliases, quoting, subqueries and ``$n`` parameters are then
handled the way the server handles them. Each SELECT/UPDATE/DELETE level resolves
its own ``FROM`` aliases; unqualified columns are resolved against the catalog's
column lists. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind
from pglast.parser import ParseError

from personal_assistant.optimizer.models import Candidate, ColumnUse, IndexStat

_EQ_OPS = frozenset({"="})
_RANGE_OPS = frozenset({"<", ">", "<=", ">=", "~~", "~~*"})
#: Operand node types that do not depend on the row being indexed.
_VALUE_NODES = (ast.ParamRef, ast.A_Const, ast.TypeCast, ast.FuncCall, ast.A_ArrayExpr)

Columns = Mapping[tuple[str, str], frozenset[str]]


def parse(query: str) -> list[Any]:
    """The statements of ``query``; empty when pglast cannot parse it."""
    try:
        return [raw.stmt for raw in parse_sql(query)]
    except ParseError:
        return []


def param_count(query: str) -> int:
    """The highest ``$n`` in ``query`` (what ``EXECUTE stmt(...)`` must pass)."""
    highest = 0
    for stmt in parse(query):
        for node in _walk(stmt):
            if isinstance(node, ast.ParamRef):
                highest = max(highest, int(node.number or 0))
    return highest


def is_plannable(query: str) -> bool:
    """One SELECT/INSERT/UPDATE/DELETE statement: what EXPLAIN can plan."""
    stmts = parse(query)
    plannable = (ast.SelectStmt, ast.UpdateStmt, ast.DeleteStmt, ast.InsertStmt)
    return len(stmts) == 1 and isinstance(stmts[0], plannable)


def column_uses(query: str, columns: Columns, search_path: Sequence[str]) -> list[ColumnUse]:
    """Columns of real tables that ``query`` filters, joins or sorts on (deduplicated)."""
    uses: dict[ColumnUse, None] = {}
    for stmt in parse(query):
        for node in _walk(stmt):
            if isinstance(node, ast.SelectStmt | ast.UpdateStmt | ast.DeleteStmt):
                scope = _Scope(_relations(node), columns, search_path)
                for use in scope.uses(node):
                    uses[use] = None
    return list(uses)


def _walk(node: Any) -> Iterator[Any]:
    """Every pglast node below ``node`` (itself included), depth first."""
    if isinstance(node, tuple | list):
        for item in node:
            yield from _walk(item)
        return
    if not isinstance(node, ast.Node):
        return
    yield node
    for name in getattr(type(node), "__slots__", ()):
        yield from _walk(getattr(node, name, None))


def _relations(stmt: Any) -> list[Any]:
    """RangeVars of this level's FROM/USING/target (not those inside subqueries)."""
    found: list[Any] = []

    def visit(item: Any) -> None:
        if isinstance(item, ast.RangeVar):
            found.append(item)
        elif isinstance(item, ast.JoinExpr):
            visit(item.larg)
            visit(item.rarg)

    for attr in ("relation", "fromClause", "usingClause"):
        value = getattr(stmt, attr, None)
        for item in value if isinstance(value, tuple | list) else (value,):
            visit(item)
    return found


class _Scope:
    """One query level: its aliases, and how to resolve a ColumnRef to a table."""

    def __init__(self, rels: list[Any], columns: Columns, search_path: Sequence[str]) -> None:
        self.columns = columns
        self.aliases: dict[str, tuple[str, str]] = {}
        self.tables: list[tuple[str, str]] = []
        for rel in rels:
            resolved = self._table(rel.schemaname, rel.relname, search_path)
            if resolved is None:
                continue  # CTE, view or unknown table: nothing to index
            self.tables.append(resolved)
            self.aliases[rel.alias.aliasname if rel.alias else rel.relname] = resolved

    def _table(
        self, schema: str | None, name: str, search_path: Sequence[str]
    ) -> tuple[str, str] | None:
        schemas = [schema] if schema else list(search_path)
        for candidate in schemas:
            if (candidate, name) in self.columns:
                return candidate, name
        return None

    def resolve(self, ref: Any) -> tuple[str, str, str] | None:
        fields = [str(f.sval) for f in ref.fields if isinstance(f, ast.String)]
        if len(fields) != len(ref.fields) or not fields:
            return None  # a.* and the like
        column = fields[-1]
        if len(fields) >= 2:
            table = self.aliases.get(fields[-2])
            matches = [table] if table else []
        else:
            matches = [t for t in self.tables if column in self.columns.get(t, ())]
        if len(matches) != 1 or column not in self.columns.get(matches[0], ()):
            return None
        return matches[0][0], matches[0][1], column

    def uses(self, stmt: Any) -> Iterator[ColumnUse]:
        for expr in _quals(stmt):
            yield from self._predicate(expr)
        for sort in getattr(stmt, "sortClause", None) or ():
            if isinstance(sort.node, ast.ColumnRef) and (hit := self.resolve(sort.node)):
                yield ColumnUse(*hit, usage="sort")

    def _predicate(self, expr: Any) -> Iterator[ColumnUse]:
        if isinstance(expr, ast.BoolExpr):
            for arg in expr.args or ():
                yield from self._predicate(arg)
        elif isinstance(expr, ast.NullTest) and isinstance(expr.arg, ast.ColumnRef):
            if hit := self.resolve(expr.arg):
                yield ColumnUse(*hit, usage="eq")
        elif isinstance(expr, ast.A_Expr):
            yield from self._comparison(expr)

    def _comparison(self, expr: Any) -> Iterator[ColumnUse]:
        kind = expr.kind
        ops = {n.sval for n in expr.name or () if isinstance(n, ast.String)}
        if kind == A_Expr_Kind.AEXPR_IN or (kind == A_Expr_Kind.AEXPR_OP_ANY):
            usage = "eq"
        elif kind in (A_Expr_Kind.AEXPR_BETWEEN, A_Expr_Kind.AEXPR_LIKE):
            usage = "range"
        elif kind == A_Expr_Kind.AEXPR_OP and ops & (_EQ_OPS | _RANGE_OPS):
            usage = "eq" if ops & _EQ_OPS else "range"
        else:
            return
        left, right = expr.lexpr, expr.rexpr
        for col, other in ((left, right), (right, left)):
            if not isinstance(col, ast.ColumnRef) or (hit := self.resolve(col)) is None:
                continue
            if isinstance(other, ast.ColumnRef):
                yield ColumnUse(*hit, usage="join")
            elif isinstance(other, _VALUE_NODES) or isinstance(other, tuple | list):
                yield ColumnUse(*hit, usage=usage)


def _quals(stmt: Any) -> Iterator[Any]:
    """WHERE and JOIN ... ON expressions of one query level."""
    if getattr(stmt, "whereClause", None) is not None:
        yield stmt.whereClause
    stack = list(getattr(stmt, "fromClause", None) or ())
    while stack:
        item = stack.pop()
        if isinstance(item, ast.JoinExpr):
            if item.quals is not None:
                yield item.quals
            stack += [item.larg, item.rarg]


def build_candidates(
    uses: Sequence[ColumnUse], indexes: Sequence[IndexStat], limit: int
) -> list[Candidate]:
    """Single columns, then ordered pairs (equality column first), as Dexter does.

    A candidate is dropped when an existing valid, non-partial index of any access
    method already starts with exactly those columns.
    """
    by_table: dict[tuple[str, str], list[ColumnUse]] = {}
    for use in uses:
        by_table.setdefault((use.schema, use.table), []).append(use)
    found: dict[Candidate, None] = {}
    for (schema, table), table_uses in by_table.items():
        names = list(dict.fromkeys(u.column for u in table_uses))
        eq = list(dict.fromkeys(u.column for u in table_uses if u.usage in ("eq", "join")))
        for column in names:
            found[Candidate(schema, table, (column,))] = None
        for first in eq:
            for second in names:
                if second != first:
                    found[Candidate(schema, table, (first, second))] = None
    fresh = [c for c in found if not covered(c, indexes)]
    return fresh[:limit]


def covered(candidate: Candidate, indexes: Sequence[IndexStat]) -> bool:
    """Whether an existing index already leads with the candidate's columns, in order."""
    width = len(candidate.columns)
    return any(
        (i.schema, i.table) == (candidate.schema, candidate.table)
        and i.is_valid
        and i.predicate is None
        and i.columns[:width] == candidate.columns
        for i in indexes
    )
