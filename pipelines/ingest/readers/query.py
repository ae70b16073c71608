"""Table-shaped exports (Parquet, JSON: GA4's BigQuery export) read by DuckDB with their layout's query."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import duckdb
import polars as pl

from schemas.inputs import COLUMNS

from .base import ExportError, ReadResult
from .layout import QueryLayout

# `contains` first: most touches carry no tags, and the regular expression is the costly part
URL_PARAM = (
    "create temp macro url_param(url, name) as case when contains(url, name || '=') then "
    "url_decode(nullif(regexp_extract(url, '[?&]' || name || '=([^&#]+)', 1), '')) end"
)
# A file's rows with their 1-based position. Parquet numbers them itself, so its scan stays parallel;
# a row_number() over the scan would run on one thread.
NUMBERED = {
    "read_parquet": "(select file_row_number + 1 as source_row, * exclude (file_row_number) "
    "from read_parquet($file, file_row_number = true))",
    "read_json": "(select row_number() over () as source_row, * from read_json($file))",
}


def read_query(path: Path, source: str, layout: QueryLayout, zone: str = "UTC") -> ReadResult:
    """A table-shaped export read by DuckDB with its layout's query: only the result (one row per
    touch, far fewer than the events) reaches Python, as canonical text columns; times in `zone`."""
    if source != layout.source:
        raise ExportError(path, 1, f"layout {layout.name} holds {layout.source}, not {source}")
    reader = layout.readers[path.suffix.lower()]
    # bounded like ingest's own connection: a month of GA4 events unnested without a limit took 6.5 GB
    # (5.3 M sessions at the large bench); with it DuckDB spills to a temporary folder instead
    spill = tempfile.mkdtemp(prefix="acq-query-")
    con = duckdb.connect(
        config={"memory_limit": os.environ.get("ACQ_DUCKDB_INGEST_MEMORY_LIMIT", "2GB"), "temp_directory": spill}
    )
    try:
        con.execute(URL_PARAM)
        con.execute("set TimeZone = 'UTC'")  # a naive time cast to an instant is UTC (GA4's event_timestamp)
        try:
            fields = [
                row[0] for row in con.execute(f"describe select * from {reader}($file)", {"file": str(path)}).fetchall()
            ]
        except duckdb.Error as exc:
            raise ExportError(path, 1, f"cannot read as {path.suffix} ({layout.name}): {str(exc)[:200]}") from None
        missing = [f for f in layout.fields if f not in fields]
        if missing:
            raise ExportError(
                path, 1, f"{layout.name}: field(s) missing: {', '.join(missing)}; the file has: {fields[:20]}"
            )
        events = con.execute(f"select count(*) from {reader}($file)", {"file": str(path)}).fetchall()[0][0]
        query = layout.query.replace("{events}", NUMBERED[reader])
        frame = con.sql(query, params={"file": str(path), "zone": zone}).pl()
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    columns = [
        pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in COLUMNS[source]
    ]
    frame = frame.select(*columns, pl.col("source_row").cast(pl.Int64))
    kind = "parquet" if reader == "read_parquet" else "json"
    notes = [f"one touch per session: {frame.height} sessions of {events} events"]
    return ReadResult(layout.name, frame, events, events - frame.height, kind, kind, None, notes)
