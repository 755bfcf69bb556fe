"""Request budgets: one deadline fixed at entry, and work shared by concurrent callers.

A health endpoint promises an answer within ``HEALTH_DB_TIMEOUT``: the whole request,
not each of its steps. :class:`Deadline` is computed once when the request starts, and
every step (the probe, readiness's migration check) waits only for what is left of it.
Waiting stops a little before the deadline (:data:`ANSWER_RESERVE`). The deadline is
fixed when the handler starts, which under load is later than when the request
arrived: answers due at the same instant leave one after the other (64 health answers
take ~0.2 s on a 2-core machine), the next requests queue behind them, and a timer
fires late on a busy loop. The reserve pays for that queueing and for the answer itself.

Under load many requests ask for the same answer at once. :class:`SingleFlight` runs
the work once, as a task, and every concurrent caller awaits that task, shielded: a
caller whose deadline passes stops waiting (``TimeoutError``) without cancelling the
work for the others, and no query on a pooled connection is cancelled half-way because
one client gave up. The work bounds itself with its own timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Share of the budget kept for queueing and writing the answer, and its cap in seconds.
ANSWER_RESERVE, ANSWER_RESERVE_MAX_S = 0.1, 0.25


@dataclass(frozen=True)
class Deadline:
    """A point on the running event loop's clock by which an answer is due."""

    at: float
    budget_s: float

    @classmethod
    def after(cls, budget_s: float) -> Deadline:
        """The deadline ``budget_s`` seconds from now (call it first thing in a request)."""
        return cls(asyncio.get_running_loop().time() + budget_s, budget_s)

    @property
    def wait_until(self) -> float:
        """When waiting must stop so the answer still leaves by :attr:`at`."""
        return self.at - min(self.budget_s * ANSWER_RESERVE, ANSWER_RESERVE_MAX_S)

    def remaining_s(self) -> float:
        return max(0.0, self.at - asyncio.get_running_loop().time())

    def elapsed_s(self) -> float:
        return self.budget_s - (self.at - asyncio.get_running_loop().time())


class SingleFlight(Generic[T]):
    """At most one run of some work at a time, its outcome shared by every caller."""

    def __init__(self) -> None:
        self._task: asyncio.Task[T] | None = None

    @property
    def in_flight(self) -> bool:
        return self._task is not None

    async def join(self, work: Callable[[], Coroutine[Any, Any, T]], deadline: Deadline) -> T:
        """``work()``'s outcome, started now unless a run is in flight.

        Raises ``TimeoutError`` when ``deadline`` (less the answer's reserve) passes
        first; the run goes on.
        """
        task = self._task
        if task is None:
            task = self._task = asyncio.ensure_future(work())
            task.add_done_callback(self._finished)
        async with asyncio.timeout_at(deadline.wait_until):
            return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task[T]) -> None:
        if self._task is task:
            self._task = None
        if not task.cancelled():
            task.exception()  # retrieved: every caller may have stopped waiting
