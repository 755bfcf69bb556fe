"""``pa-db migrate lint``: judge migration files before they reach production.

Exit codes: 0 nothing blocks, 1 at least one error-level finding, 2 usage or parse
error (a path that does not exist, SQL that does not parse, an unreachable database).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from personal_assistant.cli.common import cli_engine, err_console, run_async

if TYPE_CHECKING:
    from personal_assistant.database.migrations.validation import (
        DatabaseFacts,
        LintResult,
        Section,
    )

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
FORMATS = ("text", "json")

app = typer.Typer(help="Lint migrations for operations that lock or lose data.")


def _sql_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob("*.sql")))
        elif path.is_file():
            files.append(path)
        else:
            raise typer.BadParameter(f"{path} does not exist", param_hint="PATHS")
    return files


async def _facts(database_url: str, names: frozenset[str]) -> DatabaseFacts:
    from personal_assistant.database.migrations.validation import fetch_table_facts

    async with cli_engine(database_url) as engine, engine.connect() as conn:
        return await fetch_table_facts(conn, names)


@app.command()
def lint(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="migration files, plain .sql files or directories "
            "(default: the application's migrations directory)"
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="read table sizes and column types from here"),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Lint migrations: locks on large tables, rewrites, data loss, risky types."""
    if format not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--format")
    from sqlalchemy.exc import SQLAlchemyError

    from personal_assistant.database.migrations.files import DEFAULT_DIRECTORY
    from personal_assistant.database.migrations.validation import (
        MigrationParseError,
        lint_section,
        referenced_relations,
        up_section,
    )
    from personal_assistant.database.migrations.validation.report import render_json, render_text

    parsed: list[tuple[Path, Section]] = []
    try:
        for file in _sql_files(paths or [DEFAULT_DIRECTORY]):
            # Parsed once: the same statements give the table names and the findings.
            parsed.append((file, up_section(file.read_text(encoding="utf-8"), str(file))))
    except MigrationParseError as exc:
        err_console.print(f"parse error: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from exc
    except (OSError, UnicodeDecodeError) as exc:
        err_console.print(f"cannot read: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from exc
    facts = None
    if database_url:
        names = referenced_relations([s for _, section in parsed for s in section.statements])
        try:
            facts = run_async(_facts(database_url, names))
        except (SQLAlchemyError, OSError) as exc:
            err_console.print(f"cannot read table facts: {exc}", markup=False)
            raise typer.Exit(EXIT_USAGE) from exc
    results: list[LintResult] = [
        lint_section(section, path=str(file), facts=facts) for file, section in parsed
    ]
    typer.echo(render_json(results) if format == "json" else render_text(results))
    raise typer.Exit(EXIT_FINDINGS if any(r.errors for r in results) else EXIT_OK)
