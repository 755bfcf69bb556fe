"""Migration files: names, sections, statements and checksums.

A file ``NNNN_description.sql`` holds both directions::

    -- migrate:up
    CREATE TABLE t (id bigint);
    -- migrate:down
    DROP TABLE t;

``-- migrate:no-transaction`` anywhere in the file runs both sections outside a
transaction (for ``CREATE INDEX CONCURRENTLY``). Markers, comments and statements are
found with PostgreSQL's own scanner and parser (pglast), never with regular
expressions, so a marker inside a string or a ``;`` inside a dollar-quoted function
body cannot cut a statement in two. Everything wrong with a file is reported before
anything runs, with the file name and line.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pglast import ast, parser

from personal_assistant.database.migrations.errors import MigrationFileError

UP_MARKER = "migrate:up"
DOWN_MARKER = "migrate:down"
NO_TRANSACTION_MARKER = "migrate:no-transaction"
SUFFIX = ".sql"
VERSION_DIGITS = 4

#: Where the application's own migrations live (``--directory`` overrides it).
DEFAULT_DIRECTORY = Path(__file__).parent / "versions"

TEMPLATE = """\
-- {description}
--
-- Add '-- migrate:no-transaction' for statements that cannot run in a transaction
-- (CREATE INDEX CONCURRENTLY); keep such a file to that one kind of statement.

-- migrate:up


-- migrate:down

"""


@dataclass(frozen=True)
class SqlStatement:
    """One top-level statement, as written, and the file line where it starts."""

    sql: str
    line: int
    node: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Section:
    """The up or down part of a file: its text, first file line and statements."""

    sql: str
    first_line: int
    statements: tuple[SqlStatement, ...]


@dataclass(frozen=True)
class MigrationFile:
    """A parsed, validated migration file."""

    version: int
    description: str
    path: Path
    up: Section
    down: Section | None
    in_transaction: bool
    checksum: str

    @property
    def file_name(self) -> str:
        return self.path.name

    @property
    def has_down(self) -> bool:
        return self.down is not None and bool(self.down.statements)


def normalize(sql: str) -> str:
    """The text the checksum covers: line endings and trailing blanks do not count."""
    lines = [line.rstrip() for line in sql.splitlines()]
    return "\n".join(lines).strip("\n")


def checksum(sql: str) -> str:
    """SHA-256 (hex) of the normalized SQL."""
    return hashlib.sha256(normalize(sql).encode("utf-8")).hexdigest()


class _Lines:
    """Map character offsets of a section to 1-based file lines."""

    def __init__(self, text: str, first_line: int) -> None:
        self._newlines = [i for i, ch in enumerate(text) if ch == "\n"]
        self._first = first_line

    def __call__(self, offset: int) -> int:
        return self._first + bisect_right(self._newlines, offset - 1)


def parse_name(path: Path) -> tuple[int, str]:
    """``0007_add_orders.sql`` -> ``(7, "add orders")``; anything else is rejected."""
    number, sep, rest = path.stem.partition("_")
    if path.suffix != SUFFIX or not sep or not rest or not number.isdigit():
        raise MigrationFileError(
            str(path), 1, "file name must look like NNNN_description.sql (e.g. 0001_users.sql)"
        )
    return int(number), rest.replace("_", " ")


def _error_line(exc: parser.ParseError, lines: _Lines) -> int:
    location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
    return lines(location)


def parse_statements(sql: str, *, path: str, first_line: int = 1) -> tuple[SqlStatement, ...]:
    """Split ``sql`` into statements with their file lines, using PostgreSQL's parser."""
    lines = _Lines(sql, first_line)
    try:
        raw = parser.parse_sql(sql)
    except parser.ParseError as exc:
        raise MigrationFileError(path, _error_line(exc, lines), str(exc.args[0])) from exc
    result = []
    for stmt in raw:
        start = stmt.stmt_location or 0
        end = start + stmt.stmt_len if stmt.stmt_len else len(sql)
        if isinstance(stmt.stmt, ast.TransactionStmt):
            raise MigrationFileError(
                path,
                lines(start),
                "transaction control (BEGIN/COMMIT/ROLLBACK) is not allowed: the runner "
                "wraps each migration in its own transaction",
            )
        result.append(SqlStatement(sql[start:end].strip(), lines(start), stmt.stmt))
    return tuple(result)


def _markers(text: str, path: str) -> list[tuple[str, int, int]]:
    """``(marker, start, end)`` of every marker comment, found by the SQL scanner."""
    try:
        tokens = parser.scan(text)
    except parser.ParseError as exc:
        raise MigrationFileError(path, _error_line(exc, _Lines(text, 1)), str(exc.args[0])) from exc
    found = []
    for tok in tokens:
        if tok.name != "SQL_COMMENT":
            continue
        body = text[tok.start : tok.end + 1].removeprefix("--").strip()
        if body in (UP_MARKER, DOWN_MARKER, NO_TRANSACTION_MARKER):
            found.append((body, tok.start, tok.end + 1))
    return found


def _section(text: str, start: int, end: int, path: str) -> Section:
    first_line = text.count("\n", 0, start) + 1
    sql = text[start:end]
    return Section(sql, first_line, parse_statements(sql, path=path, first_line=first_line))


def _single(markers: list[tuple[str, int, int]], name: str, path: str, text: str) -> int | None:
    """End offset of the one ``name`` marker, ``None`` if absent; two is an error."""
    hits = [m for m in markers if m[0] == name]
    if len(hits) > 1:
        line = text.count("\n", 0, hits[1][1]) + 1
        raise MigrationFileError(path, line, f"second '-- {name}' marker")
    return hits[0][2] if hits else None


def parse_migration(text: str, path: Path) -> MigrationFile:
    """Parse one file's text; raises :class:`MigrationFileError` naming file and line."""
    version, description = parse_name(path)
    where = str(path)
    markers = _markers(text, where)
    up_end = _single(markers, UP_MARKER, where, text)
    down_end = _single(markers, DOWN_MARKER, where, text)
    if up_end is None:
        raise MigrationFileError(where, 1, "no '-- migrate:up' section")
    down_start = next((m[1] for m in markers if m[0] == DOWN_MARKER), len(text))
    if down_end is not None and down_start < up_end:
        line = text.count("\n", 0, down_start) + 1
        raise MigrationFileError(where, line, "'-- migrate:down' comes before '-- migrate:up'")
    up = _section(text, up_end, down_start, where)
    if not up.statements:
        raise MigrationFileError(where, up.first_line, "the up section has no statements")
    down = _section(text, down_end, len(text), where) if down_end is not None else None
    no_tx = any(m[0] == NO_TRANSACTION_MARKER for m in markers)
    return MigrationFile(version, description, path, up, down, not no_tx, checksum(up.sql))


def load_migration(path: Path) -> MigrationFile:
    """Read and parse one migration file."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MigrationFileError(
            str(path), line, f"is not valid UTF-8 (byte 0x{data[exc.start]:02x})"
        ) from None
    # Universal newlines, exactly as ``read_text()`` gave them before.
    return parse_migration(text.replace("\r\n", "\n").replace("\r", "\n"), path)


def load_directory(directory: Path) -> tuple[MigrationFile, ...]:
    """Every ``*.sql`` file of ``directory``, parsed and sorted by version.

    All files are parsed before returning, so one bad file stops everything before
    any SQL runs; two files with one number are rejected.
    """
    if not directory.is_dir():
        raise MigrationFileError(str(directory), 1, "migration directory does not exist")
    files = [load_migration(p) for p in sorted(directory.glob(f"*{SUFFIX}"))]
    _reject_duplicates(files)
    return tuple(sorted(files, key=lambda f: f.version))


def _reject_duplicates(files: Iterable[MigrationFile]) -> None:
    seen: dict[int, MigrationFile] = {}
    for file in files:
        if (other := seen.get(file.version)) is not None:
            raise MigrationFileError(
                str(file.path), 1, f"version {file.version} is also used by {other.file_name}"
            )
        seen[file.version] = file


def slug(name: str) -> str:
    """``"Add orders table"`` -> ``"add_orders_table"`` (letters, digits, underscores)."""
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name.strip().lower())
    parts = [part for part in cleaned.split("_") if part]
    if not parts:
        raise ValueError(f"migration name {name!r} has no letters or digits")
    return "_".join(parts)


def create_file(directory: Path, name: str) -> Path:
    """Write the next numbered migration file from :data:`TEMPLATE` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    versions = [parse_name(p)[0] for p in directory.glob(f"*{SUFFIX}")]
    version = max(versions, default=0) + 1
    path = directory / f"{version:0{VERSION_DIGITS}d}_{slug(name)}{SUFFIX}"
    path.write_text(TEMPLATE.format(description=name.strip()), encoding="utf-8")
    return path
