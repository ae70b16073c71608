"""Dagster assets of the raw stage: one per source, each a full snapshot of that source's export folder.

Exports do not respect period boundaries (a file holds many months), so every run reads the folder
as it is now; the partition window only bounds what the SQL models recompute downstream.
"""

# No `from __future__ import annotations` here: Dagster inspects the annotations of asset functions
# (context, resources) at definition time and rejects them as strings.

import dagster as dg

from pipelines.core.faults import pause_point
from pipelines.core.pii import hash_secret, mask_text
from pipelines.core.table_comments import document_tables
from pipelines.ingest.folders import check_no_sharp_shrink, check_source_present, published_data_rows, source_folders
from pipelines.ingest.load import ingest_source
from pipelines.ingest.raw_tables import SOURCES
from pipelines.ingest.rules import Bounds, IngestError
from pipelines.orchestration.metadata import raw_column_schema, table_metadata
from pipelines.orchestration.partitions import OWNERS, POOL, monthly, single_run
from pipelines.orchestration.resources import WarehouseResource
from pipelines.publish.checks import check_results, check_specs, evaluate, unchanged_results
from schemas import inputs


def raw_asset(source: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", source])
    table = f"raw.{source}"
    model = inputs.INPUT_MODELS[source]

    @dg.asset(
        owners=OWNERS,
        key=key,
        group_name="raw",
        partitions_def=monthly,
        backfill_policy=single_run,
        pool=POOL,
        kinds={"duckdb", "polars"},
        description=f"{(model.__doc__ or '').strip()}\n\nThe validated rows of every export file in <raw>/{source}/, "
        "with source_file and source_row; rows that fail the Pandera model go to quality.rejected_rows.",
        metadata={"dagster/column_schema": raw_column_schema(source)},
        check_specs=[
            dg.AssetCheckSpec(
                "reject_rate",
                asset=key,
                description="share of data rows quarantined (the run stops above quality.max_reject_share)",
            ),
            *check_specs(table, key),
        ],
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        config = warehouse.config
        raw_dir = warehouse.raw_path
        with warehouse.connect() as con:
            try:
                published = published_data_rows(con, source)
                check_source_present(raw_dir, source, published, warehouse.allow_missing)
                load = ingest_source(
                    con,
                    source,
                    raw_dir,
                    warehouse.run_id,
                    hash_secret(),
                    max_reject_share=config.max_reject_share,
                    options=config.ingest_options(source),
                    bounds=Bounds.from_config(config),
                )
                # a folder allowed to be missing may take the published rows with it: that was the point
                allowed = warehouse.allow_shrink or (warehouse.allow_missing and not source_folders(raw_dir, source))
                check_no_sharp_shrink(source, published, load, config.max_shrink_share, allowed)
            except Exception as exc:
                # Messages reach the terminal and Dagster's event storage: mask personal data, keep them
                # short, and leave the unmasked exception out of the stored chain (`from None`).
                text = mask_text(str(exc))
                text = text if len(text) <= 2000 else text[:2000] + " … (cut)"
                kind = "" if isinstance(exc, IngestError) else f"{type(exc).__name__}: "
                prefix = "" if text.startswith(f"{source}:") else f"{source}: "
                raise dg.Failure(description=prefix + kind + text) from None
            pause_point("ingest")  # test-only: lets a test kill the run mid-ingest (pipelines/core/faults.py)
            metadata = table_metadata(con, table)
            if load.files and load.reused_files == len(load.files):
                # no file read: the rows are those of the build that loaded and checked them
                checks = unchanged_results(table)
            else:
                document_tables(con, [table, "quality.rejected_rows", "quality.file_loads", "quality.conflicts"])
                checks = evaluate(con, table)
        folders = [f.name for f in source_folders(raw_dir, source)]
        if not folders:
            context.log.warning(f"{source}: no {source}/ folder in {raw_dir}; built without it (--allow-missing)")
        if load.tied_conflicts:  # decided, but by file name only: the person should know which export won
            context.log.warning(
                f"{source}: {load.tied_conflicts} record(s) differ between files whose rows end on the same date; "
                "the larger file name won (quality.conflicts, decided_by = 'file name')"
            )
        if load.reasons:  # the run's summary counts them; the rows are in quality.rejected_rows
            reasons = sorted(load.reasons.items(), key=lambda kv: -kv[1])
            context.log.info(
                f"{source}: {load.rows_rejected} row(s) rejected: "
                + "; ".join(f"{reason} ({count})" for reason, count in reasons)
            )
        yield dg.MaterializeResult(
            asset_key=key,
            metadata=metadata
            | {
                "files": len(load.files),
                "files_reused": load.reused_files,  # unchanged since an earlier run: not read again
                "rows_loaded": load.rows_loaded,
                "rows_rejected": load.rows_rejected,
                "duplicates_dropped": sum(f.duplicates_dropped for f in load.files),
                "reject_share": dg.MetadataValue.float(load.reject_share),
                "layouts": ", ".join(sorted({f.layout for f in load.files})),
                "folders": ", ".join(f + "/" for f in folders) or "(none)",
            },
        )
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name="reject_rate",
            passed=load.reject_share <= config.max_reject_share,
            metadata={
                "reject_share": load.reject_share,
                "threshold": config.max_reject_share,
                "rows_rejected": load.rows_rejected,
            },
        )
        yield from check_results(checks, key)

    return _asset


raw_assets = [raw_asset(source) for source in SOURCES]
