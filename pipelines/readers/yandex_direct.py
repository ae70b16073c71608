"""`yandex_direct_api`: Yandex Direct Reports API TSV.

A report-name line, the header, data rows and a `Total rows: N` summary line. Money is in micros
(the API's default `returnMoneyInMicros`), `--` means 0, the currency is RUB unless a column says.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from .base import ExportError, ReadResult, blank, check_source, finish, with_all_columns
from .text import find_header, header_names, map_header, open_text, quote_field, read_table, require, write_lines
from .values import date_column, format_number, normalise_date, normalise_number, number_column

NAME = "yandex_direct_api"
PLATFORM = "yandex_direct"
DEFAULT_CURRENCY = "RUB"
sources = frozenset({"ad_spend"})
EXPECTED = "yandex_direct_api: a report-name line, then Date, CampaignId, CampaignName, Impressions, Clicks, Cost (tab)"
ALIASES = {
    "date": ("date",),
    "campaign_id": ("campaignid",),
    "campaign_name": ("campaignname",),
    "account_id": ("clientlogin",),
    "impressions": ("impressions",),
    "clicks": ("clicks",),
    "spend": ("cost",),
    "currency": ("currency",),
}
NEEDED = {"date": "Date", "campaign_id": "CampaignId", "spend": "Cost"}


def _is_header(keys: list[str]) -> bool:
    return {"date", "campaignid", "cost"} <= set(keys)


def detect(header_lines: list[str]) -> bool:
    return find_header(header_lines, _is_header, max_index=2) is not None


def read(path: Path, source: str = "ad_spend", options: Mapping | None = None) -> ReadResult:
    """options: `yandex_money_in_micros` (default True) - Cost is in millionths;
    `currency` - the currency when there is no Currency column (default RUB)."""
    check_source(source, sources, NAME)
    options = options or {}
    tf = open_text(path)
    found = find_header(tf.lines, _is_header, max_index=2)
    if found is None:
        raise ExportError(path, 1, f"no Yandex Direct header in the first lines: {tf.lines[:2]}")
    index, delimiter, cells = found
    columns = map_header(cells, ALIASES)
    require(path, index + 1, columns, NEEDED)
    names = header_names(cells)
    raw, encoding = read_table(tf, index, names, delimiter)

    def number(column: str) -> pl.Expr:
        value = pl.col(columns[column])
        return normalise_number(pl.when(value == "--").then(pl.lit("0")).otherwise(value), False)

    spend = number("spend")
    if options.get("yandex_money_in_micros", True):
        units = (spend.cast(pl.Float64, strict=False) / 1_000_000).cast(pl.String)
        spend = pl.coalesce(units, spend)  # text that is no number stays for validation to reject
    values = {
        "date": normalise_date(pl.col(columns["date"])),
        "platform": pl.lit(PLATFORM),
        **{c: pl.col(columns[c]) for c in ("account_id", "campaign_id", "campaign_name") if c in columns},
        **{c: number(c) for c in ("impressions", "clicks") if c in columns},
        "spend": spend,
        "currency": (
            pl.col(columns["currency"]) if "currency" in columns
            else pl.lit(options.get("currency", DEFAULT_CURRENCY))
        ),
    }
    summary = pl.col(names[0]).str.starts_with("Total rows").fill_null(False)
    return finish(NAME, source, raw, ~blank(names) & ~summary, values, index, encoding, delimiter)


def write(
    frame: pl.DataFrame, path: Path, report_name: str = "Campaign performance", money_in_micros: bool = True
) -> None:
    """Write ad_spend rows as the Reports API returns them (UTF-8, tabs, micros, `--` for 0, summary)."""
    frame = with_all_columns(frame, "ad_spend")
    with_currency = frame["currency"].drop_nulls().unique().to_list() != [DEFAULT_CURRENCY]
    spend = number_column(frame, "spend").fill_null(0)
    columns = [
        date_column(frame, "date").dt.strftime("%Y-%m-%d"),
        pl.col("campaign_id").cast(pl.String),
        quote_field(pl.col("campaign_name").cast(pl.String).fill_null(""), "\t"),
        *(_count_text(number_column(frame, c)) for c in ("impressions", "clicks")),
        format_number(spend * 1_000_000, 0) if money_in_micros else format_number(spend, 2),
    ]
    header = ["Date", "CampaignId", "CampaignName", "Impressions", "Clicks", "Cost"]
    if with_currency:
        columns.append(pl.col("currency").cast(pl.String))
        header.append("Currency")
    rows = frame.select(pl.concat_str(columns, separator="\t")).to_series()
    lines = [report_name, "\t".join(header), *rows.to_list(), f"Total rows: {frame.height}"]
    write_lines(path, lines, "utf-8")


def _count_text(value: pl.Expr) -> pl.Expr:
    value = value.fill_null(0)
    return pl.when(value == 0).then(pl.lit("--")).otherwise(format_number(value, 0))
