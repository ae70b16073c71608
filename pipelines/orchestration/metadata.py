"""Dagster metadata of table assets: column schemas (from the Pandera models or the built table) and row counts."""

from __future__ import annotations

import duckdb

from pipelines.core.db import rows
from pipelines.core.table_comments import published_models
from pipelines.ingest.raw_tables import LINEAGE, RAW_COLUMNS
from schemas.internal import column_text


def column_schema(con: duckdb.DuckDBPyConnection, table: str):
    """`dagster/column_schema` of a table as built: its columns, SQL types and comments."""
    import dagster as dg

    schema_name, table_name = table.split(".")
    found = rows(
        con,
        """select column_name, data_type, is_nullable, comment from duckdb_columns()
           where schema_name = ? and table_name = ? order by column_index""",
        [schema_name, table_name],
    )
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                data_type.lower(),
                description=comment or None,
                constraints=dg.TableColumnConstraints(nullable=bool(nullable)),
            )
            for name, data_type, nullable, comment in found
        ]
    )


def model_column_schema(table: str):
    """`dagster/column_schema` from a published table's Pandera model (known before any build)."""
    import dagster as dg

    model = published_models().get(table)
    if model is None:
        return None
    schema = model.to_schema()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                str(column.dtype).lower(),
                description=column.description,
                constraints=dg.TableColumnConstraints(nullable=column.nullable),
            )
            for name, column in schema.columns.items()
        ]
    )


def raw_column_schema(source: str):
    """`dagster/column_schema` of raw.<source>, known before any build (pipelines/ingest/raw_tables.py)."""
    import dagster as dg

    table = f"raw.{source}"
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, kind, description=column_text(table, name))
            for name, kind in (RAW_COLUMNS[source] | LINEAGE).items()
        ]
    )


def table_metadata(con: duckdb.DuckDBPyConnection, table: str, count: bool = True) -> dict:
    """What a table asset reports after each build: its row count (not for views: counting one would
    compute it) and column schema."""
    import dagster as dg

    metadata: dict = {"dagster/column_schema": column_schema(con, table)}
    if count:
        metadata["dagster/row_count"] = dg.MetadataValue.int(int(rows(con, f"select count(*) from {table}")[0][0]))
    return metadata
