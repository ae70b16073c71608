"""Raw stage: read every export of a source, cast, validate, quarantine bad rows, load raw.<source>.

Nothing is lost and nothing is silent: each data row of each file ends up loaded into raw.<source>,
dropped as a duplicate of a newer export, or quarantined in quality.rejected_rows with its file, line,
column, check and (masked) value; quality.file_loads reconciles every file:
    rows_read = rows_loaded + duplicates_dropped + rows_rejected + rows_skipped
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl

from pipelines.background import ahead
from pipelines.config import Config
from pipelines.db import rows, scalar
from pipelines.identity import mask, normalise_email, normalise_phone
from pipelines.raw_tables import RAW_COLUMNS, create_raw_tables
from pipelines.readers import ExportError, ReadResult, read_export
from pipelines.readers.values import parse_date, parse_number, parse_timestamp
from schemas.inputs import CHECK_COLUMNS, INPUT_MODELS

PERSONAL = ("email", "phone")
LOWER_CASE = ("status", "category", "allocation", "channel", "platform")
UPPER_CASE = ("currency",)
# Two rows with the same natural key are the same fact exported twice; the newest file wins.
NATURAL_KEYS: dict[str, tuple[str, ...] | None] = {
    "ad_spend": ("date", "platform", "campaign_id"),
    "orders": ("order_id",),
    "customers": ("customer_id",),
    "fx_rates": ("date", "currency"),
    "touchpoints": ("visitor_id", "ts", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"),
    "costs": None,  # None: the whole row is the key
}
# Costs carry no id: two equal rows in one file are two costs; only an older file's copy is a re-export.
COPIES_WITHIN_A_FILE_ARE_DISTINCT = {"costs"}
# Two rows of one file under one key with different content contradict each other (two orders under
# one id, two spends for one campaign-day): both are quarantined. Not for touchpoints: a tracker that
# logs one visit twice (same visitor, time and tags) often loses the referrer or click id on the copy,
# and that is still one visit. Costs have no key.
CONFLICTS_QUARANTINED = {"ad_spend", "orders", "customers", "fx_rates"}
# The key's time column: a copy of a new row lies in the new rows' time range, so the duplicate search
# reads only the row groups of that range (raw tables are appended file by file, so time clusters).
KEY_TIME = {"touchpoints": "ts", "ad_spend": "date", "fx_rates": "date"}
# Sources whose search narrows further, to where files' time ranges overlap (plus files that repeat a
# key themselves): monthly exports overlap at most at their edges, so a full build of 100 M touchpoints
# hashes the few rows there instead of all of them. Not ad_spend: its keys change after loading
# (campaigns keyed by name take their ids), and its platforms' files all span the same days.
SPANNED = {"touchpoints", "fx_rates"}
# Money columns bounded by quality.max_amount. Compared in the row's own currency, before FX: the
# ceiling (1e12 by default) exists so that no sum can overflow DECIMAL(38, 10) later, and it is
# orders of magnitude beyond any real amount in any currency, so where the rate would put it does not
# matter for telling a real amount from junk (1e30, a concatenated id, a misplaced column).
AMOUNT_COLUMNS = {
    "ad_spend": ("spend",),
    "costs": ("amount",),
    "orders": ("revenue", "cost_of_goods", "refunded_amount"),
    "fx_rates": ("rate",),  # not an amount, but a rate past the ceiling would carry any amount past it
}
# Rows cast and validated at a time: bounds memory for exports of many millions of rows.
CHUNK_ROWS = 1_000_000
# Validated rows, of one file or several, gathered into one insert: DuckDB writes an insert of this
# size straight into compressed row groups, while one of 1 M rows or fewer goes through the
# transaction's local storage and costs ~1.6 x as much (medium touchpoints, 0.3 M-row files: 2.5 s
# against 1.15 s per 1.9 M rows, checkpoint included; chunks of 1.25 M rows already take the fast path).
INSERT_ROWS = 2_000_000
INGEST_VERSION = "2"  # bump when a change to reading or casting must reload every file


class IngestError(RuntimeError):
    """The run cannot go on: an unreadable file, a missing column, or too many rejected rows."""


@dataclass(frozen=True)
class Bounds:
    """Plausible values (docs/metrics.md): rows outside are quarantined with the setting named."""

    min_date: date
    max_date: date
    max_amount: float

    @classmethod
    def from_config(cls, config: Config, today: date | None = None) -> "Bounds":
        return cls(config.min_date, config.plausible_max_date(today), config.max_amount)


@dataclass
class FileLoad:
    source: str
    source_file: str
    layout: str
    encoding: str
    delimiter: str
    language: str | None
    notes: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rows_skipped: int
    duplicates_dropped: int
    file_sha256: str
    file_size: int
    file_mtime: datetime
    load_signature: str
    span: "Span | None" = field(default=None, repr=False, compare=False)  # this run's files only


@dataclass
class SourceLoad:
    source: str
    files: list[FileLoad] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    reused_files: int = 0  # loaded by an earlier run and unchanged since

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def data_rows(self) -> int:
        return sum(f.rows_read - f.rows_skipped for f in self.files)

    @property
    def reject_share(self) -> float:
        return self.rows_rejected / self.data_rows if self.data_rows else 0.0


# ---------------------------------------------------------------- cast and validate (pure, no I/O)

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


def cast_frame(source: str, frame: pl.DataFrame, clean: frozenset[str] = frozenset()) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical text columns -> typed columns. Returns (typed frame, cast failures as
    `row, column_name, check_name, reason`). A value that fails its cast becomes null here and is
    reported as a failure, so Pandera's own checks still run on the other columns. Columns in `clean`
    are already stripped, with empty text as null (the reader did it)."""
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
            general = _parse_left(text_frame[name].gather(left), schema.columns[name].dtype.type, parse)
            out_typed = out_typed.with_columns(out_typed[name].scatter(left, general))
    out_typed = out_typed.select(_typed(pl.col(name), column.dtype.type) for name, column in schema.columns.items())
    if not failures:
        return out_typed, _empty_failures()
    parsed = [name for name, _, _ in failures]
    flags = [f"__fail_{name}" for name in parsed]
    # a value whose text is there but whose parse is null failed its cast
    out = pl.concat([text_frame.select(pl.col(parsed).name.prefix("__text_")), out_typed.select(parsed)], how="horizontal")
    out = out.select((pl.col(f"__text_{n}").is_not_null() & pl.col(n).is_null()).alias(f"__fail_{n}") for n in parsed)
    if not out.select(pl.any_horizontal(flags).any()).item():  # the common case: no bookkeeping on the whole frame
        return out_typed, _empty_failures()
    checks = pl.DataFrame(failures, schema=["column_name", "check_name", "reason"], orient="row")
    fails = (
        out.with_row_index("row").select("row", *flags)
        .unpivot(index="row", variable_name="column_name").filter(pl.col("value"))
        .with_columns(pl.col("column_name").str.strip_prefix("__fail_"))
        .join(checks, on="column_name", maintain_order="left").select("row", "column_name", "check_name", "reason")
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


def _parse_left(text: pl.Series, dtype: pl.DataType, parse) -> pl.Series:
    """The general parser on the values the plain form left. Timestamps with six fraction digits (GA4's
    microseconds: millions of them per file) are tried in that plain form first, which the general
    parser would read the same, at a fraction of its cost."""
    if not (isinstance(dtype, pl.Datetime) or dtype == pl.Datetime):
        return text.to_frame().select(parse(pl.col(text.name))).to_series()
    quick = text.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.6f", strict=False)
    rest = (quick.is_null() & text.is_not_null()).arg_true()
    if rest.len() == 0:
        return quick
    return quick.scatter(rest, text.gather(rest).to_frame().select(parse(pl.col(text.name))).to_series())


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
            raise IngestError(f"{source}: schema-level validation failure:\n{cases.filter(pl.col('index').is_null())}") from None
        wide_checks = {check.error: check.name for check in model.to_schema().checks}
        check_name = pl.col("check").replace(wide_checks)
        return cases.select(
            pl.col("index").cast(pl.Int64).alias("row"),
            pl.when(pl.col("schema_context") == "DataFrameSchema")
            .then(check_name.replace(CHECK_COLUMNS)).otherwise(pl.col("column")).alias("column_name"),
            check_name.alias("check_name"),
            pl.col("check").map_elements(_reason, return_dtype=pl.String).alias("reason"),  # one per distinct check
        )
    return _empty_failures()


_REASONS = [
    (r"^not_nullable$", "required value is missing"),
    (r"^str_matches\('\^\[A-Z\]\{3\}\$'\)$", "not a three-letter currency code"),
    (r"^str_matches\((.*)\)$", "does not match the expected pattern {0}"),
    (r"^str_length\(.*\)$", "empty text"),
    (r"^greater_than_or_equal_to\((.*)\)$", "must be >= {0}"),
    (r"^greater_than\((.*)\)$", "must be > {0}"),
    (r"^isin\((.*)\)$", "not one of {0}"),
    (r"^in_range\((.*)\)$", "outside the plausible range {0}"),
]


def _reason(check: str) -> str:
    for pattern, text in _REASONS:
        match = re.match(pattern, check)
        if match:
            return text.format(*match.groups())
    return check


def _empty_failures() -> pl.DataFrame:
    return pl.DataFrame(schema={"row": pl.Int64, "column_name": pl.String, "check_name": pl.String, "reason": pl.String})


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
            checks.append((day > bounds.max_date, name, "max_date", f"in the future: after quality.max_date {bounds.max_date}"))
            checks.append((day < bounds.min_date, name, "min_date", f"before quality.min_date {bounds.min_date}"))
    for name in AMOUNT_COLUMNS.get(source, ()):
        checks.append((pl.col(name).abs() > bounds.max_amount, name, "max_amount", f"over quality.max_amount {bounds.max_amount:g}".replace("e+", "e")))
    if not checks or typed.height == 0:
        return _empty_failures()
    flags = typed.select([flag.fill_null(False).alias(f"__b{i}") for i, (flag, *_) in enumerate(checks)])
    if not flags.select(pl.any_horizontal(pl.all()).any()).item():  # the common case: nothing out of range
        return _empty_failures()
    names = pl.DataFrame(
        [(f"__b{i}", column, check, reason) for i, (_, column, check, reason) in enumerate(checks)],
        schema=["flag", "column_name", "check_name", "reason"], orient="row",
    )
    return (
        flags.with_row_index("row").unpivot(index="row", variable_name="flag").filter(pl.col("value"))
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
        pl.col("row").cast(pl.Int64), pl.lit(first).alias("column_name"), pl.lit("whole_line").alias("check_name"),
        pl.col("source_row").replace_strict(read.suspects, return_dtype=pl.String).alias("reason"),
    )


def split_rows(source: str, read: ReadResult, bounds: Bounds | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(good typed rows with source_row, failures with source_row and raw value) for one file."""
    typed, cast_failures = cast_frame(source, read.frame, read.clean)
    bounds = bounds or Bounds.from_config(Config())
    failures = pl.concat(
        [cast_failures, bounds_failures(source, typed, bounds), validate_frame(source, typed),
         _suspect_failures(read)]
    ).unique(maintain_order=True)
    typed = typed.with_columns(read.frame["source_row"])
    if failures.height == 0:  # the common case: no bookkeeping on the whole frame
        return typed, failures.with_columns(pl.lit(None, pl.Int64).alias("source_row"), pl.lit(None, pl.String).alias("raw_value"))
    # A value that failed its cast shows up again as "missing": report the cast, not the echo.
    casted = cast_failures.select("row", "column_name").with_columns(pl.lit(True).alias("__cast"))
    failures = failures.join(casted, on=["row", "column_name"], how="left").filter(
        pl.col("__cast").is_null() | pl.col("check_name").str.starts_with("cast_")
    ).drop("__cast")
    bad_rows = failures["row"].unique().implode()
    good = typed.with_row_index("__row").filter(~pl.col("__row").is_in(bad_rows)).drop("__row")
    # raw text of the failing rows only, one row per (row, column)
    raw_values = (
        read.frame.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
        .filter(pl.col("row").is_in(bad_rows))
        .unpivot(index=["row", "source_row"], variable_name="column_name", value_name="raw_value")
    )
    failures = failures.join(raw_values, on=["row", "column_name"], how="left")
    failures = failures.with_columns(
        pl.when(pl.col("column_name").is_in(PERSONAL))
        .then(pl.col("raw_value").map_elements(mask, return_dtype=pl.String))  # a handful of rejected rows
        .otherwise(pl.col("raw_value"))
        .alias("raw_value")
    )
    # a check that blames a column the file does not carry still knows the row's line
    lines = raw_values.select("row", "source_row").unique()
    return good, failures.drop("source_row").join(lines, on="row", how="left")


# ---------------------------------------------------------------- load into the warehouse

def source_folders(raw_dir: Path, source: str) -> list[Path]:
    """The source's folders under the raw folder, matched case-blind (`Costs/` is `costs/`)."""
    if not raw_dir.is_dir():
        return []
    return sorted(p for p in raw_dir.iterdir() if p.is_dir() and p.name.lower() == source)


# Files that are never exports: documents, images, archives, and downloads still in progress (a browser
# writes .crdownload/.part until the file is whole). They are skipped with a warning, not read.
NOT_EXPORTS = {
    ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".doc", ".docx", ".ppt", ".pptx", ".zip", ".7z", ".rar",
    ".exe", ".tmp", ".bak", ".log", ".part", ".partial", ".crdownload", ".download",
}


def _candidates(raw_dir: Path, source: str) -> list[Path]:
    return sorted(
        p for folder in source_folders(raw_dir, source) for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in (".md",)
    )


def export_files(raw_dir: Path, source: str) -> list[Path]:
    return [p for p in _candidates(raw_dir, source) if p.suffix.lower() not in NOT_EXPORTS]


def raw_folder_warnings(raw_dir: Path, sources: tuple[str, ...]) -> list[str]:
    """What lies under the raw folder and is not read: unknown folders and files outside source folders."""
    if not raw_dir.is_dir():
        return []
    warnings = []
    for path in sorted(raw_dir.iterdir()):
        if path.name.startswith(".") or path.name.startswith("MANIFEST") or path.suffix.lower() == ".md":
            continue
        if path.is_dir() and path.name.lower() not in sources:
            warnings.append(f"unknown folder {path.name}/ in {raw_dir} was not read (source folders: {', '.join(sources)})")
        elif path.is_file():
            warnings.append(f"file {path.name} in {raw_dir} is outside a source folder and was not read "
                            f"(move it into one of {', '.join(s + '/' for s in sources)})")
    for source in sources:
        for path in _candidates(raw_dir, source):
            if path.suffix.lower() in NOT_EXPORTS:
                warnings.append(f"{path.relative_to(raw_dir).as_posix()} is not an export ({path.suffix.lower()} file) and was not read")
    return warnings


def published_data_rows(con: duckdb.DuckDBPyConnection, source: str) -> tuple[int, int]:
    """(data rows, files) of the source as the build's starting point (a copy of the published
    warehouse) recorded them, before this run reconciles the folder."""
    if not scalar(con, "select count(*) from duckdb_tables() where schema_name = 'quality' and table_name = 'file_loads'"):
        return 0, 0
    data_rows, files = con.execute(
        "select coalesce(sum(rows_read - rows_skipped), 0), count(*) from quality.file_loads where source = ?", [source]
    ).fetchone()
    return int(data_rows), int(files)


def check_source_present(raw_dir: Path, source: str, published: tuple[int, int], allow_missing: bool) -> None:
    """A raw folder or source folder that is not there is a mistake (a typo, an unmounted share, a failed
    export), not an empty source: refuse, unless the run says so explicitly."""
    if not raw_dir.is_dir():
        raise IngestError(f"raw folder {raw_dir} does not exist: check --raw (or ACQ_RAW_DIR)")
    if source_folders(raw_dir, source) or allow_missing:
        return
    had = f"; the published warehouse holds {published[0]} {source} rows from {published[1]} file(s)" if published[1] else ""
    raise IngestError(
        f"{source}: no {source}/ folder in {raw_dir}{had}. Put the exports there (an empty {source}/ folder "
        f"means no data), or pass --allow-missing to build without it"
    )


def check_no_sharp_shrink(source: str, published: tuple[int, int], load: SourceLoad, max_shrink_share: float,
                          allow_shrink: bool) -> None:
    """A source whose data rows fall sharply against the published warehouse has most likely lost files
    (a partial copy, a wrong folder): refuse to publish it, unless the run says so explicitly."""
    before, files = published
    if allow_shrink or before == 0 or load.data_rows >= before * (1 - max_shrink_share):
        return
    raise IngestError(
        f"{source}: {load.data_rows} data rows in {len(load.files)} file(s) now, against {before} in {files} file(s) "
        f"in the published warehouse ({1 - load.data_rows / before:.0%} fewer, over quality.max_shrink_share "
        f"{max_shrink_share:.0%}). If the exports really shrank, pass --allow-shrink"
    )


def ingest_source(
    con: duckdb.DuckDBPyConnection, source: str, raw_dir: Path, run_id: str, secret: str,
    max_reject_share: float = 1.0, options: dict | None = None, incremental: bool = True,
    bounds: Bounds | None = None,
) -> SourceLoad:
    """Bring raw.<source> in line with what the export folder holds now.

    The build starts from the published warehouse, so when every file loaded last time is still there
    unchanged (same size and modification time, same reader options and secret), only new files are
    read: a nightly run costs what the new exports cost, not the history. A changed or vanished file
    reloads the whole source, so no row of an old version survives.
    """
    # Loading appends blocks DuckDB would keep cached up to its memory limit, beside the polars frames
    # of the file at hand: a smaller limit while loading keeps the process's peak memory down.
    run_limit = scalar(con, "select current_setting('memory_limit')")
    con.execute(f"set memory_limit = '{os.environ.get('ACQ_DUCKDB_INGEST_MEMORY_LIMIT', '2GB')}'")
    try:
        return _ingest_source(con, source, raw_dir, run_id, secret, max_reject_share, options, incremental,
                              bounds or Bounds.from_config(Config()))
    finally:
        con.execute(f"set memory_limit = '{run_limit}'")


def _ingest_source(con, source, raw_dir, run_id, secret, max_reject_share, options, incremental, bounds) -> SourceLoad:
    create_raw_tables(con)
    create_quality_tables(con)
    files = {path.relative_to(raw_dir).as_posix(): path for path in export_files(raw_dir, source)}
    signature = _load_signature(options, secret, bounds)
    previous = {
        name: (size, mtime, sig)
        for name, size, mtime, sig in rows(
            con, "select source_file, file_size, file_mtime, load_signature from quality.file_loads where source = ?", [source]
        )
    }
    unchanged = incremental and bool(previous) and all(
        name in files and (*_fingerprint(files[name]), signature) == previous[name] for name in previous
    ) and not _future_rows_now_due(con, source, bounds)
    if not unchanged:
        con.execute(f"delete from raw.{source}")
        con.execute("delete from quality.rejected_rows where source = ?", [source])
        con.execute("delete from quality.file_loads where source = ?", [source])
        previous = {}
    new_files = [name for name in files if name not in previous]
    loads = _load_files(con, source, [(name, files[name]) for name in new_files], run_id, secret, options, signature, bounds)
    _record_file_loads(con, loads, run_id)
    if loads:
        if source == "ad_spend":
            _key_campaigns_by_id(con)
        _drop_duplicates(con, source, new_files, run_id, {f.source_file: f.span for f in loads})
    load = _source_load(con, source, reused=len(previous))
    if load.reject_share > max_reject_share:
        worst = max(load.files, key=lambda f: f.rows_rejected)
        raise IngestError(
            f"{source}: {load.rows_rejected} of {load.data_rows} rows rejected ({load.reject_share:.1%}), "
            f"over the {max_reject_share:.0%} threshold; most in {worst.source_file} ({worst.rows_rejected}). "
            f"Reasons: {load.reasons}. See quality.rejected_rows."
        )
    return load


def _load_files(
    con, source: str, files: list[tuple[str, Path]], run_id: str, secret: str, options, signature: str, bounds: Bounds,
) -> list[FileLoad]:
    """Insert the files' validated rows, INSERT_ROWS or more at a time, while the next chunk is read,
    cast and validated in a worker thread. Rejects go in as they come (they are few)."""
    loads, loaded, rejected, pending = [], 0, 0, []
    for name, path, read, good, failures, sha256 in ahead(_validated_chunks(source, files, options, bounds)):
        if sha256 is not None:  # the file's last chunk is in; `failures` holds its key span
            loads.append(_file_load(source, name, path, read, loaded, rejected, sha256, signature))
            loads[-1].span = failures
            loaded = rejected = 0
            continue
        if good.height:
            pending.append(good.with_columns(pl.lit(name).alias("source_file"), pl.lit(read.layout).alias("layout")))
        if sum(frame.height for frame in pending) >= INSERT_ROWS:
            _insert_good(con, source, pl.concat(pending, how="vertical_relaxed", rechunk=False), secret)
            pending = []
        _insert_rejects(con, source, failures, name, run_id)
        loaded, rejected = loaded + good.height, rejected + failures["row"].n_unique()
    if pending:
        _insert_good(con, source, pl.concat(pending, how="vertical_relaxed", rechunk=False), secret)
    return loads


def _validated_chunks(source: str, files: list[tuple[str, Path]], options, bounds: Bounds):
    """(name, path, read, good rows, failures, None) per chunk of each file, then (name, path, read, None,
    None, sha256): hashing the file here, in the worker thread, keeps that second read off the insert's path."""
    for name, path in files:
        try:
            read = read_export(path, source, options=options)
        except ExportError as exc:
            message = str(exc)
            raise IngestError(message if path.name in message else f"{name}: {message}") from exc
        except Exception as exc:  # a reader that trips over a mangled file still names it
            detail = str(exc)
            detail = detail if len(detail) <= 500 else detail[:500] + " … (cut)"
            raise IngestError(f"{source}/{path.name}: cannot be read ({type(exc).__name__}: {detail})") from exc
        span = _KeySpan(source)
        for chunk in read.frame.iter_slices(CHUNK_ROWS):
            good, failures = split_rows(source, replace(read, frame=chunk), bounds)
            span.add(good)
            yield name, path, read, good, failures, None
        yield name, path, read, None, span.result(), _sha256(path)


class _KeySpan:
    """A file's range of its key's time column and whether one key occurs twice in it (a 64-bit hash
    per row; a collision only widens the duplicate search, never drops a row). Computed here, in the
    worker thread, so the duplicate search can skip every row no other row can be a copy of."""

    def __init__(self, source: str):
        self.time = KEY_TIME.get(source) if source in SPANNED else None
        self.key = list(NATURAL_KEYS[source] or ())
        self.low = self.high = None
        self.hashes: list[pl.Series] = []

    def add(self, good: pl.DataFrame) -> None:
        if self.time is None or good.height == 0:
            return
        low, high = good.select(pl.col(self.time).min().alias("low"), pl.col(self.time).max().alias("high")).row(0)
        self.low = low if self.low is None or (low is not None and low < self.low) else self.low
        self.high = high if self.high is None or (high is not None and high > self.high) else self.high
        self.hashes.append(good.select(pl.struct(self.key).hash()).to_series())

    def result(self) -> "Span | None":
        if self.time is None:
            return None
        hashes = pl.concat(self.hashes) if self.hashes else pl.Series([], dtype=pl.UInt64)
        return Span(self.low, self.high, hashes.n_unique() < hashes.len())


@dataclass(frozen=True)
class Span:
    low: object  # the key time's min and max over the file's loaded rows (None: no row)
    high: object
    repeats: bool  # some key occurs twice in the file


def _file_load(
    source: str, name: str, path: Path, read: ReadResult, loaded: int, rejected: int, sha256: str, signature: str
) -> FileLoad:
    size, mtime = _fingerprint(path)
    return FileLoad(
        source=source, source_file=name, layout=read.layout, encoding=read.encoding, delimiter=read.delimiter,
        language=read.language, notes="; ".join(read.notes), rows_read=read.rows_read, rows_loaded=loaded, rows_rejected=rejected,
        rows_skipped=read.skipped_lines, duplicates_dropped=0, file_sha256=sha256, file_size=size,
        file_mtime=mtime, load_signature=signature,
    )


def _source_load(con, source: str, reused: int) -> SourceLoad:
    load = SourceLoad(source, reused_files=reused)
    frame = con.sql(
        "select * exclude (run_id, loaded_at) from quality.file_loads where source = $source order by source_file",
        params={"source": source},
    ).pl()
    load.files = [FileLoad(**row) for row in frame.iter_rows(named=True)]
    load.reasons = dict(rows(con, "select reason, count(*) from quality.rejected_rows where source = ? group by reason", [source]))
    return load


def _future_rows_now_due(con, source: str, bounds: Bounds) -> bool:
    """Has a row quarantined as in the future (or under another max_date) become plausible since?"""
    values = con.sql(
        "select raw_value from quality.rejected_rows where source = $source and check_name = 'max_date'",
        params={"source": source},
    ).pl()
    if values.height == 0:
        return False
    day = parse_timestamp(pl.col("raw_value").str.strip_chars()).dt.date()
    return bool(values.select((day <= bounds.max_date).fill_null(False).any()).item())


def _fingerprint(path: Path) -> tuple[int, datetime]:
    stat = path.stat()
    mtime = datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc).replace(tzinfo=None)
    return stat.st_size, mtime


def _load_signature(options: dict | None, secret: str, bounds: Bounds | None = None) -> str:
    """What else decides a file's rows: reader options, the hashing secret, the plausible bounds and this
    module's version. The default upper date moves every day and is left out (else every file would
    reload nightly); `_future_rows_now_due` reloads a source instead when a row it quarantined as in the
    future has become plausible."""
    bounds = bounds or Bounds.from_config(Config())
    fixed = (bounds.min_date, bounds.max_amount)
    material = f"{INGEST_VERSION}|{sorted((options or {}).items())}|{hashlib.sha256(secret.encode()).hexdigest()}|{fixed}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _insert_good(con, source: str, good: pl.DataFrame, secret: str) -> None:
    """Validated rows (with their source_file, source_row and layout) into raw.<source>; e-mails and
    phones only as keyed hashes."""
    if good.height == 0:
        return
    columns = []
    for name in RAW_COLUMNS[source]:
        if name in ("email_key", "phone_key"):
            plain = name.removesuffix("_key")
            columns.append(f"case when {plain} is not null then sha256($secret || {plain}) end as {name}")
        else:
            columns.append(f'"{name}"')
    sql = f"insert into raw.{source} by name select {', '.join(columns)}, source_file, source_row, layout from good"
    params = {"secret": secret} if source in ("customers", "orders") else {}
    # Arrow's string views are polars' own layout: handed over without a copy (large strings are one)
    con.register("good", good.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        con.execute(sql, params)
    finally:
        con.unregister("good")


def _insert_rejects(con, source: str, failures: pl.DataFrame, source_file: str, run_id: str) -> None:
    if failures.height == 0:
        return
    rejects = failures.select(
        pl.lit(run_id).alias("run_id"), pl.lit(source).alias("source"), pl.lit(source_file).alias("source_file"),
        pl.col("source_row").cast(pl.Int64), "column_name", "check_name", pl.col("raw_value").cast(pl.String), "reason",
    )
    con.register("rejects", rejects.to_arrow())
    try:
        con.execute("insert into quality.rejected_rows by name select * from rejects")
    finally:
        con.unregister("rejects")


NAME_KEYED = "campaign key: campaign_name%"


def _key_campaigns_by_id(con) -> None:
    """Rows of exports without a campaign id carry the campaign's name as its key (Meta's default
    columns). Where another export names the same campaign of the platform with exactly one id, those
    rows take that id, so the same campaign-day exported with and without ids is one fact and the
    duplicate search below keeps one copy."""
    con.execute(
        """
        update raw.ad_spend r set campaign_id = m.campaign_id
        from (
            select platform, campaign_name, min(campaign_id) as campaign_id
            from raw.ad_spend
            where source_file not in (select source_file from quality.file_loads
                                      where source = 'ad_spend' and notes like $name_keyed)
              and campaign_name is not null
            group by all
            having count(distinct campaign_id) = 1
        ) m
        where r.source_file in (select source_file from quality.file_loads
                                where source = 'ad_spend' and notes like $name_keyed)
          and r.platform = m.platform and r.campaign_name = m.campaign_name and r.campaign_id = r.campaign_name
        """,
        {"name_keyed": NAME_KEYED},
    )


MAX_INTERVALS = 64  # overlaps searched one by one; beyond, their envelope


def _overlaps(con, source: str, spans: dict[str, Span | None]) -> list[tuple] | None:
    """Time intervals outside which no row can have a copy: where a new file's key-time range overlaps
    another file's, and the whole range of a new file that repeats a key itself. None: not known (a file
    without a span), search the new rows' whole range."""
    if source not in SPANNED or not spans or any(s is None for s in spans.values()):
        return None
    time = KEY_TIME[source]
    ranges = [(s.low, s.high, s.repeats) for s in spans.values() if s.low is not None]
    if not ranges:
        return []
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    loaded = {name for (name,) in rows(con, "select source_file from quality.file_loads where source = ?", [source])}
    if loaded - set(spans):  # files of earlier runs: their ranges within the new rows' range
        old = rows(con, f"""select min({time}), max({time}) from raw.{source}
                            where {time} between $low and $high and source_file not in (select source_file from new_files)
                            group by source_file""", {"low": low, "high": high})
        ranges += [(lo, hi, False) for lo, hi in old]
    found = [(lo, hi) for lo, hi, repeats in ranges if repeats]
    ranges.sort(key=lambda r: (r[0], r[1]))
    reach = None  # the latest end among the ranges so far: a range starting before it overlaps one of them
    for lo, hi, _ in ranges:
        if reach is not None and lo <= reach:
            found.append((lo, min(hi, reach)))
        reach = hi if reach is None else max(reach, hi)
    merged: list[list] = []
    for lo, hi in sorted(found):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    if len(merged) > MAX_INTERVALS:
        merged = [[merged[0][0], max(hi for _, hi in merged)]]
    return [tuple(m) for m in merged]


def _drop_duplicates(con, source: str, new_files: list[str], run_id: str = "",
                     spans: dict[str, Span | None] | None = None) -> None:
    """Keep one row per natural key: the newest file (modification time, then name), then its last line.

    Only keys the newly read files carry can have gained a copy. A 64-bit hash of the key finds the
    candidates cheaply (one integer per row, not a window over every column of every row); the exact
    key then decides among the few candidates, so a hash collision can never drop a distinct row.
    Within one file, copies of a key that differ in content are not a re-export but a contradiction:
    they are quarantined, all of them, before the rest is de-duplicated."""
    key = NATURAL_KEYS[source] or tuple(RAW_COLUMNS[source])
    columns = ", ".join(f'"{c}"' for c in key)
    qualified = ", ".join(f'r."{c}"' for c in key)
    rank, by_line = ("dense_rank", "") if source in COPIES_WITHIN_A_FILE_ARE_DISTINCT else ("row_number", ", r.source_row desc")
    con.register("new_files", pl.DataFrame({"source_file": new_files}, schema={"source_file": pl.String}).to_arrow())
    in_range, r_in_range, bounds = "true", "true", {}
    intervals = _overlaps(con, source, spans or {})
    if intervals == []:  # no two files overlap in time and none repeats a key: no row has a copy
        con.unregister("new_files")
        return
    if intervals:
        time = KEY_TIME[source]
        bounds = {f"{end}{i}": value for i, (lo, hi) in enumerate(intervals) for end, value in (("lo", lo), ("hi", hi))}
        in_range = "(" + " or ".join(f"{time} between $lo{i} and $hi{i}" for i in range(len(intervals))) + ")"
        r_in_range = "(" + " or ".join(f"r.{time} between $lo{i} and $hi{i}" for i in range(len(intervals))) + ")"
    elif source in KEY_TIME:
        time = KEY_TIME[source]
        bounds["low"], bounds["high"] = con.execute(
            f"select min({time}), max({time}) from raw.{source} where source_file in (select source_file from new_files)"
        ).fetchone()
        in_range, r_in_range = f"{time} between $low and $high", f"r.{time} between $low and $high"
    try:
        con.execute(
            f"""
            create or replace temp table repeated as
            with hashed as (
                select hash({columns}) as key_hash, source_file in (select source_file from new_files) as is_new
                from raw.{source}
                where {in_range}
            )
            select key_hash from hashed group by key_hash having count(*) > 1 and bool_or(is_new)
            """,
            bounds,
        )
        if source in CONFLICTS_QUARANTINED:
            _quarantine_conflicts(con, source, key, r_in_range, bounds, run_id)
        con.execute(
            f"""
            create or replace temp table dropped as
            with ranked as (
                select r.rowid as rid, r.source_file,
                       {rank}() over (partition by {qualified}
                                      order by f.file_mtime desc, r.source_file desc{by_line}) as copy
                from raw.{source} r
                join quality.file_loads f on f.source = $source and f.source_file = r.source_file
                where hash({qualified}) in (select key_hash from repeated) and {r_in_range}
            )
            select rid, source_file from ranked where copy > 1
            """,
            {"source": source} | bounds,
        )
    finally:
        con.unregister("new_files")
    con.execute(f"delete from raw.{source} where rowid in (select rid from dropped)")
    con.execute(
        """update quality.file_loads f
           set duplicates_dropped = f.duplicates_dropped + d.n, rows_loaded = f.rows_loaded - d.n
           from (select source_file, count(*) as n from dropped group by all) d
           where f.source = $source and f.source_file = d.source_file""",
        {"source": source},
    )
    con.execute("drop table dropped")
    con.execute("drop table repeated")


def _quarantine_conflicts(con, source: str, key: tuple[str, ...], r_in_range: str, bounds: dict, run_id: str) -> None:
    """Rows of one new file sharing a natural key but not their content: which is right cannot be told,
    so every one of them goes to quality.rejected_rows, naming another line of the same key."""
    key_cols = ", ".join(f'"{c}"' for c in key)
    content = ", ".join(f'r."{c}"' for c in RAW_COLUMNS[source])
    joined = " and ".join(f'c."{c}" is not distinct from g."{c}"' for c in key)
    key_text = " || ' | ' || ".join(f"""coalesce(c."{c}"::varchar, '')""" for c in key)
    con.execute(
        f"""
        create or replace temp table conflicts as
        with candidates as (
            select r.rowid as rid, r.source_file, r.source_row, {", ".join(f'r."{c}"' for c in key)},
                   hash({content}) as content_hash
            from raw.{source} r
            where hash({", ".join(f'r."{c}"' for c in key)}) in (select key_hash from repeated) and {r_in_range}
              and r.source_file in (select source_file from new_files)
        ),
        groups as (
            select source_file, {key_cols}, list_sort(list(source_row)) as lines
            from candidates group by source_file, {key_cols}
            having count(distinct content_hash) > 1
        )
        select c.rid, c.source_file, c.source_row, {key_text} as raw_value,
               case when c.source_row = g.lines[1] then g.lines[2] else g.lines[1] end as other_line
        from candidates c join groups g on c.source_file = g.source_file and {joined}
        """,
        bounds,
    )
    if not scalar(con, "select count(*) from conflicts"):
        con.execute("drop table conflicts")
        return
    con.execute(
        """insert into quality.rejected_rows by name
           select $run_id as run_id, $source as source, source_file, source_row, $column as column_name,
                  'conflicting_duplicate' as check_name, raw_value,
                  'conflicting duplicate of line ' || other_line as reason
           from conflicts""",
        {"run_id": run_id, "source": source, "column": "+".join(key)},
    )
    con.execute(f"delete from raw.{source} where rowid in (select rid from conflicts)")
    con.execute(
        """update quality.file_loads f
           set rows_rejected = f.rows_rejected + d.n, rows_loaded = f.rows_loaded - d.n
           from (select source_file, count(*) as n from conflicts group by all) d
           where f.source = $source and f.source_file = d.source_file""",
        {"source": source},
    )
    con.execute("drop table conflicts")


def _record_file_loads(con, loads: list[FileLoad], run_id: str) -> None:
    if not loads:
        return
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    frame = pl.DataFrame([{k: v for k, v in asdict(f).items() if k != "span"} | {"run_id": run_id, "loaded_at": now}
                          for f in loads])
    con.register("file_loads", frame.to_arrow())
    try:
        con.execute("insert into quality.file_loads by name select * from file_loads")
    finally:
        con.unregister("file_loads")


def create_quality_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists quality")
    if "notes" not in {c for (c,) in rows(con, "select column_name from duckdb_columns() where schema_name = 'quality' and table_name = 'file_loads'")}:
        con.execute("drop table if exists quality.file_loads")  # an older shape: every source reloads once
    con.execute(
        """create table if not exists quality.rejected_rows (
            run_id varchar, source varchar, source_file varchar, source_row bigint, column_name varchar,
            check_name varchar, raw_value varchar, reason varchar)"""
    )
    con.execute(
        """create table if not exists quality.file_loads (
            run_id varchar, source varchar, source_file varchar, layout varchar, encoding varchar,
            delimiter varchar, language varchar, notes varchar, rows_read bigint, rows_loaded bigint, rows_rejected bigint, rows_skipped bigint,
            duplicates_dropped bigint, file_sha256 varchar, file_size bigint, file_mtime timestamp,
            load_signature varchar, loaded_at timestamp)"""
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
