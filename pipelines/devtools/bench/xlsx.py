"""An .xlsx report against its CSV twin: the same Google Ads campaign-day rows, read, cast and validated
(`read_export` + `split_rows`) per row. The workbook is written once into the cache (xlsxwriter, row by
row, takes a while); the twin is the same report as UTF-8 text."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from pipelines.devtools.generate.layout_writers import write_google_ads, write_google_ads_xlsx
from pipelines.ingest.readers import read_export
from pipelines.ingest.validate import split_rows

ROWS = 200_000


def _frame(rows: int) -> pl.DataFrame:
    i = pl.int_range(0, rows, eager=True)
    return pl.DataFrame(
        {
            "date": [date(2024, 1, 1) + timedelta(days=int(d)) for d in (i % 700)],
            "platform": "google_ads",
            "campaign_id": (i // 700).cast(pl.String),
            "campaign_name": "Campaign " + (i // 700).cast(pl.String),
            "currency": "RUB",
            "impressions": (i * 37 % 90_000 + 10),
            "clicks": (i * 7 % 900),
            "spend": (i * 13 % 100_000) / 100 + 0.5,
        }
    )


def ensure_files(cache_dir: Path, rows: int = ROWS) -> tuple[Path, Path]:
    folder = cache_dir / f"xlsx-twin-{rows}"
    xlsx, csv = folder / "report.xlsx", folder / "report.csv"
    if not (xlsx.exists() and csv.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        frame = _frame(rows)
        write_google_ads_xlsx(frame, xlsx)
        utf16 = folder / "report-utf16.csv"
        write_google_ads(frame, utf16)
        csv.write_text(utf16.read_bytes().decode("utf-16").replace("\r\n", "\n"), encoding="utf-8")
        utf16.unlink()
    return xlsx, csv


def measure(cache_dir: Path, rows: int = ROWS, repeat: int = 3) -> dict:
    xlsx, csv = ensure_files(cache_dir, rows)

    def best(path: Path) -> tuple[float, int]:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            read = read_export(path, "ad_spend")
            good, _ = split_rows("ad_spend", read)
            times.append(time.perf_counter() - started)
        return min(times), good.height

    xlsx_seconds, xlsx_rows = best(xlsx)
    csv_seconds, csv_rows = best(csv)
    return {
        "rows": xlsx_rows,
        "csv_rows": csv_rows,
        "xlsx_seconds": xlsx_seconds,
        "csv_seconds": csv_seconds,
        "ratio": (xlsx_seconds / xlsx_rows) / (csv_seconds / csv_rows)
        if csv_seconds and xlsx_rows and csv_rows
        else None,
    }
