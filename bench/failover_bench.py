"""Benchmark 10: primary failover, from ``pg_ctl promote`` to writes succeeding again.

Each round starts a fresh primary and a ``pg_basebackup -R`` standby (Debian's server
binaries; they must stop and be promoted, so ``--database-url`` is not used), puts a
steady mixed load on them (4 writers, 4 readers, 5 ms apart), stops the primary with
``pg_ctl stop -m fast``, promotes the standby 1 s later and keeps the load going for
6 s. The project runs the app's session layer on ``DATABASE_URL`` naming both hosts
(``target_session_attrs=read-write``, default connect retries) with the standby as its
read replica (:mod:`tests.scaling.failover_scenario`, also what the tests run). The
reference is asyncpg's own pool with the same multi-host DSN (it has no retries: a
failed acquire is simply tried again 5 ms later). Rounds alternate.

Figures: promotion to the first acknowledged write (the recovery), the longest pause
between two acknowledged writes (the outage, which includes the 1 s before the
promotion), the writes that failed, and for the project the longest read outage and
whether any acknowledged write went missing.

    .venv/bin/python -m bench.failover_bench [--rounds 3] [--smoke]
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path
from typing import Any

from bench import common

NAME = "failover"
TITLE = "Primary failover"
TARGET_S = 5.0
PROJECT, REFERENCE = "session layer, multi-host URL", "asyncpg pool, same DSN"


async def _project_round(gap_s: float, after_s: float) -> dict[str, Any]:
    import psycopg

    from personal_assistant.database import session as db
    from tests.fixtures.replica import replicated_pair
    from tests.scaling.failover_scenario import (
        CREATE,
        failover_config,
        run_failover,
        stored_keys,
    )

    with replicated_pair() as pair:
        dsn = pair.primary.url("app", driver="postgresql")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(CREATE)
        await db.init_engine(failover_config(pair))
        try:
            run = await run_failover(pair, gap_s=gap_s, after_s=after_s)
        finally:
            await db.dispose_engine()
        missing = len(set(run.outcomes.acked) - stored_keys(pair.replica))
    return {**run.summary(), "missing_writes": missing, "tracker": run.tracker}


async def _reference_round(gap_s: float, after_s: float) -> dict[str, Any]:
    """The same load on ``asyncpg.create_pool`` (writes only), same stop and promote."""
    import asyncpg
    import psycopg

    from tests.fixtures.replica import promote, replicated_pair
    from tests.scaling.failover_scenario import CREATE, longest_pause

    # The reference's own pool logs every failed reconnect with a traceback: noise here.
    logging.getLogger("asyncpg").setLevel(logging.CRITICAL)

    insert = "INSERT INTO ledger (k, port) VALUES ($1, inet_server_port()) RETURNING port"
    with replicated_pair() as pair:
        with psycopg.connect(pair.primary.url("app", driver="postgresql"), autocommit=True) as c:
            c.execute(CREATE)
        hosts = f"127.0.0.1:{pair.primary.port},127.0.0.1:{pair.replica.port}"
        dsn = f"postgresql://postgres@{hosts}/app?target_session_attrs=read-write"
        pool = await asyncpg.create_pool(dsn, min_size=5, max_size=10, timeout=2.0)
        acked: list[float] = []
        errors = 0
        stop = asyncio.Event()

        async def writer(n: int) -> None:
            nonlocal errors
            for seq in itertools.count():
                if stop.is_set():
                    return
                try:
                    async with pool.acquire() as conn:
                        await conn.fetchval(insert, f"r{n}-{seq}")
                    acked.append(time.monotonic())
                except (
                    OSError,
                    TimeoutError,
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                    asyncpg.InternalClientError,  # no host matched read-write (yet)
                ):
                    errors += 1
                await asyncio.sleep(0.005)

        tasks = [asyncio.create_task(writer(n)) for n in range(4)]
        await asyncio.sleep(1.0)
        stopped_at = time.monotonic()
        await asyncio.to_thread(pair.primary.stop, "fast")
        await asyncio.sleep(gap_s)
        await asyncio.to_thread(promote, pair.replica)
        promoted_at = time.monotonic()
        await asyncio.sleep(after_s)
        stop.set()
        await asyncio.gather(*tasks)
        await pool.close()
    after = [t for t in acked if t > promoted_at]
    return {
        "writes_acknowledged": len(acked),
        "write_errors": errors,
        "promotion_s": round(promoted_at - stopped_at, 3),
        "write_recovery_after_promotion_s": round(min(after) - promoted_at, 3) if after else None,
        "write_outage_s": round(longest_pause(acked), 3),
    }


def measure(rounds: int, gap_s: float, after_s: float) -> dict[str, Any]:
    async def one(name: str, r: int) -> dict[str, Any]:
        if name == PROJECT:
            return await _project_round(gap_s, after_s)
        return await _reference_round(gap_s, after_s)

    runs = asyncio.run(common.ainterleave(rounds, [PROJECT, REFERENCE], one))

    def med(name: str, key: str) -> float:
        values = [r[key] for r in runs[name] if r[key] is not None]
        return round(common.median(values), 3) if values else float("inf")

    keys = ("write_recovery_after_promotion_s", "write_outage_s", "write_errors")
    return {
        "rounds": runs,
        "median_s": {name: {k: med(name, k) for k in keys} for name in (PROJECT, REFERENCE)},
        "project_worst": {
            "write_recovery_after_promotion_s": max(
                r["write_recovery_after_promotion_s"] for r in runs[PROJECT]
            ),
            "longest_read_outage_s": max(r["longest_read_outage_s"] for r in runs[PROJECT]),
            "missing_writes": sum(r["missing_writes"] for r in runs[PROJECT]),
        },
        "gap_s": gap_s,
        "after_s": after_s,
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    p, r = result["median_s"][PROJECT], result["median_s"][REFERENCE]
    worst = result["project_worst"]
    recovery = p["write_recovery_after_promotion_s"]
    return [
        common.row(
            TITLE, "promotion to first write (median)", recovery,
            r["write_recovery_after_promotion_s"], "s", reference_name=REFERENCE,
            target=f"< {TARGET_S:g} s", met=recovery < TARGET_S,
            note=common.missed_by(recovery, TARGET_S),
        ),
        common.row(
            TITLE, "promotion to first write (worst round)",
            worst["write_recovery_after_promotion_s"], None, "s",
            target=f"< {TARGET_S:g} s",
            met=worst["write_recovery_after_promotion_s"] < TARGET_S,
        ),
        common.row(
            TITLE, f"write outage, longest pause ({result['gap_s']:g} s stop to promotion)",
            p["write_outage_s"], r["write_outage_s"], "s", reference_name=REFERENCE,
        ),
        common.row(
            TITLE, "writes failed per failover (median)", p["write_errors"],
            r["write_errors"], "writes", reference_name=REFERENCE,
            note="the project's wait in its connect retries instead of failing",
        ),
        common.row(
            TITLE, "longest read outage (worst round)", worst["longest_read_outage_s"], None,
            "s", target=f"< {TARGET_S:g} s", met=worst["longest_read_outage_s"] < TARGET_S,
        ),
        common.row(
            TITLE, "acknowledged writes missing afterwards", worst["missing_writes"], None,
            "writes", target="0", met=worst["missing_writes"] == 0,
        ),
    ]  # fmt: skip


def plot(result: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    names = [PROJECT, REFERENCE]
    key = "write_recovery_after_promotion_s"
    values = [result["median_s"][n][key] for n in names]
    bars = ax.bar(names, values, color=["#fc8d62", "#8da0cb"])
    ax.bar_label(bars, labels=[f"{v:.2f} s" for v in values])
    for i, name in enumerate(names):
        points = [r[key] for r in result["rounds"][name] if r[key] is not None]
        ax.plot([i] * len(points), points, "k.")
    ax.axhline(TARGET_S, color="red", linestyle="--", label=f"target {TARGET_S:g} s")
    ax.set_ylabel("seconds, promotion to first write (median)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    opts = p.parse_args(argv)
    rounds, after_s = (1, 2.5) if opts.smoke else (opts.rounds, 6.0)
    result = measure(rounds, gap_s=1.0, after_s=after_s)
    result["rounds_each"] = rounds
    with common.server(None) as admin:  # for the server facts in the results file
        common.publish(
            result, name=NAME, module="bench.failover_bench", argv=argv, out=opts.out,
            smoke=opts.smoke, admin_url=admin, rows=rows, plot=plot,
        )  # fmt: skip
    return result


if __name__ == "__main__":
    main()
