"""A bounded HTTP load generator that records every request it makes.

``concurrency`` clients loop over one path until stopped, each request with a client
timeout, so a hung server shows up as a timed-out sample instead of a hung test. Only
127.0.0.1 is ever targeted. Times are ``time.monotonic()`` so that they can be put
against the moments a test stops and starts the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from tests.reliability.evidence import EVIDENCE

#: Status recorded when the client gave up (timeout or connection error).
NO_ANSWER = 0


@dataclass(frozen=True)
class Sample:
    """One request: when it started and ended, and what came back."""

    started: float
    ended: float
    status: int
    retry_after: str | None = None
    error: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class LoadGenerator:
    """``async with LoadGenerator(url, "/load/permission", 6) as load: ...``."""

    base_url: str
    path: str
    concurrency: int
    timeout_s: float = 10.0
    pause_s: float = 0.005
    samples: list[Sample] = field(default_factory=list)
    _running: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _client_loop(self, client: httpx.AsyncClient) -> None:
        while self._running:
            started = time.monotonic()
            try:
                response = await client.get(self.path)
            except httpx.HTTPError as exc:
                self.samples.append(Sample(started, time.monotonic(), NO_ANSWER, error=repr(exc)))
                EVIDENCE.add("load:error", repr(exc))
                continue
            ended = time.monotonic()
            retry_after = response.headers.get("retry-after")
            self.samples.append(Sample(started, ended, response.status_code, retry_after))
            if response.status_code != 200:
                EVIDENCE.add(f"body:{self.path}", response.text)
            await asyncio.sleep(self.pause_s)

    async def __aenter__(self) -> LoadGenerator:
        assert self.base_url.startswith("http://127.0.0.1:"), "load only ever goes to loopback"
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self.timeout_s,
            limits=httpx.Limits(max_connections=self.concurrency),
        )
        self._running = True
        self._tasks = [
            asyncio.create_task(self._client_loop(self._client)) for _ in range(self.concurrency)
        ]
        return self

    async def stop(self) -> None:
        """Let every in-flight request finish, then stop."""
        self._running = False
        await asyncio.gather(*self._tasks)
        self._tasks.clear()
        await self._client.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tasks:
            await self.stop()


def between(samples: Iterable[Sample], start: float, end: float) -> list[Sample]:
    """Samples that started in ``[start, end)``."""
    return [s for s in samples if start <= s.started < end]


@dataclass(frozen=True)
class Recovery:
    """How long after the server came back the service answered again."""

    first_success_s: float
    all_success_s: float
    failed_after: int


def recovery(
    samples: Iterable[Sample], server_back: float, until: float = float("inf")
) -> Recovery:
    """Time from ``server_back`` to the first success, and to the last failure's end.

    Only requests that ended before ``until`` (the next fault) count.
    ``all_success_s`` is 0 when no request ending after ``server_back`` failed.
    """
    after = sorted(
        (s for s in samples if server_back <= s.ended < until),
        key=lambda s: s.ended,
    )
    first = next((s.ended for s in after if s.ok), float("inf"))
    failures = [s for s in after if not s.ok]
    last_failure = max((s.ended for s in failures), default=server_back)
    return Recovery(first - server_back, last_failure - server_back, len(failures))
