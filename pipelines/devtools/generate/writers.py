"""Writing files: the platform layout writers (layout_writers.py) or canonical CSV; file quirks;
planting bad rows; a record of every file for the manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.devtools.generate import layout_writers as lw
from pipelines.devtools.generate.text import decimal_comma as to_decimal_comma

WRITERS = {  # writer -> (function, layout name as the readers report it)
    "canonical": (lw.write_canonical, "canonical"),
    "google_ads": (lw.write_google_ads, "google_ads_ui"),
    "google_ads_xlsx": (lw.write_google_ads_xlsx, "google_ads_ui"),
    "meta_ads": (lw.write_meta_ads, "meta_ads_manager"),
    "meta_ads_default": (lw.write_meta_default, "meta_ads_manager"),
    "yandex_direct": (lw.write_yandex_direct, "yandex_direct_api"),
    "vk_ads": (lw.write_vk_ads, "vk_ads_stats"),
    "ga4": (lw.write_ga4_parquet, "ga4_bigquery"),
}


@dataclass
class Quirks:
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal_comma: bool = False
    bom: bool = False
    dates: str = "iso"  # iso | ru (dd.mm.yyyy)
    trailing_blank: bool = False

    def describe(self) -> str:
        parts = []
        if self.delimiter != ",":
            parts.append({"\t": "tab", ";": "';'"}.get(self.delimiter, self.delimiter) + "-separated")
        if self.decimal_comma:
            parts.append("decimal comma")
        if self.encoding != "utf-8":
            parts.append(self.encoding)
        if self.bom:
            parts.append("UTF-8 BOM")
        if self.dates == "ru":
            parts.append("dates dd.mm.yyyy")
        if self.trailing_blank:
            parts.append("empty trailing line")
        return ", ".join(parts)


@dataclass
class FileRecord:
    path: str
    source: str
    layout: str
    rows: int
    writer: str
    quirks: str = ""
    note: str = ""


@dataclass
class BadRow:
    path: str
    line: int
    column: str
    value: str
    reason: str


@dataclass
class Output:
    root: Path
    layouts: str = "native"
    shop_export: bool = True  # the first quarter's orders as Shopify's export (native layouts only)
    files: list[FileRecord] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    duplicates: list[tuple[str, int, str]] = field(default_factory=list)  # file, rows, also in

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.source] = out.get(f.source, 0) + f.rows
        return out


def writer_of(module: str):
    return WRITERS[module][0]


def write_canonical(
    out: Output,
    source: str,
    rel: str,
    text: pl.DataFrame,
    quirks: Quirks | None = None,
    bad: list[tuple[int, str, str, str, dict]] | None = None,
    note: str = "",
) -> None:
    """Write an all-text canonical frame, planting bad rows first.

    bad: (position, column, value, reason, overrides) — a copy of the row at `position` with the overrides
    applied is inserted after it; its 1-based line (header = line 1) goes to the manifest."""
    quirks = quirks or Quirks()
    if out.layouts == "canonical":
        quirks = Quirks()
    text, lines = _plant(text, bad or [])
    for line, (_, column, value, reason, _) in zip(lines, sorted(bad or [], key=lambda b: b[0]), strict=False):
        out.bad_rows.append(BadRow(rel, line, column, value, reason))
    if quirks.decimal_comma:
        text = to_decimal_comma(text, source)
    path = out.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    writer_of("canonical")(
        text,
        path,
        delimiter=quirks.delimiter,
        encoding=quirks.encoding,
        decimal_comma=quirks.decimal_comma,
        bom=quirks.bom,
    )
    used = "layout_writers.write_canonical"
    if quirks.trailing_blank:
        with open(path, "ab") as fh:
            fh.write(b"\r\n" if _uses_crlf(path) else b"\n")
    out.files.append(FileRecord(rel, source, "canonical", text.height, used, quirks.describe(), note))


def write_native(
    out: Output, module: str, rel: str, typed: pl.DataFrame, text: pl.DataFrame, note: str = "", **kwargs
) -> None:
    """A platform export written by its layout writer from the typed frame; a plain canonical CSV in
    its place when every file is to be canonical."""
    writer = None if out.layouts == "canonical" else writer_of(module)
    path = out.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if writer is None:
        delimiter = "\t" if rel.endswith(".tsv") else ","
        _plain_csv(text, path, Quirks(delimiter=delimiter))
        out.files.append(
            FileRecord(
                rel,
                "ad_spend",
                "canonical",
                text.height,
                "fallback csv",
                "tab-separated" if delimiter == "\t" else "",
                note,
            )
        )
        return
    writer(typed, path, **kwargs)
    out.files.append(
        FileRecord(
            rel, "ad_spend", WRITERS[module][1], typed.height, f"layout_writers.{writer.__name__}", _kw(kwargs), note
        )
    )


def write_analytics(out: Output, rel: str, text: pl.DataFrame, note: str = "") -> None:
    """Touchpoint text as a GA4 BigQuery export (Parquet) of one session per touch."""
    path = out.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    lw.write_ga4_parquet(text, path)
    out.files.append(
        FileRecord(rel, "touchpoints", "ga4_bigquery", text.height, "layout_writers.write_ga4_parquet", "", note)
    )


def _kw(kwargs: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in kwargs.items())


def _plant(text: pl.DataFrame, bad: list[tuple[int, str, str, str, dict]]) -> tuple[pl.DataFrame, list[int]]:
    if not bad or text.height == 0:
        return text, []
    parts, lines, prev = [], [], 0
    for pos, column, value, _, overrides in sorted(bad, key=lambda b: b[0]):
        pos = min(max(pos, 0), text.height - 1)
        parts.append(text.slice(prev, pos + 1 - prev))
        row = text.slice(pos, 1).with_columns(
            [pl.lit(v, dtype=pl.String).alias(k) for k, v in ({column: value} | overrides).items()]
        )
        parts.append(row)
        prev = pos + 1
        lines.append(sum(p.height for p in parts) + 1)  # +1: the header is line 1
    parts.append(text.slice(prev))
    return pl.concat(parts), lines


def _plain_csv(text: pl.DataFrame, path: Path, q: Quirks) -> None:
    body = text.write_csv(separator=q.delimiter, null_value="", quote_style="necessary", line_terminator="\n")
    data = body.encode(q.encoding)
    if q.bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)


def _uses_crlf(path: Path) -> bool:
    with open(path, "rb") as fh:
        return b"\r\n" in fh.read(4096)
