"""One order for every recommendation, by a rule stated in the report (pure).

Index suggestions are measured in one unit, estimated execution time saved per day
(ms/day); other kinds have no such figure (a dead-row count and a sequence's
remaining range do not compare with milliseconds), so they are ordered by a fixed
rule instead. :data:`RULE` is that rule in words; the report and JSON carry it.
"""

from __future__ import annotations

from collections.abc import Iterable

from personal_assistant.optimizer.models import Kind, Recommendation, Severity

#: Kinds without a ms/day figure, risks of failure or wrong plans first.
KIND_ORDER = (
    Kind.SEQUENCE_EXHAUSTION,
    Kind.INVALID_INDEX,
    Kind.VACUUM_NEEDED,
    Kind.STALE_STATISTICS,
    Kind.ANALYZE_NEEDED,
    Kind.MISSING_FK_INDEX,
    Kind.MISSING_PRIMARY_KEY,
    Kind.SLOW_QUERY,
    Kind.TABLE_BLOAT,
    Kind.LOW_CACHE_HIT_RATIO,
    Kind.DUPLICATE_INDEX,
    Kind.REDUNDANT_INDEX,
    Kind.UNUSED_INDEX,
    Kind.MISSING_INDEX,
)

RULE = (
    "critical risks first (sequences about to run out, tables more than half dead rows); "
    "then index suggestions by estimated execution time saved per day (ms/day: calls x "
    "mean time x the HypoPG-proven share of cost removed, per day of recorded "
    "statistics); then the other kinds, warnings before info, in the order "
    + ", ".join(k.value for k in KIND_ORDER[:-1])
    + ", each by its own evidence (rows, bytes or time, given in its reason)"
)

_SEVERITY = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def rank(recommendations: Iterable[Recommendation]) -> list[Recommendation]:
    """``recommendations`` in the order :data:`RULE` states."""
    return sorted(recommendations, key=_key)


def _key(rec: Recommendation) -> tuple[int, int, float, str]:
    if rec.saved_ms_per_day is not None and rec.severity != Severity.CRITICAL:
        return (1, 0, -rec.saved_ms_per_day, rec.index or "")
    tier = 0 if rec.severity == Severity.CRITICAL else 1 + _SEVERITY[rec.severity]
    return (tier, KIND_ORDER.index(rec.kind), -rec.score, f"{rec.schema}.{rec.table}")
