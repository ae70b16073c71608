"""Readers of raw export files: recognise the layout from the header and return canonical columns.

    result = read_export(path, "ad_spend")
    result.frame  # canonical columns of the source, all pl.String, plus source_row (pl.Int64)

See docs/data_contracts.md §1.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from . import canonical, google_ads, meta_ads, vk_ads, yandex_direct
from .base import COLUMNS, REQUIRED, SOURCES, ExportError, ReadResult
from .text import open_text, sniff_delimiter, split_line

# Detection order matters: platform layouts have distinctive headers; canonical comes last because
# any header naming a canonical column (e.g. VK's English `Date`) would match it.
LAYOUTS = {
    module.NAME: module for module in (google_ads, meta_ads, yandex_direct, vk_ads, canonical)
}

__all__ = ["COLUMNS", "LAYOUTS", "REQUIRED", "SOURCES", "ExportError", "ReadResult", "detect_layout", "read_export"]


def detect_layout(path: Path, source: str) -> str:
    """Name of the layout whose header the file has (the file name plays no part)."""
    path = Path(path)
    if source not in COLUMNS:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    lines = open_text(path).lines
    for name, layout in LAYOUTS.items():
        if layout.detect(lines):
            if source not in layout.sources:
                raise ExportError(path, 1, f"layout {name} holds {', '.join(sorted(layout.sources))}, not {source}")
            return name
    raise ExportError(path, 1, _unrecognised(lines, source))


def read_export(path: Path, source: str, options: Mapping | None = None) -> ReadResult:
    """Read one export file. options: `yandex_money_in_micros` (bool, default True) and `currency`
    (the currency for Google/Yandex reports without a currency column)."""
    layout = LAYOUTS[detect_layout(path, source)]
    return layout.read(Path(path), source, options)


def _unrecognised(lines: list[str], source: str) -> str:
    seen = [split_line(line, sniff_delimiter(line)) for line in lines[:3] if line.strip()]
    expected = [f"canonical {source} columns (required: {', '.join(REQUIRED[source])})"]
    expected += [layout.EXPECTED for layout in LAYOUTS.values() if layout is not canonical and source in layout.sources]
    return f"unrecognised layout; header lines seen: {seen}; expected one of: {'; '.join(expected)}"
