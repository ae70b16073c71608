"""Cast a read export's text to its source's types and validate it (Pandera): good rows, and failures with line, column and reason."""

from __future__ import annotations

import re

import pandera.polars as pa
import polars as pl

from pipelines.core.config import Config
from pipelines.core.pii import mask, mask_text, normalise_email, normalise_phone
from pipelines.ingest.readers import ReadResult
from pipelines.ingest.readers.values import parse_date, parse_number, parse_timestamp
from pipelines.ingest.rules import AMOUNT_COLUMNS, LOWER_CASE, PERSONAL, UPPER_CASE, Bounds, IngestError
from schemas.inputs import CHECK_COLUMNS, INPUT_MODELS, PATTERN_REASONS


def _parser(dtype: pl.DataType):
    if dtype == pl.Date:
        return parse_date, "a date"
    if isinstance(dtype, pl.Datetime) or dtype == pl.Datetime:
        return parse_timestamp, "a date and time"
    if dtype == pl.Float64:
        return parse_number, "a number"
    if dtype == pl.Int64:
        return parse_number, "a whole number"
    return None, None


def cast_frame(
    source: str, frame: pl.DataFrame, clean: frozenset[str] = frozenset(), zone: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical text columns -> typed columns. Returns (typed frame, cast failures as
    `row, column_name, check_name, reason`). A value that fails its cast becomes null here and is
    reported as a failure, so Pandera's own checks still run on the other columns. Columns in `clean`
    are already stripped, with empty text as null (the reader did it). A timestamp with an offset becomes
    the local time of `zone` (the business's time zone, `reporting.timezone`)."""
    schema = INPUT_MODELS[source].to_schema()
    texts, values, failures, parsers = [], [], [], {}
    for name, column in schema.columns.items():
        if name in clean:
            texts.append(pl.col(name))
        else:
            text = pl.col(name).cast(pl.String).str.strip_chars()
            texts.append(pl.when(text == "").then(None).otherwise(text).alias(name))
        text = pl.col(name)
        dtype = column.dtype.type
        parse, expected = _parser(dtype)
        if name in UPPER_CASE:
            value = text.str.to_uppercase()
        elif name in LOWER_CASE:
            value = text.str.to_lowercase()
        elif name == "email":
            value = normalise_email(text)
        elif name == "phone":
            value = normalise_phone(text)
        elif parse is None:
            value = text
        else:
            value = _fast_parse(dtype, text)  # the rest below, only for the values it leaves null
            parsers[name] = parse
            failures.append((name, f"cast_{dtype}".lower(), f"not {expected}"))
        values.append(value.alias(name))
    # Separate passes, so each value is parsed once (polars does not share a parse between a typed
    # column and its failure flag in one select), and the general parsers only see what the plain
    # `2024-03-05 14:03:00` / `1234.5` forms did not cover, usually nothing.
    text_frame = frame.select(texts)
    out_typed = text_frame.select(values)
    for name, parse in parsers.items():
        left = (out_typed[name].is_null() & text_frame[name].is_not_null()).arg_true()
        if left.len():
            general = _parse_left(text_frame[name].gather(left), schema.columns[name].dtype.type, parse, zone)
            out_typed = out_typed.with_columns(out_typed[name].scatter(left, general))
    out_typed = out_typed.select(_typed(pl.col(name), column.dtype.type) for name, column in schema.columns.items())
    if not failures:
        return out_typed, _empty_failures()
    parsed = [name for name, _, _ in failures]
    flags = [f"__fail_{name}" for name in parsed]
    # a value whose text is there but whose parse is null failed its cast
    out = pl.concat(
        [text_frame.select(pl.col(parsed).name.prefix("__text_")), out_typed.select(parsed)], how="horizontal"
    )
    out = out.select((pl.col(f"__text_{n}").is_not_null() & pl.col(n).is_null()).alias(f"__fail_{n}") for n in parsed)
    if not out.select(pl.any_horizontal(flags).any()).item():  # the common case: no bookkeeping on the whole frame
        return out_typed, _empty_failures()
    checks = pl.DataFrame(failures, schema=["column_name", "check_name", "reason"], orient="row")
    fails = (
        out.with_row_index("row")
        .select("row", *flags)
        .unpivot(index="row", variable_name="column_name")
        .filter(pl.col("value"))
        .with_columns(pl.col("column_name").str.strip_prefix("__fail_"))
        .join(checks, on="column_name", maintain_order="left")
        .select("row", "column_name", "check_name", "reason")
    )
    return out_typed, fails.with_columns(pl.col("row").cast(pl.Int64))


def _fast_parse(dtype: pl.DataType, text: pl.Expr) -> pl.Expr:
    """The plain form of a value, as the general parser reads it; null for anything else (which the
    general parser then decides). Equal to `parse_*` wherever it is not null: the general parsers try
    exactly these forms first."""
    if dtype == pl.Date:
        return text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    if isinstance(dtype, pl.Datetime) or dtype == pl.Datetime:
        return text.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
    number = text.cast(pl.Float64, strict=False)
    return pl.when(number.is_finite()).then(number)


# Timestamps as exports write them most, tried before the general parser (which reads them the same, at
# several times the cost): GA4's microseconds, a Russian interface's day-first `05.03.2024 14:03:00`, a
# shop's ` +0300` and a CRM's ISO `+03:00` offsets.
PLAIN = ("%Y-%m-%d %H:%M:%S%.6f", "%d.%m.%Y %H:%M:%S")
WITH_OFFSET = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%dT%H:%M:%S%z")


def _parse_left(text: pl.Series, dtype: pl.DataType, parse, zone: str | None = None) -> pl.Series:
    """The general parser on the values the plain form left, after the common forms above; a time with
    an offset in the local time of `zone` (naive UTC without one)."""
    if not (isinstance(dtype, pl.Datetime) or dtype == pl.Datetime):
        return text.to_frame().select(parse(pl.col(text.name))).to_series()
    offset = pl.coalesce(
        pl.col(text.name).str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False) for fmt in WITH_OFFSET
    )
    offset = (offset.dt.convert_time_zone(zone) if zone else offset).dt.replace_time_zone(None)
    plain = [pl.col(text.name).str.strptime(pl.Datetime("us"), fmt, strict=False) for fmt in PLAIN]
    quick = text.to_frame().select(pl.coalesce(*plain, offset)).to_series()
    rest = (quick.is_null() & text.is_not_null()).arg_true()
    if rest.len() == 0:
        return quick
    general = text.gather(rest).to_frame().select(parse(pl.col(text.name), zone=zone)).to_series()
    return quick.scatter(rest, general)


def _typed(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Int64:  # a whole number or nothing
        value = pl.when(value.round(0) == value).then(value.cast(pl.Int64, strict=False))
    return value.cast(dtype)


def validate_frame(source: str, typed: pl.DataFrame) -> pl.DataFrame:
    """Pandera, lazily, so every failing value is collected: `row, column_name, check_name, reason`."""
    model = INPUT_MODELS[source]
    try:
        model.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        if cases["index"].is_null().any():
            # A whole-frame failure (e.g. a wrong dtype) means a bug in the cast, not a bad row.
            raise IngestError(
                f"{source}: schema-level validation failure:\n{cases.filter(pl.col('index').is_null())}"
            ) from None
        wide_checks = {check.error: check.name for check in model.to_schema().checks}
        check_name = pl.col("check").replace(wide_checks)
        return cases.select(
            pl.col("index").cast(pl.Int64).alias("row"),
            pl.when(pl.col("schema_context") == "DataFrameSchema")
            .then(check_name.replace(CHECK_COLUMNS))
            .otherwise(pl.col("column"))
            .alias("column_name"),
            check_name.alias("check_name"),
            pl.col("check").map_elements(_reason, return_dtype=pl.String).alias("reason"),  # one per distinct check
        )
    return _empty_failures()


_REASONS = [
    (r"^not_nullable$", "required value is missing"),
    (r"^str_matches\((.*)\)$", "does not match the expected pattern {0}"),
    (r"^str_length\(.*\)$", "empty text"),
    (r"^greater_than_or_equal_to\((.*)\)$", "must be >= {0}"),
    (r"^greater_than\((.*)\)$", "must be > {0}"),
    (r"^isin\((.*)\)$", "not one of {0}"),
    (r"^in_range\((.*)\)$", "outside the plausible range {0}"),
]


def _reason(check: str) -> str:
    matched = re.fullmatch(r"str_matches\('(.*)'\)", check)
    if matched and matched.group(1) in PATTERN_REASONS:
        return PATTERN_REASONS[matched.group(1)]
    for pattern, text in _REASONS:
        match = re.match(pattern, check)
        if match:
            return text.format(*match.groups())
    return check


def _empty_failures() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"row": pl.Int64, "column_name": pl.String, "check_name": pl.String, "reason": pl.String}
    )


def bounds_failures(source: str, typed: pl.DataFrame, bounds: Bounds) -> pl.DataFrame:
    """Dates and amounts outside the configured plausible range, as `row, column_name, check_name,
    reason` (the shape of cast failures). Applied here rather than as Pandera checks because the
    bounds are settings and the upper date moves with the run's date."""
    schema = INPUT_MODELS[source].to_schema()
    checks = []  # (flag expression, column, check name, reason)
    for name, column in schema.columns.items():
        dtype = column.dtype.type
        if dtype == pl.Date or isinstance(dtype, pl.Datetime) or dtype == pl.Datetime:
            day = pl.col(name) if dtype == pl.Date else pl.col(name).dt.date()
            checks.append(
                (day > bounds.max_date, name, "max_date", f"in the future: after quality.max_date {bounds.max_date}")
            )
            checks.append((day < bounds.min_date, name, "min_date", f"before quality.min_date {bounds.min_date}"))
    for name in AMOUNT_COLUMNS.get(source, ()):
        checks.append(
            (
                pl.col(name).abs() > bounds.max_amount,
                name,
                "max_amount",
                f"over quality.max_amount {bounds.max_amount:g}".replace("e+", "e"),
            )
        )
    if not checks or typed.height == 0:
        return _empty_failures()
    flags = typed.select([flag.fill_null(False).alias(f"__b{i}") for i, (flag, *_) in enumerate(checks)])
    if not flags.select(pl.any_horizontal(pl.all()).any()).item():  # the common case: nothing out of range
        return _empty_failures()
    names = pl.DataFrame(
        [(f"__b{i}", column, check, reason) for i, (_, column, check, reason) in enumerate(checks)],
        schema=["flag", "column_name", "check_name", "reason"],
        orient="row",
    )
    return (
        flags.with_row_index("row")
        .unpivot(index="row", variable_name="flag")
        .filter(pl.col("value"))
        .join(names, on="flag", maintain_order="left")
        .select(pl.col("row").cast(pl.Int64), "column_name", "check_name", "reason")
    )


def _suspect_failures(read: ReadResult) -> pl.DataFrame:
    """Rows the reader could not trust as a whole (a cut-off last line): every value of them may be
    short, so the row is quarantined under its first column."""
    if not read.suspects:
        return _empty_failures()
    rows = read.frame.with_row_index("row").filter(pl.col("source_row").is_in(list(read.suspects)))
    first = read.frame.columns[0]
    return rows.select(
        pl.col("row").cast(pl.Int64),
        pl.lit(first).alias("column_name"),
        pl.lit("whole_line").alias("check_name"),
        pl.col("source_row").replace_strict(read.suspects, return_dtype=pl.String).alias("reason"),
    )


def split_rows(
    source: str, read: ReadResult, bounds: Bounds | None = None, zone: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(good typed rows with source_row, failures with source_row and raw value) for one file; `zone`:
    the local time zone timestamps with an offset are converted to."""
    typed, cast_failures = cast_frame(source, read.frame, read.clean, zone)
    bounds = bounds or Bounds.from_config(Config())
    failures = pl.concat(
        [cast_failures, bounds_failures(source, typed, bounds), validate_frame(source, typed), _suspect_failures(read)]
    ).unique(maintain_order=True)
    typed = typed.with_columns(read.frame["source_row"])
    if failures.height == 0:  # the common case: no bookkeeping on the whole frame
        return typed, failures.with_columns(
            pl.lit(None, pl.Int64).alias("source_row"), pl.lit(None, pl.String).alias("raw_value")
        )
    # A value that failed its cast shows up again as "missing": report the cast, not the echo.
    casted = cast_failures.select("row", "column_name").with_columns(pl.lit(True).alias("__cast"))
    failures = (
        failures.join(casted, on=["row", "column_name"], how="left")
        .filter(pl.col("__cast").is_null() | pl.col("check_name").str.starts_with("cast_"))
        .drop("__cast")
    )
    bad_rows = failures["row"].unique().implode()
    good = typed.with_row_index("__row").filter(~pl.col("__row").is_in(bad_rows)).drop("__row")
    # raw text of the failing rows only, one row per (row, column)
    raw_values = (
        read.frame.with_row_index("row")
        .with_columns(pl.col("row").cast(pl.Int64))
        .filter(pl.col("row").is_in(bad_rows))
        .unpivot(index=["row", "source_row"], variable_name="column_name", value_name="raw_value")
    )
    failures = failures.join(raw_values, on=["row", "column_name"], how="left")
    # a handful of rejected rows: a personal cell shows its shape only, any other cell with the e-mails
    # and phones in it masked (quality.rejected_rows and `validate` show these values)
    failures = failures.with_columns(
        pl.when(pl.col("column_name").is_in(PERSONAL))
        .then(pl.col("raw_value").map_elements(mask, return_dtype=pl.String))
        .otherwise(pl.col("raw_value").map_elements(mask_text, return_dtype=pl.String))
        .alias("raw_value")
    )
    # a check that blames a column the file does not carry still knows the row's line
    lines = raw_values.select("row", "source_row").unique()
    return good, failures.drop("source_row").join(lines, on="row", how="left")


# ---------------------------------------------------------------- load into the warehouse
