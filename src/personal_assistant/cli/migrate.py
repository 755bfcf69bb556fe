"""``pa-db migrate``: status, up, down, verify, new, baseline, repair and lint.

Each command is a thin shell over :class:`MigrationManager`: it builds the engine
(``--database-url``, else ``DATABASE_URL``, else the embedded server), calls one
method and renders the result. Errors are ``MigrationError`` subclasses, which
``pa-db``'s entry point prints without a traceback and turns into exit code 1.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from personal_assistant.cli.common import cli_engine, console, err_console, run_async
from personal_assistant.cli.lint import facts, lint

if TYPE_CHECKING:
    from personal_assistant.cli.migrate_report import StepReport
    from personal_assistant.database.migrations import (
        MigrationManager,
        MigrationStatus,
        RunnerSettings,
        StepResult,
    )
    from personal_assistant.database.migrations.verify import VerifyReport

app = typer.Typer(help="Versioned SQL migrations with verified rollbacks.", no_args_is_help=True)
app.command("lint")(lint)
app.command("facts")(facts)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="target database; default DATABASE_URL, else embedded"),
]
Directory = Annotated[
    Path | None, typer.Option("--directory", "-d", help="migration files (default: built-in)")
]
Schema = Annotated[str, typer.Option("--schema", help="schema of the schema_migrations table")]
LockTimeout = Annotated[int, typer.Option("--lock-timeout", min=0, help="lock_timeout, ms")]
StatementTimeout = Annotated[
    int, typer.Option("--statement-timeout", min=0, help="statement_timeout, ms (0: none)")
]
LockRetries = Annotated[int, typer.Option("--lock-retries", min=0, help="retries on lock timeout")]
WaitTimeout = Annotated[
    float, typer.Option("--wait-timeout", min=0, help="seconds to wait for another runner")
]


def _state_style(state: str) -> str:
    from personal_assistant.database.migrations import State

    styles = {
        State.APPLIED: "green",
        State.PENDING: "yellow",
        State.MISSING: "red",
        State.CHANGED: "bold red",
        State.FAILED: "bold red",
        State.RUNNING: "yellow",
    }
    return styles[State(state)]


@asynccontextmanager
async def _manager(
    database_url: str | None,
    directory: Path | None,
    schema: str,
    settings: RunnerSettings | None = None,
    on_event: Any = None,
) -> AsyncIterator[MigrationManager]:
    from personal_assistant.database.migrations import MigrationManager

    async with cli_engine(database_url, for_migrations=True) as engine:
        yield MigrationManager(
            engine, directory, schema=schema, settings=settings, on_event=on_event
        )


def _status_rows(status: MigrationStatus) -> list[dict[str, Any]]:
    rows = []
    for e in status.entries:
        row = e.row
        rows.append(
            {
                "version": e.version,
                "description": e.description,
                "file": e.file_name,
                "state": str(e.state),
                "applied_at": row.applied_at.isoformat() if row and row.applied_at else None,
                "applied_by": row.applied_by if row else None,
                "execution_ms": row.execution_ms if row else None,
                "checksum": row.checksum if row else (e.file.checksum if e.file else None),
                "error": row.error if row else None,
                "notices": list(row.notices) if row else [],
            }
        )
    return rows


@app.command()
def status(
    database_url: DatabaseUrl = None,
    directory: Directory = None,
    schema: Schema = "public",
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show applied, pending, missing-file, changed-checksum and failed migrations."""

    async def run() -> MigrationStatus:
        async with _manager(database_url, directory, schema) as manager:
            return await manager.status()

    rows = _status_rows(run_async(run()))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="migrations")
    for column in ("version", "description", "state", "applied at", "by", "ms", "checksum"):
        table.add_column(column)
    for r in rows:
        style = _state_style(r["state"])
        table.add_row(
            str(r["version"]),
            r["description"],
            f"[{style}]{r['state']}[/]",
            (r["applied_at"] or "")[:19],
            r["applied_by"] or "",
            "" if r["execution_ms"] is None else str(r["execution_ms"]),
            (r["checksum"] or "")[:12],
        )
    console.print(table)


def _print_sql(title: str, sql: str) -> None:
    from rich.syntax import Syntax

    console.rule(title)
    console.print(Syntax(sql.strip(), "sql", word_wrap=True))


AsJson = Annotated[bool, typer.Option("--json", help="one JSON document: steps, or the failure")]


def _runner_settings(
    lock_timeout: int, statement_timeout: int, lock_retries: int, wait_timeout: float
) -> RunnerSettings:
    from personal_assistant.database.migrations import RunnerSettings

    return RunnerSettings(
        lock_timeout_ms=lock_timeout,
        statement_timeout_ms=statement_timeout,
        lock_retries=lock_retries,
        wait_timeout_s=wait_timeout,
    )


def _run_steps(report: StepReport, steps: Coroutine[Any, Any, list[StepResult]]) -> None:
    """Run ``up``/``down``; the report says every step, and how a failure left things."""
    from personal_assistant.database.migrations import MigrationError

    try:
        results = run_async(steps)
    except MigrationError as exc:
        report.fail(exc)
        raise
    finally:
        report.stop()  # the progress bar, whatever happened
    report.finish(results)


@app.command()
def up(
    database_url: DatabaseUrl = None,
    directory: Directory = None,
    schema: Schema = "public",
    to: Annotated[int | None, typer.Option("--to", help="stop after this version")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the SQL only")] = False,
    allow_dangerous: Annotated[
        bool, typer.Option("--allow-dangerous", help="apply despite validator errors")
    ] = False,
    as_json: AsJson = False,
    lock_timeout: LockTimeout = 2000,
    statement_timeout: StatementTimeout = 0,
    lock_retries: LockRetries = 3,
    wait_timeout: WaitTimeout = 300.0,
) -> None:
    """Apply pending migrations in order, each in its own transaction.

    Every step is checked before the first one runs; each migration applied is
    reported as it happens (version, description, time taken).
    """
    from personal_assistant.cli.migrate_report import StepReport

    settings = _runner_settings(lock_timeout, statement_timeout, lock_retries, wait_timeout)
    report = StepReport("up", as_json=as_json)

    async def run() -> list[StepResult]:
        async with _manager(database_url, directory, schema, settings, report.on_event) as m:
            if dry_run:
                for f in await m.plan_upgrade(to):
                    _print_sql(f"{f.file_name} (up)", f.up.sql)
                return []
            results = await m.upgrade(to, allow_dangerous=allow_dangerous)
            _warn_notices(await m.notices(r.version for r in results))
            return results

    if dry_run:
        run_async(run())
        return
    _run_steps(report, run())


@app.command()
def down(
    database_url: DatabaseUrl = None,
    directory: Directory = None,
    schema: Schema = "public",
    to: Annotated[int | None, typer.Option("--to", help="roll back above this version")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="how many")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the SQL only")] = False,
    as_json: AsJson = False,
    lock_timeout: LockTimeout = 2000,
    statement_timeout: StatementTimeout = 0,
    lock_retries: LockRetries = 3,
    wait_timeout: WaitTimeout = 300.0,
) -> None:
    """Roll back with the stored down SQL, newest first (default: the newest one).

    Every rollback is checked before the first one runs (each has a down section that
    parses, nothing failed or edited on record): if one cannot be done, none is.
    """
    if to is not None and steps is not None:
        raise typer.BadParameter("give --to or --steps, not both")
    from personal_assistant.cli.migrate_report import StepReport

    settings = _runner_settings(lock_timeout, statement_timeout, lock_retries, wait_timeout)
    report = StepReport("down", as_json=as_json)

    async def run() -> list[StepResult]:
        async with _manager(database_url, directory, schema, settings, report.on_event) as m:
            if dry_run:
                for row in await m.plan_downgrade(to, steps=steps):
                    _print_sql(f"{row.file_name} (down)", row.down_sql or "-- no down section")
                return []
            return await m.downgrade(to, steps=steps)

    if dry_run:
        run_async(run())
        return
    _run_steps(report, run())


def _print_verify(report: VerifyReport) -> None:
    from rich.table import Table

    table = Table(title="rollback verification (scratch database)")
    for column in ("version", "file", "result", "details"):
        table.add_column(column)
    for r in report.results:
        style = "green" if r.ok else "bold red"
        details = "\n".join([*(str(d) for d in r.differences), r.error]).strip()
        table.add_row(str(r.version), r.file_name, f"[{style}]{r.outcome}[/]", details)
    console.print(table)


@app.command()
def verify(
    database_url: DatabaseUrl = None,
    directory: Directory = None,
    schema: Schema = "public",
    keep_going: Annotated[
        bool,
        typer.Option("--keep-going", help="check every file and report every failure"),
    ] = False,
) -> None:
    """Prove every migration's rollback: up, snapshot, down, compare, up again.

    It stops at the first step that fails, unless --keep-going; exit 1 on any failure.
    """

    async def run() -> VerifyReport:
        async with _manager(database_url, directory, schema) as manager:
            return await manager.verify(keep_going=keep_going)

    report = run_async(run())
    _print_verify(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="what it does")], directory: Directory = None
) -> None:
    """Create the next numbered migration file from the template."""
    from personal_assistant.database.migrations.files import DEFAULT_DIRECTORY, create_file

    path = create_file(directory or DEFAULT_DIRECTORY, name)
    console.print(f"created {path}")


@app.command()
def baseline(
    version: Annotated[int, typer.Argument(help="the version the database is already at")],
    database_url: DatabaseUrl = None,
    directory: Directory = None,
    schema: Schema = "public",
) -> None:
    """Mark an existing database as being at VERSION without running anything."""

    async def run() -> list[int]:
        async with _manager(database_url, directory, schema) as manager:
            return await manager.baseline(version)

    marked = run_async(run())
    console.print(f"marked as applied: {', '.join(map(str, marked)) or 'nothing'}")


@app.command()
def repair(
    database_url: DatabaseUrl = None, directory: Directory = None, schema: Schema = "public"
) -> None:
    """Re-record checksums after a reviewed edit; clear cleaned-up failed migrations."""

    async def run() -> list[int]:
        async with _manager(database_url, directory, schema) as manager:
            return await manager.repair()

    touched = run_async(run())
    console.print(f"repaired: {', '.join(map(str, touched)) or 'nothing to repair'}")


def _warn_notices(notices: Sequence[tuple[str, str]]) -> None:
    """What the server said while migrations ran (``identifier ... will be truncated``)."""
    for file_name, notice in notices:
        err_console.print(f"[yellow]warning[/] {file_name}: ", end="", soft_wrap=True)
        err_console.print(notice, markup=False, highlight=False, soft_wrap=True)


FromTool = Annotated[str, typer.Option("--from", help="the tool the history comes from")]


@app.command("import")
def import_(
    source_dir: Annotated[Path, typer.Argument(help="the other tool's migration directory")],
    tool: FromTool,
    directory: Directory = None,
) -> None:
    """Turn golang-migrate, dbmate, Flyway or goose files into pa-db files (no database).

    Each version and description is kept; re-running writes nothing new. What cannot be
    mapped (Flyway repeatables, Java or Go migrations...) is listed, not dropped.
    """
    from personal_assistant.database.migrations.files import DEFAULT_DIRECTORY
    from personal_assistant.database.migrations.importers import SOURCES, import_directory

    if tool not in SOURCES:
        raise typer.BadParameter(f"must be one of {', '.join(SOURCES)}", param_hint="--from")
    target = directory or DEFAULT_DIRECTORY
    report = import_directory(tool, source_dir, target)
    console.print(
        f"imported from {tool} into {target}: {len(report.written)} written, "
        f"{len(report.unchanged)} already there",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for path in report.written:
        console.print(f"  wrote {path.name}", markup=False, highlight=False, soft_wrap=True)
    for name, note in report.notes:
        console.print(f"  note {name}: {note}", markup=False, highlight=False, soft_wrap=True)
    if report.skipped:
        err_console.print(f"[yellow]not imported[/] ({len(report.skipped)}):")
        for skipped in report.skipped:
            err_console.print(
                f"  {skipped.source}: {skipped.reason}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


@app.command()
def adopt(
    tool: FromTool,
    revision_map: Annotated[
        Path | None,
        typer.Option("--map", help="alembic: TOML or JSON file of revision = version"),
    ] = None,
    table: Annotated[
        str | None, typer.Option("--table", help="the tool's table, if not its default name")
    ] = None,
    database_url: DatabaseUrl = None,
    directory: Directory = None,
    schema: Schema = "public",
) -> None:
    """Record what golang-migrate, dbmate, Flyway or Alembic applied as applied here.

    Nothing runs: the versions the tool's tracking table lists are recorded in pa-db's
    (with today's checksums and downs), so 'up' continues from there. Import the files
    first ('pa-db migrate import').
    """
    from personal_assistant.database.migrations.adoption import ADOPTABLE, AdoptReport

    if tool not in ADOPTABLE:
        raise typer.BadParameter(f"must be one of {', '.join(ADOPTABLE)}", param_hint="--from")

    async def run() -> AdoptReport:
        async with _manager(database_url, directory, schema) as manager:
            return await manager.adopt(tool, table=table, revision_map=revision_map)

    report = run_async(run())
    shown = ", ".join(map(str, report.versions)) or "nothing"
    console.print(
        f"adopted from {tool} ({report.table}): {len(report.versions)} migration(s) "
        f"recorded as applied: {shown}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if report.moved_to:
        console.print(
            f"{report.table} was renamed to {report.moved_to}, so it cannot collide with "
            "pa-db's table",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for note in report.notes:
        console.print(f"  note: {note}", markup=False, highlight=False, soft_wrap=True)
