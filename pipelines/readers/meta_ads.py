"""`meta_ads_manager`: Meta Ads Manager export (UTF-8 with BOM, comma), English or Russian header.

One row per campaign and day; the currency is written inside the spend header, e.g.
`Amount spent (USD)`; a totals row has neither campaign name nor id; empty clicks mean 0.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from .base import ExportError, ReadResult, blank, check_source, finish, with_all_columns
from .text import (
    find_header, header_key, header_names, map_header, open_text, quote_field, read_table, require, write_lines,
)
from .values import date_column, format_number, normalise_date, normalise_number, number_column

NAME = "meta_ads_manager"
PLATFORM = "meta_ads"
sources = frozenset({"ad_spend"})
EXPECTED = (
    "meta_ads_manager: Reporting starts, Reporting ends, Campaign name, Campaign ID, Impressions, "
    "Link clicks, Amount spent (XXX) (or the Russian Начало отчетности, ...)"
)
HEADERS = {
    "en": ("Reporting starts", "Reporting ends", "Campaign name", "Campaign ID", "Impressions",
           "Link clicks", "Amount spent ({})"),
    "ru": ("Начало отчетности", "Конец отчетности", "Название кампании", "ID кампании", "Показы",
           "Клики по ссылке", "Потраченная сумма ({})"),
}
# canonical column -> header keys in both languages (header_key: lower case, ё as е)
ALIASES = {
    column: tuple(header_key(HEADERS[lang][i]) for lang in HEADERS)
    for i, column in ((0, "date"), (2, "campaign_name"), (3, "campaign_id"), (4, "impressions"), (5, "clicks"))
}
ALIASES["account_id"] = ("account id", "id аккаунта")
_SPEND = re.compile(r"^(amount spent|потраченная сумма) \(([a-z]{3})\)$")
NEEDED = {"date": "Reporting starts", "campaign_id": "Campaign ID", "spend": "Amount spent (XXX)"}


def _is_header(keys: list[str]) -> bool:
    return any({ALIASES["date"][i], ALIASES["campaign_name"][i]} <= set(keys) for i in range(len(HEADERS)))


def detect(header_lines: list[str]) -> bool:
    return find_header(header_lines, _is_header, max_index=1) is not None


def read(path: Path, source: str = "ad_spend", options: Mapping | None = None) -> ReadResult:
    check_source(source, sources, NAME)
    tf = open_text(path)
    found = find_header(tf.lines, _is_header, max_index=1)
    if found is None:
        raise ExportError(path, 1, f"no Meta Ads Manager header on line 1: {tf.lines[:1]}")
    index, delimiter, cells = found
    names = header_names(cells)
    columns = map_header(cells, ALIASES)
    currency = None
    for name, cell in zip(names, cells):
        match = _SPEND.match(header_key(cell))
        if match:
            columns["spend"], currency = name, match.group(2).upper()
            break
    require(path, index + 1, columns, NEEDED)
    raw, encoding = read_table(tf, index, names, delimiter)

    values = {
        "date": normalise_date(pl.col(columns["date"])),
        "platform": pl.lit(PLATFORM),
        **{c: pl.col(columns[c]) for c in ("account_id", "campaign_id", "campaign_name") if c in columns},
        "spend": normalise_number(pl.col(columns["spend"])),
        "currency": pl.lit(currency),
    }
    if "impressions" in columns:
        values["impressions"] = normalise_number(pl.col(columns["impressions"]))
    if "clicks" in columns:  # Meta leaves clicks empty when there were none
        values["clicks"] = normalise_number(pl.col(columns["clicks"])).fill_null("0")
    total = pl.col(columns["campaign_id"]).is_null()
    if "campaign_name" in columns:
        total &= pl.col(columns["campaign_name"]).is_null()
    return finish(NAME, source, raw, ~blank(names) & ~total, values, index, encoding, delimiter)


def write(frame: pl.DataFrame, path: Path, language: str = "en") -> None:
    """Write ad_spend rows of one currency as Ads Manager does (BOM, comma, empty zero clicks, totals)."""
    frame = with_all_columns(frame, "ad_spend")
    currencies = frame["currency"].unique().to_list()
    if len(currencies) != 1:
        raise ValueError(f"a Meta export has one currency, got {currencies}")
    header = [*HEADERS[language][:-1], HEADERS[language][-1].format(currencies[0])]
    date = date_column(frame, "date").dt.strftime("%Y-%m-%d")
    typed = frame.select(
        date.alias("date"),
        pl.col("campaign_name").cast(pl.String).fill_null(""),
        pl.col("campaign_id").cast(pl.String),
        *(number_column(frame, c).fill_null(0).alias(c) for c in ("impressions", "clicks", "spend")),
    )
    rows = typed.select(
        pl.concat_str(
            pl.col("date"), pl.col("date"), quote_field(pl.col("campaign_name"), ","), pl.col("campaign_id"),
            format_number(pl.col("impressions"), 0),
            pl.when(pl.col("clicks") == 0).then(pl.lit("")).otherwise(format_number(pl.col("clicks"), 0)),
            format_number(pl.col("spend"), 2),
            separator=",",
        )
    ).to_series()
    totals = typed.select(
        pl.col("date").min(), pl.col("date").max().alias("end"),
        format_number(pl.col("impressions").sum(), 0).alias("impressions"),
        format_number(pl.col("clicks").sum(), 0).alias("clicks"),
        format_number(pl.col("spend").sum(), 2).alias("spend"),
    ).row(0)
    start, end, impressions, clicks, spend = (t or "" for t in totals)
    # Ads Manager puts the summary row (no campaign) right under the header
    totals_line = ",".join([start, end, "", "", impressions, clicks, spend])
    lines = [",".join(header), totals_line, *rows.to_list()]
    write_lines(path, lines, "utf-8", codecs.BOM_UTF8)
