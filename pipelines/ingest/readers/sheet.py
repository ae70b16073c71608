"""A file as rows of cells, whatever it is: CSV/TSV in any encoding, or an .xlsx workbook.

The engine looks at the first rows (`head`) to find the header, then asks for every row after it
(`body`) as string columns, one row per physical line or sheet row, with the row's 1-based number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .base import ROW, ExportError
from .text import HEAD_LINES, TextFile, open_text, read_table, sniff_delimiter, split_line, trim

XLSX_SUFFIXES = (".xlsx", ".xlsm")
OLE2_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")  # the compound file of an Excel 97-2003 .xls
ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class Sheet:
    path: Path
    kind: str  # "text" or "xlsx"
    head: list[list[str]]  # first rows as cells (header search)
    delimiters: list[str]  # text: the delimiter each head line was split with
    encoding: str
    text: TextFile | None = None
    frame: pl.DataFrame | None = None  # xlsx: the whole chosen sheet as strings
    sheet_name: str | None = None
    others: Callable[[], list[Sheet]] | None = None  # xlsx: the workbook's other sheets, loaded on demand

    def body(self, header_index: int, names: list[str], read: list[str] | None = None) -> tuple[pl.DataFrame, str]:
        """Rows after the header as trimmed strings named `names` (only the `read` ones, if given), plus ROW
        (0-based among them)."""
        read = names if read is None else read
        if self.kind == "text":
            return read_table(self.text, header_index, names, self.delimiters[header_index], read)
        body = self.frame.slice(header_index + 1)
        width = min(body.width, len(names))
        body = body.select(pl.nth(range(width))).rename(dict(zip(body.columns[:width], names[:width], strict=False)))
        body = body.with_columns(pl.lit(None, pl.String).alias(n) for n in names[width:])
        return trim(body.select(read).with_row_index(ROW), read), self.encoding


def open_sheet(path: Path, encoding: str | None = None) -> Sheet:
    """`encoding` overrides detection for text files (a per-source setting)."""
    path = Path(path)
    with path.open("rb") as handle:
        magic = handle.read(8)
    if not magic:
        raise ExportError(path, 1, "the file is empty (0 bytes): export it again, or remove it from the folder")
    if path.suffix.lower() == ".xls" or magic == OLE2_MAGIC:
        raise ExportError(
            path,
            1,
            "an Excel 97-2003 workbook (.xls) is not read: open it and save it as .xlsx or CSV "
            "(or export the report as .xlsx/CSV)",
        )
    if path.suffix.lower() in XLSX_SUFFIXES or magic[:4] == ZIP_MAGIC:
        return _open_xlsx(path)
    tf = open_text(path, encoding)
    delimiters = [sniff_delimiter(line) for line in tf.lines]
    head = [split_line(line, d) for line, d in zip(tf.lines, delimiters, strict=False)]
    return Sheet(path, "text", head, delimiters, tf.encoding, text=tf)


def _open_xlsx(path: Path) -> Sheet:
    """The first sheet; the others are loaded only if the engine finds no header it knows in it (a
    workbook may open with a notes sheet). Parsing a sheet is most of an .xlsx read: one pass each."""
    import fastexcel  # Rust (calamine) reader, polars' own engine for read_excel

    try:
        workbook = fastexcel.read_excel(path)
        names = workbook.sheet_names
    except Exception as exc:  # noqa: BLE001 - fastexcel raises its own hierarchy for broken files
        raise ExportError(path, 1, f"cannot open as an .xlsx workbook: {exc}") from None
    if not names:
        raise ExportError(path, 1, "the workbook has no sheets")

    def load(name: str) -> Sheet:
        # eager: one Arrow batch straight from calamine (~15 % faster than the lazy sheet's to_polars)
        frame = pl.from_arrow(workbook.load_sheet(name, header_row=None, dtypes="string", eager=True))
        head = [["" if v is None else str(v).strip() for v in row] for row in frame.head(HEAD_LINES).iter_rows()]
        return Sheet(
            path,
            "xlsx",
            head,
            ["xlsx"] * len(head),
            "xlsx",
            frame=frame,
            sheet_name=name,
            others=lambda: [load(other) for other in names[1:]],
        )

    return load(names[0])


def other_sheets(sheet: Sheet) -> list[Sheet]:
    return sheet.others() if sheet.others else []
