"""Dagster definitions: `dagster dev -m pipelines.orchestration.definitions` (or the daemon + webserver) load this."""

from __future__ import annotations

import os

import dagster as dg

from pipelines.orchestration.publish_assets import build_info, published_warehouse
from pipelines.orchestration.raw_assets import raw_assets
from pipelines.orchestration.resources import WarehouseResource
from pipelines.orchestration.schedules import build_nightly_schedule
from pipelines.orchestration.sql_assets import sql_assets

all_assets = [*raw_assets, *sql_assets, build_info, published_warehouse]

# One job over everything: a run always ends by publishing, so analysts never see half a build.
# It is partitioned by month because its assets are (Dagster infers that from the selection).
refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.assets(*all_assets),
    executor_def=dg.in_process_executor,  # the run's steps share one build file and one lock
    description="Ingest every export, rebuild the marts for the selected months, check, publish.",
)


def warehouse_from_env() -> WarehouseResource:
    return WarehouseResource(
        raw_dir=os.environ.get("ACQ_RAW_DIR", "data/sample"),
        warehouse_path=os.environ.get("ACQ_WAREHOUSE", "data/warehouse.duckdb"),
        config_path=os.environ.get("ACQ_CONFIG", ""),
        lock_wait_seconds=float(os.environ.get("ACQ_LOCK_WAIT_SECONDS", "600")),
        # the CLI's --allow-missing / --allow-shrink for runs Dagster launches (schedule, UI, daemon)
        allow_missing=os.environ.get("ACQ_ALLOW_MISSING", "") == "1",
        allow_shrink=os.environ.get("ACQ_ALLOW_SHRINK", "") == "1",
        # the engine of acquisition.toml's [engine], or ACQ_ENGINE=duckdb|spark / ACQ_SPARK_MASTER
        engine=os.environ.get("ACQ_ENGINE", ""),
        spark_master=os.environ.get("ACQ_SPARK_MASTER", ""),
    )


def build_defs(warehouse: WarehouseResource) -> dg.Definitions:
    """The code location, with a given warehouse (the CLI passes its folders)."""
    return dg.Definitions(
        assets=all_assets,
        jobs=[refresh_job],
        schedules=[build_nightly_schedule(refresh_job)],
        resources={"warehouse": warehouse},
        executor=dg.in_process_executor,
    )


defs = build_defs(warehouse_from_env())
