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

from pipelines.core.config import DATED_SOURCES, effective_settings
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
from pipelines.transform.coverage import Coverage, as_of_date, coverage_warnings, holding_back, write_coverage

KEY = dg.AssetKey(["warehouse"])
BUILD_INFO_KEY = dg.AssetKey(BUILD_INFO.split("."))


def _code_version() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def record_build_info(con: duckdb.DuckDBPyConnection, warehouse: WarehouseResource, window) -> list[Coverage]:
    config = warehouse.config
    config_text = config.source_path.read_bytes() if config.source_path else b""
    con.execute("create schema if not exists meta")
    con.execute(
        """create table if not exists meta.build_info (
            built_at timestamp, run_id varchar, raw_dir varchar, config_path varchar, config_sha256 varchar,
            window_start date, window_end date, as_of_date date, code_version varchar, settings varchar)"""
    )
    con.execute("alter table meta.build_info add column if not exists settings varchar")  # builds before it
    as_of = as_of_date(con, config)
    coverage = write_coverage(con, config, as_of)
    con.execute(
        """insert into meta.build_info (built_at, run_id, raw_dir, config_path, config_sha256, window_start,
            window_end, as_of_date, code_version, settings) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            datetime.now(UTC).replace(tzinfo=None),
            warehouse.run_id,
            str(warehouse.raw_path),
            str(config.source_path),
            hashlib.sha256(config_text).hexdigest(),
            window[0],
            window[1],
            as_of,
            _code_version(),
            effective_settings(config),
        ],
    )
    document_tables(
        con,
        [
            "meta.build_info",
            "meta.model_state",
            "meta.model_writes",
            "meta.model_inputs",
            "quality.rejected_rows",
            "quality.file_loads",
            "quality.source_coverage",
            "config.channel_rules",
            "config.source_aliases",
        ],
    )
    return coverage


def coverage_line(coverage: list[Coverage], configured: bool) -> str:
    """Each dated source's last covered day, and the one that holds the as-of date back."""
    holder = None if configured else holding_back(coverage)
    return ", ".join(
        f"{c.source} {c.covers_through}" + (" (sets the as-of date)" if holder and c.source == holder.source else "")
        for c in coverage
    )


def coverage_checks(coverage: list[Coverage], max_lag: int) -> list[dg.AssetCheckResult]:
    """Per dated source: how far it lags the source that reaches furthest (a warning, never blocking)."""
    furthest = max((c.covers_through for c in coverage if c.covers_through), default=None)
    found = {c.source: c for c in coverage}
    results = []
    for source in DATED_SOURCES:
        c = found.get(source)
        lag = c.lag_behind(furthest) if c else None
        results.append(
            dg.AssetCheckResult(
                asset_key=BUILD_INFO_KEY,
                check_name=f"{source}_coverage",
                passed=lag is None or lag <= max_lag,
                severity=dg.AssetCheckSeverity.WARN,
                description=(
                    f"{source} is not loaded"
                    if c is None
                    else f"through {c.covers_through}, {lag} days behind the furthest source"
                ),
                metadata={
                    "covers_through": str(c.covers_through) if c else "",
                    "days_behind": lag if lag is not None else -1,
                },
            )
        )
    return results


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
    check_specs=[
        *check_specs(BUILD_INFO, BUILD_INFO_KEY),
        *(
            dg.AssetCheckSpec(
                f"{source}_coverage",
                asset=BUILD_INFO_KEY,
                blocking=False,
                description=f"how many days {source} lags the dated source that reaches furthest "
                "(warns beyond quality.max_source_lag_days; the as-of date is the last day all cover)",
            )
            for source in DATED_SOURCES
        ),
    ],
)
def build_info(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    window = run_window(context)
    # what lies under the raw folder unread (an unknown folder, a loose file) is said, not ignored
    warnings = raw_folder_warnings(warehouse.raw_path, SOURCES)
    for warning in warnings:
        context.log.warning(warning)
    config = warehouse.config
    with warehouse.connect() as con:
        coverage = record_build_info(con, warehouse, window)
        for warning in coverage_warnings(con, config, as_of_date(con, config)):
            context.log.warning(warning)
        metadata = table_metadata(con, BUILD_INFO)
        checks = evaluate(con, BUILD_INFO, window)
    metadata["raw_folder_warnings"] = "\n".join(warnings) or "none"
    metadata["coverage"] = coverage_line(coverage, configured=config.as_of_date is not None)
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[*check_results(checks, BUILD_INFO_KEY), *coverage_checks(coverage, config.max_source_lag_days)],
    )


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
