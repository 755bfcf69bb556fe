"""Guess table facts from the migration history, for linting without a database.

Without ``--database-url`` or ``--facts`` the linter knows nothing about the tables a
migration touches and would judge every one as large. But the earlier migrations of the
same directory say a lot: which tables exist, their column types and ``NOT NULL``
columns, and whether any migration ever put rows in them. :class:`Replay` follows the
up sections in version order (pure: statements in, :class:`DatabaseFacts` out) so that:

* a table created by an earlier migration and never filled by one is taken as small
  (``INSERT ... VALUES`` adds its rows; ``INSERT ... SELECT`` and ``COPY`` make the
  size unknown, hence large);
* ``varchar(10)`` → ``varchar(20)`` or ``varchar`` → ``text`` is known to be free,
  because the old type is known;
* ``SET NOT NULL`` on a column that is already ``NOT NULL`` is nothing.

The sizes are guesses (the application may have filled a table since), so every
verdict based on them says so (:attr:`TableFacts.guess`) and the report carries a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

from personal_assistant.database.migrations.errors import MigrationFileError
from personal_assistant.database.migrations.files import SUFFIX, Section, parse_name, up_section
from personal_assistant.database.migrations.sql_parse import Statement
from personal_assistant.database.migrations.validation import typeinfo
from personal_assistant.database.migrations.validation.context import (
    ColumnType,
    DatabaseFacts,
    TableFacts,
)
from personal_assistant.database.migrations.validation.relations import (
    referenced_relations,
    relation_key,
)
from personal_assistant.database.migrations.validation.tracking import not_null_check_column

_T = AlterTableType
GUESS = "a guess from the migration history: the application may have filled it since"
NOTE = (
    "no database facts: sizes, column types and NOT NULL columns were guessed from the "
    "earlier migrations of the same directory (a table created by one and never filled "
    "by one is taken as small); lint with --facts FILE or --database-url to know"
)


def _key(rv: ast.RangeVar | None) -> str:
    """The table's name without a ``public.`` prefix (``users`` and ``public.users`` agree)."""
    return relation_key(rv).removeprefix("public.")


@dataclass
class _Table:
    """What the history says about one table (mutable only inside :class:`Replay`)."""

    created_by: str
    columns: dict[str, ColumnType] = field(default_factory=dict)
    not_null: set[str] = field(default_factory=set)
    rows: int | None = 0
    filled_by: str = ""

    def guess(self, name: str) -> str:
        if self.rows is None:
            return f"{name} is filled by {self.filled_by} (size unknown: assuming large; {GUESS})"
        if self.rows == 0:
            return f"{name} is created by {self.created_by} and no migration fills it ({GUESS})"
        return f"{name} gets {self.rows} row(s) from migrations, last in {self.filled_by} ({GUESS})"


def _not_null(col: ast.ColumnDef) -> bool:
    kinds = {c.contype for c in col.constraints or () if isinstance(c, ast.Constraint)}
    return bool(col.is_not_null) or bool(
        kinds & {ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_IDENTITY}
    )


def _key_columns(con: ast.Constraint) -> Iterator[str]:
    if con.contype == ConstrType.CONSTR_PRIMARY:
        yield from (str(k.sval) for k in con.keys or () if isinstance(k, ast.String))
    elif not con.skip_validation and (column := not_null_check_column(con)) is not None:
        yield column


class Replay:
    """The schema as the up sections built it, one file at a time."""

    def __init__(self) -> None:
        self.tables: dict[str, _Table] = {}
        self.indexes: dict[str, str] = {}  # index -> table

    def facts(self, names: Iterable[str] | None = None) -> DatabaseFacts:
        """What the history says now about ``names`` (default: everything), as guesses."""
        keys = set(self.tables) | set(self.indexes) if names is None else set(names)
        found: dict[str, TableFacts] = {}
        for key in (name.removeprefix("public.") for name in keys):
            if (table := self.tables.get(key)) is not None:
                found[key] = TableFacts(
                    key,
                    rows=table.rows,
                    columns=dict(table.columns),
                    not_null_checked=frozenset(table.not_null),
                    guess=table.guess(key),
                )
            elif (owner := self.indexes.get(key)) is not None:
                table = self.tables[owner]
                found[key] = TableFacts(key, rows=table.rows, guess=table.guess(owner))
        return DatabaseFacts(found)

    def apply(self, file_name: str, statements: Iterable[Statement]) -> None:
        """Follow one file's up section."""
        for stmt in statements:
            self._statement(file_name, stmt.node)

    def _statement(self, file_name: str, node: ast.Node) -> None:
        match node:
            case ast.CreateStmt():
                self._create(file_name, node)
            case ast.CreateTableAsStmt() if node.into is not None:
                table = _Table(file_name, rows=0 if node.into.skipData else None)
                table.filled_by = file_name
                self.tables[_key(node.into.rel)] = table
            case ast.DropStmt():
                self._drop(node)
            case ast.RenameStmt():
                self._rename(node)
            case ast.AlterTableStmt() if node.objtype == ObjectType.OBJECT_TABLE:
                self._alter(_key(node.relation), node)
            case ast.IndexStmt() if node.idxname and _key(node.relation) in self.tables:
                self.indexes[str(node.idxname)] = _key(node.relation)
            case ast.InsertStmt():
                select = node.selectStmt
                values = select.valuesLists if isinstance(select, ast.SelectStmt) else None
                self._fill(file_name, _key(node.relation), len(values) if values else None)
            case ast.CopyStmt() if node.is_from and node.relation is not None:
                self._fill(file_name, _key(node.relation), None)
            case ast.TruncateStmt():
                for rel in node.relations or ():
                    if (emptied := self.tables.get(_key(rel))) is not None:
                        emptied.rows = 0

    def _create(self, file_name: str, node: ast.CreateStmt) -> None:
        name = _key(node.relation)
        if node.if_not_exists and name in self.tables:
            return
        table = _Table(file_name)
        for elt in node.tableElts or ():
            if isinstance(elt, ast.ColumnDef) and elt.colname:
                table.columns[str(elt.colname)] = typeinfo.column_type(elt.typeName)
                if _not_null(elt):
                    table.not_null.add(str(elt.colname))
            elif isinstance(elt, ast.Constraint):
                table.not_null.update(_key_columns(elt))
        self.tables[name] = table

    def _fill(self, file_name: str, name: str, rows: int | None) -> None:
        table = self.tables.get(name)
        if table is None:
            return
        table.rows = None if rows is None or table.rows is None else table.rows + rows
        table.filled_by = file_name

    def _drop(self, node: ast.DropStmt) -> None:
        for names in node.objects or ():
            if not isinstance(names, tuple | list):
                continue
            name = ".".join(str(p.sval) for p in names if isinstance(p, ast.String))
            name = name.removeprefix("public.")
            if node.removeType == ObjectType.OBJECT_TABLE and name in self.tables:
                del self.tables[name]
                self.indexes = {i: t for i, t in self.indexes.items() if t != name}
            elif node.removeType == ObjectType.OBJECT_INDEX:
                self.indexes.pop(name, None)

    def _rename(self, node: ast.RenameStmt) -> None:
        name, new = _key(node.relation), str(node.newname)
        if node.renameType == ObjectType.OBJECT_TABLE and name in self.tables:
            self.tables[new] = self.tables.pop(name)
            self.indexes = {i: new if t == name else t for i, t in self.indexes.items()}
        elif node.renameType == ObjectType.OBJECT_INDEX and name in self.indexes:
            self.indexes[new] = self.indexes.pop(name)
        elif node.renameType == ObjectType.OBJECT_COLUMN and name in self.tables:
            table, old = self.tables[name], str(node.subname)
            if old in table.columns:
                table.columns[new] = table.columns.pop(old)
            if old in table.not_null:
                table.not_null = (table.not_null - {old}) | {new}

    def _alter(self, name: str, node: ast.AlterTableStmt) -> None:
        table = self.tables.get(name)
        if table is None:
            return
        for cmd in node.cmds or ():
            if not isinstance(cmd, ast.AlterTableCmd):
                continue
            column, arg = str(cmd.name or ""), cmd.def_
            if cmd.subtype == _T.AT_AddColumn and isinstance(arg, ast.ColumnDef) and arg.colname:
                table.columns[str(arg.colname)] = typeinfo.column_type(arg.typeName)
                if _not_null(arg):
                    table.not_null.add(str(arg.colname))
            elif cmd.subtype == _T.AT_DropColumn:
                table.columns.pop(column, None)
                table.not_null.discard(column)
            elif cmd.subtype == _T.AT_AlterColumnType and isinstance(arg, ast.ColumnDef):
                table.columns[column] = typeinfo.column_type(arg.typeName)
            elif cmd.subtype == _T.AT_SetNotNull:
                table.not_null.add(column)
            elif cmd.subtype == _T.AT_DropNotNull:
                table.not_null.discard(column)
            elif cmd.subtype == _T.AT_AddConstraint and isinstance(arg, ast.Constraint):
                table.not_null.update(_key_columns(arg))


def replay(steps: Sequence[tuple[str, Sequence[Statement]]]) -> list[DatabaseFacts]:
    """The facts before each step (``(file name, up statements)``, in version order),
    about the relations that step names (so a long history stays linear)."""
    history = Replay()
    before = []
    for name, statements in steps:
        before.append(history.facts(referenced_relations(statements)))
        history.apply(name, statements)
    return before


def directory_facts(
    directory: Path, parsed: Mapping[Path, Section] | None = None
) -> dict[Path, DatabaseFacts]:
    """Facts before each migration file of ``directory`` (keyed by resolved path).

    ``parsed`` holds sections already parsed (by the linter), so no file is parsed
    twice; files whose names are not migration names are not part of the history.
    """
    known = {path.resolve(): section for path, section in (parsed or {}).items()}
    files: list[tuple[int, Path]] = []
    for path in directory.glob(f"*{SUFFIX}"):
        try:
            files.append((parse_name(path)[0], path.resolve()))
        except MigrationFileError:
            continue
    files.sort()
    steps = []
    for _, path in files:
        section = known.get(path) or up_section(path.read_text(encoding="utf-8"), str(path))
        steps.append((path.name, section.statements))
    return dict(zip((path for _, path in files), replay(steps), strict=True))
