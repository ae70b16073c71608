"""Helpers shared by the test modules that run the real pipeline in-process."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.orchestration.definitions import all_assets
from pipelines.orchestration.partitions import monthly
from pipelines.orchestration.resources import WarehouseResource


def materialize_everything(raw: Path, warehouse: Path) -> dg.ExecuteInProcessResult:
    """One Dagster run of every asset over every month (an ephemeral instance: no history kept)."""
    keys = monthly.get_partition_keys()
    # entered, not just created: the instance then is the current one for Dagster's definitions loading,
    # whatever instance an earlier test left behind (Dagster keeps only a weak reference to it)
    with dg.DagsterInstance.ephemeral() as instance:
        return dg.materialize(
            all_assets,
            instance=instance,
            resources={"warehouse": WarehouseResource(raw_dir=str(raw), warehouse_path=str(warehouse))},
            tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
        )
