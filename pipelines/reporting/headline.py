"""The headline and the rejects as read from a published warehouse, and their formatting: shared by the terminal report and the HTML page."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pipelines.core.db import rows, table_exists

REJECT_LINES = 6  # the most frequent reasons in the terminal; the HTML report lists them all
HEADLINE_SQL = """
    select channel, customers, cac_paid, cac_full, ltv_margin_12, ltv_cac_12, ltv_cac_band,
           payback_months_observed, payback_months_simple, window_start, window_end
    from marts.channel_summary
    where attribution_model = $model
    order by ltv_cac_12 desc nulls last, customers desc, channel"""


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    fmt: str  # "text", "int", "ratio", "months"


HEADLINE_COLUMNS = (
    Column("channel", "channel", 14, "text"),
    Column("customers", "customers", 9, "int"),
    Column("cac_paid", "paid CAC", 8, "int"),
    Column("cac_full", "full CAC", 8, "int"),
    Column("ltv_margin_12", "LTV 12m", 8, "int"),
    Column("ltv_cac_12", "LTV:CAC", 7, "ratio"),
    Column("ltv_cac_band", "band", 10, "text"),
    Column("payback_months_observed", "payback", 7, "months"),
    Column("payback_months_simple", "simple", 6, "ratio1"),
)


def format_value(value, fmt: str) -> str:
    if value is None:
        return "–"
    if fmt == "int":
        return f"{value:,.0f}".replace(",", " ")
    if fmt == "ratio":
        return f"{value:.2f}"
    if fmt == "ratio1":
        return f"{value:.1f}"
    if fmt == "months":
        return f"{int(value)}"
    return str(value)


def headline(con: duckdb.DuckDBPyConnection, model: str) -> list[dict]:
    cursor = con.execute(HEADLINE_SQL.replace("$model", "?"), [model])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]


def headline_text(records: list[dict]) -> str:
    header = "  ".join(c.title.ljust(c.width) if c.fmt == "text" else c.title.rjust(c.width) for c in HEADLINE_COLUMNS)
    lines = [header, "-" * len(header)]
    for record in records:
        cells = []
        for c in HEADLINE_COLUMNS:
            text = format_value(record[c.key], c.fmt)[: c.width]
            cells.append(text.ljust(c.width) if c.fmt == "text" else text.rjust(c.width))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def build_row(con: duckdb.DuckDBPyConnection) -> dict | None:
    if not table_exists(con, "meta.build_info"):
        return None
    cursor = con.execute("select * from meta.build_info order by built_at desc limit 1")
    names = [d[0] for d in cursor.description]
    found = cursor.fetchall()
    return dict(zip(names, found[0], strict=False)) if found else None


def rejects(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    if not table_exists(con, "quality.rejected_rows"):
        return []
    return rows(
        con,
        "select source, reason, count(*) as n from quality.rejected_rows group by all order by n desc, source, reason",
    )
