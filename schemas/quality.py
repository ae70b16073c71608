"""Published models of the bookkeeping tables: quarantine, file reconciliation, build info."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl


class RejectedRows(pa.DataFrameModel):
    run_id: pl.String = pa.Field(description="Dagster run that read the file")
    source: pl.String = pa.Field(description="input source: ad_spend, costs, customers, orders, touchpoints, fx_rates")
    source_file: pl.String = pa.Field(description="file path relative to the raw folder")
    source_row: pl.Int64 = pa.Field(
        ge=1, description="line number as a spreadsheet shows it (1 = first line of the file)"
    )
    column_name: pl.String = pa.Field(description="canonical column that failed")
    check_name: pl.String = pa.Field(description="the check that failed (cast_*, not_nullable, str_matches, ...)")
    raw_value: pl.String = pa.Field(nullable=True, description="the value as exported; e-mails and phones masked")
    reason: pl.String = pa.Field(description="why the row was quarantined, in words")

    class Config:
        name = "quality.rejected_rows"
        description = (
            "Quarantine: one row per failed value of every rejected input row. Fix the export and re-run to clear it."
        )


class FileLoads(pa.DataFrameModel):
    run_id: pl.String = pa.Field(description="Dagster run that read the file")
    source: pl.String = pa.Field(description="input source")
    source_file: pl.String = pa.Field(description="file path relative to the raw folder")
    layout: pl.String = pa.Field(
        description="layout recognised from the header: canonical or one declared in "
        "pipelines/ingest/readers/layouts.toml (google_ads_ui, meta_ads_manager, yandex_direct_api, "
        "yandex_direct_web, vk_ads, vk_ads_stats, tiktok_ads_manager, microsoft_ads)"
    )
    encoding: pl.String = pa.Field(description="detected text encoding")
    delimiter: pl.String = pa.Field(description="detected field separator; xlsx for a workbook")
    language: pl.String = pa.Field(
        nullable=True,
        description="interface language of the header (en, ru) for platform layouts; empty for canonical files",
    )
    notes: pl.String = pa.Field(
        description="how the file was read where it was not plain: a guessed encoding and its confidence, the "
        "sheet of a workbook, the campaign key when the export has no campaign id, how Yandex money "
        "units were told apart"
    )
    rows_read: pl.Int64 = pa.Field(ge=0, description="lines read after the header, including structural ones")
    rows_loaded: pl.Int64 = pa.Field(ge=0, description="rows now in raw.<source> from this file")
    rows_rejected: pl.Int64 = pa.Field(ge=0, description="rows quarantined in quality.rejected_rows")
    rows_skipped: pl.Int64 = pa.Field(ge=0, description="structural lines: title, date range, totals, blank lines")
    duplicates_dropped: pl.Int64 = pa.Field(
        ge=0, description="rows also exported by a later file (latest_row_at, then file name), which won"
    )
    file_sha256: pl.String = pa.Field(description="content hash of the file")
    file_size: pl.Int64 = pa.Field(ge=0, description="file size in bytes")
    file_mtime: pl.Datetime = pa.Field(
        description="file modification time (UTC): only tells an unchanged file from a changed one, never decides copies"
    )
    latest_row_at: pl.Datetime = pa.Field(
        nullable=True,
        description="the latest date of the file's valid rows (orders: order or refund time; costs: period end); "
        "of two differing copies of one record the file whose rows reach later wins, then the larger file name",
    )
    load_signature: pl.String = pa.Field(
        description="reader options, hashing secret and ingest version the file was read with; a file whose size, time or signature changes is read again"
    )
    loaded_at: pl.Datetime = pa.Field(
        description="when the file was read (UTC); an unchanged file keeps the run that first read it"
    )

    class Config:
        name = "quality.file_loads"
        description = (
            "Reconciliation per file: rows_read = rows_loaded + duplicates_dropped + rows_rejected + rows_skipped."
        )


class Conflicts(pa.DataFrameModel):
    run_id: pl.String = pa.Field(description="Dagster run that found the copies")
    source: pl.String = pa.Field(description="input source")
    natural_key: pl.String = pa.Field(description="the record's key, its parts joined by ' | '")
    kept_file: pl.String = pa.Field(description="file of the copy kept in raw.<source>")
    kept_row: pl.Int64 = pa.Field(ge=1, description="its line, as a spreadsheet shows it")
    dropped_file: pl.String = pa.Field(description="file of the copy dropped")
    dropped_row: pl.Int64 = pa.Field(ge=1, description="its line")
    differing_columns: pl.String = pa.Field(description="the columns whose values differ, comma-separated")
    kept_values: pl.String = pa.Field(description="the kept copy's values of those columns (column=value; ...)")
    dropped_values: pl.String = pa.Field(description="the dropped copy's values of those columns")
    decided_by: pl.String = pa.Field(
        isin=["latest row date", "file name", "last line"],
        description="what decided: the files' latest row dates; their names when those tie (the run warns); "
        "the last line when both copies are in one file",
    )

    class Config:
        name = "quality.conflicts"
        description = (
            "Copies of one record that differ (a re-downloaded export with corrected values, one id in two files): "
            "which was kept, which dropped, and the values of both. Decided by content, never by file times."
        )


class BuildInfo(pa.DataFrameModel):
    built_at: pl.Datetime = pa.Field(description="when the build finished (UTC)")
    run_id: pl.String = pa.Field(description="Dagster run id")
    raw_dir: pl.String = pa.Field(description="export folder the build read")
    config_path: pl.String = pa.Field(nullable=True, description="settings file used")
    config_sha256: pl.String = pa.Field(description="hash of the settings file")
    window_start: pl.Date = pa.Field(description="first day recomputed (1900-01-01 = from the beginning)")
    window_end: pl.Date = pa.Field(description="day after the last day recomputed (2999-12-31 = to the end)")
    as_of_date: pl.Date = pa.Field(
        nullable=True,
        description="the last day every dated source covers (quality.source_coverage), or the configured one",
    )
    code_version: pl.String = pa.Field(description="git commit of the pipeline code")
    settings: pl.String = pa.Field(
        nullable=True,
        description="the effective settings of the build as JSON (defaults filled in): `report` and `charts` "
        "read the attribution model, currency and thresholds from here",
    )

    class Config:
        name = "meta.build_info"
        description = "One row per published build: when, from what, with which settings and code."


class ModelState(pa.DataFrameModel):
    table_name: pl.String = pa.Field(
        unique=True, description="an incrementally maintained table, e.g. marts.attribution"
    )
    fingerprint: pl.String = pa.Field(description="hash of the table's SQL and the settings it was computed with")
    as_of_date: pl.Date = pa.Field(nullable=True, description="the as-of date of the run that last wrote it")
    updated_at: pl.Datetime = pa.Field(description="when a run last wrote it (UTC)")

    class Config:
        name = "meta.model_state"
        description = (
            "What each incremental table's stored rows were computed with: a run whose SQL or settings differ "
            "rebuilds the table whole instead of only its window."
        )


class ModelWrites(pa.DataFrameModel):
    table_name: pl.String = pa.Field(description="an incrementally maintained table, e.g. marts.attribution")
    window_start: pl.Date = pa.Field(
        description="first date of the rows the write replaced (1900-01-01: rebuilt whole)"
    )
    written_at: pl.Datetime = pa.Field(description="when the write happened (UTC)")

    class Config:
        name = "meta.model_writes"
        description = (
            "One row per write of an incremental table: tables built from it (marts.cohort_members from "
            "marts.attribution) recompute from the oldest row rewritten since their own last write."
        )


class ModelInputs(pa.DataFrameModel):
    table_name: pl.String = pa.Field(unique=True, description="a model's table, e.g. marts.channel_ltv")
    input_signature: pl.String = pa.Field(
        description="hash of what its rows were computed from: the code, its SQL, the run's settings and "
        "as-of date, and each input's version (a raw source's files, a model's own signature)"
    )

    class Config:
        name = "meta.model_inputs"
        description = (
            "What each model's stored rows are a function of: a run whose inputs hash the same keeps the "
            "table as it is and writes no row (`backfill --recompute` recomputes anyway)."
        )


class SourceCoverage(pa.DataFrameModel):
    source: pl.String = pa.Field(unique=True, description="a dated source: orders, ad_spend, touchpoints")
    latest_row_date: pl.Date = pa.Field(nullable=True, description="the day of the source's latest loaded row")
    complete_through: pl.String = pa.Field(
        nullable=True, description="the source's setting [sources.X] complete_through, where given ('yesterday')"
    )
    covers_through: pl.Date = pa.Field(
        nullable=True, description="the last day the source covers: its latest row, or the setting's day if later"
    )
    days_behind: pl.Int64 = pa.Field(
        ge=0, description="days the source covers fewer than the source that reaches furthest"
    )
    holds_as_of: pl.Boolean = pa.Field(description="this source's coverage sets the as-of date")
    as_of_date: pl.Date = pa.Field(description="the build's as-of date")

    class Config:
        name = "quality.source_coverage"
        description = (
            "How far each dated source covers and which one sets the as-of date (the last day every dated "
            "source covers; costs and FX rates never hold it back). A source ahead of the others moves nothing: "
            "its later rows are loaded and enter no complete period."
        )


TABLES = [RejectedRows, FileLoads, Conflicts, BuildInfo, ModelState, ModelWrites, ModelInputs, SourceCoverage]
