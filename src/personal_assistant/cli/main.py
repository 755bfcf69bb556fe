"""``pa-db``: the command line for migrations, performance, optimization and serving.

The package's root error maps to exit codes here, once: any
:class:`~personal_assistant.errors.PersonalAssistantError` (database, migrations,
monitoring, optimizer) prints its message (no traceback) and exits 1; bad settings
(:class:`~personal_assistant.errors.ConfigurationError`) exit 2.

Imports are lazy, on purpose. Building the command tree (which ``--help`` and every
command do) imports only this package's command modules, and their top level holds
typer, rich's console (typer's own dependency, which renders the help) and the
standard library. SQLAlchemy, asyncpg, pydantic-settings, pglast, FastAPI, httpx, the
migrations and the optimizer are imported inside the command functions that use them,
so a command pays only for what it runs: the pattern that fast command lines follow
(e.g. Datadog's CLI guidelines, "always use lazy imports for CLI commands"; PEP 810's
motivation). ``personal_assistant.errors`` is imported eagerly because it is tiny and
``main()`` maps its errors. ``tests/cli/test_lazy_imports.py`` keeps it this way;
``bench/cli_startup_bench.py`` measures it.
"""

from __future__ import annotations

import os
import sys

import typer

from personal_assistant.cli import migrate, optimize, perf, seed
from personal_assistant.cli.common import err_console
from personal_assistant.errors import ConfigurationError, PersonalAssistantError

app = typer.Typer(
    name="pa-db",
    help="Personal Assistant database platform: migrations, health, performance, optimizer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(migrate.app, name="migrate")
app.add_typer(perf.app, name="perf")
app.command("optimize")(optimize.optimize)
app.command("seed")(seed.seed)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, help="port to bind"),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes"),
) -> None:
    """Serve the app; with DATABASE_URL unset, on the embedded PostgreSQL in ./.pa-data/.

    On the embedded server, pending migrations and a small demo data set are applied
    at start so that /dashboard shows live figures at once.
    """
    import uvicorn

    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("PA_AUTO_MIGRATE", "true")
        os.environ.setdefault("PA_DEMO_DATA", "true")
    uvicorn.run(
        "apps.fastapi_app.main:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )


def main() -> None:
    """Entry point: run the app, mapping root errors to exit codes."""
    try:
        app()
    except ConfigurationError as exc:
        err_console.print(f"[bold red]configuration error:[/] {exc}")
        sys.exit(2)
    except PersonalAssistantError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
