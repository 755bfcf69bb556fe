"""``GET /health/database/optimization``: the optimizer report as JSON.

Token-protected like the other detailed health endpoints (``HEALTH_TOKEN``): the
report names tables, indexes and statement texts. The analysis is read-only and
bounded by ``OPTIMIZER_STATEMENT_TIMEOUT_MS`` per query.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from personal_assistant.api.deps import EngineDep, HealthTokenDep, OptimizerSettingsDep
from personal_assistant.optimizer.database_optimizer import DatabaseOptimizer

router = APIRouter(tags=["health"], responses={401: {"description": "HEALTH_TOKEN required"}})


@router.get(
    "/health/database/optimization",
    dependencies=[HealthTokenDep],
    summary="Optimizer recommendations (indexes, statements, maintenance)",
)
async def database_optimization(
    engine: EngineDep, settings: OptimizerSettingsDep
) -> dict[str, Any]:
    """Run the optimizer's analysis and return the report (see docs/performance-optimization.md)."""
    report = await DatabaseOptimizer(engine, settings).analyze()
    return report.to_dict()
