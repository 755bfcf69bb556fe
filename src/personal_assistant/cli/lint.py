"""``pa-db migrate lint`` and ``pa-db migrate facts``: judge migrations before production.

Where the table facts come from, in order: ``--database-url`` (read live), ``--facts``
(a file ``pa-db migrate facts`` exported: CI lints like the database would, without
reaching it), else the migration history of each file's directory (guessed, and the
report says so; ``--no-history`` judges every existing table as large instead).

Exit codes: 0 nothing blocks, 1 at least one error-level finding, 2 usage or parse
error (a path that does not exist, SQL that does not parse, an unreachable database, a
facts file that is not one).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from personal_assistant.cli.common import cli_engine, console, err_console, run_async

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


def _parse(files: list[Path]) -> list[tuple[Path, Section]]:
    from personal_assistant.database.migrations.validation import MigrationParseError, up_section

    parsed: list[tuple[Path, Section]] = []
    try:
        for file in files:
            # Parsed once: the same statements give the table names and the findings.
            parsed.append((file, up_section(file.read_text(encoding="utf-8"), str(file))))
    except MigrationParseError as exc:
        err_console.print(f"parse error: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from exc
    except (OSError, UnicodeDecodeError) as exc:
        err_console.print(f"cannot read: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from exc
    return parsed


def _history(parsed: list[tuple[Path, Section]]) -> tuple[dict[Path, DatabaseFacts], list[str]]:
    """Facts guessed from each file's directory history, and the note saying so."""
    from personal_assistant.database.migrations.validation import MigrationParseError
    from personal_assistant.database.migrations.validation.history import NOTE, directory_facts
    from personal_assistant.database.migrations.validation.relations import (
        referenced_relations,
    )

    known = dict(parsed)
    guessed: dict[Path, DatabaseFacts] = {}
    try:
        for directory in sorted({file.parent for file, _ in parsed}):
            guessed.update(directory_facts(directory, known))
    except MigrationParseError as exc:
        err_console.print(f"parse error in the migration history: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from exc
    used = any(
        (facts := guessed.get(file.resolve())) is not None
        and any(facts.get(name) is not None for name in referenced_relations(section.statements))
        for file, section in parsed
    )
    return guessed, [NOTE] if used else []


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
    facts_file: Annotated[
        Path | None,
        typer.Option("--facts", help="table facts exported by 'pa-db migrate facts' (for CI)"),
    ] = None,
    no_history: Annotated[
        bool,
        typer.Option(
            "--no-history",
            help="without facts, judge every existing table as large instead of guessing "
            "from earlier migrations",
        ),
    ] = False,
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Lint migrations: locks on large tables, rewrites, data loss, risky types."""
    if format not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--format")
    if database_url and facts_file:
        raise typer.BadParameter("give --database-url or --facts, not both")
    from sqlalchemy.exc import SQLAlchemyError

    from personal_assistant.database.migrations.files import DEFAULT_DIRECTORY
    from personal_assistant.database.migrations.validation import (
        FactsFileError,
        lint_section,
        referenced_relations,
    )
    from personal_assistant.database.migrations.validation.facts_file import load_facts
    from personal_assistant.database.migrations.validation.report import render_json, render_text

    parsed = _parse(_sql_files(paths or [DEFAULT_DIRECTORY]))
    names = referenced_relations([s for _, section in parsed for s in section.statements])
    facts = None
    guessed: dict[Path, DatabaseFacts] = {}
    notes: list[str] = []
    if database_url:
        try:
            facts = run_async(_facts(database_url, names))
        except (SQLAlchemyError, OSError) as exc:
            err_console.print(f"cannot read table facts: {exc}", markup=False)
            raise typer.Exit(EXIT_USAGE) from exc
    elif facts_file:
        try:
            facts = load_facts(facts_file).for_names(names)
        except FactsFileError as exc:
            err_console.print(str(exc), markup=False)
            raise typer.Exit(EXIT_USAGE) from exc
    elif not no_history:
        guessed, notes = _history(parsed)
    results: list[LintResult] = [
        lint_section(
            section,
            path=str(file),
            facts=facts if facts is not None else guessed.get(file.resolve()),
        )
        for file, section in parsed
    ]
    typer.echo(render_json(results, notes) if format == "json" else render_text(results, notes))
    raise typer.Exit(EXIT_FINDINGS if any(r.errors for r in results) else EXIT_OK)


async def _export(database_url: str | None) -> dict[str, object]:
    from personal_assistant.database.migrations.validation.facts_file import export_facts

    async with cli_engine(database_url) as engine, engine.connect() as conn:
        return await export_facts(conn)


def facts(
    output: Annotated[Path, typer.Option("--output", "-o", help="where to write the JSON")],
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="database to describe; default DATABASE_URL"),
    ] = None,
) -> None:
    """Export the table facts lint uses (sizes, row estimates, columns, constraints,
    indexes) from the catalog, without reading any row, for 'lint --facts' in CI."""
    import json

    document = run_async(_export(database_url))
    output.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    relations = document["relations"]
    count = len(relations) if isinstance(relations, dict) else 0
    console.print(f"wrote the facts of {count} relation(s) to {output}", markup=False)
