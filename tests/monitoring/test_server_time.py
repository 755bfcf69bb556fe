"""Server time per statement from pg_stat_statements snapshots (pure part)."""

from __future__ import annotations

from personal_assistant.monitoring.fingerprint import statement_key
from personal_assistant.monitoring.server_time import Counters, ServerTimes

SLEEP = statement_key("SELECT pg_sleep($1)").fingerprint


def counters(calls: int, total_ms: float) -> Counters:
    return Counters(calls, total_ms, min_ms=0.5, max_ms=300.0)


def test_server_text_and_sqlalchemy_text_share_a_fingerprint() -> None:
    assert statement_key("SELECT pg_sleep($1::FLOAT)").fingerprint == SLEEP
    assert statement_key("SELECT pg_sleep(0.3)").fingerprint == SLEEP


def test_the_first_snapshot_is_only_a_base() -> None:
    times = ServerTimes()
    times.learn({7: "SELECT pg_sleep($1)"})
    assert times.update({7: counters(10, 100.0)}, now=0.0, wanted={SLEEP}) is None


def test_deltas_are_summed_per_fingerprint_between_snapshots() -> None:
    times = ServerTimes()
    times.learn({7: "SELECT pg_sleep($1)", 8: "SELECT pg_sleep(0.1)", 9: "SELECT 1"})
    times.update({7: counters(10, 100.0), 8: counters(1, 1.0)}, now=0.0, wanted={SLEEP})
    deltas = times.update(
        {7: counters(12, 700.0), 8: counters(2, 301.0), 9: counters(5, 1.0)},
        now=10.0,
        wanted={SLEEP},
    )
    assert deltas is not None and set(deltas) == {SLEEP, statement_key("SELECT 1").fingerprint}
    assert (deltas[SLEEP].calls, deltas[SLEEP].total_ms) == (3, 900.0)
    assert deltas[SLEEP].mean_ms == 300.0


def test_a_reset_counter_counts_from_zero() -> None:
    times = ServerTimes()
    times.learn({7: "SELECT pg_sleep($1)"})
    times.update({7: counters(100, 1000.0)}, now=0.0, wanted={SLEEP})
    deltas = times.update({7: counters(2, 20.0)}, now=10.0, wanted={SLEEP})
    assert deltas is not None and deltas[SLEEP].calls == 2


def test_only_moved_unknown_entries_need_their_text() -> None:
    times = ServerTimes()
    times.update({1: counters(5, 1.0), 2: counters(5, 1.0)}, now=0.0, wanted=set())
    times.learn({1: "SELECT 1"})
    assert times.unknown_ids({1: counters(6, 1.0), 2: counters(5, 1.0), 3: counters(1, 1.0)}) == [3]


def test_another_roles_hidden_text_stays_unmatched() -> None:
    times = ServerTimes()
    times.learn({7: "<insufficient privilege>"})
    times.update({7: counters(1, 1.0)}, now=0.0, wanted={SLEEP})
    assert times.update({7: counters(5, 900.0)}, now=1.0, wanted={SLEEP}) == {}


def test_the_window_mean_covers_the_snapshots_within_it() -> None:
    times = ServerTimes(window_s=30.0)
    times.learn({7: "SELECT pg_sleep($1)"})
    times.update({7: counters(0, 0.0)}, now=0.0, wanted={SLEEP})
    times.update({7: counters(10, 10.0)}, now=10.0, wanted={SLEEP})  # 1 ms per call
    times.update({7: counters(20, 2010.0)}, now=40.0, wanted={SLEEP})  # 200 ms per call
    times.update({7: counters(30, 4010.0)}, now=50.0, wanted={SLEEP})
    window = times.window()[SLEEP]
    assert (window.calls, window.mean_ms) == (20, 200.0)


def test_a_statement_the_tracker_has_not_seen_yet_still_counts() -> None:
    times = ServerTimes()
    times.learn({7: "SELECT pg_sleep($1)"})
    times.update({7: counters(0, 0.0)}, now=0.0, wanted=set())
    times.update({7: counters(2, 600.0)}, now=5.0, wanted=set())  # its result not read yet
    times.update({7: counters(3, 900.0)}, now=10.0, wanted={SLEEP})
    assert times.window()[SLEEP].calls == 3


def test_the_window_starts_at_the_first_snapshot() -> None:
    times = ServerTimes()
    times.learn({7: "SELECT pg_sleep($1)"})
    times.update({7: counters(1, 1.0)}, now=0.0, wanted={SLEEP})
    times.update({7: counters(3, 601.0)}, now=10.0, wanted={SLEEP})
    assert times.window()[SLEEP].calls == 2


def test_after_a_failed_read_the_next_delta_spans_both_intervals() -> None:
    times = ServerTimes()
    times.learn({7: "SELECT pg_sleep($1)"})
    times.update({7: counters(1, 1.0)}, now=0.0, wanted={SLEEP})
    times.unavailable("pg_stat_statements unusable: timed out")
    assert times.status() == {
        "available": False,
        "reason": "pg_stat_statements unusable: timed out",
    }
    deltas = times.update({7: counters(9, 900.0)}, now=20.0, wanted={SLEEP})
    assert deltas is not None and deltas[SLEEP].calls == 8
    assert times.status()["available"]
