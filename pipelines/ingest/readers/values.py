"""Vectorised text -> value parsers (used by ingest's cast step) and number formatting for writers.

Parsers return null for text they cannot read; the caller counts new nulls as failures.

Eager `select`s do not share common subexpressions, so a value used several times is computed once
into a struct field (`_let`) and read back with `pl.field`. Values in the common plain layout take a
cheap path; only the others go through the regex rules (which skip the nulls standing for the rest).
"""

from __future__ import annotations

from datetime import date

import polars as pl

_SIGN = r"[+-]?"
_PLAIN = rf"^{_SIGN}(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"  # 1234.56, -5, 1e-7
_COMMA_GROUPS = rf"^{_SIGN}\d{{1,3}}(,\d{{3}})+(\.\d+)?$"  # 1,234 / 12,345.67
_COMMA_DECIMAL = rf"^{_SIGN}\d+,\d+$"  # -12,5 / 1234,56 (after spaces are gone)
_DOT_GROUPS_COMMA_DECIMAL = rf"^{_SIGN}\d{{1,3}}(\.\d{{3}})+,\d+$"  # 1.234,56
# thousands separators: spaces, NBSP, narrow NBSP, thin space - only between groups of 3 digits
_SPACE = "[ \u00a0\u202f\u2009]"
_SPACE_GROUPS = rf"^{_SIGN}\d{{1,3}}({_SPACE}\d{{3}})+([.,]\d+)?$"


def _let(expr: pl.Expr, **steps: pl.Expr) -> pl.Expr:
    """Compute `expr` once as field `v`, then each step in order (steps see earlier ones as fields);
    the value of the last step."""
    struct = pl.struct(expr.alias("v"))
    for name, step in steps.items():
        struct = struct.struct.with_fields(step.alias(name))
    return struct.struct.field(name)


def _plain_number(expr: pl.Expr, decimal_comma: bool | None) -> pl.Expr:
    """Number text as plain `1234.56`, or null when it does not look like a number.

    `1,234` is ambiguous: thousands unless `decimal_comma` is True (the file uses a decimal comma);
    with `decimal_comma=False` a comma is only ever a thousands separator.
    """
    v, plain, other, s = pl.field("v"), pl.field("plain"), pl.field("other"), pl.field("s")
    return _let(
        expr.str.strip_chars(),
        plain=v.cast(pl.Float64, strict=False).is_finite().fill_null(False),
        # quotes a spreadsheet left, U+2212 minus sign
        other=pl.when(~plain).then(v).str.strip_chars('"').str.strip_chars().str.replace("\u2212", "-"),
        s=pl.when(other.str.contains(_SPACE_GROUPS)).then(other.str.replace_all(_SPACE, "")).otherwise(other),
        out=pl.when(plain).then(v).otherwise(_number_rules(s, decimal_comma)),
    )


def _number_rules(s: pl.Expr, decimal_comma: bool | None) -> pl.Expr:
    drop_commas = s.str.replace_all(",", "", literal=True)
    comma_to_dot = s.str.replace(",", ".", literal=True)
    rules = [(s.str.contains(_PLAIN), s)]
    comma_rules = [
        (s.str.contains(_COMMA_GROUPS), drop_commas),
        (s.str.contains(_COMMA_DECIMAL), comma_to_dot),
    ]
    if decimal_comma:
        comma_rules.reverse()
    elif decimal_comma is False:
        comma_rules = comma_rules[:1]
    rules += comma_rules
    rules.append(
        (
            s.str.contains(_DOT_GROUPS_COMMA_DECIMAL),
            s.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True),
        )
    )
    out = pl.when(rules[0][0]).then(rules[0][1])
    for condition, value in rules[1:]:
        out = out.when(condition).then(value)
    return out.otherwise(None)


def normalise_number(expr: pl.Expr, decimal_comma: bool | None = None) -> pl.Expr:
    """Readers' normalisation: plain `1234.56` text; empty -> null; unreadable text stays as it was
    so validation can reject it with the raw value."""
    v = pl.field("v")
    return _let(
        expr.str.strip_chars(),
        out=pl.coalesce(_plain_number(pl.when(v != "").then(v), decimal_comma), pl.when(v != "").then(v)),
    ).name.keep()


def parse_number(expr: pl.Expr) -> pl.Expr:
    """Float64 from `1234.56`, `1 234,56`, `1\u00a0234,56`, `1,234.56`, `1,234`, `-12,5`; else null."""
    return _plain_number(expr, None).cast(pl.Float64, strict=False).name.keep()


# Every accepted date/timestamp layout in one pattern: ISO / `2024/03/05`, day-first `05.03.2024` /
# `05/03/2024`, compact `20240305`; an optional time (`T` or space, seconds, fraction) and, after a
# time, an offset.
_PARTS = (
    r"^(?:(?P<y1>\d{4})[-/](?P<m1>\d{1,2})[-/](?P<d1>\d{1,2})"
    r"|(?P<d2>\d{1,2})[./](?P<m2>\d{1,2})[./](?P<y2>\d{4})"
    r"|(?P<y3>\d{4})(?P<m3>\d{2})(?P<d3>\d{2}))"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)


def _part(name: str) -> pl.Expr:
    """A group of `_PARTS` (inside `parts`); a group that took no part comes back "" -> null."""
    group = pl.field("parts").struct.field(name)
    return pl.when(group != "").then(group)


def _ymd() -> pl.Expr:
    return pl.concat_str(
        pl.coalesce(_part("y1"), _part("y2"), _part("y3")),
        pl.coalesce(_part("m1"), _part("m2"), _part("m3")).str.zfill(2),
        pl.coalesce(_part("d1"), _part("d2"), _part("d3")).str.zfill(2),
        separator="-",
    )


def parse_date(expr: pl.Expr) -> pl.Expr:
    """pl.Date from ISO, `05.03.2024`, `05/03/2024` (day first), `2024/03/05`, `20240305`;
    a timestamp gives its date as written (offset ignored); anything else -> null."""
    v, fast = pl.field("v"), pl.field("fast")
    return _let(
        expr.str.strip_chars(),
        fast=v.str.strptime(pl.Date, "%Y-%m-%d", strict=False),
        parts=pl.when(fast.is_null()).then(v).str.extract_groups(_PARTS),
        out=pl.coalesce(fast, _ymd().str.strptime(pl.Date, "%Y-%m-%d", strict=False)),
    ).name.keep()


def normalise_date(expr: pl.Expr) -> pl.Expr:
    """Readers' normalisation for layouts with a known date format: ISO text, or the raw text."""
    return pl.coalesce(parse_date(expr).dt.strftime("%Y-%m-%d"), expr)


def parse_timestamp(expr: pl.Expr, zone: str | None = None) -> pl.Expr:
    """pl.Datetime('us') from ISO (`T` or space, optional seconds and fraction), `05.03.2024 14:03[:00]`,
    `05/03/2024 14:03`; a plain date -> midnight; else null. A time with an offset (`Z`, `+03:00`,
    ` +0300`) is that instant as the local time of `zone` (the business's: an order at 01:00 Moscow time
    on the 1st is on the 1st), naive UTC without a zone; a time without an offset is taken as written."""
    v, fast = pl.field("v"), pl.field("fast")
    # zero-padded `Y-m-d H:M:S` hits polars' fast parser; fraction and offset are added as durations
    text = pl.concat_str(
        _ymd(),
        pl.lit(" "),
        pl.concat_str(
            _part("H").fill_null("0").str.zfill(2),
            _part("M").fill_null("00"),
            _part("S").fill_null("00"),
            separator=":",
        ),
    )
    micros = _part("f").str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64).fill_null(0)
    from_parts = (
        text.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
        + pl.duration(microseconds=micros)
        - pl.duration(minutes=_offset_minutes(_part("tz")))
    )
    if zone:
        local = from_parts.dt.replace_time_zone("UTC").dt.convert_time_zone(zone).dt.replace_time_zone(None)
        from_parts = pl.when(_part("tz").is_not_null()).then(local).otherwise(from_parts)
    return _let(
        expr.str.strip_chars(),
        fast=pl.coalesce(
            v.str.strptime(pl.Datetime("us"), fmt, strict=False) for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
        ),
        parts=pl.when(fast.is_null()).then(v).str.extract_groups(_PARTS),
        out=pl.coalesce(fast, from_parts),
    ).name.keep()


def _offset_minutes(offset: pl.Expr) -> pl.Expr:
    digits = offset.str.replace_all(r"\D", "")
    hours = digits.str.slice(0, 2).cast(pl.Int64, strict=False)
    minutes = hours * 60 + digits.str.slice(2, 2).cast(pl.Int64, strict=False).fill_null(0)
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    return pl.when(offset.is_null() | (offset == "Z")).then(0).otherwise(sign * minutes)


def number_column(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A frame column as Float64 whether it holds numbers or number text (writers accept both)."""
    col = pl.col(name)
    return parse_number(col) if frame.schema[name] == pl.String else col.cast(pl.Float64)


def date_column(frame: pl.DataFrame, name: str) -> pl.Expr:
    col = pl.col(name)
    return parse_date(col) if frame.schema[name] == pl.String else col.cast(pl.Date)


def format_number(value: pl.Expr, decimals: int, thousands: str = "", decimal_sep: str = ".") -> pl.Expr:
    """Fixed-point text with optional digit grouping, e.g. `12,345.67` or `12 345,67`."""
    scale = 10**decimals
    scaled = (value.abs() * scale).round(0, mode="half_away_from_zero").cast(pl.Int64)
    whole = (scaled // scale).cast(pl.String)
    if thousands:
        # group from the right: reverse, add a separator after every 3 digits, reverse back
        whole = (
            whole.str.reverse()
            .str.replace_all(r"(\d{3})", "${1}" + thousands)
            .str.reverse()
            .str.strip_chars_start(thousands)
        )
    text = whole
    if decimals:
        text = text + decimal_sep + (scaled % scale).cast(pl.String).str.zfill(decimals)
    # built from `value` so the output keeps its column name
    return pl.when(value < 0).then(text.str.replace("^", "-")).otherwise(text)


def text_frame(frame: pl.DataFrame, decimal_comma: bool = False) -> pl.DataFrame:
    """Every column as text the readers read back: ISO dates/timestamps, plain or comma decimals."""
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.Date:
            col = col.dt.strftime("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            col = col.dt.strftime("%Y-%m-%d %H:%M:%S%.f")
        elif dtype.is_float() and decimal_comma:
            col = col.cast(pl.String).str.replace(".", ",", literal=True)
        else:
            col = col.cast(pl.String)
        exprs.append(col.alias(name))
    return frame.select(exprs)


def excel_serial_date(expr: pl.Expr) -> pl.Expr:
    """ISO date text from an Excel serial day number (`45356` or `45356.5`, days since 1899-12-30,
    the 1900 system that every current Excel writes); null for anything else."""
    serial = pl.when(expr.str.contains(r"^\d{5}(\.\d+)?$")).then(expr).cast(pl.Float64, strict=False)
    days = serial.floor().cast(pl.Int64)
    return (pl.lit(date(1899, 12, 30)) + pl.duration(days=days)).dt.strftime("%Y-%m-%d")
