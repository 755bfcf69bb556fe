"""``GET /health/database/optimization``: the optimizer report as JSON.

Token-protected like the other detailed health endpoints (``HEALTH_TOKEN``): the
report names tables, indexes and statement texts. The analysis is read-only and
bounded by ``OPTIMIZER_STATEMENT_TIMEOUT_MS`` per query.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.config.optimization import (
    DatabaseOptimizer,
    OptimizerSettings,
    get_optimizer_settings,
)
from personal_assistant.config.security import require_health_token
from personal_assistant.database.session import get_engine

router = APIRouter(tags=["health"], responses={401: {"description": "HEALTH_TOKEN required"}})


@router.get(
    "/health/database/optimization",
    dependencies=[Depends(require_health_token)],
    summary="Optimizer recommendations (indexes, statements, maintenance)",
)
async def database_optimization(
    engine: Annotated[AsyncEngine, Depends(get_engine)],
    settings: Annotated[OptimizerSettings, Depends(get_optimizer_settings)],
) -> dict[str, Any]:
    """Run the optimizer's analysis and return the report (see docs/performance-optimization.md)."""
    report = await DatabaseOptimizer(engine, settings).analyze()
    return report.to_dict()
