"""``pa-db seed``: fill the RBAC schema with synthetic users (set-based, seconds per million)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from personal_assistant.cli.common import cli_engine, console, run_async

if TYPE_CHECKING:
    from personal_assistant.database.seed import SeedResult


async def _run(users: int, database_url: str | None, batch_size: int) -> SeedResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy import text

    from personal_assistant.database.errors import DatabaseError
    from personal_assistant.database.seed import seed as seed_users

    progress = Progress(
        TextColumn("seeding users"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    )  # fmt: skip
    task = progress.add_task("users", total=users)
    async with cli_engine(database_url) as engine:
        async with engine.connect() as conn:
            if not await conn.scalar(text("SELECT to_regclass('users') IS NOT NULL")):
                raise DatabaseError("the RBAC schema is missing: run 'pa-db migrate up' first")
        with progress:
            return await seed_users(
                engine,
                users,
                batch_size=batch_size,
                on_progress=lambda n: progress.advance(task, n),
            )


def seed(
    users: int = typer.Option(1000, "--users", min=0, help="how many users to add"),
    database_url: str | None = typer.Option(
        None, "--database-url", help="target database; default DATABASE_URL, else embedded"
    ),
    batch_size: int = typer.Option(100_000, "--batch-size", min=1, help="users per transaction"),
) -> None:
    """Add synthetic users, roles and permissions to the RBAC schema."""
    result = run_async(_run(users, database_url, batch_size))
    console.print(
        f"added {result.users:,} users and {result.user_roles:,} role grants "
        f"in {result.seconds:.1f} s"
    )
