"""Blocked and long-running sessions, the pure part: rows in, checks and bodies out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from personal_assistant.database.latency import LatencySketch
from personal_assistant.database.settings import DatabaseConfig
from personal_assistant.monitoring import sessions
from personal_assistant.monitoring.budget import Deadline
from personal_assistant.monitoring.health import Status
from personal_assistant.monitoring.metrics import Figures, render
from personal_assistant.monitoring.sessions import (
    INSUFFICIENT_PRIVILEGE,
    MAX_LISTED,
    SessionsReading,
    SessionsUnavailable,
    SessionThresholds,
    blocked_check,
    details,
    reading_from_rows,
    session_from_row,
    summary,
)

LIMITS = SessionThresholds(blocked_warn_s=5, blocked_fail_s=30, long_running_s=60)
BLOCKER = 4242


def row(pid: int, **values: Any) -> dict[str, Any]:
    """A row as SESSIONS_SQL returns it: an idle session unless told otherwise."""
    base: dict[str, Any] = {
        "pid": pid, "in_database": True, "state": "active", "backend_type": "client backend",
        "query": "SELECT 1", "blocked": False, "locktype": None, "mode": None,
        "relation": None, "wait_s": None, "transaction_s": 0.1, "state_s": 0.1,
        "blocked_by": [], "blocking": False, "long_running": False,
    }  # fmt: skip
    base.update(values)
    return base


def waiting(
    pid: int, seconds: float, query: str = "UPDATE users SET name = 'x' WHERE id = 7"
) -> dict[str, Any]:
    return row(
        pid, query=query, blocked=True, locktype="relation", mode="RowExclusiveLock",
        relation="users", wait_s=seconds, transaction_s=seconds, blocked_by=[BLOCKER],
    )  # fmt: skip


def holder(**values: Any) -> dict[str, Any]:
    held = {
        "state": "idle in transaction", "query": "LOCK TABLE users IN ACCESS EXCLUSIVE MODE",
        "transaction_s": 40.0, "state_s": 39.5, "blocking": True,
    }  # fmt: skip
    return row(BLOCKER, **{**held, **values})


def pile_up(*waits: float) -> SessionsReading:
    return reading_from_rows([holder(), *(waiting(100 + i, w) for i, w in enumerate(waits))])


def test_no_waiting_session_passes_with_a_count_of_zero() -> None:
    check = blocked_check(reading_from_rows([]), LIMITS)
    assert check.key == "database:blockedSessions"
    assert (check.status, check.observed_value, check.output) == (Status.PASS, 0, None)


def test_a_short_wait_passes() -> None:
    assert blocked_check(pile_up(0.4, 1.2), LIMITS).status is Status.PASS


def test_a_wait_above_the_warn_threshold_warns_with_counts_only() -> None:
    check = blocked_check(pile_up(6.5, 1.0), LIMITS)
    assert check.status is Status.WARN and check.observed_value == 2
    assert check.output == "2 session(s) waiting on a lock, the longest for 6.5 s (above 5 s)"
    assert str(BLOCKER) not in check.output and "users" not in check.output


def test_a_wait_above_the_fail_threshold_fails() -> None:
    check = blocked_check(pile_up(31.0), LIMITS)
    assert check.status is Status.FAIL and "above 30 s" in (check.output or "")


def test_an_unreadable_session_list_warns_with_the_reason() -> None:
    check = blocked_check(SessionsUnavailable("no answer within 2 s"), LIMITS)
    assert check.status is Status.WARN
    assert check.output == "blocked sessions not known: no answer within 2 s"


def test_the_summary_holds_counts_and_no_pid_or_statement() -> None:
    body = summary(pile_up(6.5, 1.0))
    assert body == {
        "available": True, "blocked": 2, "blocking": 1, "long_running": 0, "longest_wait_s": 6.5,
    }  # fmt: skip
    assert summary(SessionsUnavailable("x")) == {"available": False}


def test_details_name_the_blocker_its_state_and_how_long_it_has_held() -> None:
    body = details(pile_up(6.5, 1.0), LIMITS)
    first = body["blocked_sessions"][0]
    assert first["pid"] == 100 and first["waited_s"] == 6.5
    assert first["blocked_by"] == [BLOCKER]
    assert first["lock"] == {"type": "relation", "mode": "RowExclusiveLock", "relation": "users"}
    (blocker,) = body["blocking_sessions"]
    assert blocker["pid"] == BLOCKER and blocker["state"] == "idle in transaction"
    assert (blocker["transaction_s"], blocker["state_s"], blocker["blocking"]) == (40.0, 39.5, 2)
    assert blocker["statement"] == "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"
    assert body["complete"] is True and "note" not in body


def test_statements_are_shown_normalized_never_with_their_literals() -> None:
    body = details(pile_up(6.5), LIMITS)
    blocked = body["blocked_sessions"][0]
    assert blocked["statement"] == "UPDATE users SET name = $1 WHERE id = $2"
    assert len(blocked["fingerprint"]) == 16
    assert "'x'" not in json.dumps(body)


def test_other_roles_sessions_are_reported_as_not_visible_instead_of_failing() -> None:
    hidden = {"state": None, "query": INSUFFICIENT_PRIVILEGE, "transaction_s": None}
    reading = reading_from_rows([holder(**hidden), waiting(100, 7.0)])
    body = details(reading, LIMITS)
    (blocker,) = body["blocking_sessions"]
    assert blocker["visible"] is False and blocker["statement"] is None
    assert blocker["state"] is None and blocker["pid"] == BLOCKER
    assert body["complete"] is False and "pg_read_all_stats" in body["note"]
    assert blocked_check(reading, LIMITS).status is Status.WARN


def test_long_running_sessions_leave_out_those_waiting_on_a_lock() -> None:
    rows = [
        row(7, state="active", query="SELECT pg_sleep(600)", transaction_s=75.0, long_running=True),
        {**waiting(8, 70.0), "long_running": True},
    ]
    body = details(reading_from_rows(rows), LIMITS)
    assert [s["pid"] for s in body["long_running_sessions"]] == [7]
    assert body["long_running_sessions"][0]["statement"] == "SELECT pg_sleep($1)"
    assert body["long_running"] == 1


def test_lists_are_capped_but_the_counts_cover_every_session() -> None:
    body = details(pile_up(*([6.0] * (MAX_LISTED + 5))), LIMITS)
    assert len(body["blocked_sessions"]) == MAX_LISTED
    assert body["blocked"] == MAX_LISTED + 5
    assert body["blocking_sessions"][0]["blocking"] == MAX_LISTED + 5


def test_a_session_without_a_statement_yet_has_none() -> None:
    session = session_from_row(row(9, query=""))
    assert session.statement is None and session.visible


def test_the_metrics_expose_the_blocked_count_and_the_longest_wait() -> None:
    figures = Figures(
        pool=None, statements={}, slow_total=0, alerts=[],
        health_durations={"database": LatencySketch()}, workers=1, sessions=pile_up(6.5, 1.0),
    )  # fmt: skip
    families = {f.name: f for f in text_string_to_metric_families(render(figures).decode())}
    assert families["pa_db_blocked_sessions"].samples[0].value == 2
    assert families["pa_db_lock_wait_max_seconds"].samples[0].value == 6.5
    assert families["pa_db_long_running_sessions"].samples[0].value == 0
    assert families["pa_db_blocked_sessions"].type == "gauge"


def test_the_metrics_leave_the_gauges_out_when_the_sessions_were_not_read() -> None:
    figures = Figures(
        pool=None, statements={}, slow_total=0, alerts=[], health_durations={}, workers=1
    )
    assert b"pa_db_blocked_sessions" not in render(figures)


async def test_concurrent_callers_share_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    async def read(config: Any, timeout_s: float, long_running_s: float) -> SessionsReading:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return pile_up(1.0)

    monkeypatch.setattr(sessions, "read_sessions", read)
    shared = sessions.SharedSessions(max_age_s=60, long_running_s=60)
    config = DatabaseConfig(url="postgresql://u@127.0.0.1:1/db")
    results = await asyncio.gather(*(shared.get(config, 1.0) for _ in range(10)))
    assert calls == 1 and all(r is results[0] for r in results)
    assert await shared.get(config, 1.0) is results[0]  # and the result is reused


async def test_a_caller_stops_waiting_at_its_deadline_and_the_read_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def slow_read(config: Any, timeout_s: float, long_running_s: float) -> SessionsReading:
        await asyncio.sleep(0.3)
        return pile_up(1.0)

    monkeypatch.setattr(sessions, "read_sessions", slow_read)
    shared = sessions.SharedSessions(max_age_s=60, long_running_s=60)
    config = DatabaseConfig(url="postgresql://u@127.0.0.1:1/db")
    early = await shared.get(config, 1.0, Deadline.after(0.05))
    assert isinstance(early, SessionsUnavailable) and "no answer within 0.05 s" in early.reason
    later = await shared.get(config, 1.0)
    assert isinstance(later, SessionsReading) and len(later.blocked) == 1
