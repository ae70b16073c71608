"""`python -m pipelines report [--html PATH]`: the first things an analyst looks at, read-only.

In the terminal: the build, the headline table (per channel under the default attribution model, over
the last `ltv.summary_months` complete acquisition months: customers, paid and fully loaded CAC, margin
LTV at 12 months, LTV:CAC and its band, observed and simple payback), rounded to fit in 100 columns, and
the rejected rows. With `--html PATH`: the same and the charts in one self-contained file
(pipelines/html_report.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.db import rows, table_exists

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
    return [dict(zip(names, row)) for row in cursor.fetchall()]


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
    return dict(zip(names, found[0])) if found else None


def rejects(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    if not table_exists(con, "quality.rejected_rows"):
        return []
    return rows(con, "select source, reason, count(*) as n from quality.rejected_rows group by all order by n desc, source, reason")


def print_report(warehouse: Path, html: Path | None = None) -> int:
    from pipelines.config import load_config

    if not warehouse.exists():
        print(f"{warehouse} does not exist yet: run `python -m pipelines run` first")
        return 1
    config = load_config()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        build = build_row(con)
        if build:
            print(f"build      {build['built_at']:%Y-%m-%d %H:%M} UTC, code {build['code_version']}, as of {build['as_of_date']}")
        if not table_exists(con, "marts.channel_summary"):
            print("marts.channel_summary is not in this warehouse")
            return 1
        records = headline(con, config.default_model)
        window = f"{records[0]['window_start']:%Y-%m}..{records[0]['window_end']:%Y-%m}" if records else "no complete month"
        print(f"\nChannels: acquisition months {window}, attribution {config.default_model}, amounts in {config.reporting_currency}")
        print("(CAC and LTV per new customer; LTV 12m = margin in the first 12 months; payback in months)\n")
        print(headline_text(records))
        found = rejects(con)
        total = sum(n for _, _, n in found)
        print(f"\nRejected rows: {total}" + (" (quality.rejected_rows has file, line, column and value)" if total else ""))
        for source, reason, n in found[:REJECT_LINES]:
            print(f"  {source:<12} {n:>6}  {reason[:76]}")
        if len(found) > REJECT_LINES:
            rest = sum(n for *_, n in found[REJECT_LINES:])
            print(f"  + {len(found) - REJECT_LINES} more reasons ({rest} rows): `report --html` or quality.rejected_rows")
        if html is not None:
            from pipelines.html_report import write_html

            write_html(con, html, config)
            print(f"\nwrote {html}")
    finally:
        con.close()
    return 0
