"""Benchmark 3: pool efficiency at twice ``pool_size`` concurrency.

``2 x pool_size`` tasks each loop "check out, run the permission check, return" for
the round's duration. The project side is the engine ``init_engine`` builds (default
``pool_size`` 20 and ``max_overflow`` 30, then a saturated variant with no overflow);
its figures are the pool's own (``get_pool_stats()``): reuse ratio, checkout wait
p95 and connections created. The reference is asyncpg's pool with the same capacity
(``min_size=pool_size``, ``max_size=pool_size + max_overflow``), used as documented
(``async with pool.acquire()`` + ``fetchval``); its connections are counted by the
pool's ``init`` callback and its waits timed around ``acquire()``. Each round starts
from a fresh pool, so "connections created" includes filling it (and the one
connection ``init_engine`` opens to verify the URL).

    .venv/bin/python -m bench.pool_efficiency_bench [--duration 30] [--smoke]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench import common
from bench.rbac_bench import build_dataset, captured_sql, workload

NAME = "pool_efficiency"
TITLE = "Pool efficiency"
TARGET_REUSE = 0.99
PROJECT, REFERENCE = "project pool", "asyncpg pool"
USERS = 10_000

Check = Callable[[int, str], Awaitable[bool]]


async def loop_for(check: Check, pairs: list[tuple[int, str]], tasks: int, seconds: float) -> int:
    """Run ``tasks`` callers until the deadline; returns the calls made."""
    deadline = time.perf_counter() + seconds
    done = [0] * tasks

    async def worker(k: int) -> None:
        i = k
        while time.perf_counter() < deadline:
            user_id, name = pairs[i % len(pairs)]
            await check(user_id, name)
            done[k] += 1
            i += tasks

    await asyncio.gather(*(worker(k) for k in range(tasks)))
    return sum(done)


async def project_round(
    url: str, pool_size: int, overflow: int, pairs: list[tuple[int, str]], seconds: float
) -> dict[str, float]:
    from personal_assistant.config.database import load_database_config
    from personal_assistant.database import session as db
    from personal_assistant.database.queries.rbac import user_has_permission
    from personal_assistant.monitoring.settings import get_monitoring_settings
    from personal_assistant.monitoring.tracker import QueryTracker

    config = load_database_config(
        url=common.with_driver(url, "postgresql"), pool_size=pool_size, max_overflow=overflow
    )
    tracker = QueryTracker.from_settings(
        get_monitoring_settings(), slow_query_ms=config.slow_query_ms
    )
    await db.init_engine(config, hooks=(tracker.attach,))

    async def check(user_id: int, name: str) -> bool:
        async with db.session_scope() as session:
            return await user_has_permission(session, user_id, name)

    try:
        started = time.perf_counter()
        calls = await loop_for(check, pairs, 2 * pool_size, seconds)
        elapsed = time.perf_counter() - started
        stats = db.get_pool_stats()
    finally:
        await db.dispose_engine()
    return {
        "reuse_ratio": stats.reuse_ratio,
        "wait_p95_ms": float(stats.checkout_wait_ms["p95"]),
        "connections_created": float(stats.connections_created),
        "connections_closed": float(stats.connections_closed),
        "checkouts": float(stats.total_checkouts),
        "waited_checkouts": float(stats.waited_checkouts),
        "timeouts": float(stats.timeouts),
        "per_s": round(calls / elapsed, 1),
    }


async def reference_round(
    url: str, pool_size: int, overflow: int, pairs: list[tuple[int, str]], seconds: float
) -> dict[str, float]:
    sql, positions = SQL["text"], SQL["positions"]
    created = 0
    waits: list[float] = []

    async def count(conn: asyncpg.Connection) -> None:
        nonlocal created
        created += 1

    pool = await asyncpg.create_pool(
        common.libpq_url(url), min_size=pool_size, max_size=pool_size + overflow, init=count
    )

    async def check(user_id: int, name: str) -> bool:
        args: list[Any] = [None, None]
        args[positions[0]], args[positions[1]] = user_id, name
        start = time.perf_counter()
        async with pool.acquire() as conn:
            waits.append(time.perf_counter() - start)
            return bool(await conn.fetchval(sql, *args))

    try:
        started = time.perf_counter()
        calls = await loop_for(check, pairs, 2 * pool_size, seconds)
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return {
        "reuse_ratio": round(1 - created / max(len(waits), 1), 4),
        "wait_p95_ms": common.percentiles(waits)["p95"],
        "connections_created": float(created),
        "checkouts": float(len(waits)),
        "timeouts": 0.0,
        "per_s": round(calls / elapsed, 1),
    }


#: The SQL text the project sends, captured once (see ``rbac_bench.captured_sql``).
SQL: dict[str, Any] = {}


async def capture(url: str) -> None:
    from personal_assistant.config.database import load_database_config
    from personal_assistant.database import session as db

    await db.init_engine(load_database_config(url=common.with_driver(url, "postgresql")))
    try:
        SQL["text"], SQL["positions"] = await captured_sql()
    finally:
        await db.dispose_engine()


async def measure(url: str, variants: list[dict[str, Any]], smoke: bool) -> dict[str, Any]:
    dataset = await build_dataset(url, 500 if smoke else USERS)
    names = dataset.pop("permission_names")
    pairs = workload(dataset["users"], names, 5000)
    await capture(url)
    out: dict[str, Any] = {"dataset": dataset, "configs": []}
    for v in variants:

        async def one(side: str, r: int, v: dict[str, Any] = v) -> dict[str, float]:
            fn = project_round if side == PROJECT else reference_round
            return await fn(url, v["pool_size"], v["max_overflow"], pairs, v["seconds"])

        runs = await common.ainterleave(v["rounds"], [PROJECT, REFERENCE], one)
        medians = {
            side: {k: round(common.median([x[k] for x in xs]), 4) for k in xs[0]}
            for side, xs in runs.items()
        }
        out["configs"].append(
            {**v, "tasks": 2 * v["pool_size"], "rounds_data": runs, "median": medians}
        )
    return out


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for c in result["configs"]:
        label = f"pool {c['pool_size']}+{c['max_overflow']}, {c['tasks']} tasks"
        p, r = c["median"][PROJECT], c["median"][REFERENCE]
        out += [
            common.row(
                TITLE, f"reuse ratio ({label})", p["reuse_ratio"], r["reuse_ratio"], "",
                reference_name=REFERENCE, target=f"> {TARGET_REUSE:g}",
                met=p["reuse_ratio"] > TARGET_REUSE,
                note=common.missed_by(p["reuse_ratio"], TARGET_REUSE, higher_is_better=True),
            ),
            common.row(
                TITLE, f"checkout wait p95 ({label})", p["wait_p95_ms"], r["wait_p95_ms"], "ms",
                reference_name=REFERENCE,
            ),
            common.row(
                TITLE, f"connections created ({label})", p["connections_created"],
                r["connections_created"], "", reference_name=REFERENCE,
            ),
            common.row(
                TITLE, f"checkouts/s ({label})", p["per_s"], r["per_s"], "/s",
                reference_name=REFERENCE, note="whole session layer vs asyncpg: see RBAC",
            ),
        ]  # fmt: skip
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    metrics = (
        ("reuse_ratio", "reuse ratio"),
        ("wait_p95_ms", "checkout wait p95 (ms)"),
        ("connections_created", "connections created"),
        ("per_s", "checkouts/s"),
    )
    fig, axes = plt.subplots(1, len(metrics), figsize=(15, 4))
    configs = result["configs"]
    labels = [f"{c['pool_size']}+{c['max_overflow']}\n{c['tasks']} tasks" for c in configs]
    for ax, (key, title) in zip(axes, metrics, strict=True):
        for i, side in enumerate((PROJECT, REFERENCE)):
            xs = [j + i * 0.4 for j in range(len(configs))]
            ax.bar(xs, [c["median"][side][key] for c in configs], 0.4, label=side)
        ax.set_xticks([j + 0.2 for j in range(len(configs))], labels, fontsize=8)
        ax.set_title(title, fontsize=9)
        if key == "reuse_ratio":
            ax.axhline(TARGET_REUSE, color="red", linestyle="--", label=f"target {TARGET_REUSE}")
            ax.set_ylim(min(0.9, *(c["median"][PROJECT][key] for c in configs)), 1.001)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=30.0, help="seconds per side, default config")
    opts = p.parse_args(argv)
    if opts.smoke:
        variants = [
            {"pool_size": 4, "max_overflow": 6, "seconds": 0.3, "rounds": 2},
            {"pool_size": 4, "max_overflow": 0, "seconds": 0.2, "rounds": 2},
        ]
    else:
        variants = [
            {"pool_size": 20, "max_overflow": 30, "seconds": opts.duration / 3, "rounds": 3},
            {"pool_size": 20, "max_overflow": 0, "seconds": opts.duration / 6, "rounds": 2},
        ]
    with common.server(opts.database_url) as admin, common.scratch_database(admin, NAME) as url:
        result = common.run(measure(url, variants, opts.smoke))
        result["event_loop"] = common.loop_name()
        common.publish(
            result, name=NAME, module="bench.pool_efficiency_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
