"""Demo traffic: a few RBAC permission checks per second, so a fresh dashboard moves.

Started by the dashboard router's lifespan only when ``PA_DEMO_DATA=true`` (what
``make run`` sets on the embedded server). Each tick runs a small burst of permission
checks through the session layer (:func:`~personal_assistant.database.session.read_session`,
the same path a request takes), so the pool, the query tracker and the charts see
ordinary traffic. Database errors are logged and waited out: the load pauses while
the server is down and resumes when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from personal_assistant.database import session as db
from personal_assistant.database.errors import DatabaseError, wrap_db_errors
from personal_assistant.database.queries.rbac import list_user_permissions, user_has_permission
from personal_assistant.database.seed import permission_names
from personal_assistant.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

MAX_USER_ID = text("SELECT coalesce(max(id), 0) FROM users")
#: Pause after a failed tick (the server is down or restarting).
ERROR_PAUSE_S = 2.0
#: One check in this many lists every permission of the user instead of testing one.
LIST_EVERY = 5


async def _max_user_id() -> int:
    async with db.read_session() as session:
        return int(await session.scalar(MAX_USER_ID) or 0)


async def _check(rng: random.Random, users: int, permissions: list[str]) -> None:
    user_id = rng.randint(1, max(users, 1))
    async with db.read_session() as session:
        if rng.randrange(LIST_EVERY) == 0:
            await list_user_permissions(session, user_id)
        else:
            await user_has_permission(session, user_id, rng.choice(permissions))


async def run(settings: ServiceSettings, rng: random.Random | None = None) -> None:
    """Run until cancelled: bursts of 1..burst concurrent checks, ``rate`` per second."""
    rng = rng or random.Random()
    permissions = permission_names()
    mean_burst = (1 + settings.demo_traffic_burst) / 2
    users = 0
    while True:
        burst = rng.randint(1, settings.demo_traffic_burst)
        try:
            with wrap_db_errors("running demo permission checks"):
                users = users or await _max_user_id()
                await asyncio.gather(*(_check(rng, users, permissions) for _ in range(burst)))
        except DatabaseError as exc:
            logger.debug("demo traffic paused: %s", type(exc.original or exc).__name__)
            await asyncio.sleep(ERROR_PAUSE_S)
            continue
        # Jittered, so the figures do not beat in step with the dashboard's refresh.
        await asyncio.sleep(mean_burst / settings.demo_traffic_rate * rng.uniform(0.5, 1.5))


@asynccontextmanager
async def running(settings: ServiceSettings) -> AsyncIterator[asyncio.Task[None] | None]:
    """Run the demo traffic in the background while the block runs (if switched on)."""
    if not settings.demo_data:
        yield None
        return
    task = asyncio.create_task(run(settings), name="pa-demo-traffic")
    logger.info("demo traffic: about %g permission checks per second", settings.demo_traffic_rate)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
