"""``pa-db optimize``: the optimizer report, as a Rich table or JSON, and ``--apply``.

Analysis is read-only. ``--apply KIND`` (repeatable) runs the SQL of the report's
recommendations of those kinds, after showing them and asking for confirmation
(``--yes`` skips the question); only the safe kinds are accepted. ``--snapshot``
records a pg_stat_statements snapshot for the hour/day windows (schedule it).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from personal_assistant.cli.common import cli_engine, console, run_async

if TYPE_CHECKING:
    from personal_assistant.optimizer.database_optimizer import DatabaseOptimizer
    from personal_assistant.optimizer.models import Kind, OptimizationReport, Recommendation

_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def optimize(
    json_output: bool = typer.Option(False, "--json", help="print the report as JSON"),
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
    kinds = parse_kinds(apply or [])
    run_async(_run(json_output, kinds, yes, database_url, snapshot))


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
    json_output: bool, kinds: list[Kind], yes: bool, database_url: str | None, snapshot: bool
) -> None:
    from personal_assistant.optimizer.database_optimizer import DatabaseOptimizer

    async with cli_engine(database_url) as engine:
        optimizer = DatabaseOptimizer(engine)
        if snapshot:
            stored = await optimizer.snapshot()
            if not json_output:
                console.print(f"snapshot recorded: {stored} statements")
        report = await optimizer.analyze()
        if json_output and not kinds:
            typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
            return
        print_report(report)
        if kinds:
            await _apply(optimizer, report.of_kind(*kinds), yes)


async def _apply(optimizer: DatabaseOptimizer, chosen: list[Recommendation], yes: bool) -> None:
    if not chosen:
        console.print("nothing to apply for the chosen kinds")
        return
    console.print("[bold]will run:[/]")
    for rec in chosen:
        console.print(f"  {rec.sql}", markup=False, highlight=False)
    if not yes and not typer.confirm(f"apply {len(chosen)} statement(s)?"):
        raise typer.Exit(1)
    for rec in await optimizer.apply(chosen):
        console.print(f"[green]applied:[/] {rec.sql}", highlight=False)


def print_report(report: OptimizationReport) -> None:
    """The human report: one row per recommendation, most urgent first."""
    console.rule(f"Database optimization report ({report.generated_at:%Y-%m-%d %H:%M} UTC)")
    for item in report.unavailable:
        console.print(f"[yellow]unavailable:[/] {item}", highlight=False)
    for note in report.notes:
        console.print(f"[dim]note:[/] {note}", highlight=False)
    if not report.recommendations:
        console.print("[green]No recommendations: nothing to act on.[/]")
        return
    from rich.table import Table

    table = Table(show_lines=True, expand=True)
    for name in ("severity", "kind", "object", "reason", "sql"):
        table.add_column(name, overflow="fold")
    for rec in report.recommendations:
        table.add_row(
            f"[{_STYLE[rec.severity.value]}]{rec.severity.value}[/]",
            rec.kind.value,
            _object(rec),
            _reason(rec),
            rec.sql or "",
        )
    console.print(table)


def _object(rec: Recommendation) -> str:
    name = ".".join(p for p in (rec.schema, rec.table) if p)
    if rec.index:
        name += f" / {rec.index}"
    if rec.columns and not rec.index:
        name += f" ({', '.join(rec.columns)})"
    return name


def _reason(rec: Recommendation) -> str:
    if rec.estimated_cost_before is None or rec.estimated_cost_after is None:
        return rec.reason
    return (
        f"{rec.reason} [cost {rec.estimated_cost_before:,.1f} -> {rec.estimated_cost_after:,.1f}]"
    )
