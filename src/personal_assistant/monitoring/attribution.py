"""Which side a slow statement's time went to: the database, or this process. Pure.

The tracker times statements on the client, so its figure includes every moment the
result waited for the event loop. A statement slower than ``DATABASE_SLOW_QUERY_MS``
on the client is reported as a slow query only when the database spent the time; when
the database answered fast, the time went to this process (a busy event loop) or
between the two (network, driver), and the statement is counted as *client-slow*
instead: no ``slow_query`` record, and the ``service_cpu_bound`` alert (see
:mod:`.alerts`) says so.

The tracker holds its slow samples; the runtime's evaluation loop judges them with
what it learnt since the previous round:

* the server's work per statement over the same interval (:class:`ServerDelta`, from
  ``pg_stat_statements``), or nothing when that is unavailable;
* how long the event loop was seen blocked during each sample's flight
  (:meth:`.loop_lag.LoopLagMonitor.blocked_ms`).

With server figures, a statement's server time over the interval, less what its other
calls needed at least (their count × its fastest call ever), is a budget. Samples are
taken slowest first; each one's server time is estimated at the least of its client
time, the budget left and the statement's slowest server call ever. A sample is a slow
query when the estimate reaches ``min(DATABASE_SLOW_QUERY_MS, half its client time)``,
and the estimate is then drawn from the budget. The loop's blocked time plays no part
here: the loop may well be busy while the database works, which delays nothing.

Without server figures for the statement (no pg_stat_statements, a failed read, or it
ran on a replica), the loop decides: a sample is a slow query when its client time less
the time the event loop was seen blocked during it still reaches that bar, and the
verdict says that the server time is unknown. A statement really slow on the server
while the loop was blocked too may then be counted client-slow: without the server's
figure the two cannot be told apart.

Limit: in an interval where a statement was both really slow on the server and delayed
by the loop, a few delayed calls may be reported as slow queries too (they can draw on
the server time its other calls spent beyond their fastest).

Whatever budget a statement leaves is carried to the next round once: a statement whose
server part ended just before a snapshot and whose client part ended just after (its
result waiting for a busy loop) is then still matched with its server time.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from personal_assistant.monitoring.server_time import ServerDelta

#: The database spent the time: a slow query.
DATABASE = "database"
#: The database answered fast: the time went to this process or between the two.
CLIENT = "client"

Blocked = Callable[[float, float], float]


@dataclass(frozen=True)
class SlowSample:
    """A statement slower than the threshold on the client, held until judged."""

    fingerprint: str
    statement: str
    client_ms: float
    #: Its flight, in ``time.perf_counter()`` seconds.
    started: float
    ended: float
    #: Wall-clock end, ISO 8601.
    at: str
    call_site: str | None


@dataclass(frozen=True)
class Verdict:
    sample: SlowSample
    cause: str
    #: The database's time for this call: the estimate for a slow query, the statement's
    #: mean per call for a client-slow one; ``None`` when unknown.
    server_ms: float | None
    #: How long the event loop was seen blocked during the call (``None``: not measured).
    loop_blocked_ms: float | None
    reason: str

    @property
    def slow_query(self) -> bool:
        return self.cause == DATABASE

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("sample")
        return out


@dataclass(frozen=True)
class Attribution:
    verdicts: tuple[Verdict, ...]
    #: Server time each statement left this round (``total_ms``), to carry into the next.
    leftover: Mapping[str, ServerDelta] = field(default_factory=dict)


def _group(samples: Iterable[SlowSample]) -> dict[str, list[SlowSample]]:
    groups: dict[str, list[SlowSample]] = defaultdict(list)
    for sample in samples:
        groups[sample.fingerprint].append(sample)
    return groups


def _bar(sample: SlowSample, slow_query_ms: float) -> float:
    """Database time that makes ``sample`` a slow query."""
    return min(slow_query_ms, sample.client_ms / 2)


#: A sample and how long the event loop was blocked during it (``None``: not measured).
Timed = tuple[SlowSample, float | None]


def _with_server(
    group: list[Timed], delta: ServerDelta, budget: float, slow_query_ms: float
) -> tuple[list[Verdict], float]:
    verdicts = []
    for sample, loop in group:
        est = max(min(sample.client_ms, budget, delta.max_ms), 0.0)
        if est >= _bar(sample, slow_query_ms):
            budget -= est
            reason = f"the database took about {est:.1f} ms of {sample.client_ms:.1f} ms"
            verdicts.append(Verdict(sample, DATABASE, round(est, 3), loop, reason))
            continue
        reason = (
            f"the database answered in {delta.mean_ms:.3g} ms (mean per call); "
            f"{sample.client_ms:.1f} ms on the client"
            + (f", {loop:.1f} ms of it waiting for the event loop" if loop is not None else "")
        )
        verdicts.append(Verdict(sample, CLIENT, round(delta.mean_ms, 3), loop, reason))
    return verdicts, budget


def _without_server(group: list[Timed], slow_query_ms: float, note: str) -> list[Verdict]:
    verdicts = []
    for sample, loop in group:
        free = sample.client_ms - (loop or 0.0)
        cause = DATABASE if free >= _bar(sample, slow_query_ms) else CLIENT
        lag = "not measured" if loop is None else f"{loop:.1f} ms of {sample.client_ms:.1f} ms"
        reason = f"server time unknown ({note}); event loop blocked: {lag}"
        verdicts.append(Verdict(sample, cause, None, loop, reason))
    return verdicts


def attribute(
    samples: Iterable[SlowSample],
    server: Mapping[str, ServerDelta] | None,
    *,
    slow_query_ms: float,
    blocked: Blocked | None = None,
    carried: Mapping[str, ServerDelta] | None = None,
    unknown_note: str = "pg_stat_statements unavailable",
) -> Attribution:
    """Judge ``samples``; see the module docstring.

    ``server``: the server's work per fingerprint since the previous round (``None``:
    unavailable; ``unknown_note`` says why). ``blocked(start, end)``: milliseconds the
    event loop was blocked in that span (``None``: not measured). ``carried``: the
    previous round's :attr:`Attribution.leftover`.
    """
    carried = carried or {}
    verdicts: list[Verdict] = []
    # A statement with no slow sample this round keeps all its server time for the next
    # (its slow call's result may still be on its way); the estimate's cap at its
    # slowest call stops a fast statement's time from explaining anything.
    leftover = dict(server or {})
    for fp, group in _group(samples).items():
        timed = [
            (s, None if blocked is None else min(blocked(s.started, s.ended), s.client_ms))
            for s in group
        ]
        timed.sort(key=lambda t: t[0].client_ms, reverse=True)
        delta = server.get(fp) if server is not None else None
        carry = carried.get(fp) if server is not None else None
        if delta is None and carry is None:
            note = unknown_note if server is None else "not run on this server in the interval"
            verdicts += _without_server(timed, slow_query_ms, note)
            continue
        own = _spare(delta, len(group))
        budget = own + (carry.total_ms if carry is not None else 0.0)
        judged, left = _with_server(timed, _joined(delta, carry), budget, slow_query_ms)
        verdicts += judged
        leftover.pop(fp, None)
        if delta is not None and min(left, own) > 1e-3:
            leftover[fp] = dataclasses.replace(delta, total_ms=min(left, own))
    return Attribution(tuple(verdicts), leftover)


def _spare(delta: ServerDelta | None, slow: int) -> float:
    """Server time beyond what the calls other than ``slow`` ones needed at least."""
    if delta is None:
        return 0.0
    return max(delta.total_ms - max(delta.calls - slow, 0) * delta.min_ms, 0.0)


def _joined(delta: ServerDelta | None, carry: ServerDelta | None) -> ServerDelta:
    """This round's figures and the carried ones as one (for the mean and the bounds)."""
    parts = [d for d in (delta, carry) if d is not None]
    return ServerDelta(
        calls=sum(d.calls for d in parts),
        total_ms=sum(d.total_ms for d in parts),
        min_ms=min(d.min_ms for d in parts),
        max_ms=max(d.max_ms for d in parts),
    )


def unjudged(samples: Iterable[SlowSample]) -> Attribution:
    """Every sample a slow query: what a tracker without a runtime reports."""
    reason = "not judged: no server time or event-loop lag measured"
    return Attribution(tuple(Verdict(s, DATABASE, None, None, reason) for s in samples))
