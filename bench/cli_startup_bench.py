"""Benchmark 9: ``pa-db`` start-up: ``--help`` vs ``import typer``, no-op ``migrate up`` vs Alembic.

Every figure is one fresh process timed from spawn to exit (``time.perf_counter``
around ``subprocess.run``), with its CPU time (user + system, from the children's
rusage) beside it; rounds run interleaved (A B C ..., then reversed) and the medians
are reported. The help figures are compared with ``python -c "import typer"`` (the
target: within 3x) and, to show the floor typer itself sets, with a minimal typer app
of the same shape (a group, a sub-group, a command). The no-op upgrade compares
``pa-db migrate up`` with ``alembic upgrade head`` on the same scratch database, each
with one migration already applied: an Alembic environment made by ``alembic init``
(generic template, psycopg) plus one ``alembic revision -m empty``, and a ``pa-db``
directory holding one ``SELECT 1`` migration (its template refuses an empty one).

    .venv/bin/python -m bench.cli_startup_bench [--rounds 15] [--smoke]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.migrations_bench import alembic_env, point_alembic_at_env

NAME = "cli_startup"
TITLE = "CLI start-up"
BIN = Path(sys.executable).parent
TARGET_HELP_RATIO = 3.0

IMPORT_TYPER = 'python -c "import typer"'
TYPER_HELP = "minimal typer app --help"
TYPER_SUB_HELP = "minimal typer app sub cmd --help"
HELP = "pa-db --help"
STATUS_HELP = "pa-db migrate status --help"
UP = "pa-db migrate up (nothing to do)"
ALEMBIC = "alembic upgrade head (nothing to do)"

#: The floor: typer's own cost for the same command tree, with no imports of ours.
MINIMAL_TYPER_APP = '''import typer

app = typer.Typer(no_args_is_help=True)
sub = typer.Typer(no_args_is_help=True)
app.add_typer(sub, name="sub")


@sub.command()
def cmd(name: str = typer.Option("x", help="a name")) -> None:
    """A command."""


@sub.command()
def other() -> None:
    """Another command."""


app()
'''

PROJECT_MIGRATION = "-- nothing to do\n\n-- migrate:up\nSELECT 1;\n\n-- migrate:down\nSELECT 1;\n"


def run_once(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds of one process, spawn to exit; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=common.ROOT, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd} exited {out.returncode}: {out.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 4), "cpu_s": round(cpu, 4)}


def prepare(work: Path, url: str) -> dict[str, list[str]]:
    """Both migration tools set up on ``url`` with their one migration applied."""
    subprocess.run(
        [str(BIN / "alembic"), "init", str(work / "alembic")],
        cwd=work, check=True, capture_output=True,
    )  # fmt: skip
    point_alembic_at_env(work / "alembic.ini")
    alembic = [str(BIN / "alembic"), "-c", str(work / "alembic.ini")]
    env = alembic_env(url)
    subprocess.run([*alembic, "revision", "-m", "empty"], env=env, check=True, capture_output=True)
    (work / "project").mkdir()
    (work / "project" / "0001_nothing_to_do.sql").write_text(PROJECT_MIGRATION)
    (work / "typer_app.py").write_text(MINIMAL_TYPER_APP)
    python, pa_db = sys.executable, str(BIN / "pa-db")
    commands = {
        IMPORT_TYPER: [python, "-c", "import typer"],
        TYPER_HELP: [python, str(work / "typer_app.py"), "--help"],
        TYPER_SUB_HELP: [python, str(work / "typer_app.py"), "sub", "cmd", "--help"],
        HELP: [pa_db, "--help"],
        STATUS_HELP: [pa_db, "migrate", "status", "--help"],
        UP: [
            pa_db, "migrate", "up", "--database-url", common.libpq_url(url),
            "--directory", str(work / "project"),
        ],
        ALEMBIC: [*alembic, "upgrade", "head"],
    }  # fmt: skip
    for name in (UP, ALEMBIC):  # apply once: every timed run has nothing to do
        run_once(commands[name], environment(name, url))
    return commands


def environment(name: str, url: str) -> dict[str, str]:
    """Alembic reads its URL from the environment; pa-db gets ``--database-url``."""
    if name == ALEMBIC:
        return alembic_env(url)
    return {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PA_"))}


def measure(url: str, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pa-cli-bench-") as tmp:
        commands = prepare(Path(tmp), url)
        envs = {name: environment(name, url) for name in commands}
        runs = common.interleave(
            rounds, list(commands), lambda n, r: run_once(commands[n], envs[n])
        )
    median = {
        name: {k: round(common.median([x[k] for x in xs]), 4) for k in ("wall_s", "cpu_s")}
        for name, xs in runs.items()
    }
    return {
        "commands": {n: shown(c) for n, c in commands.items()},
        "rounds": runs,
        "median": median,
    }


def shown(cmd: list[str]) -> str:
    """A command as recorded: the program's name, and never a database URL."""
    return " ".join([Path(cmd[0]).name, *("URL" if "://" in a else a for a in cmd[1:])])


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    m = result["median"]

    def wall(name: str) -> float:
        return float(m[name]["wall_s"])

    def cpu_note(name: str, reference: str) -> str:
        return f"CPU {m[name]['cpu_s']} s vs {m[reference]['cpu_s']} s"

    out = []
    for name, floor in ((HELP, TYPER_HELP), (STATUS_HELP, TYPER_SUB_HELP)):
        ratio = common.ratio(wall(name), wall(IMPORT_TYPER))
        out.append(
            common.row(
                TITLE,
                name,
                wall(name),
                wall(IMPORT_TYPER),
                "s",
                reference_name=IMPORT_TYPER,
                target=f"<= {TARGET_HELP_RATIO:g}x",
                met=ratio <= TARGET_HELP_RATIO,
                note=common.missed_by(ratio, TARGET_HELP_RATIO),
            )
        )
        out.append(
            common.row(
                TITLE,
                f"{name} vs typer's floor",
                wall(name),
                wall(floor),
                "s",
                reference_name=floor,
                note=cpu_note(name, floor),
            )
        )
    ratio = common.ratio(wall(UP), wall(ALEMBIC))
    out.append(common.row(
        TITLE, UP, wall(UP), wall(ALEMBIC), "s", reference_name=ALEMBIC,
        target="faster than Alembic (< 1x)", met=ratio < 1.0,
        note=f"{common.missed_by(ratio, 1.0)}; {cpu_note(UP, ALEMBIC)}",
    ))  # fmt: skip
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    m = result["median"]
    names = list(m)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    walls = [m[n]["wall_s"] for n in names]
    cpus = [m[n]["cpu_s"] for n in names]
    y = range(len(names))
    bars = ax.barh([i + 0.2 for i in y], walls, height=0.4, color="#fc8d62", label="wall")
    ax.barh([i - 0.2 for i in y], cpus, height=0.4, color="#8da0cb", label="CPU (user + sys)")
    ax.bar_label(bars, labels=[f"{v:.2f} s" for v in walls], fontsize=8)
    ax.set_yticks(list(y), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds, spawn to exit (median of rounds)")
    ax.set_title("CLI start-up", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    opts = p.parse_args(argv)
    rounds = 1 if opts.smoke else opts.rounds
    with common.server(opts.database_url) as admin, common.scratch_database(admin, NAME) as url:
        result = measure(url, rounds)
        result["rounds_each"] = rounds
        common.publish(
            result, name=NAME, module="bench.cli_startup_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
