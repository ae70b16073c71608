"""The `warehouse` pool bookkeeping of pipelines/orchestration/pool.py on a real (temporary) Dagster instance: slots and
queued claims of runs whose process is gone are freed; a live run's are left alone."""

from __future__ import annotations

import time

import dagster as dg
import pytest

from pipelines.orchestration.partitions import POOL
from pipelines.orchestration.pool import PoolWaitError, free_dead_runs, registered, wait_for_pool, watched


@pytest.fixture
def instance(tmp_path):
    with dg.instance_for_test(
        temp_dir=str(tmp_path), overrides={"concurrency": {"pools": {"default_limit": 1}}}
    ) as inst:
        inst.event_log_storage.set_concurrency_slots(POOL, 1)  # what Dagster does on a pool's first claim
        yield inst


def holders(instance) -> tuple[set[str], set[str]]:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return {s.run_id for s in info.claimed_slots}, {p.run_id for p in info.pending_steps}


def test_slots_and_queued_claims_of_dead_runs_are_freed_live_ones_kept(instance):
    storage = instance.event_log_storage
    with registered(instance, "alive", "w1.duckdb"):
        assert storage.claim_concurrency_slot(POOL, "alive", "raw__orders").is_claimed
        storage.claim_concurrency_slot(POOL, "dead-queued", "raw__orders")  # killed while queued
        assert holders(instance) == ({"alive"}, {"alive", "dead-queued"})
        assert free_dead_runs(instance, "me") == ["dead-queued"]
        assert holders(instance) == ({"alive"}, {"alive"})
        with pytest.raises(
            PoolWaitError, match=r"held by run alive \(process \d+ building w1.duckdb\), step raw__orders; waited 0.5s"
        ):
            wait_for_pool(instance, "me", 0.5)
    # the holder's process is gone (its registration ended without freeing the slot, as kill -9 would)
    wait_for_pool(instance, "me", 0.5)
    assert holders(instance) == (set(), set())


def test_the_watch_frees_a_slot_whose_run_dies_while_this_one_runs(instance, monkeypatch):
    monkeypatch.setenv("ACQ_POOL_WATCH_SECONDS", "0.1")
    storage = instance.event_log_storage
    with watched(instance, "me"):
        assert storage.claim_concurrency_slot(POOL, "died-later", "marts__orders").is_claimed
        deadline = time.monotonic() + 10
        while holders(instance)[0] and time.monotonic() < deadline:
            time.sleep(0.1)
    assert holders(instance) == (set(), set())
