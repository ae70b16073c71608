"""Dagster assets of the staging and mart stages, one per SQL file, wired by the tables each file reads."""

# No `from __future__ import annotations` here: Dagster inspects the annotations of asset functions
# (context, resources) at definition time and rejects them as strings.

import dagster as dg

from pipelines.faults import pause_point
from pipelines.fx import check_fx
from pipelines.partitions import POOL, monthly, run_window, single_run
from pipelines.resources import WarehouseResource
from pipelines.sql_models import SqlModel, discover_models, run_model
from pipelines.table_docs import document_tables
from pipelines.transform import as_of_date, model_params


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def sql_asset(model: SqlModel) -> dg.AssetsDefinition:
    @dg.asset(
        key=_key(model.table),
        deps=[_key(ref) for ref in sorted(model.refs) if not ref.startswith(("config.", "quality."))],
        group_name=model.schema,
        partitions_def=monthly,
        backfill_policy=single_run,
        pool=POOL,
        kinds={"duckdb", "sql"},
        description=f"{model.table}, built by sql/{model.schema}/{model.path.name} "
        + ("(rebuilt whole)" if model.partition_column is None else f"(periods in the run's window, by {model.partition_column})"),
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        config = warehouse.config
        window = run_window(context)
        with warehouse.connect() as con:
            params = model_params(config, window, as_of_date(con, config))
            if model.schema == "marts":
                pause_point("marts")  # test-only: lets a test kill the run mid-marts (pipelines/faults.py)
            rows = run_model(con, model, params)
            if model.table == "staging.missing_fx_rates":
                check_fx(con)  # a missing rate stops the run here, naming currency and date
            document_tables(con, [model.table])
        return dg.MaterializeResult(
            metadata={
                "rows_written": rows,
                "window_start": str(params["window_start"]),
                "window_end": str(params["window_end"]),
                "as_of_date": str(params["as_of_date"]),
            }
        )

    return _asset


sql_assets = [sql_asset(m) for m in discover_models()]
