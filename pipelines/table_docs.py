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
    """Comment each table and its columns: published tables from their Pandera models, raw, staging and
    config tables from schemas/internal.py."""
    models = published_models()
    for table in tables:
        if table in models:
            apply_comments(con, models[table])
        elif table.split(".")[0] in ("raw", "staging", "config"):
            apply_internal_comments(con, table)


def internal_description(table: str) -> str | None:
    """What a raw, staging or config table is, in words."""
    from schemas import inputs, internal

    schema, name = table.split(".")
    if schema == "config":
        return internal.CONFIG_TABLES.get(table)
    if schema == "raw":
        model = inputs.INPUT_MODELS.get(name)
        return ((model.__doc__ or "").strip() + internal.RAW_SUFFIX).strip() if model else None
    if schema == "staging":
        from pipelines.sql_models import SQL_DIR

        path = SQL_DIR / "staging" / f"{name}.sql"
        if not path.exists():
            return None
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            if not line.startswith("--"):
                break
            lines.append(line[2:].strip())
        return " ".join(lines) or None
    return None


def apply_internal_comments(con: duckdb.DuckDBPyConnection, table: str) -> None:
    from schemas.internal import column_text

    schema_name, table_name = table.split(".")
    kind = rows(
        con,
        "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
        [schema_name, table_name],
    )
    if not kind:
        return
    description = internal_description(table)
    if description:
        what = "view" if kind[0][0] == "VIEW" else "table"
        con.execute(f"comment on {what} {table} is {_quote(description)}")
    for (name,) in rows(con, f"select column_name from (describe {table})"):
        text = column_text(table, name)
        if text:
            con.execute(f'comment on column {table}."{name}" is {_quote(text)}')


# The order analysts meet the tables in, with each table's grain (one row per ...) and key columns.
# A published table missing here still appears, after these.
TABLE_GUIDE: dict[str, tuple[str, tuple[str, ...]]] = {
    "marts.channel_summary": ("channel × attribution model, over the last `ltv.summary_months` complete acquisition months", ("channel", "attribution_model")),
    "marts.channel_period_cac": ("period grain × period × channel × attribution model", ("period_grain", "period_start", "channel", "attribution_model")),
    "marts.blended_cac": ("period grain × period", ("period_grain", "period_start")),
    "marts.channel_ltv": ("acquisition month × channel × attribution model", ("cohort_month", "channel", "attribution_model")),
    "marts.cohort_ltv": ("acquisition month × channel × attribution model × month index", ("cohort_month", "channel", "attribution_model", "month_index")),
    "marts.cohort_members": ("customer × attribution model × channel", ("customer_key", "attribution_model", "channel")),
    "marts.orders": ("order (valid orders only)", ("order_id",)),
    "marts.first_purchases": ("customer", ("customer_key",)),
    "marts.attribution": ("first purchase × attribution model × touch", ("order_id", "attribution_model", "touch_position")),
    "marts.attribution_credits": ("first purchase × touch (a credit column per model)", ("order_id", "touch_position")),
    "marts.channel_weights": ("data-driven model × fit × channel", ("attribution_model", "fit_end", "channel")),
    "quality.rejected_rows": ("failed value of a rejected input row", ("source_file", "source_row", "column_name", "check_name")),
    "quality.file_loads": ("export file", ("source", "source_file")),
    "meta.build_info": ("published build", ("run_id",)),
    "meta.model_state": ("incrementally maintained table", ("table_name",)),
    "meta.model_writes": ("write of an incremental table", ("table_name", "written_at")),
}
SQL_TYPES = {"Float64": "DOUBLE", "Int64": "BIGINT", "Int32": "INTEGER", "String": "VARCHAR", "Date": "DATE",
             "Datetime": "TIMESTAMP", "Boolean": "BOOLEAN", "Decimal": "DECIMAL"}


def sql_type(dtype) -> str:
    text = str(dtype)
    for name, sql in SQL_TYPES.items():
        if text.startswith(name):
            return sql
    return text.upper()


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """docs/tables.md: every published table and column, from the same models that comment the warehouse,
    in the order an analyst needs them; then the raw, staging and config tables."""
    from pipelines.raw_tables import LINEAGE, RAW_COLUMNS
    from pipelines.sql_models import discover_models
    from schemas.internal import CONFIG_TABLES, column_text

    models = published_models()
    order = [t for t in TABLE_GUIDE if t in models] + sorted(t for t in models if t not in TABLE_GUIDE)
    lines = [
        "# Tables",
        "",
        "Generated by `python -m pipelines docs` from the Pandera models in `schemas/` (published tables) and",
        "`schemas/internal.py` (raw, staging, config); the same words are the table and column comments in the",
        "warehouse (`select table_name, column_name, comment from duckdb_columns()`). Amounts are in the reporting",
        "currency. Definitions of every metric: [metrics.md](metrics.md).",
        "",
        "Start with `marts.channel_summary`; the tables after it hold the same numbers by period, by cohort and",
        "by order.",
        "",
        "| table | one row per | key |",
        "|---|---|---|",
    ]
    for table in order:
        grain, keys = TABLE_GUIDE.get(table, ("", ()))
        lines.append(f"| [`{table}`](#{table.replace('.', '')}) | {grain} | {', '.join(f'`{k}`' for k in keys)} |")
    lines.append("")
    for table in order:
        schema = models[table].to_schema()
        grain, keys = TABLE_GUIDE.get(table, ("", ()))
        lines += [f"## `{table}`", "", schema.description or "", ""]
        if grain:
            lines += [f"One row per {grain}. Key: {', '.join(f'`{k}`' for k in keys)}.", ""]
        lines += ["| column | SQL type | null | meaning |", "|---|---|---|---|"]
        for name, column in schema.columns.items():
            key = " (key)" if name in keys else ""
            lines.append(f"| `{name}`{key} | {sql_type(column.dtype)} | {'yes' if column.nullable else 'no'} | {_cell(column.description)} |")
        lines.append("")
    lines += ["# Inputs and intermediate tables", "",
              "`raw.*` holds the validated inputs, `staging.*` the converted and normalised rows the marts read,",
              "`config.*` the settings in force. Their comments are in the warehouse too.", ""]
    for source, columns in RAW_COLUMNS.items():
        table = f"raw.{source}"
        lines += [f"## `{table}`", "", internal_description(table) or "", "",
                  "| column | SQL type | meaning |", "|---|---|---|"]
        for name, kind in (columns | LINEAGE).items():
            lines.append(f"| `{name}` | {kind.upper()} | {_cell(column_text(table, name))} |")
        lines.append("")
    lines += ["## Staging", "", "| table | materialised | what |", "|---|---|---|"]
    for model in sorted(discover_models(), key=lambda m: m.table):
        if model.schema != "staging":
            continue
        how = "view" if model.is_view else ("table" if model.partition_column is None else f"incremental by {model.partition_column}")
        lines.append(f"| `{model.table}` | {how} | {_cell(internal_description(model.table))} |")
    lines += ["", "## Config", "", "| table | what |", "|---|---|"]
    for table, text in CONFIG_TABLES.items():
        lines.append(f"| `{table}` | {_cell(text)} |")
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


def raw_column_schema(source: str):
    """`dagster/column_schema` of raw.<source>, known before any build (pipelines/raw_tables.py)."""
    import dagster as dg

    from pipelines.raw_tables import LINEAGE, RAW_COLUMNS
    from schemas.internal import column_text

    table = f"raw.{source}"
    return dg.TableSchema(
        columns=[dg.TableColumn(name, kind, description=column_text(table, name))
                 for name, kind in (RAW_COLUMNS[source] | LINEAGE).items()]
    )


def table_metadata(con: duckdb.DuckDBPyConnection, table: str, count: bool = True) -> dict:
    """What a table asset reports after each build: its row count (not for views: counting one would
    compute it) and column schema."""
    import dagster as dg

    metadata: dict = {"dagster/column_schema": column_schema(con, table)}
    if count:
        metadata["dagster/row_count"] = dg.MetadataValue.int(int(rows(con, f"select count(*) from {table}")[0][0]))
    return metadata
