"""Dagster assets of the staging and mart stages, one per SQL file, wired by the tables each file reads."""

# No `from __future__ import annotations` here: Dagster inspects the annotations of asset functions
# (context, resources) at definition time and rejects them as strings.

import dagster as dg

from pipelines.core.faults import pause_point
from pipelines.core.table_comments import document_tables, published_models
from pipelines.orchestration.metadata import model_column_schema, table_metadata
from pipelines.orchestration.partitions import OWNERS, POOL, monthly, run_window, single_run
from pipelines.orchestration.resources import WarehouseResource
from pipelines.publish.checks import check_results, check_specs, evaluate, unchanged_results
from pipelines.transform.coverage import DATED_SOURCES, run_date
from pipelines.transform.fx import check_fx
from pipelines.transform.models import PYTHON_MODELS
from pipelines.transform.params import as_of_date, model_params
from pipelines.transform.runner import SqlModel, discover_models, run_model
from pipelines.transform.state import raw_version, store_inputs

_AS_OF: dict[tuple, object] = {}  # (run, the dated sources' versions, the day) -> the as-of date


def run_as_of(con, config, run_id: str):
    """The as-of date of the build in `con`, computed once per run and state of the dated raw sources
    (each model's step would otherwise re-read their latest rows: ~20 ms a step at medium)."""
    key = (run_id, *(raw_version(con, source) for source in DATED_SOURCES), run_date())
    if key not in _AS_OF:
        _AS_OF.clear()
        _AS_OF[key] = as_of_date(con, config)
    return _AS_OF[key]


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def describe(model: SqlModel) -> str:
    """What the table is, for the asset's description: the published model's words, else the SQL file's
    leading comment; then how it is built."""
    published = published_models().get(model.table)
    text = published.to_schema().description if published is not None else None
    if not text:
        lines = []
        for line in model.sql.splitlines()[1:]:
            if not line.startswith("--"):
                break
            lines.append(line[2:].strip())
        text = " ".join(lines)
    how = {
        True: "A view: computed when read.",
        False: "Rebuilt whole every run."
        if model.partition_column is None
        else f"Incremental: the rows whose {model.partition_column} falls in the run's months are replaced.",
    }[model.is_view]
    # a Python model refitted on a cadence says so itself (issue 30: pipelines/transform/models/incrementality.py)
    how = getattr(PYTHON_MODELS.get(model.table) if model.is_python else None, "MATERIALISED", how)
    return f"{text}\n\n{how} SQL: sql/{model.schema}/{model.path.name}."


def sql_asset(model: SqlModel) -> dg.AssetsDefinition:
    key = _key(model.table)
    schema = model_column_schema(model.table)

    @dg.asset(
        owners=OWNERS,
        key=key,
        deps=[_key(ref) for ref in sorted(model.refs) if not ref.startswith(("config.", "quality.", "meta."))],
        group_name=model.schema,
        partitions_def=monthly,
        backfill_policy=single_run,
        pool=POOL,
        kinds={"duckdb", "sql"},
        description=describe(model),
        metadata={"dagster/column_schema": schema} if schema is not None else None,
        check_specs=check_specs(model.table, key),
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        config = warehouse.config
        window = run_window(context)
        with warehouse.connect() as con:
            params = model_params(config, window, run_as_of(con, config, warehouse.run_id))
            if model.schema == "marts":
                pause_point("marts")  # test-only: lets a test kill the run mid-marts (pipelines/core/faults.py)
            spark = warehouse.spark_engine(config)  # None: DuckDB, the default
            if spark is not None:
                rows = spark.build(con, model, params)
                store_inputs(con, model.table, None)  # written by Spark: the next DuckDB run recomputes it
            else:
                # unchanged inputs: the stored rows stand and nothing is written (`backfill --recompute`
                # recomputes the months anyway)
                rows = run_model(con, model, params, skip_unchanged=not warehouse.recompute)
            if model.table == "staging.missing_fx_rates":
                check_fx(con)  # a missing rate stops the run here, naming currency and date
            if rows is not None:
                document_tables(con, [model.table])
            metadata = table_metadata(con, model.table, count=not model.is_view)
            if rows is None:
                # the rows are those of the build that wrote them, which passed these checks (a table
                # that fails one is not kept as unchanged: below); re-reading them would cost seconds
                checks = unchanged_results(model.table)
            else:
                checks = evaluate(con, model.table, window)
                if any(not c.passed for c in checks):
                    store_inputs(con, model.table, None)  # the next run recomputes and checks it again
        if rows is None:
            metadata["unchanged"] = True  # its inputs hash as when it was last written: no row written
        elif model.partition_column is not None:
            metadata["rows_replaced"] = rows
        if spark is not None:  # where the rows were computed, and the Parquet table Spark keeps
            metadata["engine"] = f"spark {spark.master}"
            if not model.is_view:
                metadata["spark_table"] = dg.MetadataValue.path(str(spark.table_dir(model.table)))
        metadata["as_of_date"] = str(params["as_of_date"])
        metadata["months"] = months_of(context)
        return dg.MaterializeResult(metadata=metadata, check_results=check_results(checks, key))

    return _asset


def months_of(context: dg.AssetExecutionContext) -> str:
    """The run's months as people write them (2024-01..2024-06), not the window's open ends."""
    if not context.has_partition_key_range:
        return "all"
    key_range = context.partition_key_range
    return key_range.start[:7] if key_range.start == key_range.end else f"{key_range.start[:7]}..{key_range.end[:7]}"


sql_assets = [sql_asset(m) for m in discover_models()]
