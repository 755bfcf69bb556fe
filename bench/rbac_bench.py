"""Benchmark 1: the RBAC permission check, session layer against raw asyncpg.

The project path is what a request does for a read: ``async with read_session() as s:
await user_has_permission(s, user_id, name)`` on the engine ``init_engine`` builds
(default ``DatabaseConfig``, the query tracker attached as the app attaches it): the
compiled statement's fast path, one round trip on a warm pool.
``session_scope()`` (a transaction with commit) and ``new_session()`` + ``close()``
are measured too. The reference sends the very SQL
text the project sends (captured from SQLAlchemy, not rewritten) as an asyncpg
prepared statement on a held connection (``conn.prepare(sql)``); for concurrency,
asyncpg's pool used as its documentation shows (``async with pool.acquire()`` +
``fetchval``, which prepares and caches the statement), sized like the project's pool.

Dataset: the project's migrations, ``seed.seed`` (7 roles, 50 permissions, ~1.1
roles per user), then synthetic roles, permissions and grants added on top up to
200 roles, 2,000 permissions and ~3 roles per user (the issue's shape).
Statements per check are counted with pg_stat_statements when it is available. The
query tracker's cost on the fast path is measured by detaching and re-attaching it
between interleaved rounds (CPU time per check), and the fast path is profiled.

    .venv/bin/python -m bench.rbac_bench [--users N] [--smoke] [--database-url URL]
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from bench import common

NAME = "rbac"
TITLE = "RBAC permission check"
TARGET_P95_MS = 2.0
#: The first goal: the layer's p50 within 1.3x a prepared statement on a held connection.
TARGET_RATIO = 1.3
#: Issue 19's goals against asyncpg's own pool: p50 within 1.5x, throughput >= 0.7x.
TARGET_POOL_P50 = 1.5
TARGET_POOL_THROUGHPUT = 0.7
#: The query tracker's budget: at most 5% added.
TARGET_TRACKER = 0.05
ROLES = 200
PERMISSIONS = 2000
GRANTS_PER_ROLE = 40
ACTIONS = ("read", "write", "delete", "share", "admin")

ADD_ROLES = """
INSERT INTO roles (name, description)
SELECT 'bench_role_' || g, 'benchmark role'
FROM generate_series(1, greatest($1::int - (SELECT count(*) FROM roles)::int, 0)) AS g
ON CONFLICT (name) DO NOTHING
"""
ADD_PERMISSIONS = """
INSERT INTO permissions (name, description)
SELECT 'bench_res_' || (g / 5) || ':' || ($2::text[])[1 + g % 5], 'benchmark permission'
FROM generate_series(0, greatest($1::int - (SELECT count(*) FROM permissions)::int, 0) - 1) AS g
ON CONFLICT (name) DO NOTHING
"""
ADD_GRANTS = """
INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id
FROM roles r
CROSS JOIN LATERAL (
    SELECT id FROM permissions ORDER BY md5(r.id::text || '/' || id::text) LIMIT $1
) AS p
WHERE r.name LIKE 'bench\\_role\\_%'
ON CONFLICT DO NOTHING
"""
#: Two more roles per user, spread over the synthetic roles by multiplicative hashing.
ADD_USER_ROLES = """
INSERT INTO user_roles (user_id, role_id)
SELECT u.id, b.ids[1 + ((u.id * k.k) % cardinality(b.ids))::int]
FROM users u
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM roles
            WHERE name LIKE 'bench\\_role\\_%') AS b
CROSS JOIN (VALUES (7919::bigint), (104729::bigint)) AS k(k)
WHERE u.id > $1 AND u.id <= $2
ON CONFLICT DO NOTHING
"""
COUNTS = """
SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM roles) AS roles,
       (SELECT count(*) FROM permissions) AS permissions,
       (SELECT count(*) FROM user_roles) AS user_roles,
       (SELECT count(*) FROM role_permissions) AS role_permissions
"""


# -- dataset (also used by the pool and tracker benchmarks) -----------------------------
async def build_dataset(url: str, users: int) -> dict[str, Any]:
    """Migrate, seed ``users`` users, widen to the issue's shape; returns the counts."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from personal_assistant.database.migrations.manager import MigrationManager
    from personal_assistant.database.seed import seed

    started = time.perf_counter()
    async with MigrationManager(common.with_driver(url, "postgresql")) as manager:
        await manager.upgrade()
    engine = create_async_engine(common.with_driver(url, "postgresql+asyncpg"), poolclass=NullPool)
    try:
        await seed(engine, users)
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(common.libpq_url(url))
    try:
        await conn.execute(ADD_ROLES, ROLES)
        await conn.execute(ADD_PERMISSIONS, PERMISSIONS, list(ACTIONS))
        await conn.execute(ADD_GRANTS, GRANTS_PER_ROLE)
        for low in range(0, users, 200_000):
            await conn.execute(ADD_USER_ROLES, low, min(low + 200_000, users))
        await conn.execute("VACUUM ANALYZE users, user_roles, roles, permissions, role_permissions")
        counts = dict(await conn.fetchrow(COUNTS))  # type: ignore[arg-type]
        names = [r["name"] for r in await conn.fetch("SELECT name FROM permissions ORDER BY id")]
    finally:
        await conn.close()
    counts["roles_per_user"] = round(counts["user_roles"] / max(counts["users"], 1), 2)
    counts["build_s"] = round(time.perf_counter() - started, 1)
    counts["permission_names"] = names
    return counts


def workload(users: int, names: Sequence[str], n: int, seed: int = 42) -> list[tuple[int, str]]:
    """``n`` (user id, permission) pairs: half from the seed's common names, half any."""
    rng = random.Random(seed)
    common_names = [x for x in names if not x.startswith("bench_")] or list(names)
    pool = [common_names, list(names)]
    return [(rng.randint(1, users), rng.choice(pool[i % 2])) for i in range(n)]


# -- the two sides --------------------------------------------------------------------
Check = Callable[[int, str], Awaitable[bool]]


async def project_engine(url: str) -> tuple[Any, Any]:
    from personal_assistant.config.database import load_database_config
    from personal_assistant.database import session as db
    from personal_assistant.monitoring.settings import get_monitoring_settings
    from personal_assistant.monitoring.tracker import QueryTracker

    config = load_database_config(url=common.with_driver(url, "postgresql"))
    tracker = QueryTracker.from_settings(
        get_monitoring_settings(), slow_query_ms=config.slow_query_ms
    )
    await db.init_engine(config, hooks=(tracker.attach,))
    return config, tracker


def project_checks() -> dict[str, Check]:
    from personal_assistant.database import session as db
    from personal_assistant.database.queries.rbac import user_has_permission

    async def read(user_id: int, name: str) -> bool:
        async with db.read_session() as session:
            return await user_has_permission(session, user_id, name)

    async def scoped(user_id: int, name: str) -> bool:
        async with db.session_scope() as session:
            return await user_has_permission(session, user_id, name)

    async def plain(user_id: int, name: str) -> bool:
        session = db.new_session()
        try:
            return await user_has_permission(session, user_id, name)
        finally:
            await session.close()

    return {
        "project read_session": read,
        "project session_scope": scoped,
        "project new_session": plain,
    }


async def captured_sql() -> tuple[str, tuple[int, int]]:
    """The SQL text the project's read path sends and where user id and name sit in it."""
    from sqlalchemy import event

    from personal_assistant.database import session as db
    from personal_assistant.database.queries.rbac import user_has_permission

    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
        seen.append((sql, params))

    target = db.get_engine().sync_engine
    event.listen(target, "before_cursor_execute", grab)
    try:
        async with db.read_session() as session:
            await user_has_permission(session, 987_654_321, "documents:read")
    finally:
        event.remove(target, "before_cursor_execute", grab)
    sql, params = next((s, p) for s, p in seen if "EXISTS" in s.upper())
    values = list(params)
    return sql, (values.index(987_654_321), values.index("documents:read"))


def _args(positions: tuple[int, int], user_id: int, name: str) -> list[Any]:
    args: list[Any] = [None, None]
    args[positions[0]], args[positions[1]] = user_id, name
    return args


# -- measurements ---------------------------------------------------------------------
async def sequential(check: Check, pairs: Sequence[tuple[int, str]]) -> dict[str, float]:
    """Latency percentiles (ms) and the process's CPU time per check (µs)."""
    times = []
    clock = time.perf_counter
    cpu = time.process_time()
    for user_id, name in pairs:
        start = clock()
        await check(user_id, name)
        times.append(clock() - start)
    cpu_us = (time.process_time() - cpu) / max(len(pairs), 1) * 1e6
    return {**common.percentiles(times), "cpu_us": round(cpu_us, 2)}


async def throughput(
    check: Check, pairs: Sequence[tuple[int, str]], tasks: int, duration_s: float
) -> dict[str, float]:
    """Calls per second with ``tasks`` concurrent callers for ``duration_s``."""
    latencies: list[float] = []
    deadline = time.perf_counter() + duration_s
    clock = time.perf_counter

    async def worker(offset: int) -> None:
        i = offset
        while clock() < deadline:
            user_id, name = pairs[i % len(pairs)]
            start = clock()
            await check(user_id, name)
            latencies.append(clock() - start)
            i += tasks

    started = clock()
    cpu = time.process_time()
    await asyncio.gather(*(worker(k) for k in range(tasks)))
    elapsed = clock() - started
    cpu_us = (time.process_time() - cpu) / max(len(latencies), 1) * 1e6
    figures = common.percentiles(latencies)
    return {
        "per_s": round(len(latencies) / elapsed, 1),
        "p50": figures["p50"],
        "p99": figures["p99"],
        "cpu_us": round(cpu_us, 2),
    }


async def statements_per_check(
    conn: asyncpg.Connection, check: Check, pairs: Sequence[tuple[int, str]]
) -> dict[str, Any] | None:
    """What reaches the server per check, from pg_stat_statements (None: unavailable)."""
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    except asyncpg.PostgresError:
        return None
    for user_id, name in pairs:
        await check(user_id, name)
    rows = await conn.fetch(
        "SELECT query, calls FROM pg_stat_statements WHERE dbid = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND query NOT ILIKE '%pg_stat_statements%' ORDER BY calls DESC"
    )
    per = {" ".join(r["query"].split())[:80]: round(r["calls"] / len(pairs), 2) for r in rows}
    return {"total": round(sum(per.values()), 2), "statements": per}


async def profile(check: Check, pairs: Sequence[tuple[int, str]], top: int = 22) -> list[str]:
    """cProfile of a sequential loop, sorted by own time (what to read for the hot path)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for user_id, name in pairs:
        await check(user_id, name)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    lines = [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]
    return lines[: top + 6]


async def tracker_overhead(
    check: Check, tracker: Any, pairs: Sequence[tuple[int, str]], n: int, rounds: int
) -> dict[str, Any]:
    """CPU per check on the fast path with the query tracker attached and detached.

    Rounds alternate (attached, detached, detached, attached, ...) on the same pairs;
    the added share is the median of each round's attached/detached ratio, so drift of
    a shared machine between rounds cancels out. The handlers' own cost per statement
    (events fired with nothing else around them) is timed too.
    """
    from personal_assistant.database import session as db

    engine = db.get_engine()

    async def one(name: str, r: int) -> dict[str, float]:
        if name == "detached":
            tracker.detach(engine)
        try:
            return await sequential(check, pairs[(r % 4) * n : (r % 4 + 1) * n])
        finally:
            if name == "detached":
                tracker.attach(engine)

    by = await common.ainterleave(rounds, ["attached", "detached"], one)
    ratios = [
        a["cpu_us"] / d["cpu_us"] for a, d in zip(by["attached"], by["detached"], strict=True)
    ]
    return {
        "rounds": by,
        "median": {k: _median_figures(v) for k, v in by.items()},
        "added": round(common.median(ratios) - 1, 4),
        # Best of three: the handlers' own cost, without the machine's hiccups.
        "handlers_us": round(min(handlers_cost(engine) for _ in range(3)), 3),
    }


def handlers_cost(engine: Any, n: int = 50_000) -> float:
    """µs per statement of firing the engine's cursor events as the fast path does."""
    from personal_assistant.database.fast_path import FastPathContext

    sync = engine.execution_options(isolation_level="AUTOCOMMIT").sync_engine
    dispatch, sql, args = sync.dispatch, "SELECT EXISTS (SELECT 1) AS anon_1", (1, "x")
    started = time.process_time()
    for _ in range(n):
        context = FastPathContext(sql, args, sync)
        for before in dispatch.before_cursor_execute:
            before(None, None, sql, args, context, False)
        for after in dispatch.after_cursor_execute:
            after(None, None, sql, args, context, False)
    return (time.process_time() - started) / n * 1e6


async def breakdown(raw_check: Check, n: int = 3000) -> dict[str, float]:
    """CPU µs per call of the fast path's parts, each timed alone (best of three)."""
    from personal_assistant.database import session as db
    from personal_assistant.database.greenlets import run_sync

    pool = db.get_engine().sync_engine.pool

    def checkout_checkin() -> None:
        pool.connect().close()

    async def pool_round() -> None:
        await run_sync(checkout_checkin)

    async def scope() -> None:
        async with db.read_session():
            pass

    async def driver() -> None:
        await raw_check(1, "documents:read")

    async def best(fn: Callable[[], Awaitable[None]]) -> float:
        times = []
        for _ in range(3):
            started = time.process_time()
            for _ in range(n):
                await fn()
            times.append((time.process_time() - started) / n * 1e6)
        return round(min(times), 2)

    return {
        "driver round trip (held asyncpg connection, prepared)": await best(driver),
        "pool checkout + checkin (SQLAlchemy pool, events, statistics)": await best(pool_round),
        "read_session() open + close (no statement)": await best(scope),
    }


# -- the run --------------------------------------------------------------------------
SIZES = {
    "full": {"users": 1_000_000, "seq_n": 2000, "rounds": 5, "tp_s": 2.0, "tp_rounds": 4},
    "smoke": {"users": 2000, "seq_n": 60, "rounds": 2, "tp_s": 0.15, "tp_rounds": 2},
}
CONCURRENCY = (1, 10, 50)
PRIMARY, RAW, POOL = "project read_session", "asyncpg prepared", "asyncpg pool"


async def measure(url: str, sizes: dict[str, Any]) -> dict[str, Any]:
    from personal_assistant.database import session as db

    dataset = await build_dataset(url, sizes["users"])
    names = dataset.pop("permission_names")
    config, tracker = await project_engine(url)
    dsn = common.libpq_url(url)
    raw = await asyncpg.connect(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=config.pool_size, max_size=config.capacity)
    try:
        sql, positions = await captured_sql()
        stmt = await raw.prepare(sql)

        async def raw_check(user_id: int, name: str) -> bool:
            return bool(await stmt.fetchval(*_args(positions, user_id, name)))

        async def pool_check(user_id: int, name: str) -> bool:
            async with pool.acquire() as conn:
                return bool(await conn.fetchval(sql, *_args(positions, user_id, name)))

        variants: dict[str, Check] = {**project_checks(), RAW: raw_check, POOL: pool_check}
        n, rounds = sizes["seq_n"], sizes["rounds"]
        pairs = workload(sizes["users"], names, n * (rounds + 1))
        answers = {k: [await c(u, p) for u, p in pairs[:n]] for k, c in variants.items()}
        if len({tuple(a) for a in answers.values()}) != 1:
            raise AssertionError("the project and the reference disagree on permissions")
        granted = sum(answers[RAW]) / n

        async def seq_round(name: str, r: int) -> dict[str, float]:
            return await sequential(variants[name], pairs[(r + 1) * n : (r + 2) * n])

        seq = await common.ainterleave(rounds, list(variants), seq_round)
        tp: dict[str, dict[str, list[dict[str, float]]]] = {}
        for tasks in CONCURRENCY:

            async def tp_round(name: str, r: int, tasks: int = tasks) -> dict[str, float]:
                return await throughput(variants[name], pairs, tasks, sizes["tp_s"])

            tp[str(tasks)] = await common.ainterleave(sizes["tp_rounds"], [PRIMARY, POOL], tp_round)
        tracker_cost = await tracker_overhead(variants[PRIMARY], tracker, pairs, n, 2 * rounds)
        statements = {
            name: await statements_per_check(raw, variants[name], pairs[:200])
            for name in (PRIMARY, "project session_scope", RAW)
        }
        hot_path = await profile(variants[PRIMARY], pairs[: min(n, 1000)])
        parts = await breakdown(raw_check)
    finally:
        await pool.close()
        await raw.close()
        await db.dispose_engine()
    return {
        "dataset": dataset,
        "granted_share": round(granted, 3),
        "sql": sql,
        "project_config": {
            "pool_size": config.pool_size,
            "max_overflow": config.max_overflow,
            "pool_pre_ping": config.pool_pre_ping,
            "tracker": True,
        },
        "sequential_rounds": seq,
        "sequential": {k: _median_figures(v) for k, v in seq.items()},
        "throughput_rounds": tp,
        "throughput": {c: {k: _median_figures(v) for k, v in by.items()} for c, by in tp.items()},
        "statements_per_check": statements,
        "tracker_on_fast_path": tracker_cost,
        "profile_project_read_session": hot_path,
        "breakdown_cpu_us": parts,
    }


def _median_figures(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(common.median([r[key] for r in rounds]), 4) for key in rounds[0]}


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    seq = result["sequential"]
    project, raw = seq[PRIMARY], seq[RAW]
    out = [
        common.row(
            TITLE, f"sequential {q}", project[q], raw[q], "ms", reference_name=RAW,
            target=f"p95 < {TARGET_P95_MS:g} ms" if q == "p95" else "",
            met=project[q] < TARGET_P95_MS if q == "p95" else None,
            note=common.missed_by(project[q], TARGET_P95_MS) if q == "p95" else "",
        )
        for q in ("p50", "p95", "p99")
    ]  # fmt: skip
    pool = seq[POOL]
    vs_pool = common.ratio(project["p50"], pool["p50"])
    overhead = common.ratio(project["p50"], raw["p50"])
    out += [
        common.row(
            TITLE, "sequential p50 vs asyncpg's pool", project["p50"], pool["p50"], "ms",
            reference_name=POOL, target=f"<= {TARGET_POOL_P50:g}x",
            met=vs_pool <= TARGET_POOL_P50, note=common.missed_by(vs_pool, TARGET_POOL_P50),
        ),
        common.row(
            TITLE, "layer overhead (sequential p50)", project["p50"], raw["p50"], "ms",
            reference_name=RAW, target=f"<= {TARGET_RATIO:g}x raw asyncpg",
            met=overhead <= TARGET_RATIO, note=common.missed_by(overhead, TARGET_RATIO),
        ),
        common.row(
            TITLE, "CPU per check, sequential", project["cpu_us"], pool["cpu_us"], "µs",
            reference_name=POOL,
        ),
    ]  # fmt: skip
    for tasks, by in result["throughput"].items():
        p, r = by[PRIMARY]["per_s"], by[POOL]["per_s"]
        share = common.ratio(p, r)
        out.append(
            common.row(
                TITLE, f"throughput, {tasks} tasks", p, r, "checks/s", reference_name=POOL,
                target=f">= {TARGET_POOL_THROUGHPUT:g}x reference",
                met=share >= TARGET_POOL_THROUGHPUT,
                note=_with_cpu(
                    common.missed_by(share, TARGET_POOL_THROUGHPUT, higher_is_better=True),
                    by[PRIMARY]["cpu_us"], by[POOL]["cpu_us"],
                ),
            )
        )  # fmt: skip
    tracker = result.get("tracker_on_fast_path")
    if tracker:
        on, off = tracker["median"]["attached"]["cpu_us"], tracker["median"]["detached"]["cpu_us"]
        out.append(
            common.row(
                TITLE, "CPU per check, query tracker on the fast path", on, off, "µs",
                reference_name="tracker detached", target=f"< {TARGET_TRACKER:.0%} added",
                met=tracker["added"] < TARGET_TRACKER,
                note=f"added {tracker['added']:+.1%}, median of paired rounds; handlers alone "
                f"{tracker['handlers_us']:.1f} µs per statement, {tracker['handlers_us'] / off:.1%}"
                " of a check",
            )
        )  # fmt: skip
    counted = (result.get("statements_per_check") or {}).get(PRIMARY)
    if counted:
        out.append(
            common.row(
                TITLE, "statements per check (pg_stat_statements)", counted["total"],
                result["statements_per_check"][RAW]["total"], "statements",
                reference_name=RAW, target="1 (no ping, no BEGIN/ROLLBACK)",
                met=counted["total"] <= 1.0,
            )
        )  # fmt: skip
    return out


def _with_cpu(verdict: str, project_us: float, reference_us: float) -> str:
    cpu = f"CPU per check {project_us:.0f} vs {reference_us:.0f} µs"
    return cpu if verdict == "met" else f"{verdict}; {cpu}"


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    seq = result["sequential"]
    names = list(seq)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [q + i * width for q in range(3)]
        left.bar(xs, [seq[name][q] for q in ("p50", "p95", "p99")], width, label=name)
    left.set_xticks([q + 0.4 - width / 2 for q in range(3)], ["p50", "p95", "p99"])
    left.axhline(
        TARGET_P95_MS, color="red", linestyle="--", label=f"p95 target {TARGET_P95_MS:g} ms"
    )
    left.set_ylabel("ms (median of rounds)")
    left.set_title(f"Sequential check, {result['dataset']['users']:,} users")
    left.legend(fontsize=7)
    tp = result["throughput"]
    levels = list(tp)
    for name in (PRIMARY, POOL):
        right.plot(
            [int(c) for c in levels], [tp[c][name]["per_s"] for c in levels], "o-", label=name
        )
    right.set_xlabel("concurrent tasks")
    right.set_ylabel("checks per second")
    right.set_title("Throughput (median of rounds)")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--users", type=int, help="users to seed (default 1,000,000)")
    opts = p.parse_args(argv)
    sizes = dict(SIZES["smoke" if opts.smoke else "full"])
    if opts.users:
        sizes["users"] = opts.users
    with common.server(opts.database_url) as admin, common.scratch_database(admin, NAME) as url:
        result = common.run(measure(url, sizes))
        result["sizes"] = sizes
        result["event_loop"] = common.loop_name()
        common.publish(
            result, name=NAME, module="bench.rbac_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
