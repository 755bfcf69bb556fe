"""Benchmark 14: a permission-check endpoint under wrk, the app against bare FastAPI + asyncpg.

The project side is the real app (``create_app()``, configured from the environment
with its defaults) plus one read-only endpoint written as the docs say::

    @app.get("/permission")
    async def permission(session: ReadSessionDep, user_id: int, name: str):
        return {"allowed": await user_has_permission(session, user_id, name)}

The reference is FastAPI with an asyncpg pool (asyncpg's defaults), sending the very
SQL text the project sends (compiled from the project's statement) with ``fetchval``,
as the FastAPI and asyncpg documentation show. Both run under uvicorn with the same
options (one worker) on 127.0.0.1 against the same database; both must give the same
answers before anything is timed. wrk drives each with the same Lua script: a random
user and a random permission per request (half the seed's common names, half any).
Rounds alternate the order (A B, B A, ...).

    .venv/bin/python -m bench.rbac_app_bench [--users N] [--duration 10] [--rounds 3] [--smoke]
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations,
# which name objects imported inside the app factories.
import contextlib
import json
import os
import random
import subprocess
import tempfile
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from bench import common
from bench.health_load_bench import asyncio_load, generator, parse_wrk, served, uvicorn_command
from bench.rbac_bench import build_dataset

NAME = "rbac_app"
TITLE = "RBAC endpoint under load"
TARGET_RATIO = 1.5
CONNECTIONS = 32
PROJECT, REFERENCE = "project ReadSessionDep", "FastAPI + asyncpg pool"
#: Diagnostics, not targets: the app with the endpoint matched first (the cost of the
#: app's other routes), and bare FastAPI with ReadSessionDep (the database layer alone).
ROUTED_FIRST, BARE_LAYER = "project, endpoint matched first", "bare FastAPI + ReadSessionDep"
FACTORIES = {
    PROJECT: "project_app",
    REFERENCE: "reference_app",
    ROUTED_FIRST: "project_app_routed_first",
    BARE_LAYER: "bare_read_session_app",
}
SQL_VAR, DSN_VAR = "BENCH_PERMISSION_SQL", "BENCH_REFERENCE_DSN"

LUA = """
math.randomseed(%(seed)d)
local names = {%(names)s}
request = function()
  local user = math.random(1, %(users)d)
  local name = names[math.random(1, #names)]
  return wrk.format("GET", "/permission?user_id=" .. user .. "&name=" .. name)
end
"""


def project_app() -> Any:
    """The app as deployed, plus a read-only permission endpoint on ``ReadSessionDep``."""
    from apps.fastapi_app.main import create_app
    from personal_assistant.api.deps import ReadSessionDep
    from personal_assistant.database.queries.rbac import user_has_permission

    app = create_app()

    @app.get("/permission")
    async def permission(session: ReadSessionDep, user_id: int, name: str) -> dict[str, bool]:
        return {"allowed": await user_has_permission(session, user_id, name)}

    return app


def project_app_routed_first() -> Any:
    """:func:`project_app` with ``/permission`` tried before the app's other routes."""
    app = project_app()
    app.router.routes.insert(0, app.router.routes.pop())
    return app


def bare_read_session_app() -> Any:
    """Bare FastAPI, the project's engine (defaults, tracker attached) and ``ReadSessionDep``."""
    from fastapi import FastAPI

    from personal_assistant.api.deps import ReadSessionDep
    from personal_assistant.database import session as db
    from personal_assistant.database.queries.rbac import user_has_permission
    from personal_assistant.database.settings import load_database_config
    from personal_assistant.monitoring.tracker import QueryTracker

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.init_engine(load_database_config(), hooks=(QueryTracker().attach,))
        try:
            yield
        finally:
            await db.dispose_engine()

    app = FastAPI(lifespan=lifespan)

    @app.get("/permission")
    async def permission(session: ReadSessionDep, user_id: int, name: str) -> dict[str, bool]:
        return {"allowed": await user_has_permission(session, user_id, name)}

    return app


def reference_app() -> Any:
    """FastAPI, an asyncpg pool with its defaults, the project's SQL with ``fetchval``."""
    import asyncpg
    from fastapi import FastAPI

    sql, dsn = os.environ[SQL_VAR], os.environ[DSN_VAR]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/permission")
    async def permission(user_id: int, name: str) -> dict[str, bool]:
        async with app.state.pool.acquire() as conn:
            return {"allowed": bool(await conn.fetchval(sql, user_id, name))}

    return app


def permission_sql() -> str:
    """The text the project sends for ``user_has_permission`` (its compiled plan)."""
    from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

    from personal_assistant.database.queries.rbac import HAS_PERMISSION

    plan = HAS_PERMISSION.plan(asyncpg_dialect.dialect())
    assert plan.names == ("user_id", "permission_name"), plan.names
    return plan.sql


def pick_names(names: list[str], n: int = 200, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    common_names = [x for x in names if not x.startswith("bench_")]
    return common_names + rng.sample([x for x in names if x.startswith("bench_")], n)


def lua_script(path: Path, users: int, names: list[str]) -> Path:
    quoted = ", ".join(json.dumps(n) for n in names)
    path.write_text(LUA % {"seed": 42, "names": quoted, "users": users})
    return path


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def same_answers(ports: dict[str, int], users: int, names: list[str]) -> float:
    """Both apps answer 100 random checks alike; returns the share granted."""
    rng = random.Random(9)
    granted = 0
    for _ in range(100):
        path = f"/permission?user_id={rng.randint(1, users)}&name={rng.choice(names)}"
        answers = {side: get_json(port, path) for side, port in ports.items()}
        if len({json.dumps(a) for a in answers.values()}) != 1:
            raise AssertionError(f"the apps disagree on {path}: {answers}")
        granted += answers[PROJECT]["allowed"]
    return granted / 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, script: Path, duration_s: float, pid: int | None = None) -> dict[str, float]:
    """wrk's figures, plus the server's CPU time per request when ``pid`` is given."""
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(duration_s))}s", "--latency"]
    before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        [*cmd, "-s", str(script), f"http://127.0.0.1:{port}"], capture_output=True, text=True
    )
    figures = parse_wrk(out.stdout)
    if pid:
        spent = cpu_seconds(pid) - before
        figures["server_cpu_us_per_request"] = round(spent / max(figures["requests"], 1) * 1e6, 1)
    return figures


@contextlib.contextmanager
def all_apps(url: str) -> Iterator[dict[str, tuple[int, int]]]:
    """Every side's server running: side -> (port, pid)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PA_"))}
    env.update(
        {
            "DATABASE_URL": common.with_driver(url, "postgresql"),
            SQL_VAR: permission_sql(),
            DSN_VAR: common.libpq_url(url),
        }
    )
    with contextlib.ExitStack() as stack:
        servers = {}
        for side, factory in FACTORIES.items():
            port = common.free_port()
            cmd = uvicorn_command(f"bench.rbac_app_bench:{factory}", port, factory=True)
            servers[side] = (port, stack.enter_context(served(cmd, env, port)).pid)
        yield servers


def measure(url: str, sizes: dict[str, Any]) -> dict[str, Any]:
    dataset = common.run(build_dataset(url, sizes["users"]))
    names = pick_names(dataset.pop("permission_names"), n=min(200, sizes["names"]))
    users = dataset["users"]
    with all_apps(url) as servers, tempfile.TemporaryDirectory() as tmp:
        ports = {side: port for side, (port, _) in servers.items()}
        pids = {side: pid for side, (_, pid) in servers.items()}
        granted = same_answers(ports, users, names)
        script = lua_script(Path(tmp) / "permission.lua", users, names)
        use_wrk = generator() == "wrk" and sizes["duration_s"] >= 1
        for port in ports.values():  # warm-up: imports, pools, plans, caches
            if use_wrk:
                wrk(port, script, 2)
            else:
                asyncio_load(port, f"/permission?user_id=1&name={names[0]}", 0.3)

        def one(side: str, r: int) -> dict[str, float]:
            if use_wrk:
                return wrk(ports[side], script, sizes["duration_s"], pids[side])
            path = f"/permission?user_id={1 + r}&name={names[r % len(names)]}"
            return asyncio_load(ports[side], path, sizes["duration_s"])

        by_round = common.interleave(sizes["rounds"], list(FACTORIES), one)
    medians = {
        side: {k: round(common.median([r[k] for r in runs]), 3) for k in runs[0]}
        for side, runs in by_round.items()
    }
    return {
        "dataset": dataset,
        "granted_share": granted,
        "sql": permission_sql(),
        "generator": "wrk" if use_wrk else "asyncio",
        "connections": CONNECTIONS,
        "rounds": by_round,
        "median": medians,
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    p, r = result["median"][PROJECT], result["median"][REFERENCE]
    floor = round(1 / TARGET_RATIO, 3)
    share = common.ratio(p["per_s"], r["per_s"])
    out = [
        common.row(
            TITLE, f"requests/s, {CONNECTIONS} connections", p["per_s"], r["per_s"], "req/s",
            reference_name=REFERENCE, target=f">= {floor:g}x reference (within {TARGET_RATIO:g}x)",
            met=share >= floor, note=common.missed_by(share, floor, higher_is_better=True),
        ),
        common.row(TITLE, "p50 latency", p["p50"], r["p50"], "ms", reference_name=REFERENCE),
        common.row(TITLE, "p99 latency", p["p99"], r["p99"], "ms", reference_name=REFERENCE),
        common.row(TITLE, "errors (non-2xx + socket)", p["errors"], r["errors"], "responses"),
    ]  # fmt: skip
    for side in (ROUTED_FIRST, BARE_LAYER):  # where the gap comes from (no targets)
        d = result["median"][side]
        out.append(common.row(
            TITLE, f"requests/s, {side} (diagnostic)", d["per_s"], r["per_s"], "req/s",
            reference_name=REFERENCE,
        ))  # fmt: skip
    if "server_cpu_us_per_request" in p:
        for side in (PROJECT, ROUTED_FIRST, BARE_LAYER):
            out.append(common.row(
                TITLE, f"server CPU per request, {side}",
                result["median"][side]["server_cpu_us_per_request"],
                r["server_cpu_us_per_request"], "µs", reference_name=REFERENCE,
            ))  # fmt: skip
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    names = list(FACTORIES)
    for ax, key, label in ((left, "per_s", "requests/s"), (right, "p99", "p99 ms")):
        values = [result["median"][n][key] for n in names]
        bars = ax.bar(
            [n.replace(", ", ",\n").replace(" + ", " +\n") for n in names],
            values,
            color=["#fc8d62", "#8da0cb", "#fdd0a2", "#fdae6b"],
        )
        ax.bar_label(bars, labels=[f"{v:,.1f}" for v in values])
        for i, n in enumerate(names):
            ax.plot([i] * len(result["rounds"][n]), [x[key] for x in result["rounds"][n]], "k.")
        ax.set_ylabel(label)
        ax.tick_params(axis="x", labelsize=7)
    left.axhline(
        result["median"][REFERENCE]["per_s"] / TARGET_RATIO, color="red", linestyle="--",
        label=f"target: within {TARGET_RATIO:g}x of the reference",
    )  # fmt: skip
    left.legend(fontsize=8)
    fig.suptitle(
        f"GET /permission, {CONNECTIONS} connections, {result['sizes']['duration_s']:g} s per "
        f"round, {result['sizes']['rounds']} rounds each ({result['generator']})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


SIZES = {
    "full": {"users": 1_000_000, "names": 200, "duration_s": 10.0, "rounds": 4},
    "smoke": {"users": 2000, "names": 20, "duration_s": 0.5, "rounds": 1},
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--users", type=int, help="users to seed (default 1,000,000)")
    p.add_argument("--duration", type=float, help="seconds per round and side (default 10)")
    p.add_argument("--rounds", type=int, help="rounds per side (default 4)")
    opts = p.parse_args(argv)
    sizes = dict(SIZES["smoke" if opts.smoke else "full"])
    for key, value in (
        ("users", opts.users),
        ("duration_s", opts.duration),
        ("rounds", opts.rounds),
    ):
        if value:
            sizes[key] = value
    with common.server(opts.database_url) as admin, common.scratch_database(admin, NAME) as url:
        result = measure(url, sizes)
        result["sizes"] = sizes
        common.publish(
            result, name=NAME, module="bench.rbac_app_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
