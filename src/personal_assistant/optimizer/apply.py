"""Run the SQL of chosen recommendations: only the kinds in ``SAFE_KINDS``.

``CREATE INDEX CONCURRENTLY`` and ``VACUUM`` cannot run inside a transaction block,
so each statement runs on its own AUTOCOMMIT connection. A concurrent build that
fails leaves an INVALID index behind; the next report lists it as ``invalid_index``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from personal_assistant.optimizer.errors import ApplyError, UnsafeRecommendationError
from personal_assistant.optimizer.models import SAFE_KINDS, Recommendation


def check_safe(recommendations: Iterable[Recommendation]) -> list[Recommendation]:
    """The recommendations, if all are safe to apply and have SQL; raises otherwise."""
    chosen = list(recommendations)
    for rec in chosen:
        if rec.kind not in SAFE_KINDS or not rec.sql:
            raise UnsafeRecommendationError(rec.kind.value)
    return chosen


async def apply_recommendations(
    engine: AsyncEngine, recommendations: Iterable[Recommendation]
) -> list[Recommendation]:
    """Run each recommendation's SQL in order; stops at the first failure."""
    applied: list[Recommendation] = []
    for rec in check_safe(recommendations):
        assert rec.sql is not None  # check_safe refused the others
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                await auto.execute(text(rec.sql))
            except DBAPIError as exc:
                raise ApplyError(rec.sql, str(exc.orig)) from exc
        applied.append(rec)
    return applied
