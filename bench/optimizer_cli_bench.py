"""Benchmark 10: ``pa-db optimize`` end to end on 1,000 tables / 3,000 indexes.

What a user waits for: a fresh ``pa-db optimize --json`` process, from spawn to exit
(interpreter, imports, connecting, the catalog reads, HypoPG planning of the recorded
statements, the JSON), on a database of N tables (primary key + two secondary indexes
each, a foreign key on every other table, recorded statements; the schema of
``bench/optimizer_bench.py``). The reference is the floor any external tool has to
pay for the same information: ``psql -X -f`` running the optimizer's own catalog
queries (tables, indexes, foreign keys, columns, sequences, bloat inputs, partitions,
statements) with their results discarded, one C process and one connection. A third
figure, ``python -c "import ..."`` of the libraries the command needs, shows how much
of the time the interpreter spends before doing anything. Rounds are interleaved; the
target is under 2 s for the project's median.

    .venv/bin/python -m bench.optimizer_cli_bench [--tables 1000] [--rounds 7] [--smoke]
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.optimizer_bench import build

NAME = "optimizer_cli"
TITLE = "pa-db optimize end to end"
TARGET_S = 2.0
BIN = Path(sys.executable).parent

PROJECT = "pa-db optimize --json"
REFERENCE = "psql -f (the same catalog reads)"
IMPORTS = "python -c 'import the libraries'"

#: The optimizer's catalog reads, as psql runs them (parameters inlined).
CATALOG_QUERIES = (
    "EXTENSIONS", "PRIVILEGES", "STATEMENTS_PERIOD", "TABLES", "PARTITIONS", "INDEXES",
    "FOREIGN_KEYS", "SEQUENCES", "BLOAT", "COLUMNS", "SEARCH_PATH", "STATS_AGE", "STATEMENTS",
)  # fmt: skip
IMPORT_CODE = "import sqlalchemy.ext.asyncio, asyncpg, pglast, pydantic_settings, typer"


def catalog_sql() -> str:
    """The optimizer's catalog queries as one psql script, results discarded."""
    from personal_assistant.optimizer import queries

    #: Positional parameters as the optimizer binds them, per query.
    inline = {
        "BLOAT": {"$1": "1280"},
        "STATEMENTS": {"$1": "2", "$2::text[]": "ARRAY['/* pa:%', '/* pa-%']"},
    }
    parts = ["\\o /dev/null"]
    for name in CATALOG_QUERIES:
        sql = getattr(queries, name)
        for key, value in sorted(inline.get(name, {}).items(), key=lambda kv: -len(kv[0])):
            sql = sql.replace(key, value)
        parts.append(sql.strip() + ";")
    return "\n".join(parts) + "\n"


def run_once(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds of one process, spawn to exit; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd="/tmp", env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd} exited {out.returncode}: {out.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 4), "cpu_s": round(cpu, 4)}


def psql_binary() -> str:
    from tests.fixtures.postgres import find_pg_bin

    bin_dir = find_pg_bin()
    if bin_dir is not None and (bin_dir / "psql").exists():
        return str(bin_dir / "psql")
    found = shutil.which("psql")
    if found is None:
        raise RuntimeError("psql not found (Debian's is beside the server binaries)")
    return found


def measure(url: str, tables: int, rounds: int) -> dict[str, Any]:
    dsn = common.libpq_url(url)
    asyncio.run(prepare(dsn, tables))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "OPTIMIZER_"))}
    with tempfile.TemporaryDirectory(prefix="pa-opt-cli-") as tmp:
        script = Path(tmp) / "catalog.sql"
        script.write_text(catalog_sql())
        commands = {
            PROJECT: [str(BIN / "pa-db"), "optimize", "--json", "--database-url", dsn],
            REFERENCE: [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script), dsn],
            IMPORTS: [sys.executable, "-c", IMPORT_CODE],
        }
        for cmd in commands.values():
            run_once(cmd, env)  # warm the caches the same way for every variant
        runs = common.interleave(
            rounds, list(commands), lambda name, _: run_once(commands[name], env)
        )
    return {
        "tables": tables,
        "indexes": tables * 3,
        "rounds": rounds,
        "runs": runs,
        "median_wall_s": {n: common.median([r["wall_s"] for r in rs]) for n, rs in runs.items()},
        "median_cpu_s": {n: common.median([r["cpu_s"] for r in rs]) for n, rs in runs.items()},
        "target_s": TARGET_S,
    }


async def prepare(dsn: str, tables: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        for ext in ("pg_stat_statements", "hypopg"):
            try:
                await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
            except asyncpg.PostgresError as exc:
                print(f"  {ext} unavailable: {exc}")
    finally:
        await conn.close()
    await build(dsn, tables)


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    wall = result["median_wall_s"]
    project, reference = wall[PROJECT], wall[REFERENCE]
    return [
        common.row(
            TITLE,
            f"wall time, {result['tables']} tables / {result['indexes']} indexes",
            project,
            reference,
            "s",
            target=f"< {TARGET_S:g} s",
            met=project < TARGET_S,
            note=f"{common.missed_by(project, TARGET_S)}; imports alone {wall[IMPORTS]:.2f} s",
            reference_name=REFERENCE,
        )
    ]


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    names = [PROJECT, REFERENCE, IMPORTS]
    wall = [result["median_wall_s"][n] for n in names]
    cpu = [result["median_cpu_s"][n] for n in names]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = range(len(names))
    bars = ax.bar([i - 0.2 for i in x], wall, width=0.4, label="wall", color="#fc8d62")
    ax.bar([i + 0.2 for i in x], cpu, width=0.4, label="CPU (user+sys)", color="#8da0cb")
    ax.bar_label(bars, labels=[f"{v:.2f} s" for v in wall])
    ax.axhline(TARGET_S, color="red", linestyle="--", label=f"target {TARGET_S:g} s")
    ax.set_xticks(list(x), ["pa-db optimize --json", "psql, same catalog reads", "imports only"])
    ax.set_ylabel(f"median seconds ({result['rounds']} interleaved rounds)")
    ax.set_title(f"{TITLE}: {result['tables']} tables, {result['indexes']} indexes")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--tables", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    tables, rounds = (20, 1) if args.smoke else (args.tables, args.rounds)
    with common.server(args.database_url) as admin, common.scratch_database(admin, "optcli") as url:
        result = measure(url, tables, rounds)
        common.publish(
            result, name=NAME, module="bench.optimizer_cli_bench", argv=argv, out=args.out,
            smoke=args.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    outcome = main()
    sys.exit(0 if outcome["median_wall_s"][PROJECT] < TARGET_S else 1)
