"""The last asset of every run: record what the build is, run the blocking checks, publish atomically."""

# No `from __future__ import annotations` here: Dagster inspects the annotations of asset functions
# (context, resources) at definition time and rejects them as strings.

import hashlib
import subprocess
from datetime import datetime, timezone

import dagster as dg
import duckdb

from pipelines.checks import run_checks
from pipelines.config import PROJECT_ROOT
from pipelines.ingest import raw_folder_warnings
from pipelines.partitions import POOL, monthly, run_window, single_run
from pipelines.raw import raw_assets
from pipelines.raw_tables import SOURCES
from pipelines.resources import WarehouseResource
from pipelines.sql_assets import sql_assets
from pipelines.table_docs import document_tables
from pipelines.transform import as_of_date
from pipelines.warehouse import PublishError, publish

KEY = dg.AssetKey(["warehouse"])


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
            datetime.now(timezone.utc).replace(tzinfo=None), warehouse.run_id, str(warehouse.raw_path),
            str(config.source_path), hashlib.sha256(config_text).hexdigest(), window[0], window[1],
            as_of_date(con, config), _code_version(),
        ],
    )
    document_tables(con, ["meta.build_info", "meta.model_state", "meta.model_writes", "quality.rejected_rows", "quality.file_loads"])


@dg.asset(
    key=KEY,
    deps=[a.key for a in raw_assets + sql_assets],
    group_name="publish",
    partitions_def=monthly,
    backfill_policy=single_run,
    pool=POOL,
    kinds={"duckdb"},
    description="Runs the blocking checks on the build and, if they pass, atomically replaces the analysts' file.",
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    window = run_window(context)
    # what lies under the raw folder unread (an unknown folder, a loose file) is said, not ignored
    warnings = raw_folder_warnings(warehouse.raw_path, SOURCES)
    for warning in warnings:
        context.log.warning(warning)
    with warehouse.connect() as con:
        record_build_info(con, warehouse, window)
        results = run_checks(con, window)
    for result in results:
        (context.log.info if result.passed else context.log.error)(f"check {result.name}: {result.detail}")
    failed = [r for r in results if not r.passed]
    if failed:
        raise dg.Failure(
            description="blocking checks failed, the published warehouse was left as it was: "
            + "; ".join(f"{r.name} ({r.failures} failing)" for r in failed),
        )
    warehouse.close()  # checkpointed and closed: the file is whole before it is renamed
    try:
        publish(warehouse.paths, warehouse.build_path)
    except PublishError as exc:
        raise dg.Failure(description=str(exc)) from exc
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(warehouse.paths.published)),
            "size_mb": round(warehouse.paths.published.stat().st_size / 2**20, 2),
            "checks_passed": len(results),
            "raw_folder_warnings": "\n".join(warnings) or "none",
        }
    )
