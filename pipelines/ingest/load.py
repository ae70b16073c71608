"""Raw stage: read every export of a source, cast, validate, quarantine bad rows, load raw.<source>.

Nothing is lost and nothing is silent: each data row of each file ends up loaded into raw.<source>,
dropped as a duplicate of a newer export, or quarantined in quality.rejected_rows with its file, line,
column, check and (masked) value; quality.file_loads reconciles every file:
    rows_read = rows_loaded + duplicates_dropped + rows_rejected + rows_skipped
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.core.config import Config
from pipelines.core.db import rows, scalar
from pipelines.core.pii import pseudonymise_columns
from pipelines.ingest.background import ahead
from pipelines.ingest.dedupe import KeySpan, drop_duplicates
from pipelines.ingest.folders import export_files
from pipelines.ingest.raw_tables import RAW_COLUMNS, create_raw_tables
from pipelines.ingest.readers import LOCAL_ZONE, ExportError, ReadResult, read_export
from pipelines.ingest.readers.values import parse_timestamp
from pipelines.ingest.rules import (
    CHUNK_ROWS,
    FILE_DATES,
    INGEST_VERSION,
    INSERT_ROWS,
    Bounds,
    FileLoad,
    IngestError,
    SourceLoad,
)
from pipelines.ingest.validate import split_rows


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    source: str,
    raw_dir: Path,
    run_id: str,
    secret: str,
    max_reject_share: float = 1.0,
    options: dict | None = None,
    incremental: bool = True,
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
        return _ingest_source(
            con,
            source,
            raw_dir,
            run_id,
            secret,
            max_reject_share,
            options,
            incremental,
            bounds or Bounds.from_config(Config()),
        )
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
            con,
            "select source_file, file_size, file_mtime, load_signature from quality.file_loads where source = ?",
            [source],
        )
    }
    unchanged = (
        incremental
        and bool(previous)
        and all(name in files and (*_fingerprint(files[name]), signature) == previous[name] for name in previous)
        and not _future_rows_now_due(con, source, bounds)
    )
    if not unchanged:
        con.execute(f"delete from raw.{source}")
        con.execute("delete from quality.rejected_rows where source = ?", [source])
        con.execute("delete from quality.file_loads where source = ?", [source])
        con.execute("delete from quality.conflicts where source = ?", [source])
        previous = {}
    new_files = [name for name in files if name not in previous]
    loads = _load_files(
        con, source, [(name, files[name]) for name in new_files], run_id, secret, options, signature, bounds
    )
    _record_file_loads(con, loads, run_id)
    if loads:
        if source == "ad_spend":
            _key_campaigns_by_id(con)
        drop_duplicates(con, source, new_files, run_id, {f.source_file: f.span for f in loads})
    load = _source_load(con, source, reused=len(previous))
    load.tied_conflicts = int(
        scalar(
            con,
            "select count(*) from quality.conflicts where source = ? and decided_by = 'file name'",
            [source],
        )
    )
    if load.reject_share > max_reject_share:
        worst = max(load.files, key=lambda f: f.rows_rejected)
        raise IngestError(
            f"{source}: {load.rows_rejected} of {load.data_rows} rows rejected ({load.reject_share:.1%}), "
            f"over the {max_reject_share:.0%} threshold; most in {worst.source_file} ({worst.rows_rejected}). "
            f"Reasons: {load.reasons}. See quality.rejected_rows."
        )
    return load


def _load_files(
    con,
    source: str,
    files: list[tuple[str, Path]],
    run_id: str,
    secret: str,
    options,
    signature: str,
    bounds: Bounds,
) -> list[FileLoad]:
    """Insert the files' validated rows, INSERT_ROWS or more at a time, while the next chunk is read,
    cast and validated in a worker thread. Rejects go in as they come (they are few)."""
    loads, loaded, rejected, pending = [], 0, 0, []
    for name, path, read, good, failures, sha256 in ahead(_validated_chunks(source, files, options, bounds)):
        if sha256 is not None:  # the file's last chunk is in; `failures` holds its key span and latest date
            span, latest = failures
            loads.append(_file_load(source, name, path, read, loaded, rejected, sha256, signature, latest))
            loads[-1].span = span
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
    unreadable = []  # every file that cannot be read is named, not only the first
    for name, path in files:
        try:
            read = read_export(path, source, options=options)
        except ExportError as exc:
            message = str(exc)
            unreadable.append(message if path.name in message else f"{name}: {message}")
            continue
        except Exception as exc:  # a reader that trips over a mangled file still names it
            detail = str(exc)
            detail = detail if len(detail) <= 500 else detail[:500] + " … (cut)"
            unreadable.append(f"{source}/{path.name}: cannot be read ({type(exc).__name__}: {detail})")
            continue
        span, latest = KeySpan(source), None
        dated = pl.max_horizontal(pl.col(c).cast(pl.Datetime("us")) for c in FILE_DATES[source]).max()
        for chunk in read.frame.iter_slices(CHUNK_ROWS):
            good, failures = split_rows(source, replace(read, frame=chunk), bounds, (options or {}).get(LOCAL_ZONE))
            span.add(good)
            if good.height:
                last = good.select(dated).item()
                latest = last if latest is None or (last is not None and last > latest) else latest
            yield name, path, read, good, failures, None
        yield name, path, read, None, (span.result(), latest), _sha256(path)
    if unreadable:
        more = f" (and {len(unreadable) - 1} more file(s) below)" if len(unreadable) > 1 else ""
        raise IngestError(unreadable[0] + more + "".join(f"\n  {line}" for line in unreadable[1:]))


def _file_load(
    source: str,
    name: str,
    path: Path,
    read: ReadResult,
    loaded: int,
    rejected: int,
    sha256: str,
    signature: str,
    latest: datetime | None,
) -> FileLoad:
    size, mtime = _fingerprint(path)
    return FileLoad(
        source=source,
        source_file=name,
        layout=read.layout,
        encoding=read.encoding,
        delimiter=read.delimiter,
        language=read.language,
        notes="; ".join(read.notes),
        rows_read=read.rows_read,
        rows_loaded=loaded,
        rows_rejected=rejected,
        rows_skipped=read.skipped_lines,
        duplicates_dropped=0,
        file_sha256=sha256,
        file_size=size,
        file_mtime=mtime,
        latest_row_at=latest,
        load_signature=signature,
    )


def _source_load(con, source: str, reused: int) -> SourceLoad:
    load = SourceLoad(source, reused_files=reused)
    frame = con.sql(
        "select * exclude (run_id, loaded_at) from quality.file_loads where source = $source order by source_file",
        params={"source": source},
    ).pl()
    load.files = [FileLoad(**row) for row in frame.iter_rows(named=True)]
    load.reasons = dict(
        rows(con, "select reason, count(*) from quality.rejected_rows where source = ? group by reason", [source])
    )
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
    mtime = datetime.fromtimestamp(stat.st_mtime, tz=UTC).replace(tzinfo=None)
    return stat.st_size, mtime


def _load_signature(options: dict | None, secret: str, bounds: Bounds | None = None) -> str:
    """What else decides a file's rows: reader options, the hashing secret, the plausible bounds and this
    module's version. The default upper date moves every day and is left out (else every file would
    reload nightly); `_future_rows_now_due` reloads a source instead when a row it quarantined as in the
    future has become plausible."""
    bounds = bounds or Bounds.from_config(Config())
    fixed = (bounds.min_date, bounds.max_amount)
    material = (
        f"{INGEST_VERSION}|{sorted((options or {}).items())}|{hashlib.sha256(secret.encode()).hexdigest()}|{fixed}"
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _insert_good(con, source: str, good: pl.DataFrame, secret: str) -> None:
    """Validated rows (with their source_file, source_row and layout) into raw.<source>; e-mails and
    phones only as keyed hashes."""
    if good.height == 0:
        return
    good = pseudonymise_columns(good, secret)  # e-mails and phones inside free text, as keys
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
        pl.lit(run_id).alias("run_id"),
        pl.lit(source).alias("source"),
        pl.lit(source_file).alias("source_file"),
        pl.col("source_row").cast(pl.Int64),
        "column_name",
        "check_name",
        pl.col("raw_value").cast(pl.String),
        "reason",
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


def _record_file_loads(con, loads: list[FileLoad], run_id: str) -> None:
    if not loads:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    frame = pl.DataFrame(
        [{k: v for k, v in asdict(f).items() if k != "span"} | {"run_id": run_id, "loaded_at": now} for f in loads]
    )
    con.register("file_loads", frame.to_arrow())
    try:
        con.execute("insert into quality.file_loads by name select * from file_loads")
    finally:
        con.unregister("file_loads")


def create_quality_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists quality")
    if "latest_row_at" not in {
        c
        for (c,) in rows(
            con, "select column_name from duckdb_columns() where schema_name = 'quality' and table_name = 'file_loads'"
        )
    }:
        con.execute("drop table if exists quality.file_loads")  # an older shape: every source reloads once
        con.execute("drop table if exists quality.conflicts")
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
            latest_row_at timestamp, load_signature varchar, loaded_at timestamp)"""
    )
    con.execute(
        """create table if not exists quality.conflicts (
            run_id varchar, source varchar, natural_key varchar, kept_file varchar, kept_row bigint,
            dropped_file varchar, dropped_row bigint, differing_columns varchar, kept_values varchar,
            dropped_values varchar, decided_by varchar)"""
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
