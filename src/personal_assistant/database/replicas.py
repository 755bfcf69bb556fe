"""Read replicas: health, lag and round-robin routing with fallback to the primary.

Each replica (``DATABASE_REPLICA_URLS``) gets its own engine and pool statistics. A
background task checks every replica every ``DATABASE_REPLICA_CHECK_INTERVAL`` seconds
and measures its replication lag; reads go round-robin to the replicas that answered
and lag at most ``DATABASE_MAX_REPLICA_LAG_MS``, and to the primary when none does.
A replica that fails when a read session opens is marked down at once and the read
moves on, so a replica going away costs no failed request.

A replica found *not* in recovery has been promoted (a failover made it the primary):
it leaves the replica set until it is a standby again. The check closes the connection
that found it so, one per check, so an entry naming several hosts
(``target_session_attrs=prefer-standby``) soon picks a standby afresh. Writes never go
through these engines in any case.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.database.errors import DatabaseError, wrap_db_errors
from personal_assistant.database.pool_stats import PoolStatsCollector

logger = logging.getLogger(__name__)

#: Lag in ms: 0 when the replica has replayed all it received (an idle primary
#: writes nothing, so "time since last replayed transaction" would grow forever);
#: NULL (unknown, so not used for reads) when it is behind but has replayed nothing yet.
LAG_QUERY = text(
    """
    SELECT pg_is_in_recovery() AS in_recovery,
           CASE
             WHEN NOT pg_is_in_recovery() THEN 0
             WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
             ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000
           END AS lag_ms
    """
)


@dataclass
class Replica:
    """One replica: its engine, pool statistics and last known state."""

    name: str  # masked URL
    engine: AsyncEngine
    stats: PoolStatsCollector
    read_engine: AsyncEngine | None = None  # the same pool in autocommit mode
    healthy: bool = False
    lag_ms: float | None = None
    in_recovery: bool | None = None
    error: str | None = None
    checked_at: float = field(default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "healthy": self.healthy,
            "lag_ms": None if self.lag_ms is None else round(self.lag_ms, 1),
            "in_recovery": self.in_recovery,
            "error": self.error,
            "checked_seconds_ago": round(time.monotonic() - self.checked_at, 1)
            if self.checked_at
            else None,
            "pool": self.stats.snapshot().as_dict(),
        }


class ReplicaRouter:
    """Chooses the replica for each read; keeps replica states fresh."""

    def __init__(
        self,
        replicas: list[Replica],
        *,
        max_lag_ms: float,
        check_interval: float,
        check_timeout: float = 2.0,
    ) -> None:
        self.replicas = replicas
        self.max_lag_ms = max_lag_ms
        self.check_interval = check_interval
        self.check_timeout = check_timeout
        self._counter = itertools.count()
        self._task: asyncio.Task[None] | None = None

    def usable(self) -> list[Replica]:
        """Replicas that may serve reads now: up, standbys, lagging little enough."""
        return [
            r
            for r in self.replicas
            if r.healthy and r.in_recovery and r.lag_ms is not None and r.lag_ms <= self.max_lag_ms
        ]

    def candidates(self) -> list[Replica]:
        """Usable replicas in round-robin order (rotated by one for each read)."""
        usable = self.usable()
        if not usable:
            return []
        start = next(self._counter) % len(usable)
        return usable[start:] + usable[:start]

    def mark_down(self, replica: Replica, exc: Exception) -> None:
        """Take ``replica`` out of rotation; ``exc`` is the driver's error (shown as is)."""
        if replica.healthy:
            logger.warning("replica %s marked down: %s", replica.name, type(exc).__name__)
        replica.healthy = False
        replica.error = f"{type(exc).__name__}: {exc}"[:300]
        replica.checked_at = time.monotonic()

    async def check(self, replica: Replica) -> None:
        """Measure one replica's reachability and lag, bounded by ``check_timeout``."""
        try:
            with wrap_db_errors("checking a replica"):
                async with asyncio.timeout(self.check_timeout):
                    async with replica.engine.connect() as conn:
                        row = (await conn.execute(LAG_QUERY)).one()
                        if not row.in_recovery:
                            # It leads to a primary: closed, not pooled, so that an entry
                            # naming several hosts picks a standby for the next one.
                            await conn.invalidate()
        except DatabaseError as exc:
            self.mark_down(replica, exc.original or exc)
            return
        was_standby = replica.in_recovery
        replica.in_recovery = bool(row.in_recovery)
        replica.lag_ms = None if row.lag_ms is None else float(row.lag_ms)
        replica.checked_at = time.monotonic()
        if not replica.in_recovery:
            self._promoted(replica, was_standby)
            return
        if not replica.healthy:
            logger.info("replica %s is up (lag %s ms)", replica.name, replica.lag_ms)
        replica.healthy = True
        replica.error = None

    def _promoted(self, replica: Replica, was_standby: bool | None) -> None:
        """``replica`` answers as a primary: out of the set until it is a standby again."""
        if was_standby is not False:
            logger.warning(
                "replica %s is not in recovery (promoted?): no reads go there", replica.name
            )
        replica.healthy = True
        replica.error = "not in recovery: promoted to primary, so no longer a replica"

    async def check_all(self) -> None:
        await asyncio.gather(*(self.check(r) for r in self.replicas))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            await self.check_all()

    async def start(self) -> None:
        """Check every replica once, then keep checking in the background."""
        await self.check_all()
        self._task = asyncio.create_task(self._run(), name="replica-health")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.gather(*(r.engine.dispose() for r in self.replicas))

    def states(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.replicas]
