"""``pa-db optimize``: the optimizer report as text, JSON or SQL, and ``--apply``.

Analysis is read-only. ``--apply KIND`` (repeatable) runs the SQL of the report's
recommendations of those kinds, after showing them and asking for confirmation on
stderr (``--yes`` skips the question); only the safe kinds are accepted. With
``--format json`` (or ``--json``) the output is JSON, with ``--apply`` too (the report,
what was applied, what failed); ``--format sql`` prints only the statements, ready
for a migration file. ``--snapshot`` records a pg_stat_statements snapshot for the
hour/day windows (schedule it). The text report never wraps a line itself, so SQL
stays whole when piped. Database failures mid-run end with one message and exit 1
(``cli/main.py`` maps the optimizer's errors).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from personal_assistant.cli.common import cli_engine, console, err_console, run_async

if TYPE_CHECKING:
    from personal_assistant.optimizer.apply import ApplyOutcome
    from personal_assistant.optimizer.database_optimizer import DatabaseOptimizer
    from personal_assistant.optimizer.models import Kind, OptimizationReport, Recommendation

_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


class Format(StrEnum):
    """How ``pa-db optimize`` prints its report."""

    text = "text"
    json = "json"
    sql = "sql"


def optimize(
    output: Format = typer.Option(  # noqa: B008 (typer reads defaults)
        Format.text, "--format", help="text, json or sql"
    ),
    json_output: bool = typer.Option(False, "--json", help="same as --format json"),
    apply: list[str] = typer.Option(  # noqa: B008 (typer reads defaults)
        None, "--apply", help="apply recommendations of this kind (repeatable)"
    ),
    yes: bool = typer.Option(False, "--yes", help="apply without asking"),
    database_url: str | None = typer.Option(None, "--database-url", help="PostgreSQL URL"),
    snapshot: bool = typer.Option(
        False, "--snapshot", help="record a pg_stat_statements snapshot first"
    ),
) -> None:
    """Report indexes, statements and maintenance to act on (read-only unless --apply)."""
    fmt = Format.json if json_output else output
    kinds = parse_kinds(apply or [])
    if kinds and fmt is Format.sql:
        raise typer.BadParameter(
            "--format sql prints the statements for you to run; it cannot be combined "
            "with --apply (use --format json to see what was applied)",
            param_hint="--format",
        )
    ok = run_async(_run(fmt, kinds, yes, database_url, snapshot))
    if not ok:
        raise typer.Exit(1)


def parse_kinds(values: list[str]) -> list[Kind]:
    """Validate ``--apply`` values before touching the database."""
    from personal_assistant.optimizer.errors import UnsafeRecommendationError
    from personal_assistant.optimizer.models import SAFE_KINDS, Kind

    kinds = []
    for value in values:
        try:
            kind = Kind(value)
        except ValueError:
            raise typer.BadParameter(
                f"unknown kind {value!r}; one of: {', '.join(k.value for k in Kind)}",
                param_hint="--apply",
            ) from None
        if kind not in SAFE_KINDS:
            raise UnsafeRecommendationError(kind.value)
        kinds.append(kind)
    return kinds


async def _run(
    fmt: Format, kinds: list[Kind], yes: bool, database_url: str | None, snapshot: bool
) -> bool:
    """Analyze (and apply); False when something asked for failed."""
    from personal_assistant.optimizer.database_optimizer import DatabaseOptimizer

    async with cli_engine(database_url) as engine:
        optimizer = DatabaseOptimizer(engine)
        if snapshot:
            stored = await optimizer.snapshot()
            err_console.print(f"snapshot recorded: {stored} statements")
        report = await optimizer.analyze()
        if not kinds:
            _print(report, fmt)
            return True
        if fmt is Format.text:
            print_report(report)
        outcome = await _apply(optimizer, report.of_kind(*kinds), yes, fmt)
        if fmt is Format.json:
            _echo_json({"report": report.to_dict(), **outcome.to_dict()})
        return not outcome.failed


def _print(report: OptimizationReport, fmt: Format) -> None:
    if fmt is Format.json:
        _echo_json(report.to_dict())
    elif fmt is Format.sql:
        print_sql(report.recommendations)
    else:
        print_report(report)


def _echo_json(doc: dict[str, Any]) -> None:
    typer.echo(json.dumps(doc, indent=2, default=str))


async def _apply(
    optimizer: DatabaseOptimizer, chosen: list[Recommendation], yes: bool, fmt: Format
) -> ApplyOutcome:
    from personal_assistant.optimizer.apply import ApplyOutcome

    out = console if fmt is Format.text else err_console
    if not chosen:
        out.print("nothing to apply for the chosen kinds")
        return ApplyOutcome()
    out.print("[bold]will run:[/]")
    for rec in chosen:
        for sql in rec.steps:
            out.print(f"  {sql}", markup=False, highlight=False, soft_wrap=True)
    if not yes and not typer.confirm(f"apply {len(chosen)} recommendation(s)?", err=True):
        raise typer.Exit(1)
    outcome = await optimizer.apply(chosen)
    for rec in outcome.applied:
        out.print(f"[green]applied:[/] {_object(rec)} ({rec.kind.value})", soft_wrap=True)
    for failure in outcome.failed:
        out.print(
            f"[bold red]failed:[/] {_object(failure.recommendation)}: {failure.error} "
            f"(at {failure.statement}); {failure.cleanup}",
            soft_wrap=True,
            highlight=False,
        )
    return outcome


def print_sql(recommendations: tuple[Recommendation, ...]) -> None:
    """Only the statements, one recommendation per paragraph, in rank order."""
    blocks = ["\n".join(rec.steps) for rec in recommendations if rec.steps]
    if blocks:
        typer.echo("\n\n".join(blocks))


def print_report(report: OptimizationReport) -> None:
    """The human report, most urgent first; no line is wrapped by the program."""
    console.rule(f"Database optimization report ({report.generated_at:%Y-%m-%d %H:%M} UTC)")
    for item in report.unavailable:
        _line(f"[yellow]unavailable:[/] {_escape(item)}")
    for note in report.notes:
        _line(f"[dim]note:[/] {_escape(note)}")
    if not report.recommendations:
        console.print("[green]No recommendations: nothing to act on.[/]")
        return
    _line(f"[dim]ranking: {_escape(report.ranking)}[/]")
    for rank, rec in enumerate(report.recommendations, start=1):
        style = _STYLE[rec.severity.value]
        saved = f"  ~{rec.saved_ms_per_day:,.0f} ms/day saved" if rec.saved_ms_per_day else ""
        console.print()
        _line(
            f"{rank}. [{style}]{rec.severity.value}[/] [bold]{rec.kind.value}[/] "
            f"{_escape(_object(rec))}{saved}"
        )
        _line(f"   {_escape(_reason(rec))}")
        for sql in rec.steps:
            console.print(f"   {sql}", markup=False, highlight=False, soft_wrap=True)


def _line(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _object(rec: Recommendation) -> str:
    name = ".".join(p for p in (rec.schema, rec.table) if p)
    if rec.columns:
        name += f" ({', '.join(rec.columns)})"
    if rec.index:
        name += f" / {rec.index}"
    return name


def _reason(rec: Recommendation) -> str:
    if rec.estimated_cost_before is None or rec.estimated_cost_after is None:
        return rec.reason
    return (
        f"{rec.reason} [cost {rec.estimated_cost_before:,.1f} -> {rec.estimated_cost_after:,.1f}]"
    )
