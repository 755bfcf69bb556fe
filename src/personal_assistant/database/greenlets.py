"""Running SQLAlchemy's sync pool code from async code, on reused greenlets.

SQLAlchemy's asyncio layer runs sync code (pool checkout, pre-ping, connecting) in a
greenlet so that it can ``await_`` the driver: ``greenlet_spawn`` creates a new
greenlet for every call. On CPython 3.11+ a new greenlet that runs Python code also
gets a new Python data stack, allocated with ``mmap`` and released with ``munmap``:
two system calls per call, measured here at about 11 µs for a greenlet that does
nothing, more than the rest of a pooled checkout and checkin together.

:func:`run_sync` does what ``greenlet_spawn`` does, on greenlets kept for reuse: a
runner loops, taking a function, running it, and switching back with its outcome. While
the function waits (``await_``), the runner is suspended and belongs to the calling
task; it goes back to the idle list only once the function has returned or raised.
Each runner is a child of the thread's root greenlet (where the event loop runs) and
takes the calling task's ``contextvars`` context for each call, as ``greenlet_spawn``
does. Called from inside another greenlet, :func:`run_sync` falls back to
``greenlet_spawn``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import greenlet
from sqlalchemy.util.concurrency import greenlet_spawn

__all__ = ["run_sync"]

T = TypeVar("T")

#: Idle runners kept per thread at most (each holds a small Python data stack).
MAX_IDLE = 64

_local = threading.local()


class _Done:
    """What a runner switches back with when its function has finished."""

    __slots__ = ("value", "error")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error


class _Runner(greenlet.greenlet):  # type: ignore[misc]
    # What SQLAlchemy's await_() checks before switching to the parent greenlet.
    __sqlalchemy_greenlet_provider__ = True

    def __init__(self, parent: greenlet.greenlet) -> None:
        super().__init__(self._loop, parent)

    def _loop(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        while True:
            try:
                done = _Done(fn(*args), None)
            except greenlet.GreenletExit:
                return  # collected while suspended: nothing to report to
            except BaseException as exc:
                done = _Done(None, exc)
            del fn, args
            fn, args = self.parent.switch(done)


def _idle() -> list[_Runner]:
    try:
        idle: list[_Runner] = _local.idle
    except AttributeError:
        idle = _local.idle = []
    return idle


async def run_sync(fn: Callable[..., T], *args: Any) -> T:
    """``await greenlet_spawn(fn, *args)``, on a reused greenlet when possible."""
    current = greenlet.getcurrent()
    if current.parent is not None:  # already inside a greenlet: the ordinary way
        return await greenlet_spawn(fn, *args)
    idle = _idle()
    runner = idle.pop() if idle else _Runner(current)
    runner.gr_context = current.gr_context
    result = runner.switch(fn, args)
    while not isinstance(result, _Done):
        try:
            awaited = await result
        except BaseException:
            result = runner.throw(*sys.exc_info())
        else:
            result = runner.switch(awaited)
    runner.gr_context = None
    if len(idle) < MAX_IDLE:
        idle.append(runner)
    # The runner's frame keeps ``result`` while idle: keep nothing big in it.
    value: T = result.value
    error, result.value, result.error = result.error, None, None
    if error is not None:
        raise error
    return value
