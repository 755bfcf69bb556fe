"""What a source tool's directory reads as, and what importing it produced.

Readers (one module per tool) turn a directory into :class:`Reading`: the migrations
they could map and the files they could not (:class:`Skipped`, always with a reason,
so nothing is dropped silently). :mod:`.convert` turns each :class:`SourceMigration`
into a pa-db file; :mod:`.writer` writes the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Origin:
    """Where a section's text starts in the source directory (for messages)."""

    file: str
    line: int = 1

    def at(self, line: int) -> str:
        """``file:line`` of line ``line`` (1-based) of the section."""
        return f"{self.file}:{self.line + line - 1}"


@dataclass(frozen=True)
class SourceMigration:
    """One migration as the source tool defines it, before it becomes a pa-db file.

    ``version`` keeps the source's digits (leading zeros too); ``down`` is ``None``
    when the tool has no down for it and ``""`` when its down is empty.
    ``no_transaction`` is set when the tool itself was told to run it outside a
    transaction, and says how (``dbmate transaction:false``).
    """

    version: str
    description: str
    up: str
    down: str | None
    up_at: Origin
    down_at: Origin | None = None
    no_transaction: str | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        """The source files, up first (golang-migrate and Flyway keep downs apart)."""
        files = [self.up_at.file]
        if self.down_at is not None and self.down_at.file not in files:
            files.append(self.down_at.file)
        return tuple(files)


@dataclass(frozen=True)
class Skipped:
    """A source file (or migration) that cannot become a pa-db file, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class Reading:
    """Everything one reader found in a source directory."""

    tool: str
    migrations: tuple[SourceMigration, ...]
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True)
class ConvertedFile:
    """A pa-db migration file made from one source migration."""

    version: int
    name: str
    text: str
    sources: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportReport:
    """What ``import`` did: files written, files already there, and what was left out."""

    tool: str
    written: tuple[Path, ...]
    unchanged: tuple[Path, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[tuple[str, str], ...]  # (file name, what was changed on the way)
