"""What every layout shares: the result type, the error, the canonical columns and the final shaping."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from schemas.inputs import COLUMNS

# A source file's canonical columns, the required and the numeric ones: schemas/inputs.py declares them.
# Customers and orders carry raw `email` / `phone`: ingest turns them into keyed hashes, they never land raw.
ROW = "__row"  # row index polars adds while reading; becomes source_row
EXTRA = "__extra"  # a text line's first cell past the header's last column (a ragged line)


@dataclass
class ReadResult:
    layout: str
    frame: pl.DataFrame
    rows_read: int
    skipped_lines: int
    encoding: str
    delimiter: str  # "xlsx" for a workbook
    language: str | None = None  # the interface language of the header (platform layouts)
    notes: list[str] = field(default_factory=list)  # how the file was read where it was not plain
    suspects: dict[int, str] = field(default_factory=dict)  # source_row -> why the row cannot be trusted
    # canonical columns passed through from trimmed cells (no padding, no empty strings): ingest does
    # not strip them again (on 100 M touchpoints that second pass is a minute of CPU)
    clean: frozenset[str] = frozenset()


class ExportError(Exception):
    """A file that cannot be read as an export; `line` is 1-based like a spreadsheet shows it."""

    def __init__(self, path: Path | str, line: int, message: str):
        self.path, self.line, self.message = Path(path), line, message
        super().__init__(f"{path}:{line}: {message}")


def blank(columns: list[str]) -> pl.Expr:
    """True for a line with no value in any column (an empty line or just delimiters)."""
    return pl.all_horizontal(pl.col(c).is_null() for c in columns)


def finish(
    layout: str,
    source: str,
    raw: pl.DataFrame,
    keep: pl.Expr,
    values: dict[str, pl.Expr],
    header_index: int,
    encoding: str,
    delimiter: str,
) -> ReadResult:
    """Keep data lines, shape them to the canonical columns and count what was skipped.

    `raw` holds every line after the header (one row per physical line) plus ROW;
    `header_index` is the 0-based line of the header, i.e. the number of preamble lines.
    """
    exprs = [values.get(name, pl.lit(None)).cast(pl.String).alias(name) for name in COLUMNS[source]]
    # line number = preamble lines + header line + 1-based index among the lines after it
    row = (pl.col(ROW).cast(pl.Int64) + header_index + 2).alias("source_row")
    frame = raw.select(*exprs, row, keep.alias(ROW))
    # most files have no line to drop: skip the copy a filter makes
    frame = (frame if frame[ROW].all() else frame.filter(ROW)).drop(ROW)
    skipped = header_index + raw.height - frame.height
    clean = frozenset(name for name in COLUMNS[source] if name in values and values[name].meta.is_column())
    return ReadResult(layout, frame, frame.height + skipped, skipped, encoding, delimiter, clean=clean)
