"""Benchmark 10: applying migrations, against one psql session doing the same work.

Two workloads, each applied to a fresh empty database by the project and by psql,
the rounds interleaved (A B C, C B A, ...):

1. **200 migrations**: the changes of benchmark 5 (tables, columns, indexes), one file
   each. psql runs the same up sections in one session, one ``-f`` per file:
   ``psql -X -q -v ON_ERROR_STOP=1 -f 0001.sql ... -f 0200.sql``.
2. **one 5 MB file of 25,000 statements**: 50 tables, each with a comment, ~500
   INSERTs, an index and an UPDATE. psql runs its up section in one transaction:
   ``psql -X -q -1 -v ON_ERROR_STOP=1 -f up.sql``.

The project runs two ways: ``pa-db migrate up`` timed from spawn to exit (Python's
start-up and imports count, as psql's own start-up does), and
``MigrationManager.upgrade()`` timed from call to return in a process that has
already imported it (the work itself). Peak memory is each process's ``ru_maxrss``.
The in-process run also times the parse and the lint of the same files on their own,
to show where the rest of the time goes.

    .venv/bin/python -m bench.migration_apply_bench [--migrations 200] [--statements 25000]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.migrations_bench import changes, write_project

NAME = "migration_apply"
TITLE = "Migrations: apply"
TARGET = 1.5
CLI, IN_PROCESS, PSQL = "pa-db migrate up", "upgrade() in-process", "psql (one session)"
BIN = Path(sys.executable).parent
NOTE = "a note for the five-megabyte load file"


# -- the workloads ---------------------------------------------------------------------
def write_many(work: Path, n: int) -> tuple[Path, list[Path]]:
    """``n`` migration files, and the same up sections as plain files for psql."""
    items = changes(n)
    write_project(work / "many", items)
    plain = work / "many_plain"
    plain.mkdir()
    paths = []
    for i, c in enumerate(items, start=1):
        path = plain / f"{i:04d}.sql"
        path.write_text(c.up + "\n")
        paths.append(path)
    return work / "many", paths


def big_statements(statements: int, tables: int = 50) -> list[str]:
    """``statements`` statements over ``tables`` tables: DDL, many INSERTs, an UPDATE."""
    per = max(statements // tables, 5)
    out = []
    for t in range(tables):
        name = f"big_t{t}"
        out.append(
            f"CREATE TABLE {name} (id bigint PRIMARY KEY, code text NOT NULL, "
            "amount numeric(12,2), note text, created_at timestamptz NOT NULL DEFAULT now());"
        )
        out.append(f"COMMENT ON TABLE {name} IS 'table {t} of the big-file benchmark';")
        for k in range(per - 4):
            rows = ", ".join(
                f"({k * 2 + j}, 'code-{t}-{k * 2 + j}', {k}.{j}5, '{NOTE} {k * 2 + j}')"
                for j in range(2)
            )
            out.append(f"INSERT INTO {name} (id, code, amount, note) VALUES {rows};")
        out.append(f"CREATE INDEX {name}_code_idx ON {name} (code);")
        out.append(f"UPDATE {name} SET note = upper(note) WHERE id % 7 = 0;")
    return out


def write_big(work: Path, statements: int) -> tuple[Path, Path, int, int]:
    """The big migration and its up section alone; (dir, plain file, statements, bytes)."""
    body = big_statements(statements)
    up = "\n".join(body) + "\n"
    down = "\n".join(f"DROP TABLE big_t{t};" for t in range(50)) + "\n"
    directory = work / "big"
    directory.mkdir()
    (directory / "0001_big_load.sql").write_text(
        f"-- one large data migration\n-- migrate:up\n{up}-- migrate:down\n{down}"
    )
    plain = work / "big_up.sql"
    plain.write_text(up)
    return directory, plain, len(body), len(up.encode())


# -- runs -------------------------------------------------------------------------------
def run_process(cmd: list[str]) -> dict[str, float]:
    """Spawn ``cmd`` (under GNU time for its peak RSS, when installed); seconds and MB.

    ``ru_maxrss`` read by this process would count the pages a forked child shares
    with its Python parent before ``exec``; GNU time forks from a small C process.
    """
    gnu_time = Path("/usr/bin/time")
    wrapped = [str(gnu_time), "-f", "%M", *cmd] if gnu_time.exists() else cmd
    start = time.perf_counter()
    done = subprocess.run(
        wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed: {done.stderr[-2000:]}")
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    peak = round(int(last) / 1024, 1) if gnu_time.exists() and last.isdigit() else 0.0
    return {"seconds": round(elapsed, 4), "peak_mb": peak}


IN_PROCESS_SCRIPT = """
import asyncio, json, resource, sys, time
from pathlib import Path
from personal_assistant.database.migrations import MigrationManager
from personal_assistant.database.migrations.files import load_directory
from personal_assistant.database.migrations.validation.engine import lint_section

url, directory = sys.argv[1], Path(sys.argv[2])

async def upgrade():
    async with MigrationManager(url, directory) as manager:
        start = time.perf_counter()
        done = await manager.upgrade()
        return time.perf_counter() - start, sum(r.execution_ms for r in done)

seconds, section_ms = asyncio.run(upgrade())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
files = load_directory(directory)
parse = time.perf_counter() - start
start = time.perf_counter()
for f in files:
    lint_section(f.up, path=str(f.path))
lint = time.perf_counter() - start
print(json.dumps({"seconds": round(seconds, 4), "peak_mb": round(peak, 1),
                  "sections_s": section_ms / 1000, "parse_s": round(parse, 4),
                  "lint_s": round(lint, 4)}))
"""


def run_in_process(url: str, directory: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", IN_PROCESS_SCRIPT, common.with_driver(url, "postgresql+asyncpg"),
         str(directory)],
        capture_output=True, text=True, check=False, cwd=common.ROOT,
        env={**os.environ, "PYTHONPATH": str(common.ROOT / "src")},
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"in-process upgrade failed: {out.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def one_run(admin: str, tool: str, directory: Path, psql_cmd: list[str]) -> dict[str, float]:
    """A fresh database, then ``tool`` applying the workload to it."""
    with common.scratch_database(admin, "apply") as url:
        libpq = common.libpq_url(url)
        if tool == CLI:
            pa_db = [str(BIN / "pa-db"), "migrate", "up", "--database-url", libpq, "-d"]
            return run_process([*pa_db, str(directory)])
        if tool == IN_PROCESS:
            return run_in_process(url, directory)
        return run_process([*psql_cmd, libpq])


def medians(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {
        tool: {k: round(common.median([x[k] for x in xs]), 4) for k in xs[0]}
        for tool, xs in runs.items()
    }


def measure(admin: str, migrations: int, statements: int, rounds: int) -> dict[str, Any]:
    psql = str(Path(_which("psql")))
    with tempfile.TemporaryDirectory(prefix="pa-apply-bench-") as tmp:
        work = Path(tmp)
        many, plain_files = write_many(work, migrations)
        many_psql = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        for path in plain_files:
            many_psql += ["-f", str(path)]
        big, big_plain, big_count, big_bytes = write_big(work, statements)
        big_psql = [psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(big_plain)]
        tools = [CLI, IN_PROCESS, PSQL]
        load_before = os.getloadavg()
        many_runs = common.interleave(
            rounds, tools, lambda t, r: one_run(admin, t, many, many_psql)
        )
        big_runs = common.interleave(rounds, tools, lambda t, r: one_run(admin, t, big, big_psql))
    return {
        # The machine is shared: psql's one round trip per statement suffers most from
        # a busy scheduler, so the load is part of the figures.
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "migrations": migrations,
        "big_file": {"statements": big_count, "bytes": big_bytes},
        "commands": {
            "many_psql": "psql -X -q -v ON_ERROR_STOP=1 -f 0001.sql ... -f NNNN.sql URL",
            "big_psql": "psql -X -q -1 -v ON_ERROR_STOP=1 -f up.sql URL",
            "project": "pa-db migrate up --database-url URL -d DIR",
        },
        "rounds": {"many": many_runs, "big": big_runs},
        "median": {"many": medians(many_runs), "big": medians(big_runs)},
    }


def _which(tool: str) -> str:
    import shutil

    found = shutil.which(tool)
    if found is None:
        raise RuntimeError(f"{tool} is not on PATH")
    return found


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    many, big = result["median"]["many"], result["median"]["big"]
    n = result["migrations"]
    size = f"{result['big_file']['bytes'] / 1e6:.1f} MB file, {result['big_file']['statements']:,}"
    out = []
    rounds = result["rounds"]
    runs = {f"apply {n} migrations": rounds["many"], f"apply a {size} statements": rounds["big"]}
    for label, m, ref_name in (
        (f"apply {n} migrations", many, "psql, one session, -f per file"),
        (f"apply a {size} statements", big, "psql -1 -f"),
    ):
        psql_s = m[PSQL]["seconds"]
        for tool in (CLI, IN_PROCESS):
            ours = m[tool]["seconds"]
            r = common.ratio(ours, psql_s)
            note = common.missed_by(r, TARGET) + f"; rounds {_spread(runs[label], tool)}"
            if tool == IN_PROCESS:
                note += (
                    f"; of which parse {m[tool]['parse_s']:.2f} s, lint {m[tool]['lint_s']:.2f} s"
                    f" (timed apart), sections on the server {m[tool]['sections_s']:.2f} s"
                )
            out.append(common.row(
                TITLE, f"{label}: {tool}", ours, psql_s, "s", reference_name=ref_name,
                target=f"<= {TARGET:g}x psql", met=r <= TARGET, note=note,
            ))  # fmt: skip
        out.append(common.row(
            TITLE, f"{label}: peak memory ({CLI})", m[CLI]["peak_mb"], m[PSQL]["peak_mb"], "MB",
            reference_name="psql",
        ))  # fmt: skip
    return out


def _spread(runs: dict[str, list[dict[str, float]]], tool: str) -> str:
    """``ours min-max vs psql min-max`` seconds over the rounds."""

    def span(name: str) -> str:
        values = [r["seconds"] for r in runs[name]]
        return f"{min(values):.2f}-{max(values):.2f}"

    return f"{span(tool)} s vs {span(PSQL)} s"


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    tools = [CLI, IN_PROCESS, PSQL]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, (key, title) in zip(
        axes,
        (("many", f"{result['migrations']} migrations"),
         ("big", f"one file of {result['big_file']['statements']:,} statements")),
        strict=True,
    ):  # fmt: skip
        m = result["median"][key]
        values = [m[t]["seconds"] for t in tools]
        bars = ax.bar(tools, values, color=["#fc8d62", "#e78ac3", "#66c2a5"])
        ax.bar_label(bars, labels=[f"{v:.2f} s" for v in values])
        ax.axhline(m[PSQL]["seconds"] * TARGET, color="red", linestyle="--", label="1.5x psql")
        ax.set_title(title)
        ax.set_ylabel("seconds (median)")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--migrations", type=int, default=200)
    p.add_argument("--statements", type=int, default=25_000)
    p.add_argument("--rounds", type=int, default=5)
    opts = p.parse_args(argv)
    sizes = (9, 300, 1) if opts.smoke else (opts.migrations, opts.statements, opts.rounds)
    with common.server(opts.database_url) as admin:
        result = measure(admin, *sizes)
        result["rounds_each"] = sizes[2]
        common.publish(
            result, name=NAME, module="bench.migration_apply_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
