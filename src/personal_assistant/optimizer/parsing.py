"""What a statement filters, joins, sorts on and reads, from PostgreSQL's own parser.

The statement text is parsed with pglast, never matched with regular expressions:
aliases, quoting, subqueries and ``$n`` parameters are then handled the way the
server handles them. Each SELECT/UPDATE/DELETE level resolves its own ``FROM``
aliases; unqualified columns are resolved against the catalog's column lists.
Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, BoolExprType, NullTestType
from pglast.parser import ParseError

from personal_assistant.optimizer.identifiers import quote
from personal_assistant.optimizer.statements import ColumnUse

_EQ_OPS = frozenset({"="})
_RANGE_OPS = frozenset({"<", ">", "<=", ">="})
_LIKE_KINDS = (A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE)
#: Operand node types that do not depend on the row being indexed.
_VALUE_NODES = (ast.ParamRef, ast.A_Const, ast.TypeCast, ast.FuncCall, ast.A_ArrayExpr)

Columns = Mapping[tuple[str, str], frozenset[str]]
Table = tuple[str, str]


def parse(query: str) -> list[Any]:
    """The statements of ``query``; empty when pglast cannot parse it."""
    try:
        return [raw.stmt for raw in parse_sql(query)]
    except ParseError:
        return []


def param_count(query: str) -> int:
    """The highest ``$n`` in ``query`` (what ``EXECUTE stmt(...)`` must pass)."""
    return max((p for stmt in parse(query) for p in _params(stmt)), default=0)


def is_plannable(query: str) -> bool:
    """One SELECT/INSERT/UPDATE/DELETE statement: what EXPLAIN can plan."""
    stmts = parse(query)
    plannable = (ast.SelectStmt, ast.UpdateStmt, ast.DeleteStmt, ast.InsertStmt)
    return len(stmts) == 1 and isinstance(stmts[0], plannable)


def column_uses(query: str, columns: Columns, search_path: Sequence[str]) -> list[ColumnUse]:
    """Columns of real tables that ``query`` filters, joins or sorts on (deduplicated)."""
    uses: dict[ColumnUse, None] = {}
    for scope, node in _scopes(query, columns, search_path):
        for use in scope.uses(node):
            uses[use] = None
    return list(uses)


def read_columns(query: str, columns: Columns, search_path: Sequence[str]) -> dict[Table, set[str]]:
    """Per table, every column the statement mentions; tables read with ``*`` are absent.

    An index holding all of them (keys plus ``INCLUDE``) can answer with an
    index-only scan.
    """
    found: dict[Table, set[str]] = {}
    star: set[Table] = set()
    for scope, node in _scopes(query, columns, search_path):
        for ref in _walk(node):
            if not isinstance(ref, ast.ColumnRef):
                continue
            if any(isinstance(f, ast.A_Star) for f in ref.fields or ()):
                star.update(scope.star_tables(ref))
            elif hit := scope.resolve(ref):
                found.setdefault((hit[0], hit[1]), set()).add(hit[2])
    return {t: cols for t, cols in found.items() if t not in star}


def qual_params(query: str) -> set[int]:
    """``$n`` numbers used in WHERE/JOIN conditions (where a NULL would fold the plan)."""
    out: set[int] = set()
    for stmt in parse(query):
        for node in _walk(stmt):
            if isinstance(node, ast.SelectStmt | ast.UpdateStmt | ast.DeleteStmt):
                for expr in _quals(node):
                    out.update(_params(expr))
    return out


def _params(node: Any) -> Iterator[int]:
    for item in _walk(node):
        if isinstance(item, ast.ParamRef):
            yield int(item.number or 0)


def _scopes(
    query: str, columns: Columns, search_path: Sequence[str]
) -> Iterator[tuple[_Scope, Any]]:
    for stmt in parse(query):
        for node in _walk(stmt):
            if isinstance(node, ast.SelectStmt | ast.UpdateStmt | ast.DeleteStmt):
                yield _Scope(_relations(node), columns, search_path), node


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


class _Scope:
    """One query level: its aliases, and how to resolve a ColumnRef to a table."""

    def __init__(self, rels: list[Any], columns: Columns, search_path: Sequence[str]) -> None:
        self.columns = columns
        self.aliases: dict[str, Table] = {}
        self.tables: list[Table] = []
        for rel in rels:
            resolved = self._table(rel.schemaname, rel.relname, search_path)
            if resolved is None:
                continue  # CTE, view or unknown table: nothing to index
            self.tables.append(resolved)
            self.aliases[rel.alias.aliasname if rel.alias else rel.relname] = resolved

    def _table(self, schema: str | None, name: str, search_path: Sequence[str]) -> Table | None:
        for candidate in [schema] if schema else list(search_path):
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

    def star_tables(self, ref: Any) -> list[Table]:
        names = [str(f.sval) for f in ref.fields if isinstance(f, ast.String)]
        if not names:
            return list(self.tables)
        table = self.aliases.get(names[-1])
        return [table] if table else []

    def uses(self, stmt: Any) -> Iterator[ColumnUse]:
        for expr in _quals(stmt):
            yield from self._predicate(expr, top=True)
        for sort in getattr(stmt, "sortClause", None) or ():
            if isinstance(sort.node, ast.ColumnRef) and (hit := self.resolve(sort.node)):
                yield ColumnUse(*hit, usage="sort")

    def _predicate(self, expr: Any, top: bool) -> Iterator[ColumnUse]:
        """``top``: a conjunct of the whole condition (what a partial index may assume)."""
        if isinstance(expr, ast.BoolExpr):
            conjunct = top and expr.boolop == BoolExprType.AND_EXPR
            args = expr.args or ()
            if top and expr.boolop == BoolExprType.NOT_EXPR and len(args) == 1:
                yield from self._flag(args[0], negated=True)
            for arg in args:
                yield from self._predicate(arg, conjunct)
        elif isinstance(expr, ast.NullTest) and isinstance(expr.arg, ast.ColumnRef):
            if hit := self.resolve(expr.arg):
                yield ColumnUse(*hit, usage="eq")
                if top:
                    test = "IS NULL" if expr.nulltesttype == NullTestType.IS_NULL else "IS NOT NULL"
                    yield ColumnUse(*hit, usage="null", predicate=f"{quote(hit[2])} {test}")
        elif isinstance(expr, ast.ColumnRef) and top:
            yield from self._flag(expr, negated=False)
        elif isinstance(expr, ast.A_Expr):
            yield from self._comparison(expr)

    def _flag(self, expr: Any, negated: bool) -> Iterator[ColumnUse]:
        """A bare boolean column (``WHERE active``, ``WHERE NOT deleted``): a predicate."""
        if isinstance(expr, ast.ColumnRef) and (hit := self.resolve(expr)):
            pred = ("NOT " if negated else "") + quote(hit[2])
            yield ColumnUse(*hit, usage="null", predicate=pred)

    def _comparison(self, expr: Any) -> Iterator[ColumnUse]:
        kind = expr.kind
        ops = {n.sval for n in expr.name or () if isinstance(n, ast.String)}
        if kind in (A_Expr_Kind.AEXPR_IN, A_Expr_Kind.AEXPR_OP_ANY):
            usage = "eq"
        elif kind == A_Expr_Kind.AEXPR_BETWEEN:
            usage = "range"
        elif kind in _LIKE_KINDS:
            usage = "like"
        elif kind == A_Expr_Kind.AEXPR_OP and ops & (_EQ_OPS | _RANGE_OPS):
            usage = "eq" if ops & _EQ_OPS else "range"
        else:
            return
        for side, other in ((expr.lexpr, expr.rexpr), (expr.rexpr, expr.lexpr)):
            yield from self._side(side, other, usage)

    def _side(self, side: Any, other: Any, usage: str) -> Iterator[ColumnUse]:
        param = int(other.number or 0) if isinstance(other, ast.ParamRef) else None
        if isinstance(side, ast.ColumnRef) and (hit := self.resolve(side)) is not None:
            if isinstance(other, ast.ColumnRef):
                yield ColumnUse(*hit, usage="join")
            elif isinstance(other, (*_VALUE_NODES, ast.A_Expr, tuple, list)):
                yield ColumnUse(*hit, usage=usage, param=param)
        elif usage in ("eq", "range") and (found := self._expression(side)) is not None:
            if isinstance(other, ast.ParamRef | ast.A_Const):
                yield ColumnUse(*found[0], usage=usage, expression=found[1], param=param)

    def _expression(self, node: Any) -> tuple[tuple[str, str, str], str] | None:
        """``lower(col)`` or ``col::date``: a one-column expression an index can hold."""
        if isinstance(node, ast.FuncCall) and len(node.args or ()) == 1 and not node.agg_star:
            arg = (node.args or ())[0]
            if isinstance(arg, ast.ColumnRef) and (hit := self.resolve(arg)):
                name = ".".join(quote(str(n.sval)) for n in node.funcname or ())
                return hit, f"{name}({quote(hit[2])})"
        if isinstance(node, ast.TypeCast) and isinstance(node.arg, ast.ColumnRef):
            if (hit := self.resolve(node.arg)) and node.typeName is not None:
                names = [
                    str(n.sval) for n in node.typeName.names or () if isinstance(n, ast.String)
                ]
                if names and not node.typeName.typmods and not node.typeName.arrayBounds:
                    type_name = ".".join(quote(n) for n in names if n != "pg_catalog")
                    return hit, f"{quote(hit[2])}::{type_name}"
        return None
