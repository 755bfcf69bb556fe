"""A lock pile-up ends in quick 503s, not in hung request workers.

``LOCK TABLE users IN ACCESS EXCLUSIVE MODE`` held by another session (a migration
gone wrong, an operator's transaction left open): every permission check queues
behind it. With the default ``DATABASE_LOCK_TIMEOUT`` the queued statements give up
and the requests answer 503 with ``Retry-After`` within about that timeout, while
the lock is still held; after it is released the same requests answer 200.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg

from tests.reliability.conftest import Serve


async def test_requests_behind_a_held_lock_answer_503_quickly(
    served: Serve, app_database: str
) -> None:
    app = served(
        app_database, pa_auto_migrate="true", pa_demo_data="true", database_lock_timeout="800"
    )
    dsn = app_database.replace("postgresql+asyncpg://", "postgresql://")
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as client:
        assert (await client.get("/load/permission?user_id=1")).status_code == 200
        with psycopg.connect(dsn) as locker:
            locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            answers = await asyncio.gather(
                *(client.get(f"/load/permission?user_id={n}") for n in range(1, 17))
            )
            elapsed = time.monotonic() - started
            locker.rollback()
        assert {a.status_code for a in answers} == {503}
        assert all(a.headers.get("Retry-After") for a in answers)
        assert elapsed < 10, f"16 requests took {elapsed:.1f} s behind the lock"
        assert (await client.get("/load/permission?user_id=1")).status_code == 200
