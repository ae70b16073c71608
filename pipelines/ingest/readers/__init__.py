"""Readers of raw export files: recognise the layout from the header and return canonical columns.

    result = read_export(path, "ad_spend")
    result.frame  # canonical columns of the source, all pl.String, plus source_row (pl.Int64)

Every layout is a declaration in layouts.toml, read by one engine (engine.py) from CSV/TSV or .xlsx.
See docs/data_contracts.md §1.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from schemas.inputs import COLUMNS, REQUIRED, SOURCES

from . import engine
from .base import ExportError, ReadResult
from .layout import CANONICAL, Layout, canonical_layout, layout_names, platform_layouts, query_layout_for, query_layouts

# the reader option naming the business's time zone (`reporting.timezone`): timestamps are given in it
LOCAL_ZONE = "reporting_timezone"

__all__ = [
    "CANONICAL",
    "LOCAL_ZONE",
    "COLUMNS",
    "REQUIRED",
    "SOURCES",
    "ExportError",
    "Layout",
    "ReadResult",
    "canonical_layout",
    "detect_layout",
    "identify",
    "layout_names",
    "platform_layouts",
    "query_layouts",
    "read_export",
]


def _check(source: str) -> None:
    if source not in COLUMNS:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")


def detect_layout(path: Path, source: str, options: Mapping | None = None) -> str:
    """Name of the layout whose header the file has (for table-shaped files: whose query reads it)."""
    _check(source)
    query = query_layout_for(Path(path))
    if query is not None:
        return query.name
    return identify(path, source, options).layout.name


def identify(path: Path, source: str, options: Mapping | None = None) -> engine.Match:
    """The layout, language, header line and columns a file would be read with."""
    _check(source)
    return engine.identify(Path(path), source, options)[1]


def read_export(path: Path, source: str, options: Mapping | None = None) -> ReadResult:
    """Read one export file. options: `currency` (the account currency for reports without one),
    `yandex_money_in_micros` (absent = told apart per file), `encoding` (override detection)."""
    _check(source)
    return engine.read(Path(path), source, options)
