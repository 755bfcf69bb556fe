"""The app under load: ``create_app()`` plus two routes doing real queries.

The service has no business endpoints yet, so these stand in for them: a permission
check (the hot path every request will take) and a ``pg_sleep`` that holds a pooled
connection for as long as asked. Both go through the session layer
(``get_db_session``), so pool checkout, pre-ping, connect retries and the 503 handlers
are all on the path. Served by uvicorn in a subprocess (``uvicorn --factory``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query
from sqlalchemy import text

from apps.fastapi_app.main import SessionDep, create_app
from personal_assistant.database.queries.rbac import user_has_permission

SLEEP = text("SELECT pg_sleep(:seconds)")


def create() -> FastAPI:
    """The app, configured from the environment like production."""
    app = create_app()

    @app.get("/load/permission")
    async def permission(
        session: SessionDep,
        user_id: Annotated[int, Query(ge=1)] = 1,
        name: Annotated[str, Query(max_length=100)] = "documents:read",
    ) -> dict[str, bool]:
        return {"allowed": await user_has_permission(session, user_id, name)}

    @app.get("/load/sleep")
    async def sleep(
        session: SessionDep, seconds: Annotated[float, Query(ge=0, le=30)] = 0.0
    ) -> dict[str, float]:
        await session.execute(SLEEP, {"seconds": seconds})
        return {"slept": seconds}

    return app
