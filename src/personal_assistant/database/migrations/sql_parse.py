"""The one place migration SQL meets PostgreSQL's scanner and parser (pglast).

A text is scanned once: its ``--`` comments give both the file-format markers (read
by :mod:`.files`) and the ``-- pa:allow RULE reason`` suppressions. Each section is
parsed once into :class:`Statement` values that carry everything the runner and the
validator need: the SQL as written, its file line, its pglast node and its allows.
No regular expressions: a marker or ``pa:allow`` inside a string literal is not a
comment, and a ``;`` inside a dollar-quoted body does not end a statement.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pglast import ast, parser

from personal_assistant.database.migrations.errors import MigrationParseError

ALLOW_PREFIX = "pa:allow"


@dataclass(frozen=True)
class Allow:
    """A ``-- pa:allow RULE reason`` comment; ``reason`` is empty when none was given."""

    rule: str
    reason: str
    line: int


@dataclass(frozen=True)
class Statement:
    """One top-level statement: its SQL as written, first file line, node and allows."""

    sql: str
    line: int
    node: ast.Node = field(compare=False, repr=False)
    allows: tuple[Allow, ...] = ()


@dataclass(frozen=True)
class Comment:
    """A ``--`` comment: its text without the dashes, and its ``[start, end)`` offsets."""

    text: str
    start: int
    end: int


def _parse_allow(text: str, line: int) -> Iterator[Allow]:
    """``pa:allow rule-a,rule-b reason words`` → one ``Allow`` per rule."""
    rest = text.removeprefix(ALLOW_PREFIX).strip()
    rules, _, reason = rest.partition(" ")
    for rule in filter(None, rules.split(",")):
        yield Allow(rule.strip(), reason.strip(), line)


class SqlText:
    """A whole text (a file, or SQL on its own) scanned once, ready to parse by section.

    ``first_line`` is the file line where ``text`` starts, so that SQL cut out of a
    file (a stored down section) still reports file lines.
    """

    def __init__(self, text: str, path: str, first_line: int = 1) -> None:
        self.text = text
        self.path = path
        self._first_line = first_line
        self._newlines = _newlines(text)
        self.comments = self._scan()

    def line(self, offset: int) -> int:
        """The 1-based file line of character ``offset``, in ``O(log n)``."""
        return self._first_line + bisect_right(self._newlines, offset - 1)

    def _error(self, exc: parser.ParseError, base: int = 0) -> MigrationParseError:
        location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        return MigrationParseError(self.path, self.line(base + location), str(exc.args[0]))

    def _scan(self) -> tuple[Comment, ...]:
        """Every ``--`` comment, found by PostgreSQL's scanner.

        Scanning a whole 5 MB file token by token built ~800,000 tokens (1.5 s, 240 MB)
        to find a handful of comments. So the text is first cut at statement boundaries
        by the scanner-based split (in C; no tokens are kept), and only the pieces that
        contain ``--`` are scanned: a piece starts at a token boundary, so its comments
        are exactly the ones the whole text's scan finds there.
        """
        try:
            pieces = parser.split(self.text, with_parser=False, only_slices=True)
        except parser.ParseError as exc:
            raise self._error(exc) from exc
        return tuple(
            comment
            for start, end in _regions(pieces, len(self.text))
            if self.text.find("--", start, end) >= 0
            for comment in self._comments_in(start, end)
        )

    def _comments_in(self, start: int, end: int) -> Iterator[Comment]:
        for tok in parser.scan(self.text[start:end]):
            if tok.name == "SQL_COMMENT":
                first, last = start + tok.start, start + tok.end + 1
                yield Comment(self.text[first:last].removeprefix("--").strip(), first, last)

    def statements(self, start: int = 0, end: int | None = None) -> tuple[Statement, ...]:
        """Parse ``text[start:end]`` with one pglast call; allows attach to the next one.

        Raises :class:`MigrationParseError` with the file line of the syntax error.
        """
        stop = len(self.text) if end is None else end
        try:
            raw = parser.parse_sql(self.text[start:stop])
        except parser.ParseError as exc:
            raise self._error(exc, start) from exc
        allows = [
            c for c in self.comments if start <= c.start < stop and c.text.startswith(ALLOW_PREFIX)
        ]
        result: list[Statement] = []
        previous_end = start
        for stmt in raw:
            if stmt.stmt is None:
                continue
            begin = start + (stmt.stmt_location or 0)
            finish = begin + stmt.stmt_len if stmt.stmt_len else stop
            own = tuple(
                allow
                for c in allows
                if previous_end <= c.start < begin
                for allow in _parse_allow(c.text, self.line(c.start))
            )
            result.append(
                Statement(self.text[begin:finish].strip(), self.line(begin), stmt.stmt, own)
            )
            previous_end = finish
        return tuple(result)


def _newlines(text: str) -> list[int]:
    """Offsets of every newline (``str.find`` runs in C; a character loop did not)."""
    found: list[int] = []
    at = text.find("\n")
    while at >= 0:
        found.append(at)
        at = text.find("\n", at + 1)
    return found


def _regions(pieces: Sequence[slice], length: int) -> Iterator[tuple[int, int]]:
    """The statements' slices and the text between and after them, in order."""
    at = 0
    for piece in pieces:
        if piece.start > at:
            yield at, piece.start
        yield piece.start, piece.stop
        at = piece.stop
    if at < length:
        yield at, length


def parse_statements(
    sql: str, *, path: str = "<string>", first_line: int = 1
) -> tuple[Statement, ...]:
    """Parse SQL on its own (not a migration file) into statements with file lines."""
    return SqlText(sql, path, first_line).statements()
