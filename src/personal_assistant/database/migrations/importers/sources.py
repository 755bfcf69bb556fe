"""Reading a source directory: file text and the marker comments the tools use."""

from __future__ import annotations

from pathlib import Path

from personal_assistant.database.migrations.errors import MigrationParseError
from personal_assistant.database.migrations.sql_parse import Comment, SqlText


class Unreadable(Exception):
    """A source file that cannot be read as SQL text; the message says why."""


def read_text(path: Path) -> str:
    """The file's text with universal newlines; raises :class:`Unreadable`."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise Unreadable(f"line {line}: not valid UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def comments(text: str, name: str) -> tuple[SqlText, tuple[Comment, ...]]:
    """The text scanned by PostgreSQL's scanner, and its ``--`` comments."""
    try:
        source = SqlText(text, name)
    except MigrationParseError as exc:
        raise Unreadable(f"line {exc.line}: {exc.message}") from exc
    return source, source.comments


def files(directory: Path, *, recursive: bool = False) -> list[tuple[Path, str]]:
    """``(path, name relative to directory)`` of every visible file, sorted by name."""
    found = directory.rglob("*") if recursive else directory.iterdir()
    visible = [
        p
        for p in found
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    ]
    return sorted((p, p.relative_to(directory).as_posix()) for p in visible)
