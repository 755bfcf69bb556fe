"""Deadlines fixed at entry, and work shared by callers who each keep theirs."""

from __future__ import annotations

import asyncio

import pytest

from personal_assistant.monitoring.budget import Deadline, SingleFlight


async def test_concurrent_callers_share_one_run() -> None:
    flight: SingleFlight[int] = SingleFlight()
    runs = 0

    async def work() -> int:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return 7

    deadline = Deadline.after(5.0)
    results = await asyncio.gather(*(flight.join(work, deadline) for _ in range(10)))
    assert results == [7] * 10 and runs == 1
    assert not flight.in_flight


async def test_a_caller_past_its_deadline_stops_waiting_and_the_run_goes_on() -> None:
    flight: SingleFlight[str] = SingleFlight()
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    with pytest.raises(TimeoutError):
        await flight.join(work, Deadline.after(0.01))
    assert flight.in_flight  # not cancelled for the others
    later = asyncio.ensure_future(flight.join(work, Deadline.after(5.0)))
    await asyncio.sleep(0)
    release.set()
    assert await later == "done"


async def test_a_deadline_already_past_answers_at_once() -> None:
    flight: SingleFlight[None] = SingleFlight()
    deadline = Deadline.after(0.0)
    with pytest.raises(TimeoutError):
        await flight.join(lambda: asyncio.sleep(1), deadline)


async def test_a_failing_run_fails_its_callers_and_no_one_else() -> None:
    flight: SingleFlight[None] = SingleFlight()

    async def work() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await flight.join(work, Deadline.after(5.0))
    assert not flight.in_flight


async def test_an_abandoned_failing_run_logs_no_unretrieved_exception() -> None:
    # filterwarnings = error: "Task exception was never retrieved" would fail the run.
    flight: SingleFlight[None] = SingleFlight()

    async def work() -> None:
        await asyncio.sleep(0.02)
        raise RuntimeError("nobody waits for this")

    with pytest.raises(TimeoutError):
        await flight.join(work, Deadline.after(0.001))
    await asyncio.sleep(0.05)
    assert not flight.in_flight


async def test_a_deadline_counts_from_its_start() -> None:
    deadline = Deadline.after(1.0)
    await asyncio.sleep(0.05)
    assert 0.04 < deadline.elapsed_s() < 0.9
    assert 0.1 < deadline.remaining_s() < 0.96


async def test_waiting_stops_early_enough_to_answer_by_the_deadline() -> None:
    flight: SingleFlight[None] = SingleFlight()
    deadline = Deadline.after(2.0)
    assert deadline.at - deadline.wait_until == pytest.approx(0.2)  # 10%, at most 250 ms
    long = Deadline.after(10.0)
    assert long.at - long.wait_until == pytest.approx(0.25)
    short = Deadline.after(0.2)
    assert short.at - short.wait_until == pytest.approx(0.02)
    with pytest.raises(TimeoutError):
        await flight.join(lambda: asyncio.sleep(1), Deadline.after(0.2))
