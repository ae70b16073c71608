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
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl

from pipelines.background import ahead
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
# The key's time column: a copy of a new row lies in the new rows' time range, so the duplicate search
# reads only the row groups of that range (raw tables are appended file by file, so time clusters).
KEY_TIME = {"touchpoints": "ts", "ad_spend": "date", "fx_rates": "date"}
# Rows cast, validated and inserted at a time: bounds memory for exports of many millions of rows.
CHUNK_ROWS = 1_000_000
INGEST_VERSION = "2"  # bump when a change to reading or casting must reload every file


class IngestError(RuntimeError):
    """The run cannot go on: an unreadable file, a missing column, or too many rejected rows."""


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


def cast_frame(source: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical text columns -> typed columns. Returns (typed frame, cast failures as
    `row, column_name, check_name, reason`). A value that fails its cast becomes null here and is
    reported as a failure, so Pandera's own checks still run on the other columns."""
    schema = INPUT_MODELS[source].to_schema()
    typed, failures = [], []
    for name, column in schema.columns.items():
        text = pl.col(name).cast(pl.String).str.strip_chars()
        text = pl.when(text == "").then(None).otherwise(text)
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
            number = parse(text)
            if dtype == pl.Int64:
                whole = number.round(0) == number
                value = pl.when(whole).then(number.cast(pl.Int64, strict=False)).otherwise(None)
            else:
                value = number
            # flagged in the same pass as the cast, so each value is parsed once
            failures.append((name, f"cast_{dtype}".lower(), f"not {expected}"))
            typed.append((text.is_not_null() & value.is_null()).alias(f"__fail_{name}"))
        typed.append(value.cast(dtype).alias(name))
    out = frame.select(typed)
    if not failures:
        return out, _empty_failures()
    flags = [f"__fail_{name}" for name, _, _ in failures]
    failed = out.select(pl.any_horizontal(flags).any()).item()
    out_typed = out.drop(flags)
    if not failed:  # the common case: no bookkeeping on the whole frame
        return out_typed, _empty_failures()
    checks = pl.DataFrame(failures, schema=["column_name", "check_name", "reason"], orient="row")
    fails = (
        out.with_row_index("row").select("row", *flags)
        .unpivot(index="row", variable_name="column_name").filter(pl.col("value"))
        .with_columns(pl.col("column_name").str.strip_prefix("__fail_"))
        .join(checks, on="column_name", maintain_order="left").select("row", "column_name", "check_name", "reason")
    )
    return out_typed, fails.with_columns(pl.col("row").cast(pl.Int64))


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


def split_rows(source: str, read: ReadResult) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(good typed rows with source_row, failures with source_row and raw value) for one file."""
    typed, cast_failures = cast_frame(source, read.frame)
    failures = pl.concat([cast_failures, validate_frame(source, typed)]).unique(maintain_order=True)
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

def export_files(raw_dir: Path, source: str) -> list[Path]:
    folder = raw_dir / source
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in (".md",))


def ingest_source(
    con: duckdb.DuckDBPyConnection, source: str, raw_dir: Path, run_id: str, secret: str,
    max_reject_share: float = 1.0, options: dict | None = None, incremental: bool = True,
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
        return _ingest_source(con, source, raw_dir, run_id, secret, max_reject_share, options, incremental)
    finally:
        con.execute(f"set memory_limit = '{run_limit}'")


def _ingest_source(con, source, raw_dir, run_id, secret, max_reject_share, options, incremental) -> SourceLoad:
    create_raw_tables(con)
    create_quality_tables(con)
    files = {path.relative_to(raw_dir).as_posix(): path for path in export_files(raw_dir, source)}
    signature = _load_signature(options, secret)
    previous = {
        name: (size, mtime, sig)
        for name, size, mtime, sig in rows(
            con, "select source_file, file_size, file_mtime, load_signature from quality.file_loads where source = ?", [source]
        )
    }
    unchanged = incremental and bool(previous) and all(
        name in files and (*_fingerprint(files[name]), signature) == previous[name] for name in previous
    )
    if not unchanged:
        con.execute(f"delete from raw.{source}")
        con.execute("delete from quality.rejected_rows where source = ?", [source])
        con.execute("delete from quality.file_loads where source = ?", [source])
        previous = {}
    new_files = [name for name in files if name not in previous]
    loads = _load_files(con, source, [(name, files[name]) for name in new_files], run_id, secret, options, signature)
    _record_file_loads(con, loads, run_id)
    if loads:
        if source == "ad_spend":
            _key_campaigns_by_id(con)
        _drop_duplicates(con, source, new_files)
    load = _source_load(con, source, reused=len(previous))
    if load.reject_share > max_reject_share:
        worst = max(load.files, key=lambda f: f.rows_rejected)
        raise IngestError(
            f"{source}: {load.rows_rejected} of {load.data_rows} rows rejected ({load.reject_share:.1%}), "
            f"over the {max_reject_share:.0%} threshold; most in {worst.source_file} ({worst.rows_rejected}). "
            f"Reasons: {load.reasons}. See quality.rejected_rows."
        )
    return load


def _load_files(con, source: str, files: list[tuple[str, Path]], run_id: str, secret: str, options, signature: str) -> list[FileLoad]:
    """Insert each file's chunks while the next chunk is read, cast and validated in a worker thread."""
    loads, loaded, rejected = [], 0, 0
    for name, path, read, good, failures, sha256 in ahead(_validated_chunks(source, files, options)):
        if sha256 is not None:  # the file's last chunk is in
            loads.append(_file_load(source, name, path, read, loaded, rejected, sha256, signature))
            loaded = rejected = 0
            continue
        _insert_good(con, source, good, name, read.layout, secret)
        _insert_rejects(con, source, failures, name, run_id)
        loaded, rejected = loaded + good.height, rejected + failures["row"].n_unique()
    return loads


def _validated_chunks(source: str, files: list[tuple[str, Path]], options):
    """(name, path, read, good rows, failures, None) per chunk of each file, then (name, path, read, None,
    None, sha256): hashing the file here, in the worker thread, keeps that second read off the insert's path."""
    for name, path in files:
        try:
            read = read_export(path, source, options=options)
        except ExportError as exc:
            raise IngestError(str(exc)) from exc
        for chunk in read.frame.iter_slices(CHUNK_ROWS):
            yield name, path, read, *split_rows(source, replace(read, frame=chunk)), None
        yield name, path, read, None, None, _sha256(path)


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


def _fingerprint(path: Path) -> tuple[int, datetime]:
    stat = path.stat()
    mtime = datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc).replace(tzinfo=None)
    return stat.st_size, mtime


def _load_signature(options: dict | None, secret: str) -> str:
    """What else decides a file's rows: reader options, the hashing secret and this module's version."""
    material = f"{INGEST_VERSION}|{sorted((options or {}).items())}|{hashlib.sha256(secret.encode()).hexdigest()}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _insert_good(con, source: str, good: pl.DataFrame, source_file: str, layout: str, secret: str) -> None:
    if good.height == 0:
        return
    columns = []
    for name in RAW_COLUMNS[source]:
        if name in ("email_key", "phone_key"):
            plain = name.removesuffix("_key")
            columns.append(f"case when {plain} is not null then sha256($secret || {plain}) end as {name}")
        else:
            columns.append(f'"{name}"')
    sql = (
        f"insert into raw.{source} by name select {', '.join(columns)}, "
        f"$source_file as source_file, source_row, $layout as layout from good"
    )
    params = {"source_file": source_file, "layout": layout}
    if source in ("customers", "orders"):
        params["secret"] = secret
    con.register("good", good.to_arrow())
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


def _drop_duplicates(con, source: str, new_files: list[str]) -> None:
    """Keep one row per natural key: the newest file (modification time, then name), then its last line.

    Only keys the newly read files carry can have gained a copy. A 64-bit hash of the key finds the
    candidates cheaply (one integer per row, not a window over every column of every row); the exact
    key then decides among the few candidates, so a hash collision can never drop a distinct row."""
    key = NATURAL_KEYS[source] or tuple(RAW_COLUMNS[source])
    columns = ", ".join(f'"{c}"' for c in key)
    qualified = ", ".join(f'r."{c}"' for c in key)
    rank, by_line = ("dense_rank", "") if source in COPIES_WITHIN_A_FILE_ARE_DISTINCT else ("row_number", ", r.source_row desc")
    con.register("new_files", pl.DataFrame({"source_file": new_files}).to_arrow())
    in_range, r_in_range, bounds = "true", "true", {}
    if source in KEY_TIME:
        time = KEY_TIME[source]
        bounds["low"], bounds["high"] = con.execute(
            f"select min({time}), max({time}) from raw.{source} where source_file in (select source_file from new_files)"
        ).fetchone()
        in_range, r_in_range = f"{time} between $low and $high", f"r.{time} between $low and $high"
    try:
        con.execute(
            f"""
            create or replace temp table dropped as
            with hashed as (
                select hash({columns}) as key_hash, source_file in (select source_file from new_files) as is_new
                from raw.{source}
                where {in_range}
            ),
            repeated as (
                select key_hash from hashed group by key_hash having count(*) > 1 and bool_or(is_new)
            ),
            ranked as (
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


def _record_file_loads(con, loads: list[FileLoad], run_id: str) -> None:
    if not loads:
        return
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    frame = pl.DataFrame([asdict(f) | {"run_id": run_id, "loaded_at": now} for f in loads])
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
