"""`google_ads_ui`: campaign report downloaded from the Google Ads UI.

UTF-16 LE with BOM, tab-separated; a title line and a date-range line before the header; numbers
may be quoted with thousands commas; ` --` means no data (0); `Total: ...` rows at the end.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from .base import ExportError, ReadResult, blank, check_source, finish, with_all_columns
from .text import find_header, header_names, map_header, open_text, quote_field, read_table, require, write_lines
from .values import date_column, format_number, normalise_date, normalise_number, number_column

NAME = "google_ads_ui"
PLATFORM = "google_ads"
sources = frozenset({"ad_spend"})
EXPECTED = "google_ads_ui: Day, Campaign, Campaign ID, Currency code, Impressions, Clicks, Cost (tab, after 2 title lines)"
ALIASES = {
    "date": ("day",),
    "campaign_name": ("campaign",),
    "campaign_id": ("campaign id",),
    "account_id": ("customer id", "account"),
    "currency": ("currency code", "currency"),
    "impressions": ("impressions", "impr."),
    "clicks": ("clicks",),
    "spend": ("cost",),
}
NEEDED = {"date": "Day", "campaign_id": "Campaign ID", "spend": "Cost"}


def _is_header(keys: list[str]) -> bool:
    return {"day", "cost"} <= set(keys) and ("campaign" in keys or "campaign id" in keys)


def detect(header_lines: list[str]) -> bool:
    return find_header(header_lines, _is_header) is not None


def read(path: Path, source: str = "ad_spend", options: Mapping | None = None) -> ReadResult:
    """options: `currency` fills the currency when the report has no `Currency code` column."""
    check_source(source, sources, NAME)
    options = options or {}
    tf = open_text(path)
    found = find_header(tf.lines, _is_header)
    if found is None:
        raise ExportError(path, 1, f"no Google Ads header in the first lines: {tf.lines[:5]}")
    index, delimiter, cells = found
    columns = map_header(cells, ALIASES)
    needed = NEEDED if options.get("currency") else {**NEEDED, "currency": "Currency code"}
    require(path, index + 1, columns, needed)
    names = header_names(cells)
    raw, encoding = read_table(tf, index, names, delimiter)

    def count(column: str) -> pl.Expr:
        # ` --` is Google's "no data", i.e. nothing happened
        value = pl.col(columns[column])
        return normalise_number(pl.when(value == "--").then(pl.lit("0")).otherwise(value), False)

    values = {
        "date": normalise_date(pl.col(columns["date"])),
        "platform": pl.lit(PLATFORM),
        **{c: pl.col(columns[c]) for c in ("account_id", "campaign_id", "campaign_name") if c in columns},
        **{c: count(c) for c in ("impressions", "clicks", "spend") if c in columns},
        "currency": pl.col(columns["currency"]) if "currency" in columns else pl.lit(options["currency"]),
    }
    total = pl.any_horizontal(pl.col(n).str.starts_with("Total:") for n in names[:2]).fill_null(False)
    return finish(NAME, source, raw, ~blank(names) & ~total, values, index, encoding, delimiter)


def write(frame: pl.DataFrame, path: Path, title: str = "Campaign report") -> None:
    """Write ad_spend rows as the UI does: UTF-16 LE + BOM, CRLF, tabs, quoted thousands, ` --`, totals."""
    frame = with_all_columns(frame, "ad_spend")
    typed = frame.select(
        date_column(frame, "date").alias("date"),
        pl.col("campaign_name").cast(pl.String).fill_null(""),
        pl.col("campaign_id").cast(pl.String),
        pl.col("currency").cast(pl.String),
        *(number_column(frame, c).fill_null(0).alias(c) for c in ("impressions", "clicks", "spend")),
    )
    rows = typed.select(
        pl.concat_str(
            pl.col("date").dt.strftime("%Y-%m-%d"),
            quote_field(pl.col("campaign_name"), "\t"),
            pl.col("campaign_id"),
            pl.col("currency"),
            _count_text(pl.col("impressions")),
            _count_text(pl.col("clicks")),
            _money_text(pl.col("spend")),
            separator="\t",
        )
    ).to_series()
    sums = typed.select(
        _count_text(pl.col("impressions").sum()).alias("impressions"),
        _count_text(pl.col("clicks").sum()).alias("clicks"),
        _money_text(pl.col("spend").sum()).alias("spend"),
    ).row(0)
    start, end = typed["date"].min(), typed["date"].max()
    lines = [
        title,
        f"{start.day} {start:%B %Y} - {end.day} {end:%B %Y}" if start else "",
        "Day\tCampaign\tCampaign ID\tCurrency code\tImpressions\tClicks\tCost",
        *rows.to_list(),
        "Total: Campaigns\t\t\t\t" + "\t".join(sums),
    ]
    write_lines(path, lines, "utf-16-le", codecs.BOM_UTF16_LE, "\r\n")


def _quoted_if_grouped(text: pl.Expr) -> pl.Expr:
    return pl.when(text.str.contains(",", literal=True)).then('"' + text + '"').otherwise(text)


def _count_text(value: pl.Expr) -> pl.Expr:
    grouped = _quoted_if_grouped(format_number(value, 0, ","))
    return pl.when(value == 0).then(pl.lit(" --")).otherwise(grouped)


def _money_text(value: pl.Expr) -> pl.Expr:
    return _quoted_if_grouped(format_number(value, 2, ","))
