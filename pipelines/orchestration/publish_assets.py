"""The last two assets of every run: meta.build_info records what the build is (its blocking checks
validate the bookkeeping tables), then `warehouse` publishes the build atomically. Every other blocking
check ran in the step of the asset it guards (pipelines/publish/checks.py): a failed one stops the run before
this point, so a build that reaches `warehouse` has passed them all."""

# No `from __future__ import annotations` here: Dagster inspects the annotations of asset functions
# (context, resources) at definition time and rejects them as strings.

import hashlib
import subprocess
from datetime import UTC, datetime

import dagster as dg
import duckdb

from pipelines.core.paths import PROJECT_ROOT
from pipelines.core.table_comments import document_tables
from pipelines.ingest.folders import raw_folder_warnings
from pipelines.ingest.raw_tables import SOURCES
from pipelines.orchestration.metadata import model_column_schema, table_metadata
from pipelines.orchestration.partitions import OWNERS, POOL, monthly, run_window, single_run
from pipelines.orchestration.raw_assets import raw_assets
from pipelines.orchestration.resources import WarehouseResource
from pipelines.orchestration.sql_assets import sql_assets
from pipelines.publish.checks import BUILD_INFO, CHECKS, SCHEMA_CHECKS, check_results, check_specs, evaluate
from pipelines.publish.warehouse import PublishError, publish
from pipelines.transform.params import as_of_date

KEY = dg.AssetKey(["warehouse"])
BUILD_INFO_KEY = dg.AssetKey(BUILD_INFO.split("."))


def _code_version() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def record_build_info(con: duckdb.DuckDBPyConnection, warehouse: WarehouseResource, window) -> None:
    config = warehouse.config
    config_text = config.source_path.read_bytes() if config.source_path else b""
    con.execute("create schema if not exists meta")
    con.execute(
        """create table if not exists meta.build_info (
            built_at timestamp, run_id varchar, raw_dir varchar, config_path varchar, config_sha256 varchar,
            window_start date, window_end date, as_of_date date, code_version varchar)"""
    )
    con.execute(
        "insert into meta.build_info values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            datetime.now(UTC).replace(tzinfo=None),
            warehouse.run_id,
            str(warehouse.raw_path),
            str(config.source_path),
            hashlib.sha256(config_text).hexdigest(),
            window[0],
            window[1],
            as_of_date(con, config),
            _code_version(),
        ],
    )
    document_tables(
        con,
        [
            "meta.build_info",
            "meta.model_state",
            "meta.model_writes",
            "quality.rejected_rows",
            "quality.file_loads",
            "config.channel_rules",
            "config.source_aliases",
        ],
    )


@dg.asset(
    owners=OWNERS,
    key=BUILD_INFO_KEY,
    deps=[a.key for a in raw_assets + sql_assets],
    group_name="publish",
    partitions_def=monthly,
    backfill_policy=single_run,
    pool=POOL,
    kinds={"duckdb"},
    description="One row per published build: when, from which export folder, with which settings and code. "
    "Its checks validate the bookkeeping tables (meta.*) against their models before the build is published.",
    metadata={"dagster/column_schema": model_column_schema(BUILD_INFO)},
    check_specs=check_specs(BUILD_INFO, BUILD_INFO_KEY),
)
def build_info(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    window = run_window(context)
    # what lies under the raw folder unread (an unknown folder, a loose file) is said, not ignored
    warnings = raw_folder_warnings(warehouse.raw_path, SOURCES)
    for warning in warnings:
        context.log.warning(warning)
    with warehouse.connect() as con:
        record_build_info(con, warehouse, window)
        metadata = table_metadata(con, BUILD_INFO)
        checks = evaluate(con, BUILD_INFO, window)
    metadata["raw_folder_warnings"] = "\n".join(warnings) or "none"
    return dg.MaterializeResult(metadata=metadata, check_results=check_results(checks, BUILD_INFO_KEY))


BLOCKING_CHECKS = len([c for c in CHECKS for _ in c.guards]) + len(SCHEMA_CHECKS)


@dg.asset(
    owners=OWNERS,
    key=KEY,
    deps=[BUILD_INFO_KEY],
    group_name="publish",
    partitions_def=monthly,
    backfill_policy=single_run,
    pool=POOL,
    kinds={"duckdb"},
    description="The analysts' DuckDB file (data/warehouse.duckdb by default): the build, once every blocking "
    "check has passed, renamed over it in one atomic step. The previous file stays as warehouse.previous.duckdb "
    "for `python -m pipelines rollback`.",
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        tables = con.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() and not temporary"
        ).fetchall()[0][0]
    warehouse.close()  # checkpointed and closed: the file is whole before it is renamed
    try:
        publish(warehouse.paths, warehouse.build_path)
    except PublishError as exc:
        raise dg.Failure(description=str(exc)) from exc
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(warehouse.paths.published)),
            "size_mb": round(warehouse.paths.published.stat().st_size / 2**20, 2),
            "tables": int(tables),
        }
    )
