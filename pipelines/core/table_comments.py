"""Table and column comments in the warehouse, taken from the Pandera models of published tables.

A published table's model (schemas/) names its table in `Config.name` ("marts.channel_period_cac"),
describes it in `Config.description` and each column in `Field(description=...)`; analysts then see
those words in their SQL client (`duckdb_tables()`, `duckdb_columns()`, DBeaver, DataGrip...).
"""

from __future__ import annotations

import duckdb
import pandera.polars as pa

from pipelines.core.db import rows
from pipelines.core.paths import SQL_DIR
from schemas import inputs, internal
from schemas.internal import column_text
from schemas.tables import PUBLISHED


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

    schema, name = table.split(".")
    if schema == "config":
        return internal.CONFIG_TABLES.get(table)
    if schema == "raw":
        model = inputs.INPUT_MODELS.get(name)
        return ((model.__doc__ or "").strip() + internal.RAW_SUFFIX).strip() if model else None
    if schema == "staging":
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
    "marts.channel_summary": (
        "channel × attribution model, over the last `ltv.summary_months` complete acquisition months",
        ("channel", "attribution_model"),
    ),
    "marts.channel_period_cac": (
        "period grain × period × channel × attribution model",
        ("period_grain", "period_start", "channel", "attribution_model"),
    ),
    "marts.blended_cac": ("period grain × period", ("period_grain", "period_start")),
    "marts.channel_ltv": (
        "acquisition month × channel × attribution model",
        ("cohort_month", "channel", "attribution_model"),
    ),
    "marts.cohort_ltv": (
        "acquisition month × channel × attribution model × month index",
        ("cohort_month", "channel", "attribution_model", "month_index"),
    ),
    "marts.cohort_members": (
        "customer × attribution model × channel",
        ("customer_key", "attribution_model", "channel"),
    ),
    "marts.orders": ("order (valid orders only)", ("order_id",)),
    "marts.first_purchases": ("customer", ("customer_key",)),
    "marts.attribution": (
        "first purchase × attribution model × touch",
        ("order_id", "attribution_model", "touch_position"),
    ),
    "marts.attribution_credits": ("first purchase × touch (a credit column per model)", ("order_id", "touch_position")),
    "marts.channel_weights": ("data-driven model × fit × channel", ("attribution_model", "fit_end", "channel")),
    "marts.channel_incrementality": ("paid channel, over the marketing-mix model's fit window", ("channel",)),
    "marts.channel_response_curves": ("fitted paid channel × weekly spend level", ("channel", "weekly_spend")),
    "quality.incrementality_fit": ("marketing-mix fit × purpose (fit, holdout)", ("purpose",)),
    "quality.rejected_rows": (
        "failed value of a rejected input row",
        ("source_file", "source_row", "column_name", "check_name"),
    ),
    "quality.file_loads": ("export file", ("source", "source_file")),
    "meta.build_info": ("published build", ("run_id",)),
    "meta.model_state": ("incrementally maintained table", ("table_name",)),
    "meta.model_writes": ("write of an incremental table", ("table_name", "written_at")),
    "meta.model_inputs": ("model's table", ("table_name",)),
}
