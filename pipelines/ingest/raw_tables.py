"""The typed shape of every raw.* table (docs/data_contracts.md, section 2): ingest writes it, SQL reads it."""

from __future__ import annotations

import duckdb

from schemas.inputs import SOURCES, raw_columns

LINEAGE = {"source_file": "varchar", "source_row": "bigint", "layout": "varchar"}

# from the input models (schemas/inputs.py), e-mail and phone as their hash keys
RAW_COLUMNS: dict[str, dict[str, str]] = {source: raw_columns(source) for source in SOURCES}


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty raw.* tables with lineage columns, for a fresh warehouse or a test."""
    con.execute("create schema if not exists raw")
    for source, columns in RAW_COLUMNS.items():
        body = ", ".join(f'"{name}" {kind}' for name, kind in (columns | LINEAGE).items())
        con.execute(f"create table if not exists raw.{source} ({body})")
