"""Benchmark 5: applying 200 migrations: ``pa-db migrate up`` vs Alembic vs psql.

The same 200 changes (a third each: create a table, add a column, create an index)
are written three ways: as this project's SQL migration files, as Alembic revisions
using Alembic's operations (``op.create_table``, ``op.add_column``,
``op.create_index``) under the ``env.py`` that ``alembic init`` generates, and as one
SQL script that psql runs in one transaction (``-1 -v ON_ERROR_STOP=1``). Every run
is a fresh process on a fresh empty database, timed from spawn to exit, so each
tool's start-up counts; the rounds rotate the order. Each tool's fixed cost (the
same command with nothing left to do) is measured too, and the project's upgrade is
profiled in-process to show where its time goes.

    .venv/bin/python -m bench.migrations_bench [--migrations 200] [--smoke]
"""

from __future__ import annotations

import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import common

NAME = "migrations"
TITLE = "Migrations"
TARGET_PSQL_RATIO = 1.5
PROJECT, ALEMBIC, PSQL = "pa-db migrate up", "alembic upgrade head", "psql -1 -f"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Change:
    """One schema change, in SQL and as Alembic operations."""

    up: str
    down: str
    op_up: str
    op_down: str


def changes(n: int) -> list[Change]:
    out = []
    for i in range(n):
        t = f"bench_t{i // 3}"
        if i % 3 == 0:
            out.append(Change(
                f"CREATE TABLE {t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                "name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());",
                f"DROP TABLE {t};",
                f'op.create_table("{t}", sa.Column("id", sa.BigInteger(), '
                "sa.Identity(always=True), primary_key=True), "
                'sa.Column("name", sa.Text(), nullable=False), '
                'sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, '
                'server_default=sa.text("now()")))',
                f'op.drop_table("{t}")',
            ))  # fmt: skip
        elif i % 3 == 1:
            out.append(Change(
                f"ALTER TABLE {t} ADD COLUMN note text;",
                f"ALTER TABLE {t} DROP COLUMN note;",
                f'op.add_column("{t}", sa.Column("note", sa.Text()))',
                f'op.drop_column("{t}", "note")',
            ))  # fmt: skip
        else:
            out.append(Change(
                f"CREATE INDEX {t}_name_idx ON {t} (name);",
                f"DROP INDEX {t}_name_idx;",
                f'op.create_index("{t}_name_idx", "{t}", ["name"])',
                f'op.drop_index("{t}_name_idx", table_name="{t}")',
            ))  # fmt: skip
    return out


# -- the three forms ------------------------------------------------------------------
def write_project(directory: Path, items: list[Change]) -> None:
    directory.mkdir(parents=True)
    for i, c in enumerate(items, start=1):
        body = f"-- benchmark change {i}\n\n-- migrate:up\n{c.up}\n\n-- migrate:down\n{c.down}\n"
        (directory / f"{i:04d}_change_{i}.sql").write_text(body)


ALEMBIC_REVISION = '''"""benchmark change {i}

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down_repr}
branch_labels = None
depends_on = None


def upgrade() -> None:
    {up}


def downgrade() -> None:
    {down_op}
'''


def write_alembic(directory: Path, items: list[Change]) -> Path:
    """``alembic init`` (generic template), then one revision per change."""
    subprocess.run(
        [str(BIN / "alembic"), "init", str(directory / "alembic")],
        cwd=directory, check=True, capture_output=True,
    )  # fmt: skip
    versions = directory / "alembic" / "versions"
    previous = None
    for i, c in enumerate(items, start=1):
        rev = f"{i:012x}"
        (versions / f"{rev}_change_{i}.py").write_text(
            ALEMBIC_REVISION.format(
                i=i, rev=rev, down=previous, down_repr=repr(previous), up=c.op_up, down_op=c.op_down
            )
        )
        previous = rev
    return directory / "alembic.ini"


def write_psql(path: Path, items: list[Change]) -> None:
    path.write_text("\n".join(c.up for c in items) + "\n")


# -- runs -----------------------------------------------------------------------------
def commands(work: Path, url: str) -> dict[str, list[str]]:
    libpq = common.libpq_url(url)
    return {
        PROJECT: [
            str(BIN / "pa-db"), "migrate", "up", "--database-url", libpq,
            "--directory", str(work / "project"),
        ],
        ALEMBIC: [str(BIN / "alembic"), "-c", str(work / "alembic.ini"), "upgrade", "head"],
        PSQL: [
            "psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(work / "all.sql"), libpq,
        ],
    }  # fmt: skip


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({out.returncode}): {out.stderr[-2000:]}")
    return elapsed


def alembic_env(url: str) -> dict[str, str]:
    import os

    return {**os.environ, "BENCH_ALEMBIC_URL": common.with_driver(url, "postgresql+psycopg")}


def point_alembic_at_env(ini: Path) -> None:
    """The generated ini holds a placeholder URL; read it from the environment instead."""
    env_py = ini.parent / "alembic" / "env.py"
    text = env_py.read_text().replace(
        "config = context.config\n",
        "config = context.config\n"
        "import os\n"
        'config.set_main_option("sqlalchemy.url", os.environ["BENCH_ALEMBIC_URL"])\n',
        1,
    )
    env_py.write_text(text)


def one_run(admin: str, work: Path, tool: str) -> dict[str, float]:
    """A fresh database, then the tool applying everything, then the no-op run."""
    with common.scratch_database(admin, "mig") as url:
        cmd = commands(work, url)[tool]
        env = alembic_env(url) if tool == ALEMBIC else None
        first = timed(cmd, env)
        noop = (
            timed(cmd, env)
            if tool != PSQL
            else timed(["psql", "-X", "-q", "-c", "SELECT 1", common.libpq_url(url)])
        )
    return {"seconds": round(first, 4), "noop_seconds": round(noop, 4)}


def profile_project(admin: str, work: Path, top: int = 25) -> list[str]:
    """cProfile of ``MigrationManager.upgrade()`` in-process, by cumulative time."""
    from personal_assistant.database.migrations.manager import MigrationManager

    async def body() -> None:
        async with MigrationManager(
            common.with_driver(url, "postgresql"), work / "project"
        ) as manager:
            await manager.upgrade()

    with common.scratch_database(admin, "migprof") as url:
        profiler = cProfile.Profile()
        profiler.enable()
        common.run(body())
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    lines = [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]
    return lines[: top + 6]


def measure(admin: str, n: int, rounds: int) -> dict[str, Any]:
    items = changes(n)
    with tempfile.TemporaryDirectory(prefix="pa-mig-bench-") as tmp:
        work = Path(tmp)
        write_project(work / "project", items)
        point_alembic_at_env(write_alembic(work, items))
        write_psql(work / "all.sql", items)
        runs = common.interleave(
            rounds, [PROJECT, ALEMBIC, PSQL], lambda t, r: one_run(admin, work, t)
        )
        hot_path = profile_project(admin, work)
    medians = {
        tool: {k: round(common.median([x[k] for x in xs]), 4) for k in xs[0]}
        for tool, xs in runs.items()
    }
    return {"migrations": n, "rounds": runs, "median": medians, "profile_project_upgrade": hot_path}


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    m = result["median"]
    ours, alembic, psql = m[PROJECT]["seconds"], m[ALEMBIC]["seconds"], m[PSQL]["seconds"]
    n = result["migrations"]
    vs_psql = common.ratio(ours, psql)
    return [
        common.row(
            TITLE, f"apply {n} migrations vs Alembic", ours, alembic, "s", reference_name=ALEMBIC,
            target="faster than Alembic (< 1x)", met=ours < alembic,
            note=common.missed_by(common.ratio(ours, alembic), 1.0),
        ),
        common.row(
            TITLE, f"apply {n} migrations vs psql", ours, psql, "s", reference_name=PSQL,
            target=f"<= {TARGET_PSQL_RATIO:g}x psql", met=vs_psql <= TARGET_PSQL_RATIO,
            note=common.missed_by(vs_psql, TARGET_PSQL_RATIO),
        ),
        common.row(
            TITLE, "fixed cost (nothing to apply) vs Alembic", m[PROJECT]["noop_seconds"],
            m[ALEMBIC]["noop_seconds"], "s", reference_name=ALEMBIC,
            note=f"psql start-up: {m[PSQL]['noop_seconds']} s",
        ),
    ]  # fmt: skip


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    tools = [PROJECT, ALEMBIC, PSQL]
    m = result["median"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    total = [m[t]["seconds"] for t in tools]
    fixed = [m[t]["noop_seconds"] for t in tools]
    bars = ax.bar(tools, total, color=["#fc8d62", "#8da0cb", "#66c2a5"], label="apply all")
    ax.bar(
        tools, fixed, color="none", edgecolor="black", hatch="//", label="fixed cost (no-op run)"
    )
    ax.bar_label(bars, labels=[f"{v:.2f} s" for v in total])
    ax.axhline(
        m[PSQL]["seconds"] * TARGET_PSQL_RATIO,
        color="red",
        linestyle="--",
        label="target 1.5x psql",
    )
    ax.set_ylabel("seconds (median of rounds, process spawn to exit)")
    ax.set_title(f"Applying {result['migrations']} migrations to an empty database")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--migrations", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    opts = p.parse_args(argv)
    n, rounds = (9, 1) if opts.smoke else (opts.migrations, opts.rounds)
    with common.server(opts.database_url) as admin:
        result = measure(admin, n, rounds)
        result["rounds_each"] = rounds
        common.publish(
            result, name=NAME, module="bench.migrations_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
