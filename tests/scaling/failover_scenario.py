"""A primary failover under a steady mixed load, measured (used by the tests and ``bench/``).

The app's session layer runs against ``DATABASE_URL`` naming both nodes
(``127.0.0.1:P,127.0.0.1:R``, so ``target_session_attrs=read-write``) with the replica
as its read replica. Writers insert rows through ``session_scope()`` and keep the key
of every insert the database acknowledged, together with the port of the server that
took it; readers read through ``read_session()``. Then the primary is stopped
(``pg_ctl stop -m fast``, which hands its last WAL to the standby), the standby
promoted (``pg_ctl promote``), and the load goes on. :class:`FailoverRun` holds what
happened, with times relative to the promotion.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import text

from personal_assistant.config.database import DatabaseConfig
from personal_assistant.database import session as db
from personal_assistant.database.failover import tracker_for
from personal_assistant.database.pool_stats import PoolStats
from tests.fixtures.postgres import PostgresCluster
from tests.fixtures.replica import PrimaryWithReplica, promote

CREATE = "CREATE TABLE IF NOT EXISTS ledger (k text PRIMARY KEY, port int NOT NULL)"
INSERT = text("INSERT INTO ledger (k, port) VALUES (:k, inet_server_port()) RETURNING port")
READ = text("SELECT count(*) FROM ledger")


def failover_config(pair: PrimaryWithReplica, **overrides: object) -> DatabaseConfig:
    """Both nodes as the primary's hosts; the standby as the read replica."""
    settings: dict[str, object] = {
        "url": pair.both_hosts_url(),
        "replica_urls": pair.replica.url("app"),
        "pool_size": 5,
        "max_overflow": 5,
        "connect_timeout": 2.0,
        "replica_check_interval": 0.2,
        "max_replica_lag_ms": 5000,
        **overrides,
    }
    return DatabaseConfig(**settings)  # type: ignore[arg-type]


@dataclass
class Outcomes:
    """Every answer the load got, with monotonic times."""

    acked: dict[str, tuple[float, int]] = field(default_factory=dict)  # key -> (time, port)
    write_errors: list[tuple[float, str]] = field(default_factory=list)
    reads: list[tuple[float, bool]] = field(default_factory=list)  # (time, succeeded)
    read_errors: list[str] = field(default_factory=list)


class Load:
    """Writers and readers through the session layer, until :meth:`stop`."""

    def __init__(
        self, tag: str = "w", writers: int = 4, readers: int = 4, pause_s: float = 0.005
    ) -> None:
        self.outcomes = Outcomes()
        self._tag = tag
        self._stop = asyncio.Event()
        self._pause = pause_s
        self._tasks = [asyncio.create_task(self._write(n)) for n in range(writers)]
        self._tasks += [asyncio.create_task(self._read()) for _ in range(readers)]

    async def _write(self, writer: int) -> None:
        for seq in itertools.count():
            if self._stop.is_set():
                return
            key = f"{self._tag}{writer}-{seq}"
            try:
                async with db.session_scope() as session:
                    port = (await session.execute(INSERT, {"k": key})).scalar_one()
                self.outcomes.acked[key] = (time.monotonic(), int(port))
            except Exception as exc:  # every failure is an outcome to count, not a crash
                self.outcomes.write_errors.append((time.monotonic(), type(exc).__name__))
            await asyncio.sleep(self._pause)

    async def _read(self) -> None:
        while not self._stop.is_set():
            try:
                async with db.read_session() as session:
                    await session.execute(READ)
                self.outcomes.reads.append((time.monotonic(), True))
            except Exception as exc:  # as above
                self.outcomes.reads.append((time.monotonic(), False))
                self.outcomes.read_errors.append(type(exc).__name__)
            await asyncio.sleep(self._pause)

    async def stop(self) -> Outcomes:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.outcomes


def longest_pause(times: Iterable[float]) -> float:
    """The longest interval between consecutive ``times``."""
    ordered = sorted(times)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=float("inf"))


def longest_read_outage(reads: list[tuple[float, bool]]) -> float:
    """Longest time from a failed read to the next successful one (0: none failed)."""
    longest, failing_since = 0.0, None
    for at, ok in sorted(reads):
        if not ok and failing_since is None:
            failing_since = at
        elif ok and failing_since is not None:
            longest, failing_since = max(longest, at - failing_since), None
    if failing_since is not None:
        longest = float("inf")
    return longest


@dataclass
class FailoverRun:
    """What one failover looked like from the app (times in seconds)."""

    outcomes: Outcomes
    stopped_at: float
    promoted_at: float
    stats: PoolStats
    tracker: dict[str, object]

    @property
    def write_recovery_s(self) -> float:
        """Promotion to the first write acknowledged after it."""
        after = [at for at, _ in self.outcomes.acked.values() if at > self.promoted_at]
        return min(after) - self.promoted_at if after else float("inf")

    @property
    def write_outage_s(self) -> float:
        """The longest time between two acknowledged writes (the failover's, in practice)."""
        return longest_pause(at for at, _ in self.outcomes.acked.values())

    @property
    def read_outage_s(self) -> float:
        return longest_read_outage(self.outcomes.reads)

    def summary(self) -> dict[str, object]:
        return {
            "writes_acknowledged": len(self.outcomes.acked),
            "write_errors": len(self.outcomes.write_errors),
            "write_error_kinds": sorted({kind for _, kind in self.outcomes.write_errors}),
            "reads": len(self.outcomes.reads),
            "read_errors": len(self.outcomes.read_errors),
            "promotion_s": round(self.promoted_at - self.stopped_at, 3),
            "write_recovery_after_promotion_s": round(self.write_recovery_s, 3),
            "write_outage_s": round(self.write_outage_s, 3),
            "longest_read_outage_s": round(self.read_outage_s, 3),
        }


def stored_keys(node: PostgresCluster) -> set[str]:
    with psycopg.connect(node.url("app", driver="postgresql"), autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT k FROM ledger")}


async def run_failover(
    pair: PrimaryWithReplica,
    *,
    before_s: float = 1.0,
    gap_s: float = 1.0,
    after_s: float = 6.0,
    load: Load | None = None,
) -> FailoverRun:
    """Load, stop the primary, promote the standby ``gap_s`` later, load ``after_s`` more.

    The engine must be up (``db.init_engine(failover_config(pair))``) and ``ledger``
    created; the load is stopped before returning.
    """
    load = load or Load()
    await asyncio.sleep(before_s)
    stopped_at = time.monotonic()
    await asyncio.to_thread(pair.primary.stop, "fast")
    await asyncio.sleep(gap_s)
    await asyncio.to_thread(promote, pair.replica)
    promoted_at = time.monotonic()
    await asyncio.sleep(after_s)
    outcomes = await load.stop()
    tracker = tracker_for(db.get_engine())
    return FailoverRun(
        outcomes=outcomes,
        stopped_at=stopped_at,
        promoted_at=promoted_at,
        stats=db.get_pool_stats(),
        tracker=tracker.as_dict() if tracker else {},
    )
