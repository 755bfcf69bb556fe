"""Another tool's tracking table is recognised by its columns and never mixed with ours."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from personal_assistant.database.migrations import ForeignHistoryError, MigrationManager
from personal_assistant.database.migrations.foreign import DBMATE, GOLANG_MIGRATE, identify
from tests.migrations import foreign_tools
from tests.migrations.helpers import basic


def public_tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows.fetchall()}


def test_golang_migrate_and_dbmate_tables_are_told_apart_by_their_columns() -> None:
    assert identify({"version": "bigint", "dirty": "boolean"}) is GOLANG_MIGRATE
    assert identify({"version": "character varying(255)"}) is DBMATE
    assert identify({"version": "bigint"}) is None
    assert (
        identify(
            {
                "version": "numeric(32,0)",
                "description": "text",
                "file_name": "text",
                "checksum": "text",
                "success": "boolean",
            }
        )
        is None
    )


@pytest.mark.parametrize(
    ("create", "tool", "table"),
    [
        (lambda dsn: foreign_tools.golang_migrate(dsn, 3), "golang-migrate", "schema_migrations"),
        (lambda dsn: foreign_tools.dbmate(dsn, ["1"]), "dbmate", "schema_migrations"),
        (
            lambda dsn: foreign_tools.flyway(dsn, [("1", "a", "SQL", "V1__a.sql", True)]),
            "flyway",
            "flyway_schema_history",
        ),
        (lambda dsn: foreign_tools.alembic(dsn, "abc123"), "alembic", "alembic_version"),
    ],
    ids=["golang-migrate", "dbmate", "flyway", "alembic"],
)
async def test_up_refuses_a_foreign_history_naming_the_tool_and_changes_nothing(
    database_url: str, database_dsn: str, tmp_path: Path, create: object, tool: str, table: str
) -> None:
    create(database_dsn)  # type: ignore[operator]
    before = public_tables(database_dsn)
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        with pytest.raises(ForeignHistoryError) as info:
            await manager.upgrade()
        with pytest.raises(ForeignHistoryError):
            await manager.status()
    message = str(info.value)
    assert f"public.{table} is {tool}'s tracking table" in message
    assert f"'pa-db migrate adopt --from {tool}'" in message
    assert public_tables(database_dsn) == before


async def test_an_unknown_table_named_like_ours_is_refused_without_guessing_a_tool(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    with psycopg.connect(database_dsn) as conn:
        conn.execute("CREATE TABLE schema_migrations (id serial, name text)")
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        with pytest.raises(ForeignHistoryError, match="is not a pa-db tracking table"):
            await manager.upgrade()


async def test_a_flyway_table_next_to_an_existing_pa_db_history_is_left_alone(
    database_url: str, database_dsn: str, tmp_path: Path
) -> None:
    async with MigrationManager(database_url, basic(tmp_path)) as manager:
        await manager.upgrade(to=1)
        foreign_tools.flyway(database_dsn, [("1", "a", "SQL", "V1__a.sql", True)])
        assert [r.version for r in await manager.upgrade()] == [2]
