"""`vk_ads_stats`: VK Ads daily statistics (semicolons, often cp1251, decimal comma, dd.mm.yyyy).

The spend header carries the currency (`Потрачено, ₽`; cp1251 has no ₽, so `руб.` there); the
last line starts with `Итого` / `Total`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from .base import ExportError, ReadResult, blank, check_source, finish, with_all_columns
from .text import (
    find_header, header_key, header_names, map_header, open_text, quote_field, read_table, require, write_lines,
)
from .values import date_column, format_number, normalise_date, normalise_number, number_column

NAME = "vk_ads_stats"
PLATFORM = "vk_ads"
DEFAULT_CURRENCY = "RUB"
sources = frozenset({"ad_spend"})
EXPECTED = "vk_ads_stats: Дата;ID кампании;Кампания;Показы;Клики;Потрачено, ₽ (or Date;Campaign ID;...;Spent)"
HEADERS = {
    "ru": ("Дата", "ID кампании", "Кампания", "Показы", "Клики", "Потрачено, {}"),
    "en": ("Date", "Campaign ID", "Campaign", "Impressions", "Clicks", "Spent, {}"),
}
ALIASES = {
    "date": ("дата", "date"),
    "campaign_id": ("id кампании", "campaign id"),
    "campaign_name": ("кампания", "campaign"),
    "impressions": ("показы", "impressions"),
    "clicks": ("клики", "clicks"),
}
_SPEND_PREFIXES = ("потрачено", "spent")
_CURRENCY_MARKS = {"₽": "RUB", "руб": "RUB", "rub": "RUB", "$": "USD", "usd": "USD", "€": "EUR", "eur": "EUR"}
NEEDED = {"date": "Дата", "campaign_id": "ID кампании", "spend": "Потрачено"}


def _is_header(keys: list[str]) -> bool:
    has_spend = any(k.startswith(_SPEND_PREFIXES) for k in keys)
    return has_spend and any({ALIASES["date"][i], ALIASES["campaign_id"][i]} <= set(keys) for i in range(2))


def detect(header_lines: list[str]) -> bool:
    return find_header(header_lines, _is_header, max_index=1) is not None


def _currency(spend_key: str) -> str:
    """Currency from the spend header's suffix, e.g. `потрачено, ₽` or `spent, usd`; RUB by default."""
    suffix = spend_key.removeprefix("потрачено").removeprefix("spent")
    for mark, code in _CURRENCY_MARKS.items():
        if mark in suffix:
            return code
    return DEFAULT_CURRENCY


def read(path: Path, source: str = "ad_spend", options: Mapping | None = None) -> ReadResult:
    check_source(source, sources, NAME)
    tf = open_text(path)
    found = find_header(tf.lines, _is_header, max_index=1)
    if found is None:
        raise ExportError(path, 1, f"no VK Ads header on line 1: {tf.lines[:1]}")
    index, delimiter, cells = found
    names = header_names(cells)
    columns = map_header(cells, ALIASES)
    keys = [header_key(c) for c in cells]
    spend_at = next(i for i, k in enumerate(keys) if k.startswith(_SPEND_PREFIXES))
    columns["spend"] = names[spend_at]
    require(path, index + 1, columns, NEEDED)
    raw, encoding = read_table(tf, index, names, delimiter)

    values = {
        "date": normalise_date(pl.col(columns["date"])),
        "platform": pl.lit(PLATFORM),
        **{c: pl.col(columns[c]) for c in ("campaign_id", "campaign_name") if c in columns},
        **{
            c: normalise_number(pl.col(columns[c]), decimal_comma=True)
            for c in ("impressions", "clicks", "spend") if c in columns
        },
        "currency": pl.lit(_currency(keys[spend_at])),
    }
    first = pl.col(names[0]).str.to_lowercase()
    total = (first.str.starts_with("итого") | first.str.starts_with("total")).fill_null(False)
    return finish(NAME, source, raw, ~blank(names) & ~total, values, index, encoding, delimiter)


def write(frame: pl.DataFrame, path: Path, language: str = "ru", encoding: str = "cp1251") -> None:
    """Write RUB ad_spend rows as VK Ads does: `;`, CRLF, dd.mm.yyyy, NBSP thousands, decimal comma, Итого."""
    frame = with_all_columns(frame, "ad_spend")
    if frame["currency"].drop_nulls().unique().to_list() not in ([], [DEFAULT_CURRENCY]):
        raise ValueError("VK Ads statistics are written in RUB only")
    header = list(HEADERS[language])
    header[-1] = header[-1].format("₽" if _encodes("₽", encoding) else "руб.")
    typed = frame.select(
        date_column(frame, "date").dt.strftime("%d.%m.%Y").alias("date"),
        pl.col("campaign_id").cast(pl.String),
        pl.col("campaign_name").cast(pl.String).fill_null(""),
        *(number_column(frame, c).fill_null(0).alias(c) for c in ("impressions", "clicks", "spend")),
    )
    rows = typed.select(
        pl.concat_str(
            pl.col("date"), pl.col("campaign_id"), quote_field(pl.col("campaign_name"), ";"),
            _grouped(pl.col("impressions"), 0), _grouped(pl.col("clicks"), 0), _grouped(pl.col("spend"), 2),
            separator=";",
        )
    ).to_series()
    sums = typed.select(
        _grouped(pl.col(c).sum(), 2 if c == "spend" else 0) for c in ("impressions", "clicks", "spend")
    ).row(0)
    total_word = "Итого" if language == "ru" else "Total"
    lines = [";".join(header), *rows.to_list(), ";".join([total_word, "", "", *sums])]
    write_lines(path, lines, encoding, newline="\r\n")


def _grouped(value: pl.Expr, decimals: int) -> pl.Expr:
    return format_number(value, decimals, thousands="\u00a0", decimal_sep=",")


def _encodes(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False
