"""Table and column comments in the warehouse, taken from the Pandera models of published tables.

A published table's model (schemas/) names its table in `Config.name` ("marts.channel_period_cac"),
describes it in `Config.description` and each column in `Field(description=...)`; analysts then see
those words in their SQL client (`duckdb_tables()`, `duckdb_columns()`, DBeaver, DataGrip...).
"""

from __future__ import annotations

import duckdb
import pandera.polars as pa

from pipelines.db import rows


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def apply_comments(con: duckdb.DuckDBPyConnection, model: type[pa.DataFrameModel]) -> None:
    schema = model.to_schema()
    table = schema.name
    existing = {name for (name,) in rows(con, f"select column_name from (describe {table})")}
    # COMMENT ON takes no bound parameters; the texts are the project's own, quoted here.
    if schema.description:
        con.execute(f"comment on table {table} is {_quote(schema.description)}")
    for name, column in schema.columns.items():
        if column.description and name in existing:
            con.execute(f'comment on column {table}."{name}" is {_quote(column.description)}')


def undocumented_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema_name, table_name = table.split(".")
    return [
        name
        for (name,) in rows(
            con,
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ? and comment is null",
            [schema_name, table_name],
        )
    ]


def published_models() -> dict[str, type[pa.DataFrameModel]]:
    """Table name -> Pandera model, for every published table that has one (schemas/tables.py)."""
    from schemas.tables import PUBLISHED

    return {model.to_schema().name: model for model in PUBLISHED}


def document_tables(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    models = published_models()
    for table in tables:
        if table in models:
            apply_comments(con, models[table])


def render_markdown() -> str:
    """docs/tables.md: every published table and column, from the same models that comment the warehouse."""
    lines = [
        "# Published tables",
        "",
        "Generated from the Pandera models in `schemas/` by `python -m pipelines docs`; the same words are the",
        "table and column comments in the warehouse (`select * from duckdb_columns() where comment is not null`).",
        "",
    ]
    for table, model in sorted(published_models().items()):
        schema = model.to_schema()
        lines += [f"## `{table}`", "", schema.description or "", "", "| column | type | meaning |", "|---|---|---|"]
        for name, column in schema.columns.items():
            nullable = ", nullable" if column.nullable else ""
            meaning = (column.description or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{name}` | {column.dtype}{nullable} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


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
            dg.TableColumn(name, data_type.lower(), description=comment or None,
                           constraints=dg.TableColumnConstraints(nullable=bool(nullable)))
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
            dg.TableColumn(name, str(column.dtype).lower(), description=column.description,
                           constraints=dg.TableColumnConstraints(nullable=column.nullable))
            for name, column in schema.columns.items()
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
