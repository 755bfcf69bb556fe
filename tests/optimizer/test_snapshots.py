"""Window deltas between pg_stat_statements snapshots (pure)."""

from __future__ import annotations

from personal_assistant.optimizer.snapshots import deltas
from personal_assistant.optimizer.statements import StatementStat


def stat(qid: int, calls: int, total: float) -> StatementStat:
    return StatementStat(qid, f"q{qid}", calls, total, total / calls if calls else 0)


def test_deltas_subtract_the_baseline_and_drop_idle_statements() -> None:
    out = deltas([stat(1, 10, 100.0), stat(2, 5, 50.0)], {1: stat(1, 4, 40.0), 2: stat(2, 5, 50.0)})
    assert [(s.queryid, s.calls, s.total_time_ms, s.mean_time_ms) for s in out] == [
        (1, 6, 60.0, 10.0)
    ]


def test_a_counter_that_went_down_was_reset_so_the_current_totals_count() -> None:
    out = deltas([stat(1, 3, 30.0)], {1: stat(1, 50, 500.0)})
    assert (out[0].calls, out[0].total_time_ms) == (3, 30.0)
