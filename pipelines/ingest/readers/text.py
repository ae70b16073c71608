"""Bytes to lines and tables: encoding detection, delimiter sniffing, reading the data with polars."""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.core.pii import mask_text

from .base import EXTRA, ROW, ExportError

HEAD_BYTES = 64 * 1024
TAIL_BYTES = 16 * 1024  # what the cut-line check reads of a file's end
TAIL_LINES = 50
EXCERPT = 80  # characters of a line an error message may quote
# encodings a non-UTF-8 export is guessed among: Russian Windows and DOS, Western Windows, KOI8-R
GUESSED = ("cp1251", "cp1252", "koi8_r", "cp866", "iso8859_15")
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
    how: str = ""  # how the encoding was found: byte order mark, valid UTF-8, guessed (confidence), set


def open_text(path: Path, encoding: str | None = None) -> TextFile:
    """Decode the file's start: a BOM or valid UTF-8 is known; anything else is guessed among the
    single-byte encodings exports use (charset-normalizer), and the guess is reported as one.
    `encoding` (a per-source setting) overrides both."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
        at_end = not f.read(1)
    if encoding:
        codec = codecs.lookup(encoding).name
        return TextFile(path, codec, codec, 0, _head_lines(path, head, codec, at_end), "set in the settings")
    for bom, name, codec in BOMS:
        if head.startswith(bom):
            return TextFile(
                path, name, codec, len(bom), _head_lines(path, head[len(bom) :], codec, at_end), "byte order mark"
            )
    try:
        return TextFile(path, "utf-8", "utf-8", 0, _head_lines(path, head, "utf-8", at_end), "valid UTF-8")
    except ExportError:
        pass
    codec, confidence = _guess(head)
    if codec is None:
        raise _decode_error(path, head, "utf-8", _utf8_error(head))
    try:
        lines = _head_lines(path, head, codec, at_end)
    except ExportError as e:
        raise ExportError(
            path, e.line, "cannot decode the file as UTF-8, UTF-16 (BOM) or a single-byte encoding"
        ) from None
    return TextFile(path, codec, codec, 0, lines, f"guessed (confidence {confidence:.2f})")


def _utf8_error(data: bytes) -> UnicodeDecodeError:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return e
    raise AssertionError("valid UTF-8")


def _guess(head: bytes) -> tuple[str, float]:
    """The single-byte encoding whose decoding reads least like noise; cp1251 when nothing fits."""
    import charset_normalizer  # maintained detector; imported here, most files never need it

    # judge on the lines that are not plain ASCII: a few Cyrillic words in a mostly-ASCII file
    # would otherwise read as well in a Western encoding
    lines = [line for line in head.split(b"\n") if max(line, default=0) >= 0x80]
    sample = b"\n".join(lines)[:HEAD_BYTES] or head
    best = charset_normalizer.from_bytes(sample, cp_isolation=list(GUESSED)).best()
    if best is None:  # every candidate reads as noise: not text in any encoding exports use
        return None, 0.0
    return codecs.lookup(best.encoding).name, 1.0 - best.chaos


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
    data = tf.path.read_bytes()[tf.bom :]
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
    line = line.lstrip("\ufeff")
    try:
        cells = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # not CSV at all (a stray carriage return, binary junk): plain cells, no layout fits
        cells = line.split(delimiter)
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


def read_table(
    tf: TextFile, header_index: int, names: list[str], delimiter: str, read: list[str] | None = None
) -> tuple[pl.DataFrame, str]:
    """All lines after the header as trimmed strings, one row per physical line (blank lines are null rows);
    only the `read` columns (all by default) are parsed into strings.

    UTF-8 files are read straight from disk (no copy in Python); other encodings are decoded in
    memory and handed to polars as UTF-8. Returns the frame and the encoding actually used.
    Row i is line header_index + 2 + i, which assumes no quoted value spans lines.
    """
    options = dict(
        has_header=False,
        skip_lines=header_index + 1,
        separator=delimiter,
        quote_char='"',
        # one column past the header's: a line with more cells than the header is seen, not cut silently
        schema={name: pl.String for name in (*names, EXTRA)},
        extra_columns="ignore",
        missing_columns="insert",
        truncate_ragged_lines=True,
        raise_if_empty=False,
        row_index_name=ROW,
    )
    read = names if read is None else read
    if read is not names:
        position = {name: i for i, name in enumerate(names)}
        options["columns"] = [*(position[name] for name in read), len(names)]  # EXTRA is the last
    frame, encoding = _read_csv(tf, header_index, options)
    return trim(frame, read), encoding


def _read_csv(tf: TextFile, header_index: int, options: dict) -> tuple[pl.DataFrame, str]:
    if tf.codec == "utf-8":
        try:
            return pl.read_csv(tf.path, **options), tf.encoding
        except pl.exceptions.ComputeError as e:
            if "utf-8" not in str(e).lower():
                raise parse_error(tf, header_index, e, codec=tf.codec) from None
        # the first 64 KiB were valid UTF-8 but a later byte is not: a single-byte encoding after all
        # (a BOM'd file claims UTF-8, so decoding it strictly again reports where it breaks)
        if tf.bom:
            codec, encoding = "utf-8", tf.encoding
        else:
            data = tf.path.read_bytes()
            codec, _ = _guess(data)
            if codec is None:
                raise _decode_error(tf.path, data, "utf-8", _utf8_error(data))
            encoding = codec
    else:
        codec, encoding = tf.codec, tf.encoding
    data = decode_all(tf, codec).encode()
    try:
        return pl.read_csv(data, **options), encoding
    except pl.exceptions.ComputeError as e:
        raise parse_error(tf, header_index, e, codec=codec) from None


def trim(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Surrounding whitespace (NBSP too) off every value, empty or whitespace-only -> null. Only columns
    that have such values are rewritten: in big files most have none, and stripping copies every string.
    Ingest relies on it: a column the engine passes through unchanged is not normalised again."""
    # stripping and comparing lengths finds them faster than a `^\s|\s$` search (same whitespace set)
    padded = frame.select(
        ((pl.col(n).str.strip_chars().str.len_bytes() != pl.col(n).str.len_bytes()) | (pl.col(n) == "")).any()
        for n in names
    ).row(0)
    exprs = [
        pl.col(n).str.strip_chars().replace("", None)
        for n, has_padding in zip(names, padded, strict=False)
        if has_padding
    ]
    return frame.with_columns(exprs) if exprs else frame


def cut_last_line(tf: TextFile) -> int | None:
    """1-based number of the file's last line when it looks cut off: no line break after it and
    shorter than every one of the lines before it (a download or copy that stopped mid-line, e.g.
    `31.10.2026;USD;9` for `...;91.9987`). Reads only the file's tail."""
    size = tf.path.stat().st_size
    with tf.path.open("rb") as handle:
        handle.seek(max(tf.bom, size - TAIL_BYTES))
        tail = handle.read()
    if not tail or tail.endswith(b"\n") or tail.endswith(b"\r"):
        return None
    unit = 2 if tf.codec.startswith("utf-16") else 1
    if unit == 2 and (size - max(tf.bom, size - TAIL_BYTES)) % 2:
        tail = tail[1:]
    try:
        text = tail.decode(tf.codec, errors="replace")
    except LookupError:
        return None
    lines = text.split("\n")
    # the tail's first line may be partial (or, in a small file, the header): neighbours are the rest
    last, before = lines[-1], [line.rstrip("\r") for line in lines[1:-1] if line.strip()]
    if len(before) < 2 or len(last) >= min(len(line) for line in before[-TAIL_LINES:]):
        return None
    # count every line break of the file: the tail only shows the end
    with tf.path.open("rb") as handle:
        breaks = sum(block.count("\n".encode(tf.codec)) for block in iter(lambda: handle.read(1 << 20), b""))
    return breaks + 1


def parse_error(tf: TextFile, header_index: int, error: Exception, codec: str) -> ExportError:
    """Where a file stops being CSV, as a person would look for it: the first line after the header
    with an odd number of quotes (a quoted value that never ends swallows the rest of the file), and a
    short excerpt of it, e-mails and phones masked. Never the parser's message, which quotes the
    file's rest. Runs only when parsing failed."""

    text = tf.path.read_bytes()[tf.bom :].decode(codec, errors="replace")
    for number, line in enumerate(text.split("\n")[header_index + 1 :], start=header_index + 2):
        if line.count('"') % 2:
            excerpt = mask_text(line.rstrip("\r")[:EXCERPT])
            return ExportError(
                tf.path,
                number,
                f"cannot parse as CSV: a quote opens a value that never closes, from line {number} on: {excerpt!r}",
            )
    return ExportError(tf.path, header_index + 1, f"cannot parse as CSV: {mask_text(str(error)[:EXCERPT])}")
