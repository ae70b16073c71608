"""The headline and the rejects as read from a published warehouse, and their formatting: shared by the
terminal report and the HTML page.

The headline sets the observed LTV:CAC of the cohorts that have lived their 12 months (the
summary_months acquisition months before the window: `*_older_cohorts`) beside the predicted one of
the window's own cohorts, each with the customers behind it; a band only with enough of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from pipelines.core.config import Config
from pipelines.core.db import rows, table_exists

REJECT_LINES = 6  # the most frequent reasons in the terminal; the HTML report lists them all
HEADLINE_SQL = """
    select channel, customers, cac_paid, cac_full,
           customers_older_cohorts, ltv_margin_12_older_cohorts, ltv_cac_12_older_cohorts,
           ltv_cac_12_older_cohorts_low, ltv_cac_12_older_cohorts_high, ltv_cac_band_older_cohorts,
           ltv_margin_12_predicted, ltv_cac_12_predicted, ltv_cac_band_predicted, ltv_backtest_error,
           payback_months_observed, payback_months_predicted, months_observed,
           ltv_12_customers, ltv_cac_12, ltv_cac_band, window_start, window_end
    from marts.channel_summary
    where attribution_model = $model
    order by ltv_cac_12_predicted desc nulls last, customers desc, channel"""


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    fmt: str  # "text", "int", "ratio", "months", "band", "percent", "interval"
    group: str = ""  # the heading over a run of columns


HEADLINE_COLUMNS = (
    Column("channel", "channel", 14, "text"),
    Column("customers", "customers", 9, "int", "window"),
    Column("cac_paid", "paid", 6, "int", "CAC"),
    Column("cac_full", "full", 6, "int", "CAC"),
    Column("ltv_cac_12_older_cohorts", "LTV:CAC", 7, "ratio", "observed, older cohorts"),
    Column("customers_older_cohorts", "n", 5, "int", "observed, older cohorts"),
    Column("ltv_cac_band_older_cohorts", "band", 10, "band", "observed, older cohorts"),
    Column("ltv_cac_12_predicted", "LTV:CAC", 7, "ratio", "predicted, window"),
    Column("ltv_cac_band_predicted", "band", 10, "band", "predicted, window"),
    Column("payback_months_predicted", "payback", 7, "months"),
)
# the HTML page shows more: the interval, the LTV itself and the back-test error of the prediction
HTML_COLUMNS = (
    *HEADLINE_COLUMNS[:4],
    Column("ltv_margin_12_older_cohorts", "LTV 12m", 7, "int", "observed, older cohorts"),
    *HEADLINE_COLUMNS[4:5],
    Column("ltv_cac_12_older_cohorts_low", "90 % interval", 11, "interval", "observed, older cohorts"),
    *HEADLINE_COLUMNS[5:7],
    Column("ltv_margin_12_predicted", "LTV 12m", 7, "int", "predicted, window"),
    *HEADLINE_COLUMNS[7:9],
    Column("ltv_backtest_error", "back-test error", 8, "percent", "predicted, window"),
    Column("payback_months_observed", "observed", 7, "months", "payback, months"),
    Column("payback_months_predicted", "predicted", 7, "months", "payback, months"),
)
SHORT_BANDS = {"insufficient_data": "too few"}  # the terminal's narrow column; the page says it in full


def format_value(value, fmt: str, record: dict | None = None) -> str:
    if fmt == "interval":
        low, high = (
            (record or {}).get("ltv_cac_12_older_cohorts_low"),
            (record or {}).get("ltv_cac_12_older_cohorts_high"),
        )
        return "–" if low is None or high is None else f"{low:.2f}–{high:.2f}"
    if value is None:
        return "–"
    if fmt == "int":
        return f"{value:,.0f}".replace(",", "\u202f")  # a narrow no-break space: 1 612 never wraps
    if fmt == "ratio":
        return f"{value:.2f}"
    if fmt == "ratio1":
        return f"{value:.1f}"
    if fmt == "months":
        return f"{int(value)}"
    if fmt == "percent":
        return f"{value:+.0%}"
    return str(value)


def headline(con: duckdb.DuckDBPyConnection, model: str) -> list[dict]:
    cursor = con.execute(HEADLINE_SQL.replace("$model", "?"), [model])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]


def headline_text(records: list[dict]) -> str:
    def cell(c: Column, text: str) -> str:
        return text.ljust(c.width) if c.fmt in ("text", "band") else text.rjust(c.width)

    groups, spans = [], []
    for c in HEADLINE_COLUMNS:  # the group headings over their columns
        if spans and spans[-1][0] == c.group:
            spans[-1][1] += c.width + 2
        else:
            spans.append([c.group, c.width + (2 if spans else 0)])
    groups = "".join(g.center(w) if g else " " * w for g, w in spans).rstrip()
    header = "  ".join(cell(c, c.title) for c in HEADLINE_COLUMNS)
    lines = [groups, header, "-" * len(header)]
    for record in records:
        cells = []
        for c in HEADLINE_COLUMNS:
            text = format_value(record[c.key], c.fmt, record).replace("\u202f", " ")
            if c.fmt == "band":
                text = SHORT_BANDS.get(text, text)
            cells.append(cell(c, text))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def build_row(con: duckdb.DuckDBPyConnection) -> dict | None:
    if not table_exists(con, "meta.build_info"):
        return None
    cursor = con.execute("select * from meta.build_info order by built_at desc limit 1")
    names = [d[0] for d in cursor.description]
    found = cursor.fetchall()
    return dict(zip(names, found[0], strict=False)) if found else None


def build_settings(con: duckdb.DuckDBPyConnection, fallback: Config) -> dict[str, Any]:
    """The settings the published build was made with (meta.build_info.settings): the report describes
    that build, not whatever the settings file says today. A build from before the column: the file's."""
    build = build_row(con) or {}
    recorded = json.loads(build["settings"]) if build.get("settings") else {}
    wanted = ("default_model", "reporting_currency", "report_min_customers", "min_customers_for_band", "summary_months")
    return {key: recorded.get(key, getattr(fallback, key)) for key in wanted}


def rejects(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    if not table_exists(con, "quality.rejected_rows"):
        return []
    return rows(
        con,
        "select source, reason, count(*) as n from quality.rejected_rows group by all order by n desc, source, reason",
    )


def reject_lines(con: duckdb.DuckDBPyConnection, limit: int = 200) -> list[tuple]:
    """Rejected values with file and line: where to fix the export."""
    if not table_exists(con, "quality.rejected_rows"):
        return []
    return rows(
        con,
        """select source, source_file, source_row, column_name, reason, raw_value from quality.rejected_rows
           order by source, source_file, source_row, column_name limit ?""",
        [limit],
    )
