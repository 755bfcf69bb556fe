"""The tracking tables of other migration tools, created as each tool creates them.

The DDL is what the tools' PostgreSQL drivers run (golang-migrate
``database/postgres/postgres.go``, dbmate ``pkg/driver/postgres/postgres.go``, Flyway's
``createMetaDataTable.sql`` for PostgreSQL, Alembic's ``MigrationContext``), so adopt
and the refusals are tested against the real shapes.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

GOLANG_MIGRATE_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version bigint not null primary key, dirty boolean not null)"
)
DBMATE_DDL = (
    "create table if not exists public.schema_migrations (version varchar(255) primary key)"
)
FLYWAY_DDL = """
CREATE TABLE "public"."flyway_schema_history" (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
);
ALTER TABLE "public"."flyway_schema_history"
    ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");
CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success");
"""
ALEMBIC_DDL = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


def golang_migrate(dsn: str, version: int, *, dirty: bool = False) -> None:
    """golang-migrate's table at ``version`` (it keeps one row: the newest version)."""
    with psycopg.connect(dsn) as conn:
        conn.execute(GOLANG_MIGRATE_DDL)
        conn.execute("TRUNCATE schema_migrations")
        conn.execute(
            "INSERT INTO schema_migrations (version, dirty) VALUES (%s, %s)", [version, dirty]
        )


def dbmate(dsn: str, versions: Iterable[str]) -> None:
    """dbmate's table with one row per applied version (as text, as dbmate writes it)."""
    with psycopg.connect(dsn) as conn:
        conn.execute(DBMATE_DDL)
        for version in versions:
            conn.execute("insert into public.schema_migrations (version) values (%s)", [version])


def flyway(dsn: str, rows: Iterable[tuple[str | None, str, str, str, bool]]) -> None:
    """Flyway's history: ``(version, description, type, script, success)`` in rank order."""
    with psycopg.connect(dsn) as conn:
        conn.execute(FLYWAY_DDL)
        for rank, (version, description, kind, script, success) in enumerate(rows, start=1):
            conn.execute(
                'INSERT INTO "public"."flyway_schema_history" ("installed_rank", "version",'
                ' "description", "type", "script", "checksum", "installed_by",'
                ' "execution_time", "success") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)',
                [rank, version, description, kind, script, 12345, "postgres", 3, success],
            )


def alembic(dsn: str, *revisions: str) -> None:
    """Alembic's table with one row per head."""
    with psycopg.connect(dsn) as conn:
        conn.execute(ALEMBIC_DDL)
        for revision in revisions:
            conn.execute("INSERT INTO alembic_version (version_num) VALUES (%s)", [revision])
