"""More concurrent requests than the pool holds: 503 after ``pool_timeout``, then at once fine."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.reliability.conftest import Serve
from tests.reliability.evidence import EVIDENCE

POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT_S = 2, 1, 1.0
CAPACITY = POOL_SIZE + MAX_OVERFLOW
HOLD_S = 2.5
SETTINGS = {
    "database_pool_size": str(POOL_SIZE),
    "database_max_overflow": str(MAX_OVERFLOW),
    "database_pool_timeout": str(POOL_TIMEOUT_S),
}


async def timed_get(
    client: httpx.AsyncClient, path: str, **params: float
) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = await client.get(path, params=params)
    EVIDENCE.add(f"body:{path}", response.text)
    return time.monotonic() - started, response


async def test_requests_beyond_capacity_get_503_after_pool_timeout_and_recovery_is_immediate(
    served: Serve, database_url: str
) -> None:
    app = served(database_url, **SETTINGS)
    async with httpx.AsyncClient(base_url=app.base_url, timeout=10) as client:
        burst = [timed_get(client, "/load/sleep", seconds=HOLD_S) for _ in range(2 * CAPACITY)]
        results = await asyncio.gather(*burst)
        after, response = await timed_get(client, "/load/sleep", seconds=0)
    print(f"\nMEASURED pool: {sorted(round(t, 3) for t, _ in results)}, next {after:.3f} s")
    served_ok = [(t, r) for t, r in results if r.status_code == 200]
    refused = [(t, r) for t, r in results if r.status_code == 503]
    assert len(served_ok) == CAPACITY and len(refused) == CAPACITY
    for elapsed, r in refused:
        assert r.headers["retry-after"] == "1"
        assert "pool exhausted" in r.json()["detail"]
        assert POOL_TIMEOUT_S - 0.05 <= elapsed < POOL_TIMEOUT_S + 0.5
    assert all(HOLD_S <= t < HOLD_S + 1.0 for t, _ in served_ok)
    # Load gone: the next request gets a connection at once.
    assert response.status_code == 200 and after < 0.3
    pool = await asyncio.to_thread(app.pool)
    assert pool["timeouts"] == CAPACITY
    assert pool["checked_out"] == 0
