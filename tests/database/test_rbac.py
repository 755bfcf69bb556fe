"""The RBAC schema on real PostgreSQL: migrations, models, permission queries, seeding."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from personal_assistant.database.demo import DEMO_USERS, load_demo_data
from personal_assistant.database.migrations import MigrationManager
from personal_assistant.database.models import Base, Role, RolePermission, User, UserRole
from personal_assistant.database.queries import list_user_permissions, user_has_permission
from personal_assistant.database.seed import ROLES, permission_names, seed


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to the newest version."""
    engine = create_async_engine(database_url)
    await MigrationManager(engine).upgrade()
    try:
        yield engine
    finally:
        await engine.dispose()


async def grant(session: AsyncSession, email: str, *role_names: str, active: bool = True) -> int:
    user = User(email=email, full_name="Test User", is_active=active)
    session.add(user)
    await session.flush()
    roles = (await session.scalars(select(Role).where(Role.name.in_(role_names)))).all()
    session.add_all(UserRole(user_id=user.id, role_id=role.id) for role in roles)
    await session.flush()
    return user.id


async def test_models_match_the_migrated_tables(engine: AsyncEngine) -> None:
    def table_columns(sync_conn: object) -> dict[str, set[str]]:
        inspector = inspect(sync_conn)
        return {
            name: {c["name"] for c in inspector.get_columns(name)} for name in Base.metadata.tables
        }

    async with engine.connect() as conn:
        found = await conn.run_sync(table_columns)
    expected = {name: set(t.columns.keys()) for name, t in Base.metadata.tables.items()}
    assert found == expected


async def test_permission_checks_follow_roles(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        from personal_assistant.database.seed import seed_catalog

        await seed_catalog(conn)
    async with AsyncSession(engine) as session:
        viewer = await grant(session, "viewer@example.com", "viewer")
        both = await grant(session, "both@example.com", "viewer", "editor")
        gone = await grant(session, "gone@example.com", "admin", active=False)
        assert await user_has_permission(session, viewer, "documents:read")
        assert not await user_has_permission(session, viewer, "documents:write")
        assert await user_has_permission(session, both, "documents:write")
        assert not await user_has_permission(session, gone, "documents:read")
        assert not await user_has_permission(session, viewer, "no:such")

        perms = await list_user_permissions(session, both)
        assert perms == sorted(set(perms))
        assert {"documents:read", "documents:write", "reports:read"} <= set(perms)
        assert await list_user_permissions(session, gone) == []


async def test_each_permission_query_is_one_statement(engine: AsyncEngine) -> None:
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    async with AsyncSession(engine) as session:
        await session.execute(text("SELECT 1"))
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            await user_has_permission(session, 1, "documents:read")
            await list_user_permissions(session, 1)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 2


async def test_email_is_unique_whatever_its_case(engine: AsyncEngine) -> None:
    from sqlalchemy.exc import IntegrityError

    async with AsyncSession(engine) as session:
        session.add(User(email="Ada@Example.com", full_name="Ada"))
        await session.flush()
        session.add(User(email="ada@example.com", full_name="Ada again"))
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_seed_fills_users_roles_and_grants(engine: AsyncEngine) -> None:
    progress: list[int] = []
    result = await seed(engine, 2500, batch_size=1000, on_progress=progress.append)
    assert (result.users, progress) == (2500, [1000, 1000, 500])
    async with engine.connect() as conn:
        users = await conn.scalar(text("SELECT count(*) FROM users"))
        without_role = await conn.scalar(
            text("SELECT count(*) FROM users u WHERE NOT EXISTS "
                 "(SELECT 1 FROM user_roles ur WHERE ur.user_id = u.id)")
        )  # fmt: skip
        roles = await conn.scalar(select(Role.id).where(Role.name == "admin"))
        perms = await conn.scalar(text("SELECT count(*) FROM permissions"))
        grants = await conn.scalar(select(RolePermission.role_id).limit(1))
    assert users == 2500 and without_role == 0
    assert roles is not None and grants is not None
    assert perms == len(permission_names())
    assert len(ROLES) == 7


async def test_demo_data_loads_once(engine: AsyncEngine) -> None:
    await load_demo_data(engine)
    await load_demo_data(engine)
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM users")) == DEMO_USERS


async def test_demo_data_skips_an_unmigrated_database(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        await load_demo_data(engine)  # logs and returns
    finally:
        await engine.dispose()


async def test_seed_command_reports_what_it_added(engine: AsyncEngine, database_url: str) -> None:
    import asyncio

    from typer.testing import CliRunner

    from personal_assistant.cli.main import app

    runner = CliRunner()
    args = ["seed", "--users", "50", "--database-url", database_url]
    result = await asyncio.to_thread(runner.invoke, app, args)
    assert result.exit_code == 0, result.output
    assert "added 50 users" in result.output
