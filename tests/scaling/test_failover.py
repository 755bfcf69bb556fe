"""Primary failover on real servers: a primary, a ``pg_basebackup -R`` standby, promotion.

``DATABASE_URL`` names both nodes (``target_session_attrs=read-write``); the standby is
also the read replica. The scenario (load, ``pg_ctl stop -m fast``, ``pg_ctl promote``)
is in :mod:`tests.scaling.failover_scenario`, shared with ``bench/failover_bench.py``.

One failover serves the whole module (it takes about 10 s), so the tests share it and
run in file order: the last one restarts the old primary as a standby.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import pytest_asyncio
from sqlalchemy import text

from personal_assistant.database import session as db
from personal_assistant.database.failover import tracker_for
from tests.fixtures.replica import PrimaryWithReplica, follow, in_recovery, replicated_pair
from tests.scaling.failover_scenario import (
    CREATE,
    INSERT,
    FailoverRun,
    Load,
    failover_config,
    run_failover,
    stored_keys,
)

#: The issue's bound: writes succeed again within this long after the promotion.
RECOVERY_BOUND_S = 5.0


IN_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def pair() -> Iterator[PrimaryWithReplica]:
    with replicated_pair() as nodes:
        yield nodes


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def failed_over(pair: PrimaryWithReplica) -> AsyncIterator[FailoverRun]:
    with psycopg.connect(pair.primary.url("app", driver="postgresql"), autocommit=True) as conn:
        conn.execute(CREATE)
    await db.init_engine(failover_config(pair))
    try:
        yield await run_failover(pair)
    finally:
        await db.dispose_engine()


def test_writes_succeed_again_within_5_s_of_the_promotion(failed_over: FailoverRun) -> None:
    summary = failed_over.summary()
    assert failed_over.write_recovery_s < RECOVERY_BOUND_S, summary
    assert failed_over.tracker["failovers"] == 1, failed_over.tracker


def test_no_acknowledged_write_is_missing_after_the_failover(
    failed_over: FailoverRun, pair: PrimaryWithReplica
) -> None:
    acked = failed_over.outcomes.acked
    assert len(acked) > 100
    assert set(acked) <= stored_keys(pair.replica)
    ports = {port for at, port in acked.values() if at > failed_over.promoted_at}
    assert ports == {pair.replica.port}


def test_reads_never_fail_for_longer_than_the_recovery_window(failed_over: FailoverRun) -> None:
    assert failed_over.read_outage_s < RECOVERY_BOUND_S, failed_over.summary()


def test_pool_statistics_stay_consistent_through_the_failover(failed_over: FailoverRun) -> None:
    stats = failed_over.stats
    assert stats.checked_out == 0 and stats.pending_requests == 0
    assert stats.checked_in <= stats.capacity
    assert stats.connections_created - stats.connections_closed == stats.checked_in
    assert stats.invalidations >= 1
    assert stats.total_checkouts >= len(failed_over.outcomes.acked)


@IN_MODULE_LOOP
async def test_the_promoted_replica_leaves_the_replica_set(
    failed_over: FailoverRun, pair: PrimaryWithReplica
) -> None:
    router = db.get_replica_router()
    assert router is not None
    await router.check_all()
    (state,) = router.states()
    assert state["in_recovery"] is False and "promoted" in state["error"]
    assert router.usable() == []
    async with db.read_session() as session:
        assert session.info["replica"] is None
        port = (await session.execute(text("SELECT inet_server_port()"))).scalar_one()
    assert port == pair.replica.port  # the primary's engine: the new primary


@IN_MODULE_LOOP
async def test_the_old_primary_back_as_a_standby_gets_no_writes(
    failed_over: FailoverRun, pair: PrimaryWithReplica
) -> None:
    await asyncio.to_thread(follow, pair.primary, pair.replica)
    assert in_recovery(pair.primary)
    load = Load(tag="after")
    await asyncio.sleep(1.5)
    outcomes = await load.stop()
    assert outcomes.write_errors == []
    assert {port for _, port in outcomes.acked.values()} == {pair.replica.port}
    tracker = tracker_for(db.get_engine())
    assert tracker is not None and tracker.current == f"127.0.0.1:{pair.replica.port}"
    # A fresh pool tries the old primary first (it is first in the URL) and passes on.
    await db.get_engine().dispose()
    async with db.session_scope() as session:
        port = (await session.execute(INSERT, {"k": "after-dispose"})).scalar_one()
    assert port == pair.replica.port
