"""Bytes to lines and tables: encoding detection, delimiter sniffing, reading the data with polars."""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .base import ROW, ExportError

HEAD_BYTES = 64 * 1024
HEAD_LINES = 20
DELIMITERS = (",", ";", "\t")
# BOM -> (reported encoding, codec for the bytes after the BOM)
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
)


@dataclass(frozen=True)
class TextFile:
    path: Path
    encoding: str  # what ReadResult reports: utf-8, utf-8-sig, utf-16-le, utf-16-be, cp1251
    codec: str  # Python codec for the bytes after the BOM
    bom: int  # BOM length in bytes
    lines: list[str]  # first lines, decoded, without line ends


def open_text(path: Path) -> TextFile:
    """Detect the encoding from the file's start (BOM, else strict UTF-8, else cp1251) and decode it."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
        at_end = not f.read(1)
    for bom, encoding, codec in BOMS:
        if head.startswith(bom):
            return TextFile(path, encoding, codec, len(bom), _head_lines(path, head[len(bom):], codec, at_end))
    try:
        return TextFile(path, "utf-8", "utf-8", 0, _head_lines(path, head, "utf-8", at_end))
    except ExportError:
        pass
    try:
        return TextFile(path, "cp1251", "cp1251", 0, _head_lines(path, head, "cp1251", at_end))
    except ExportError as e:
        raise ExportError(path, e.line, "cannot decode the file as UTF-8, UTF-16 (BOM) or cp1251") from None


def _head_lines(path: Path, data: bytes, codec: str, at_end: bool) -> list[str]:
    try:
        # incremental: a sample may end inside a multi-byte character
        text = codecs.getincrementaldecoder(codec)("strict").decode(data, final=at_end)
    except UnicodeDecodeError as e:
        raise _decode_error(path, data, codec, e) from None
    lines = text.split("\n")
    if not at_end:
        lines = lines[:-1]  # the last one may be cut off
    return [line.removesuffix("\r") for line in lines[:HEAD_LINES]]


def _decode_error(path: Path, data: bytes, codec: str, e: UnicodeDecodeError) -> ExportError:
    line = data[: e.start].decode(codec, "replace").count("\n") + 1
    return ExportError(path, line, f"cannot decode as {codec}: {e.reason}")


def decode_all(tf: TextFile, codec: str | None = None) -> str:
    codec = codec or tf.codec
    data = tf.path.read_bytes()[tf.bom:]
    try:
        return data.decode(codec)
    except UnicodeDecodeError as e:
        raise _decode_error(tf.path, data, codec, e) from None


def sniff_delimiter(line: str) -> str:
    """The most frequent of , ; TAB outside quotes; a single-column header means ','."""
    bare = re.sub(r'"[^"]*"', "", line)
    counts = {d: bare.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def split_line(line: str, delimiter: str) -> list[str]:
    """Cells of one line (header/preamble only) with quotes resolved and the BOM removed."""
    cells = next(csv.reader([line.lstrip("\ufeff")], delimiter=delimiter), [])
    return [c.strip() for c in cells]


def header_names(cells: list[str]) -> list[str]:
    """Column names for polars: as in the header, made unique and non-empty."""
    names: list[str] = []
    for i, cell in enumerate(cells):
        name = cell or f"column_{i}"
        while name in names or name == ROW:
            name += "_"
        names.append(name)
    return names


def read_table(tf: TextFile, header_index: int, names: list[str], delimiter: str) -> tuple[pl.DataFrame, str]:
    """All lines after the header as trimmed strings, one row per physical line (blank lines are null rows).

    UTF-8 files are read straight from disk (no copy in Python); other encodings are decoded in
    memory and handed to polars as UTF-8. Returns the frame and the encoding actually used.
    Row i is line header_index + 2 + i, which assumes no quoted value spans lines.
    """
    options = dict(
        has_header=False,
        skip_lines=header_index + 1,
        separator=delimiter,
        quote_char='"',
        schema={name: pl.String for name in names},
        extra_columns="ignore",
        missing_columns="insert",
        truncate_ragged_lines=True,
        raise_if_empty=False,
        row_index_name=ROW,
    )
    frame, encoding = _read_csv(tf, header_index, options)
    return _trim(frame, names), encoding


def _read_csv(tf: TextFile, header_index: int, options: dict) -> tuple[pl.DataFrame, str]:
    if tf.codec == "utf-8":
        try:
            return pl.read_csv(tf.path, **options), tf.encoding
        except pl.exceptions.ComputeError as e:
            if "utf-8" not in str(e).lower():
                raise ExportError(tf.path, header_index + 1, f"cannot parse as CSV: {e}") from None
        # the first 64 KiB were valid UTF-8 but a later byte is not: cp1251 after all (a BOM'd
        # file claims UTF-8, so decoding it strictly again reports where it breaks)
        codec, encoding = ("utf-8", tf.encoding) if tf.bom else ("cp1251", "cp1251")
    else:
        codec, encoding = tf.codec, tf.encoding
    data = decode_all(tf, codec).encode()
    try:
        return pl.read_csv(data, **options), encoding
    except pl.exceptions.ComputeError as e:
        raise ExportError(tf.path, header_index + 1, f"cannot parse as CSV: {e}") from None


def _trim(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Surrounding whitespace (NBSP too) off every value, whitespace-only -> null. Only columns that
    have such values are rewritten: in big files most have none, and stripping copies every string."""
    padded = frame.select(pl.col(n).str.contains(r"^\s|\s$").any() for n in names).row(0)
    exprs = [
        pl.col(n).str.strip_chars().replace("", None) for n, has_padding in zip(names, padded) if has_padding
    ]
    return frame.with_columns(exprs) if exprs else frame


def find_header(lines: list[str], is_header, max_index: int = 5) -> tuple[int, str, list[str]] | None:
    """First of the first lines whose lower-cased cells satisfy `is_header`: (index, delimiter, cells)."""
    for index, line in enumerate(lines[:max_index]):
        delimiter = sniff_delimiter(line)
        cells = split_line(line, delimiter)
        if is_header([header_key(c) for c in cells]):
            return index, delimiter, cells
    return None


def header_key(cell: str) -> str:
    """How header cells are compared: case-insensitive, `ё` as `е`, single spaces."""
    return " ".join(cell.lower().replace("ё", "е").split())


def map_header(cells: list[str], aliases: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """canonical column -> polars column name, for the first alias (in priority order) present."""
    names = header_names(cells)
    keys = [header_key(c) for c in cells]
    found = {}
    for column, options in aliases.items():
        for option in options:
            if option in keys:
                found[column] = names[keys.index(option)]
                break
    return found


def require(path: Path, line: int, found: Mapping[str, str], needed: Mapping[str, str]) -> None:
    """Raise naming the header labels (and canonical names) of required columns not found."""
    missing = [f"{label} ({column})" for column, label in needed.items() if column not in found]
    if missing:
        raise ExportError(path, line, f"required column(s) missing: {', '.join(missing)}")


def quote_field(expr: pl.Expr, specials: str) -> pl.Expr:
    """CSV-quote text containing a quote, line break or one of `specials` (writers)."""
    pattern = "[\"\r\n" + re.escape(specials) + "]"
    quoted = pl.lit('"') + expr.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(expr.str.contains(pattern)).then(quoted).otherwise(expr)


def write_lines(path: Path, lines: list[str], encoding: str, bom: bytes = b"", newline: str = "\n") -> None:
    """Join lines (few preamble lines plus the already-formatted data rows) and write them encoded."""
    Path(path).write_bytes(bom + (newline.join(lines) + newline).encode(encoding))
