"""``GET /health/database/optimization``: the optimizer report as JSON.

Token-protected like the other detailed health endpoints (``HEALTH_TOKEN``): the
report names tables, indexes and statement texts. The analysis is read-only and
bounded by ``OPTIMIZER_STATEMENT_TIMEOUT_MS`` per query. A role without some
privilege still gets 200: the checks it cannot run are listed in ``unavailable``.
When the server goes away or cancels a statement mid-analysis the answer is 503 with
the reason (the optimizer's :class:`OptimizerDatabaseError`), never a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from personal_assistant.api.deps import EngineDep, HealthTokenDep, OptimizerSettingsDep
from personal_assistant.optimizer.database_optimizer import DatabaseOptimizer
from personal_assistant.optimizer.errors import OptimizerDatabaseError

router = APIRouter(tags=["health"], responses={401: {"description": "HEALTH_TOKEN required"}})


@router.get(
    "/health/database/optimization",
    dependencies=[HealthTokenDep],
    summary="Optimizer recommendations (indexes, statements, maintenance)",
    responses={503: {"description": "the database failed mid-analysis; the body says how"}},
    response_model=None,
)
async def database_optimization(
    engine: EngineDep, settings: OptimizerSettingsDep
) -> dict[str, Any] | JSONResponse:
    """Run the optimizer's analysis and return the report (see docs/performance-optimization.md)."""
    try:
        report = await DatabaseOptimizer(engine, settings).analyze()
    except OptimizerDatabaseError as exc:
        return JSONResponse(
            {"detail": str(exc), "step": exc.step, "retryable": exc.retryable},
            status_code=503,
            headers={"Retry-After": "30"} if exc.retryable else None,
        )
    return report.to_dict()
