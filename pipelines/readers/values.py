"""Vectorised text -> value parsers (used by ingest's cast step) and number formatting for writers.

Parsers return null for text they cannot read; the caller counts new nulls as failures.
"""

from __future__ import annotations

import polars as pl

_SIGN = r"[+-]?"
_PLAIN = rf"^{_SIGN}(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"  # 1234.56, -5, 1e-7
_COMMA_GROUPS = rf"^{_SIGN}\d{{1,3}}(,\d{{3}})+(\.\d+)?$"  # 1,234 / 12,345.67
_COMMA_DECIMAL = rf"^{_SIGN}\d+,\d+$"  # -12,5 / 1234,56 (after spaces are gone)
_DOT_GROUPS_COMMA_DECIMAL = rf"^{_SIGN}\d{{1,3}}(\.\d{{3}})+,\d+$"  # 1.234,56
# thousands separators: spaces, NBSP, narrow NBSP, thin space - only between groups of 3 digits
_SPACE = "[ \u00a0\u202f\u2009]"
_SPACE_GROUPS = rf"^{_SIGN}\d{{1,3}}({_SPACE}\d{{3}})+([.,]\d+)?$"


def _plain_number(expr: pl.Expr, decimal_comma: bool | None) -> pl.Expr:
    """Number text as plain `1234.56`, or null when it does not look like a number.

    `1,234` is ambiguous: thousands unless `decimal_comma` is True (the file uses a decimal comma);
    with `decimal_comma=False` a comma is only ever a thousands separator.
    """
    s = expr.str.strip_chars().str.strip_chars('"').str.strip_chars().str.replace("\u2212", "-")  # U+2212 minus
    s = pl.when(s.str.contains(_SPACE_GROUPS)).then(s.str.replace_all(_SPACE, "")).otherwise(s)
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
    raw = expr.str.strip_chars()
    raw = pl.when(raw == "").then(None).otherwise(raw)
    return pl.coalesce(_plain_number(raw, decimal_comma), raw)


def parse_number(expr: pl.Expr) -> pl.Expr:
    """Float64 from `1234.56`, `1 234,56`, `1\u00a0234,56`, `1,234.56`, `1,234`, `-12,5`; else null."""
    return _plain_number(expr.str.strip_chars(), None).cast(pl.Float64, strict=False)


# (pattern with the date part as group 1, format of that part)
_DATE_FORMATS = (
    (r"^(\d{4}-\d{1,2}-\d{1,2})(?:[T ].*)?$", "%Y-%m-%d"),
    (r"^(\d{1,2}\.\d{1,2}\.\d{4})(?: .*)?$", "%d.%m.%Y"),
    (r"^(\d{1,2}/\d{1,2}/\d{4})(?: .*)?$", "%d/%m/%Y"),  # day first, as exported in RU/EU
    (r"^(\d{4}/\d{1,2}/\d{1,2})(?:[T ].*)?$", "%Y/%m/%d"),
    (r"^(\d{8})$", "%Y%m%d"),
)


def parse_date(expr: pl.Expr) -> pl.Expr:
    """pl.Date from ISO, `05.03.2024`, `05/03/2024` (day first), `2024/03/05`, `20240305`;
    a timestamp gives its (local, as written) date; anything else -> null."""
    s = expr.str.strip_chars()
    return pl.coalesce(
        s.str.extract(pattern).str.strptime(pl.Date, fmt, strict=False)
        for pattern, fmt in _DATE_FORMATS
    )


def normalise_date(expr: pl.Expr) -> pl.Expr:
    """Readers' normalisation for layouts with a known date format: ISO text, or the raw text."""
    return pl.coalesce(parse_date(expr).dt.strftime("%Y-%m-%d"), expr)


_TIME = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
_OFFSET = rf"({_TIME})\s*(Z|[+-]\d{{2}}(?::?\d{{2}})?)$"
_DATETIME_FORMATS = (
    (r"^(\d{4})-(\d{1,2})-(\d{1,2})[T ]", "$1-$2-$3 "),
    (r"^(\d{1,2})\.(\d{1,2})\.(\d{4}) ", "$3-$2-$1 "),
    (r"^(\d{1,2})/(\d{1,2})/(\d{4}) ", "$3-$2-$1 "),
    (r"^(\d{4})/(\d{1,2})/(\d{1,2})[T ]", "$1-$2-$3 "),
)


def parse_timestamp(expr: pl.Expr) -> pl.Expr:
    """pl.Datetime('us') from ISO (`T` or space, optional seconds and fraction), `05.03.2024 14:03[:00]`,
    `05/03/2024 14:03`; a plain date -> midnight; `Z` / `+03:00` offsets -> naive UTC; else null."""
    s = expr.str.strip_chars()
    offset = s.str.extract(_OFFSET, 2)
    local = s.str.replace(_OFFSET, "$1")
    # rewrite every accepted layout to `Y-m-d H:M[:S[.f]]`, then parse once
    iso = pl.coalesce(
        pl.when(local.str.contains(pattern)).then(local.str.replace(pattern, target))
        for pattern, target in _DATETIME_FORMATS
    )
    iso = pl.when(iso.str.contains(r" \d{1,2}:\d{2}$")).then(iso + ":00").otherwise(iso)
    with_time = iso.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False)
    date_only = pl.when(s.str.contains(r"^[\d./-]+$")).then(parse_date(s).cast(pl.Datetime("us")))
    naive = pl.when(iso.is_not_null()).then(with_time).otherwise(date_only)
    return naive - pl.duration(minutes=_offset_minutes(offset))


def _offset_minutes(offset: pl.Expr) -> pl.Expr:
    digits = offset.str.replace_all(r"\D", "")
    minutes = digits.str.slice(0, 2).cast(pl.Int64) * 60 + digits.str.slice(2, 2).cast(
        pl.Int64, strict=False
    ).fill_null(0)
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    return pl.when(offset.is_null() | (offset == "Z")).then(0).otherwise(sign * minutes)


def number_column(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A frame column as Float64 whether it holds numbers or number text (writers accept both)."""
    col = pl.col(name)
    return parse_number(col) if frame.schema[name] == pl.String else col.cast(pl.Float64)


def date_column(frame: pl.DataFrame, name: str) -> pl.Expr:
    col = pl.col(name)
    return parse_date(col) if frame.schema[name] == pl.String else col.cast(pl.Date)


def format_number(
    value: pl.Expr, decimals: int, thousands: str = "", decimal_sep: str = "."
) -> pl.Expr:
    """Fixed-point text with optional digit grouping, e.g. `12,345.67` or `12 345,67`."""
    scale = 10**decimals
    scaled = (value.abs() * scale).round(0).cast(pl.Int64)
    whole = (scaled // scale).cast(pl.String)
    if thousands:
        # group from the right: reverse, add a separator after every 3 digits, reverse back
        whole = (
            whole.str.reverse().str.replace_all(r"(\d{3})", "${1}" + thousands)
            .str.reverse().str.strip_chars_start(thousands)
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
