"""``adopt`` takes over another tool's recorded history; ``up`` continues from there.

Each tool's history is made as the tool makes it: the first files applied with psql
(as golang-migrate, dbmate or Flyway would run them) and the tool's own tracking table
created and filled with that tool's DDL (``tests/migrations/foreign_tools.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from personal_assistant.database.migrations import AdoptionError, MigrationManager
from personal_assistant.database.migrations.importers import import_directory
from tests.fixtures.postgres import ServerInfo, create_database, drop_database
from tests.migrations import foreign_tools, golang_history
from tests.migrations.test_import_history import psql_apply, schema_dump

COUNT, DONE = 12, 7  # migrations in the history, and how many the old tool applied


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, Path]:
    """``(golang-migrate source, pa-db directory)`` of a small imported history."""
    source, target = tmp_path / "golang", tmp_path / "pa"
    golang_history.generate(source, count=COUNT)
    import_directory("golang-migrate", source, target)
    return source, target


@pytest.fixture
def reference(pg_server: ServerInfo, history: tuple[Path, Path]) -> str:
    """The schema dump of a database where psql applied the whole history, file by file."""
    source, _ = history
    name = create_database(pg_server, "ref")
    try:
        dsn = pg_server.url(name, driver="postgresql")
        psql_apply(dsn, golang_history.up_files(source))
        return schema_dump(dsn)
    finally:
        drop_database(pg_server, name)


def versions(count: int) -> list[int]:
    return [golang_history.version(i) for i in range(count)]


def tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows.fetchall()}


def recorded(dsn: str) -> list[tuple[int, bool, list[str]]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version, success, notices FROM schema_migrations ORDER BY 1")
        return [(int(v), s, n) for v, s, n in rows.fetchall()]


def flyway_rows(done: int) -> list[tuple[str | None, str, str, str, bool]]:
    rows: list[tuple[str | None, str, str, str, bool]] = [
        ("0", "<< Flyway Schema Creation >>", "SCHEMA", '"public"', True)
    ]
    for v in versions(done):
        rows.append((str(v), "step", "SQL", f"V{v}__step.sql", True))
    rows.append((None, "refresh", "SQL", "R__refresh.sql", True))
    return rows


def alembic_map(tmp_path: Path, done: int) -> Path:
    path = tmp_path / "revisions.json"
    path.write_text(json.dumps({f"rev{i:03d}": v for i, v in enumerate(versions(done))}))
    return path


SETUPS: dict[str, Callable[[str, Path], Path | None]] = {
    "golang-migrate": lambda dsn, _: foreign_tools.golang_migrate(dsn, versions(DONE)[-1]),
    "dbmate": lambda dsn, _: foreign_tools.dbmate(dsn, map(str, versions(DONE))),
    "flyway": lambda dsn, _: foreign_tools.flyway(dsn, flyway_rows(DONE)),
    "alembic": lambda dsn, tmp: (
        foreign_tools.alembic(dsn, f"rev{DONE - 1:03d}"),
        alembic_map(tmp, DONE),
    )[1],
}


@pytest.mark.parametrize("tool", list(SETUPS))
async def test_adopting_a_history_lets_up_continue_to_the_same_schema(
    tool: str,
    history: tuple[Path, Path],
    reference: str,
    database_url: str,
    database_dsn: str,
    tmp_path: Path,
) -> None:
    source, target = history
    psql_apply(database_dsn, golang_history.up_files(source)[:DONE])  # the old tool's work
    revision_map = SETUPS[tool](database_dsn, tmp_path)
    async with MigrationManager(database_url, target) as manager:
        report = await manager.adopt(tool, revision_map=revision_map)
        assert list(report.versions) == versions(DONE)
        applied = await manager.upgrade()
    assert [r.version for r in applied] == versions(COUNT)[DONE:]
    assert schema_dump(database_dsn) == reference
    rows = recorded(database_dsn)
    assert [v for v, _, _ in rows] == versions(COUNT)
    assert all("pa-db migrate adopt --from" in n[0] for _, _, n in rows[:DONE])


async def test_golang_migrates_table_is_moved_aside_with_its_index(
    history: tuple[Path, Path], database_url: str, database_dsn: str
) -> None:
    _, target = history
    foreign_tools.golang_migrate(database_dsn, versions(1)[0])
    async with MigrationManager(database_url, target) as manager:
        report = await manager.adopt("golang-migrate")
    assert report.moved_to == "public.schema_migrations_golang_migrate"
    with psycopg.connect(database_dsn) as conn:
        kept = conn.execute("SELECT version, dirty FROM schema_migrations_golang_migrate")
        assert kept.fetchall() == [(versions(1)[0], False)]
        index = conn.execute("SELECT to_regclass('schema_migrations_golang_migrate_pkey')")
        assert index.fetchone() != (None,)


async def test_a_revision_named_in_a_file_comment_maps_alembic_without_a_map(
    history: tuple[Path, Path], database_url: str, database_dsn: str
) -> None:
    source, target = history
    third = sorted(target.glob("*.sql"), key=lambda p: int(p.name.partition("_")[0]))[2]
    third.write_text("-- alembic: 1a2b3c4d5e6f\n" + third.read_text())
    psql_apply(database_dsn, golang_history.up_files(source)[:3])
    foreign_tools.alembic(database_dsn, "1a2b3c4d5e6f")
    async with MigrationManager(database_url, target) as manager:
        report = await manager.adopt("alembic")
    assert list(report.versions) == versions(3)


def unchanged(dsn: str) -> Callable[[], None]:
    """A check that the database's tables and their rows are still what they are now."""

    def snapshot() -> dict[str, list[tuple[object, ...]]]:
        with psycopg.connect(dsn) as conn:
            return {
                t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()
                for t in sorted(tables(dsn))
            }

    before = snapshot()
    return lambda: None if snapshot() == before else pytest.fail("the database changed")


@pytest.mark.parametrize(
    ("tool", "setup", "message"),
    [
        (
            "golang-migrate",
            lambda dsn: foreign_tools.golang_migrate(dsn, versions(3)[-1], dirty=True),
            r"is dirty at version \d+: golang-migrate failed half-way.*'migrate force \d+'",
        ),
        (
            "flyway",
            lambda dsn: foreign_tools.flyway(
                dsn,
                [
                    (str(versions(1)[0]), "step", "SQL", "V1__a.sql", True),
                    (str(versions(2)[1]), "step", "SQL", "V2__b.sql", False),
                ],
            ),
            r"records a failed Flyway run: V2__b.sql .*run 'flyway repair'",
        ),
        (
            "dbmate",
            lambda dsn: foreign_tools.dbmate(dsn, ["99999999999999"]),
            r"dbmate applied version\(s\) 99999999999999, which no migration file has",
        ),
        (
            "alembic",
            lambda dsn: foreign_tools.alembic(dsn, "aaa", "bbb"),
            r"has 2 heads \(aaa, bbb\): the history is branched",
        ),
        (
            "flyway",
            lambda dsn: None,
            r"there is no flyway table public.flyway_schema_history: nothing to adopt",
        ),
    ],
    ids=["golang-dirty", "flyway-failed", "dbmate-no-file", "alembic-branches", "no-table"],
)
async def test_adopt_refuses_what_it_cannot_take_over_and_changes_nothing(
    history: tuple[Path, Path],
    database_url: str,
    database_dsn: str,
    tool: str,
    setup: Callable[[str], None],
    message: str,
) -> None:
    _, target = history
    setup(database_dsn)
    check = unchanged(database_dsn)
    async with MigrationManager(database_url, target) as manager:
        with pytest.raises(AdoptionError, match=message):
            await manager.adopt(tool)
    check()
    assert "schema_migrations_golang_migrate" not in tables(database_dsn)


async def test_adopt_refuses_a_database_pa_db_already_tracks(
    history: tuple[Path, Path], database_url: str, database_dsn: str
) -> None:
    _, target = history
    async with MigrationManager(database_url, target) as manager:
        await manager.upgrade(to=versions(1)[0])
        foreign_tools.flyway(database_dsn, [(str(versions(1)[0]), "s", "SQL", "V1__s.sql", True)])
        with pytest.raises(AdoptionError, match="pa-db already records migrations"):
            await manager.adopt("flyway")


ALEMBIC_ENV = """
from alembic import context
from sqlalchemy import create_engine

engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
"""


async def test_a_history_alembic_itself_recorded_is_adopted(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    from alembic import command
    from alembic.config import Config

    scripts = tmp_path / "alembic"
    (scripts / "versions").mkdir(parents=True)
    # A minimal env.py: the template's logging.fileConfig would reconfigure the test
    # process's loggers.
    (scripts / "env.py").write_text(ALEMBIC_ENV)
    config = Config()
    config.set_main_option("script_location", str(scripts))
    url = database_dsn.replace("postgresql://", "postgresql+psycopg://")
    config.set_main_option("sqlalchemy.url", url)
    steps = [
        ("a1", None, "CREATE TABLE t (id bigint)"),
        ("b2", "a1", "ALTER TABLE t ADD note text"),
    ]
    for revision, down, sql in steps:
        (scripts / "versions" / f"{revision}.py").write_text(
            f"from alembic import op\nrevision = {revision!r}\ndown_revision = {down!r}\n"
            f"branch_labels = None\ndepends_on = None\n"
            f"def upgrade():\n    op.execute({sql!r})\ndef downgrade():\n    pass\n"
        )
    command.upgrade(config, "head")

    pa = tmp_path / "pa"
    pa.mkdir()
    (pa / "0001_t.sql").write_text("-- alembic: a1\n-- migrate:up\nCREATE TABLE t (id bigint);\n")
    (pa / "0002_note.sql").write_text("-- migrate:up\nALTER TABLE t ADD note text;\n")
    (pa / "0003_more.sql").write_text("-- migrate:up\nALTER TABLE t ADD more text;\n")
    revision_map = tmp_path / "map.toml"
    revision_map.write_text("[revisions]\nb2 = 2\n")
    async with MigrationManager(database_url, pa) as manager:
        report = await manager.adopt("alembic", revision_map=revision_map)
        assert report.versions == (1, 2) and report.moved_to is None
        assert [r.version for r in await manager.upgrade()] == [3]
    assert {"alembic_version", "schema_migrations", "t"} <= tables(database_dsn)
