"""`canonical`: a CSV whose header holds the canonical column names of the source (any source)."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from .base import COLUMNS, NUMERIC, REQUIRED, ExportError, ReadResult, blank, check_source, finish
from .text import find_header, header_key, header_names, open_text, read_table
from .values import normalise_number, text_frame

NAME = "canonical"
sources = frozenset(COLUMNS)
EXPECTED = "canonical: a header on line 1 with the source's column names"
_KNOWN = {name for names in COLUMNS.values() for name in names}


def _is_header(cells: list[str]) -> bool:
    return any(cell in _KNOWN for cell in cells)


def detect(header_lines: list[str]) -> bool:
    """Line 1 names at least one canonical column (platform layouts are tried before this one)."""
    found = find_header(header_lines, _is_header, max_index=1)
    return found is not None


def read(path: Path, source: str, options: Mapping | None = None) -> ReadResult:
    check_source(source, sources, NAME)
    tf = open_text(path)
    found = find_header(tf.lines, _is_header, max_index=1)
    if found is None:
        raise ExportError(path, 1, f"not a canonical {source} header: {tf.lines[:1]}")
    _, delimiter, cells = found
    names = header_names(cells)
    by_key = {}  # canonical name -> header name; the first of duplicates wins
    for name, cell in zip(names, cells):
        by_key.setdefault(header_key(cell), name)
    missing = [c for c in REQUIRED[source] if c not in by_key]
    if missing:
        raise ExportError(
            path, 1, f"required column(s) missing for {source}: {', '.join(missing)}; header has: {cells}"
        )
    raw, encoding = read_table(tf, 0, names, delimiter)
    # `;` files are written where the comma is the decimal mark, so `1,234` there means 1.234
    decimal_comma = True if delimiter == ";" else None
    values = {}
    for column in COLUMNS[source]:
        if column in by_key:
            value = pl.col(by_key[column])
            if column in NUMERIC.get(source, ()):
                value = normalise_number(value, decimal_comma)
            values[column] = value
    keep = ~blank(names)
    return finish(NAME, source, raw, keep, values, 0, encoding, delimiter)


def write(
    frame: pl.DataFrame,
    path: Path,
    delimiter: str = ",",
    encoding: str = "utf-8",
    decimal_comma: bool = False,
    bom: bool = False,
    line_terminator: str = "\n",
) -> None:
    """Write the frame's canonical columns (any source; `source_row` and unknown columns dropped)."""
    columns = [c for c in frame.columns if c in _KNOWN]
    text = text_frame(frame.select(columns), decimal_comma).write_csv(
        separator=delimiter, line_terminator=line_terminator, quote_style="necessary"
    )
    data = text.encode(encoding)
    if bom:
        data = _bom(encoding) + data
    Path(path).write_bytes(data)


def _bom(encoding: str) -> bytes:
    name = codecs.lookup(encoding).name
    boms = {"utf-8": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
    if name not in boms:
        raise ValueError(f"no byte order mark for {encoding}")
    return boms[name]
