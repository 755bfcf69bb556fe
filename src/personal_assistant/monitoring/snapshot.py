"""This worker's figures as one JSON-able snapshot (what Redis and the endpoints share)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

from personal_assistant.database.pool_stats import PoolStatsCollector
from personal_assistant.monitoring.tracker import QueryTracker


def new_worker_id() -> str:
    """Host, pid and a random suffix: a restarted worker never reuses a dead one's key."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def local_snapshot(
    worker_id: str, collector: PoolStatsCollector | None, tracker: QueryTracker | None
) -> dict[str, Any]:
    """What this worker publishes; ``pool`` is ``PoolStats.to_wire()`` (counts and sketches)."""
    return {
        "worker": worker_id,
        "pid": os.getpid(),
        "published_at": time.time(),
        "pool": collector.snapshot().to_wire() if collector is not None else None,
        "performance": tracker.wire() if tracker is not None else None,
    }
