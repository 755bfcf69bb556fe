"""``pa-db perf``: record and show the query performance baseline.

A CLI process has run no queries of its own, so ``baseline`` takes the live figures
from where the service keeps them: the running service's API (``--service-url``,
authenticated with ``HEALTH_TOKEN``), or the worker snapshots in Redis (``REDIS_URL``),
which it then writes to ``pa_performance_baseline`` itself.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated

import typer

from personal_assistant.cli.common import cli_engine, console, err_console, run_async

if TYPE_CHECKING:
    from personal_assistant.monitoring.alerts import Baseline

#: ``--min-calls``' default; the same as ``monitoring.baseline.MIN_CALLS`` (a test
#: pins it), written out so that ``--help`` does not import SQLAlchemy to show it.
MIN_CALLS = 20

app = typer.Typer(help="Query performance baseline.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="target database; default DATABASE_URL, else embedded"),
]
ServiceUrl = Annotated[
    str | None,
    typer.Option("--service-url", help="record through the running service, e.g. http://app:8000"),
]
MinCalls = Annotated[int, typer.Option("--min-calls", min=1, help="calls a statement needs")]


def _render(baseline: dict[str, Baseline]) -> None:
    from rich.table import Table

    table = Table("fingerprint", "statement", "calls", "p50 ms", "p95 ms", "recorded at")
    for b in baseline.values():
        table.add_row(
            b.fingerprint,
            b.statement,
            str(b.calls),
            f"{b.p50_ms:g}",
            f"{b.p95_ms:g}",
            b.recorded_at,
        )
    console.print(table)


def _through_service(service_url: str) -> None:
    import httpx

    token = os.environ.get("HEALTH_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = service_url.rstrip("/") + "/health/database/performance/baseline"
    try:
        response = httpx.post(url, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        err_console.print(f"[bold red]error:[/] cannot reach the service ({type(exc).__name__})")
        raise typer.Exit(1) from None
    if not response.is_success:
        err_console.print(f"[bold red]error:[/] the service answered {response.status_code}")
        raise typer.Exit(1)
    body = response.json()
    console.print(f"recorded {body['recorded']} statement(s) through the service")


async def _through_redis(database_url: str | None, min_calls: int) -> dict[str, Baseline]:
    from personal_assistant.monitoring import aggregate
    from personal_assistant.monitoring.baseline import store_baseline
    from personal_assistant.monitoring.redis_publish import SnapshotStore
    from personal_assistant.monitoring.settings import get_monitoring_settings

    settings = get_monitoring_settings()
    assert settings.redis_url is not None
    store = SnapshotStore(
        settings.redis_url.get_secret_value(),
        prefix=settings.redis_key_prefix,
        ttl_s=settings.worker_snapshot_ttl_s,
        timeout_s=max(settings.redis_timeout, 2.0),
    )
    try:
        snapshots = await store.collect()
    finally:
        await store.close()
    perfs = [s["performance"] for s in snapshots if s.get("performance")]
    if not perfs:
        err_console.print("[bold red]error:[/] no live worker snapshots in Redis")
        raise typer.Exit(1)
    statements = aggregate.merge_statements(perfs)
    async with cli_engine(database_url) as engine:
        return await store_baseline(engine, statements.values(), min_calls)


@app.command()
def baseline(
    database_url: DatabaseUrl = None,
    service_url: ServiceUrl = None,
    min_calls: MinCalls = MIN_CALLS,
) -> None:
    """Record every statement's current p50/p95 as its baseline."""
    from personal_assistant.monitoring.settings import get_monitoring_settings

    if service_url:
        _through_service(service_url)
        return
    if get_monitoring_settings().redis_url is None:
        err_console.print(
            "[bold red]error:[/] no live figures here: pass --service-url or set REDIS_URL"
        )
        raise typer.Exit(1)
    # Redis being down raises RedisUnavailableError: main() prints it, exit code 1.
    _render(run_async(_through_redis(database_url, min_calls)))


@app.command()
def show(
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print the stored baseline."""

    from personal_assistant.monitoring.baseline import load_baseline

    async def load() -> dict[str, Baseline]:
        async with cli_engine(database_url) as engine:
            return await load_baseline(engine)

    stored = run_async(load())
    if as_json:
        console.print_json(json.dumps([b.as_dict() for b in stored.values()]))
    elif not stored:
        console.print("no baseline recorded yet (pa-db perf baseline)")
    else:
        _render(stored)
