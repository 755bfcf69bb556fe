"""``pa-db --help`` must not import the stack: the non-flaky guard of a fast CLI.

Each check runs in a fresh interpreter (this process has imported everything already)
and lists which heavy modules ended up in ``sys.modules``. How fast the CLI starts is
measured in ``bench/cli_startup_bench.py``, not here: timings on a shared machine are
noise in a test.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "asyncpg", "fastapi", "pglast", "pydantic_settings", "httpx", "redis")

REPORT = f"""
import json, sys
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def heavy_modules_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has imported after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", code + REPORT],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def help_of(*args: str) -> str:
    """Code that prints ``pa-db ARGS --help`` through the real entry point."""
    return (
        "import sys\n"
        "from personal_assistant.cli.main import main\n"
        f"sys.argv = ['pa-db', *{list(args)!r}, '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
    )


def test_importing_the_cli_imports_none_of_the_stack() -> None:
    assert heavy_modules_after("import personal_assistant.cli.main") == []


def test_building_the_command_tree_imports_none_of_the_stack() -> None:
    code = (
        "import typer.main\n"
        "from personal_assistant.cli.main import app\n"
        "typer.main.get_command(app)\n"
    )
    assert heavy_modules_after(code) == []


@pytest.mark.parametrize(
    "args",
    [(), ("migrate",), ("migrate", "status"), ("migrate", "up"), ("migrate", "lint"),
     ("perf", "baseline"), ("optimize",), ("seed",), ("serve",)],
    ids=lambda args: " ".join(("pa-db", *args, "--help")),
)  # fmt: skip
def test_help_imports_none_of_the_stack(args: tuple[str, ...]) -> None:
    assert heavy_modules_after(help_of(*args)) == []
