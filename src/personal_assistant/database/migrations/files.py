"""Migration files: names, sections, statements and checksums.

A file ``NNNN_description.sql`` holds both directions::

    -- migrate:up
    CREATE TABLE t (id bigint);
    -- migrate:down
    DROP TABLE t;

``-- migrate:no-transaction`` anywhere in the file runs both sections outside a
transaction (for ``CREATE INDEX CONCURRENTLY``). A section that is present but holds
no statement (only comments, or nothing) is a recorded no-op; a file without a
``-- migrate:down`` marker cannot be rolled back. The version is the file name's
digit prefix, up to :data:`MAX_VERSION_DIGITS` digits, ordered as a number.

Markers, comments and statements are found with PostgreSQL's own scanner and parser
(pglast, through :mod:`.sql_parse`), never with regular expressions, so a marker inside
a string or a ``;`` inside a dollar-quoted function body cannot cut a statement in two.
Everything wrong with a file is reported before anything runs, with the file name and
line.

A file is scanned once and each section parsed once; the resulting
:class:`MigrationFile` carries the pglast nodes and ``-- pa:allow`` comments, so the
validator judges exactly what the runner runs without reading the file again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pglast import ast

from personal_assistant.database.migrations.errors import MigrationFileError
from personal_assistant.database.migrations.sql_parse import Comment, SqlText, Statement

UP_MARKER = "migrate:up"
DOWN_MARKER = "migrate:down"
NO_TRANSACTION_MARKER = "migrate:no-transaction"
_MARKERS = (UP_MARKER, DOWN_MARKER, NO_TRANSACTION_MARKER)
SUFFIX = ".sql"
VERSION_DIGITS = 4
#: Versions are digit strings of at most this many digits (the tracking table's
#: ``numeric(32, 0)`` holds them; 14-digit timestamps and 20-digit ids fit).
MAX_VERSION_DIGITS = 32

_TRANSACTION_CONTROL = (
    "transaction control (BEGIN/COMMIT/ROLLBACK) is not allowed: the runner wraps each "
    "migration in its own transaction"
)

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
class Section:
    """The up or down part of a file: its text, first file line, statements, and
    whether it runs in a transaction (no ``-- migrate:no-transaction`` in the file).
    """

    sql: str
    first_line: int
    statements: tuple[Statement, ...]
    in_transaction: bool = True


@dataclass(frozen=True)
class MigrationFile:
    """A parsed, validated migration file."""

    version: int
    description: str
    path: Path
    up: Section
    down: Section | None
    checksum: str

    @property
    def file_name(self) -> str:
        return self.path.name

    @property
    def in_transaction(self) -> bool:
        return self.up.in_transaction

    @property
    def has_down(self) -> bool:
        """``True`` when the file has a down section, even an empty one (a no-op)."""
        return self.down is not None


def normalize(sql: str) -> str:
    """The text the checksum covers: line endings and trailing blanks do not count."""
    lines = [line.rstrip() for line in sql.splitlines()]
    return "\n".join(lines).strip("\n")


def checksum(sql: str) -> str:
    """SHA-256 (hex) of the normalized SQL."""
    return hashlib.sha256(normalize(sql).encode("utf-8")).hexdigest()


def parse_name(path: Path) -> tuple[int, str]:
    """``0007_add_orders.sql`` -> ``(7, "add orders")``; anything else is rejected."""
    number, sep, rest = path.stem.partition("_")
    if path.suffix != SUFFIX or not sep or not rest or not number.isdecimal():
        raise MigrationFileError(
            str(path), 1, "file name must look like NNNN_description.sql (e.g. 0001_users.sql)"
        )
    if not number.isascii():
        raise MigrationFileError(str(path), 1, "the version must be ASCII digits 0-9")
    if len(number) > MAX_VERSION_DIGITS:
        raise MigrationFileError(
            str(path),
            1,
            f"version {number} has {len(number)} digits; at most {MAX_VERSION_DIGITS} fit "
            "the tracking table",
        )
    return int(number), rest.replace("_", " ")


def _runnable(statements: tuple[Statement, ...], path: str) -> tuple[Statement, ...]:
    """``statements``, unless one of them is transaction control (the runner's job)."""
    for stmt in statements:
        if isinstance(stmt.node, ast.TransactionStmt):
            raise MigrationFileError(path, stmt.line, _TRANSACTION_CONTROL)
    return statements


def parse_section(sql: str, *, path: str, first_line: int = 1) -> tuple[Statement, ...]:
    """Statements of one section stored apart from its file (the recorded down SQL)."""
    return _runnable(SqlText(sql, path, first_line).statements(), path)


def _markers(source: SqlText) -> list[Comment]:
    """Every marker comment; found by the SQL scanner, so never inside a string."""
    return [c for c in source.comments if c.text in _MARKERS]


def _section(source: SqlText, start: int, end: int, in_transaction: bool) -> Section:
    statements = source.statements(start, end)
    return Section(source.text[start:end], source.line(start), statements, in_transaction)


def _single(markers: list[Comment], name: str, source: SqlText) -> Comment | None:
    """The one ``name`` marker, ``None`` if absent; a second one is an error."""
    hits = [m for m in markers if m.text == name]
    if len(hits) > 1:
        raise MigrationFileError(
            source.path, source.line(hits[1].start), f"second '-- {name}' marker"
        )
    return hits[0] if hits else None


def _file_markers(source: SqlText) -> tuple[Comment, Comment | None, bool]:
    """The up and down markers and whether the file runs in a transaction."""
    markers = _markers(source)
    up = _single(markers, UP_MARKER, source)
    down = _single(markers, DOWN_MARKER, source)
    if up is None:
        raise MigrationFileError(source.path, 1, "no '-- migrate:up' section")
    if down is not None and down.start < up.end:
        raise MigrationFileError(
            source.path, source.line(down.start), "'-- migrate:down' comes before '-- migrate:up'"
        )
    return up, down, not any(m.text == NO_TRANSACTION_MARKER for m in markers)


def _file_section(source: SqlText, start: int, end: int, in_transaction: bool) -> Section:
    section = _section(source, start, end, in_transaction)
    _runnable(section.statements, source.path)
    return section


def parse_migration(text: str, path: Path) -> MigrationFile:
    """Parse one file's text; raises :class:`MigrationFileError` naming file and line."""
    version, description = parse_name(path)
    source = SqlText(text, str(path))
    up_marker, down_marker, in_transaction = _file_markers(source)
    up_end = len(text) if down_marker is None else down_marker.start
    up = _file_section(source, up_marker.end, up_end, in_transaction)
    down = None
    if down_marker is not None:
        down = _file_section(source, down_marker.end, len(text), in_transaction)
    return MigrationFile(version, description, path, up, down, checksum(up.sql))


def up_section(text: str, path: str = "<string>") -> Section:
    """The ``-- migrate:up`` section of any ``.sql`` file, leniently, for the linter.

    Unlike :func:`parse_migration` (which rejects a file without an up marker or a
    proper name), lint accepts any ``.sql`` file: one without markers is entirely "up",
    and a ``-- migrate:no-transaction`` line anywhere still means it runs outside a
    transaction (it matters for CONCURRENTLY). Transaction control is left to the rules.
    """
    source = SqlText(text, path)
    start, end, in_transaction = 0, len(text), True
    for marker in _markers(source):
        if marker.text == UP_MARKER:
            start = marker.end
        elif marker.text == DOWN_MARKER and marker.start >= start:
            end = marker.start
        elif marker.text == NO_TRANSACTION_MARKER:
            in_transaction = False
    return _section(source, start, end, in_transaction)


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
