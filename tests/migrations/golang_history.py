"""A golang-migrate history of our own, generated: many pairs, long versions, odd files.

:func:`generate` writes ``count`` up/down pairs whose versions grow from 14 to 17 to 20
digits (so they sort as numbers, not as text), with the kinds of files real histories
have: empty pairs, an up without a down, files wrapped in ``BEGIN``/``COMMIT``, a
``CREATE INDEX CONCURRENTLY``, an ``ALTER TYPE ... ADD VALUE``, a function whose body
holds semicolons, views, constraints and data. Every name is derived from the index,
so the output is the same on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Pair = tuple[str, str | None]  # (up SQL, down SQL or None for "no down file")


def version(i: int) -> int:
    """14-digit timestamps, then 17-digit and 20-digit ids: numeric order = index order."""
    if i < 20:
        return 20240101000000 + i * 100
    if i < 35:
        return 10**16 + i
    return 10**19 + i


def _table(i: int) -> Pair:
    return (
        f"CREATE TABLE t{i} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        f"    name text NOT NULL,\n    created_at timestamptz NOT NULL DEFAULT now()\n);\n",
        f"DROP TABLE t{i};\n",
    )


def _column(i: int) -> Pair:
    t = i - 1
    return (
        f"ALTER TABLE t{t} ADD COLUMN note_{i} varchar(20);\n"
        f"ALTER TABLE t{t} ADD CONSTRAINT t{t}_note_{i}_len CHECK (length(note_{i}) > 0);\n",
        f"ALTER TABLE t{t} DROP COLUMN note_{i};\n",
    )


def _wrapped(i: int) -> Pair:
    up, down = _table(i)
    return (
        f"-- golang-migrate runs this file as is\nBEGIN;\n{up}COMMIT;\n",
        f"BEGIN;\n{down}COMMIT;\n",
    )


def _empty(i: int) -> Pair:
    return "", ""


def _view(i: int) -> Pair:
    t = i - 2
    return (
        f"CREATE VIEW v{i} AS SELECT id, name FROM t{t} WHERE name <> '';\n",
        f"DROP VIEW v{i};\n",
    )


def _function(i: int) -> Pair:
    return (
        f"CREATE FUNCTION f{i}(a integer) RETURNS integer LANGUAGE plpgsql AS $$\n"
        "BEGIN\n    IF a < 0 THEN\n        RETURN 0;\n    END IF;\n    RETURN a + 1;\nEND;\n$$;\n",
        f"DROP FUNCTION f{i}(integer);\n",
    )


def _data(i: int) -> Pair:
    t = i - 4
    return (
        f"INSERT INTO t{t} (name) VALUES ('a'), ('b'), ('c');\n",
        f"DELETE FROM t{t} WHERE name IN ('a', 'b', 'c');\n",
    )


def _no_down(i: int) -> Pair:
    return f"CREATE TABLE keep_{i} (id bigint PRIMARY KEY);\n", None


KINDS: tuple[Callable[[int], Pair], ...] = (
    _table,
    _column,
    _wrapped,
    _empty,
    _view,
    _function,
    _data,
    _no_down,
)

#: Added once each, at these indexes, on top of the cycle above.
CONCURRENT_AT, ENUM_AT = 13, 41


def _special(i: int) -> Pair | None:
    if i == CONCURRENT_AT:
        return (
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS t8_name_idx ON t8 (name);\n",
            "DROP INDEX CONCURRENTLY IF EXISTS t8_name_idx;\n",
        )
    if i == ENUM_AT:
        return (
            "CREATE TYPE mood AS ENUM ('sad', 'ok');\nALTER TYPE mood ADD VALUE 'happy';\n",
            "DROP TYPE mood;\n",
        )
    return None


def pair(i: int) -> Pair:
    """The SQL of migration ``i``."""
    return _special(i) or KINDS[i % len(KINDS)](i)


def generate(directory: Path, count: int = 56) -> list[int]:
    """Write ``count`` golang-migrate pairs into ``directory``; return their versions."""
    directory.mkdir(parents=True, exist_ok=True)
    versions = []
    for i in range(count):
        up, down = pair(i)
        stem = f"{version(i)}_step_{i:03d}"
        (directory / f"{stem}.up.sql").write_text(up, encoding="utf-8")
        if down is not None:
            (directory / f"{stem}.down.sql").write_text(down, encoding="utf-8")
        versions.append(version(i))
    return versions


def up_files(directory: Path) -> list[Path]:
    """The up files in golang-migrate's order (numeric version)."""
    return sorted(directory.glob("*.up.sql"), key=lambda p: int(p.name.partition("_")[0]))
