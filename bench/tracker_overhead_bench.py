"""Benchmark 4: what the query performance tracker adds to each statement.

One engine (``init_engine``, default settings); the tracker is switched on with the
app's own hook (``QueryTracker.from_settings(...).attach``) and off with its ``detach``
between rounds, so "on" and "off" share the pool, the connections and the server.
Two loops: the permission check through ``session_scope()`` (the app's hot path) and
the cheapest statement the layer can run (``SELECT 1`` on ``engine.connect()``),
where a fixed cost shows most. Each round records the median latency and the CPU
time per call; rounds alternate on/off, many and short, so each "on" round has an
"off" neighbour that ran under the same load. The added latency is the median of
those pairs' ratios. The tracker's own cost is also timed alone (its two event
handlers, called directly), which noise cannot blur.

    .venv/bin/python -m bench.tracker_overhead_bench [--smoke]
"""

from __future__ import annotations

import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import common
from bench.rbac_bench import build_dataset, workload

NAME = "tracker_overhead"
TITLE = "Tracker overhead"
TARGET_ADDED = 0.05
ON, OFF = "tracking on", "tracking off"

Call = Callable[[int, str], Awaitable[Any]]


def loops() -> dict[str, Call]:
    from sqlalchemy import text

    from personal_assistant.database import session as db
    from personal_assistant.database.queries.rbac import user_has_permission

    select_one = text("SELECT 1")

    async def check(user_id: int, name: str) -> bool:
        async with db.session_scope() as session:
            return await user_has_permission(session, user_id, name)

    async def ping(user_id: int, name: str) -> Any:
        async with db.get_engine().connect() as conn:
            return await conn.scalar(select_one)

    return {"permission check (session_scope)": check, "SELECT 1 (engine.connect)": ping}


#: The tracker made as the app makes it, and whether it is attached now.
_STATE: dict[str, Any] = {}


def switch(on: bool) -> None:
    """Attach (the app's hook the first time) or detach the tracker."""
    from personal_assistant.database import session as db
    from personal_assistant.monitoring.settings import get_monitoring_settings
    from personal_assistant.monitoring.tracker import QueryTracker

    engine = db.get_engine()
    if _STATE.get("engine") is not engine:
        tracker = QueryTracker.from_settings(
            get_monitoring_settings(), slow_query_ms=db.get_config().slow_query_ms
        )
        tracker.attach(engine)
        _STATE.update(engine=engine, tracker=tracker, on=True)
    if on != _STATE["on"]:
        tracker = _STATE["tracker"]
        (tracker.attach if on else tracker.detach)(engine)
        _STATE["on"] = on


async def one_round(call: Call, pairs: list[tuple[int, str]]) -> dict[str, float]:
    times = []
    cpu0 = time.process_time()
    for user_id, name in pairs:
        start = time.perf_counter()
        await call(user_id, name)
        times.append(time.perf_counter() - start)
    cpu_us = (time.process_time() - cpu0) / len(pairs) * 1e6
    figures = common.percentiles(times)
    return {"p50": figures["p50"], "mean": figures["mean"], "cpu_us_per_call": round(cpu_us, 2)}


def handler_cost_us(n: int) -> float:
    """Microseconds the tracker's before/after handlers take per statement, alone."""
    from personal_assistant.monitoring.tracker import QueryTracker

    tracker = QueryTracker()
    sql = "SELECT EXISTS (SELECT 1 FROM user_roles WHERE user_id = $1::BIGINT) AS anon_1"

    class Ctx:
        pass

    ctx = Ctx()

    def both() -> None:
        tracker._before(None, None, sql, (), ctx, False)
        tracker._after(None, None, sql, (), ctx, False)

    return round(min(timeit.repeat(both, number=n, repeat=5)) / n * 1e6, 3)


async def measure(url: str, rounds: int, per_round: int, users: int) -> dict[str, Any]:
    from personal_assistant.config.database import load_database_config
    from personal_assistant.database import session as db

    dataset = await build_dataset(url, users)
    names = dataset.pop("permission_names")
    pairs = workload(dataset["users"], names, per_round * rounds)
    await db.init_engine(load_database_config(url=common.with_driver(url, "postgresql")))
    results: dict[str, Any] = {}
    try:
        for label, call in loops().items():
            await one_round(call, pairs[:per_round])  # warm-up: pool, plans, caches

            async def run(state: str, r: int, call: Call = call) -> dict[str, float]:
                switch(state == ON)
                return await one_round(call, pairs[r * per_round : (r + 1) * per_round])

            runs = await common.ainterleave(rounds, [ON, OFF], run)
            medians = {
                s: {k: round(common.median([x[k] for x in xs]), 4) for k in xs[0]}
                for s, xs in runs.items()
            }
            paired = [
                common.ratio(a["p50"], b["p50"]) - 1
                for a, b in zip(runs[ON], runs[OFF], strict=True)
            ]
            paired_cpu = [
                common.ratio(a["cpu_us_per_call"], b["cpu_us_per_call"]) - 1
                for a, b in zip(runs[ON], runs[OFF], strict=True)
            ]
            results[label] = {
                "rounds": runs,
                "median": medians,
                "added_p50": round(common.median(paired), 4),
                "added_cpu": round(common.median(paired_cpu), 4),
                "added_p50_by_round": [round(x, 4) for x in paired],
            }
    finally:
        await db.dispose_engine()
    return {"dataset": dataset, "loops": results, "handler_cost_us": handler_cost_us(20_000)}


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for label, r in result["loops"].items():
        on, off = r["median"][ON], r["median"][OFF]
        added = r["added_p50"]
        out.append(
            common.row(
                TITLE, f"p50, {label}", on["p50"], off["p50"], "ms", reference_name=OFF,
                target=f"< {TARGET_ADDED:.0%} added", met=added < TARGET_ADDED,
                note=f"added {added:+.1%}",
            )
        )  # fmt: skip
        out.append(
            common.row(
                TITLE, f"CPU per call, {label}", on["cpu_us_per_call"], off["cpu_us_per_call"],
                "µs", reference_name=OFF, note=f"added {r['added_cpu']:+.1%}",
            )
        )  # fmt: skip
    cost = result["handler_cost_us"]
    out.append(common.row(TITLE, "tracker handlers alone, per statement", cost, None, "µs"))
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    loops_ = result["loops"]
    fig, axes = plt.subplots(1, len(loops_), figsize=(11, 4))
    for ax, (label, r) in zip(axes, loops_.items(), strict=True):
        for i, state in enumerate((ON, OFF)):
            values = [x["p50"] for x in r["rounds"][state]]
            ax.plot(range(1, len(values) + 1), values, "o-", label=state, color=f"C{i}")
        ax.set_xlabel("round")
        ax.set_ylabel("p50 ms")
        ax.set_title(f"{label}\nadded p50 {r['added_p50']:+.1%} (target < 5%)", fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"tracker handlers alone: {result['handler_cost_us']} µs per statement", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=40, help="rounds per state")
    p.add_argument("--per-round", type=int, default=400, help="calls per round")
    opts = p.parse_args(argv)
    rounds, per_round, users = (2, 40, 500) if opts.smoke else (opts.rounds, opts.per_round, 10_000)
    with common.server(opts.database_url) as admin, common.scratch_database(admin, NAME) as url:
        result = common.run(measure(url, rounds, per_round, users))
        result.update(rounds_each=rounds, calls_per_round=per_round, event_loop=common.loop_name())
        common.publish(
            result, name=NAME, module="bench.tracker_overhead_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
