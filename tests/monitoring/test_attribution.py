"""Which side a slow statement's time went to (pure rules)."""

from __future__ import annotations

from typing import Any

from personal_assistant.monitoring.attribution import (
    CLIENT,
    DATABASE,
    SlowSample,
    attribute,
    unjudged,
)
from personal_assistant.monitoring.server_time import ServerDelta

SLOW_MS = 100.0


def sample(client_ms: float, fp: str = "f1", at: float = 10.0) -> SlowSample:
    return SlowSample(fp, "SELECT $1", client_ms, at - client_ms / 1000, at, "t", None)


def blocked_all(start: float, end: float) -> float:
    """An event loop seen blocked for the whole flight."""
    return (end - start) * 1000


def causes(
    samples: list[SlowSample], server: dict[str, ServerDelta] | None, **kw: Any
) -> list[str]:
    return [v.cause for v in attribute(samples, server, slow_query_ms=SLOW_MS, **kw).verdicts]


def test_fast_on_the_server_slow_on_the_client_is_not_a_slow_query() -> None:
    server = {"f1": ServerDelta(calls=12, total_ms=1.3, min_ms=0.08, max_ms=0.4)}
    judged = attribute([sample(220.0), sample(180.0)], server, slow_query_ms=SLOW_MS)
    assert [v.cause for v in judged.verdicts] == [CLIENT, CLIENT]
    assert judged.verdicts[0].server_ms == round(1.3 / 12, 3)
    assert "the database answered in" in judged.verdicts[0].reason


def test_slow_on_the_server_is_a_slow_query_with_its_server_time() -> None:
    server = {"f1": ServerDelta(calls=2, total_ms=601.0, min_ms=300.2, max_ms=300.8)}
    judged = attribute([sample(302.0), sample(301.0)], server, slow_query_ms=SLOW_MS)
    assert [v.cause for v in judged.verdicts] == [DATABASE, DATABASE]
    assert all(300.0 <= (v.server_ms or 0) <= 301.0 for v in judged.verdicts)


def test_a_busy_loop_during_a_slow_server_call_does_not_hide_it() -> None:
    server = {"f1": ServerDelta(calls=1, total_ms=300.5, min_ms=300.5, max_ms=300.5)}
    judged = attribute([sample(610.0)], server, slow_query_ms=SLOW_MS, blocked=blocked_all)
    (verdict,) = judged.verdicts
    assert verdict.cause == DATABASE and verdict.server_ms == 300.5


def test_the_really_slow_call_is_found_among_loop_delayed_ones() -> None:
    # 1000 fast calls (0.1 ms each, fastest 0.09), one 500 ms call, eight delayed calls.
    server = {"f1": ServerDelta(calls=1009, total_ms=100.8 + 500.0, min_ms=0.09, max_ms=500.0)}
    samples = [sample(505.0), *(sample(150.0 + i) for i in range(8))]
    judged = attribute(samples, server, slow_query_ms=SLOW_MS, blocked=blocked_all)
    slow = [v for v in judged.verdicts if v.cause == DATABASE]
    assert [v.sample.client_ms for v in slow] == [505.0]


def test_other_calls_fastest_time_is_not_counted_as_slow_time() -> None:
    # 2000 calls at 0.1 ms are 200 ms of server time: enough to "explain" a 150 ms call,
    # unless what they needed at least (2000 x 0.1 ms) is set aside first.
    server = {"f1": ServerDelta(calls=2001, total_ms=200.1, min_ms=0.1, max_ms=0.3)}
    assert causes([sample(150.0)], server) == [CLIENT]


def test_without_server_figures_the_loop_decides() -> None:
    delayed = causes([sample(200.0)], None, blocked=blocked_all)
    not_delayed = causes([sample(200.0)], None, blocked=lambda start, end: 0.0)
    assert delayed == [CLIENT] and not_delayed == [DATABASE]


def test_without_server_figures_the_verdict_says_the_server_time_is_unknown() -> None:
    judged = attribute(
        [sample(200.0)], None, slow_query_ms=SLOW_MS, unknown_note="extension not installed"
    )
    (verdict,) = judged.verdicts
    assert verdict.server_ms is None and verdict.loop_blocked_ms is None
    assert "server time unknown (extension not installed)" in verdict.reason


def test_a_statement_the_server_did_not_run_has_an_unknown_server_time() -> None:
    judged = attribute([sample(200.0, fp="on-replica")], {}, slow_query_ms=SLOW_MS)
    (verdict,) = judged.verdicts
    assert verdict.cause == DATABASE and verdict.server_ms is None
    assert "not run on this server" in verdict.reason


def test_server_time_left_over_is_carried_to_the_next_round_once() -> None:
    # The call's server part was in the previous snapshot, its client part in this round.
    before = attribute([], {"f1": ServerDelta(4, 300.3, 0.1, 300.0)}, slow_query_ms=SLOW_MS)
    assert before.leftover["f1"].total_ms == 300.3
    now = attribute(
        [sample(301.0)],
        {"f1": ServerDelta(3, 0.3, 0.1, 300.0)},
        slow_query_ms=SLOW_MS,
        carried=before.leftover,
    )
    assert [v.cause for v in now.verdicts] == [DATABASE]
    assert now.leftover["f1"].total_ms < 1.0  # the carried time is not carried again


def test_carried_server_time_counts_in_a_round_where_the_statement_did_not_run() -> None:
    before = attribute([], {"f1": ServerDelta(1, 300.4, 300.4, 300.4)}, slow_query_ms=SLOW_MS)
    now = attribute([sample(308.0)], {}, slow_query_ms=SLOW_MS, carried=before.leftover)
    (verdict,) = now.verdicts
    assert verdict.cause == DATABASE and verdict.server_ms == 300.4
    assert now.leftover == {}


def test_a_tracker_without_a_runtime_reports_every_sample_as_a_slow_query() -> None:
    judged = unjudged([sample(150.0), sample(120.0)])
    assert [v.cause for v in judged.verdicts] == [DATABASE, DATABASE]
    assert all(v.server_ms is None for v in judged.verdicts)


def test_a_fast_statements_carried_time_explains_no_delayed_call() -> None:
    before = attribute([], {"f1": ServerDelta(1000, 100.0, 0.08, 0.5)}, slow_query_ms=SLOW_MS)
    now = attribute(
        [sample(150.0)],
        {"f1": ServerDelta(1000, 100.0, 0.08, 0.5)},
        slow_query_ms=SLOW_MS,
        carried=before.leftover,
    )
    assert [v.cause for v in now.verdicts] == [CLIENT]
