"""The staging and mart models of sql/ on Apache Spark (`[engine] kind = "spark"`).

What runs where:
- Ingest is unchanged (per-file Polars + Pandera into DuckDB's raw.* and quality.*, in the run's build
  file): its de-duplication across overlapping exports, quarantine and per-file reconciliation are
  DuckDB SQL over those tables, and a second implementation would drift from it. `load_raw` then writes
  every raw.<source> as Parquet partitioned by month (`<root>/raw/<source>/month=YYYY-MM/`), which is
  what a cluster reads; Spark sees it as the view raw.<source> (the declared columns, without `month`).
- Every SQL model runs on Spark, transpiled from its file by SQLGlot (pipelines/transform/engines/spark_sql.py).
  Tables are Parquet tables in Spark's warehouse folder (`<root>/warehouse/<schema>.db/<name>`);
  incremental models are partitioned by their period (grain and period start, or the month of the
  partition column). Which periods a run recomputes is decided as on DuckDB (pipelines/transform/runner.py plan_write,
  from the bookkeeping in the DuckDB build); the recomputed periods are written with dynamic partition
  overwrite, so a nightly run replaces those partitions only, and the extract replaces the same rows in
  the DuckDB build. A table is rebuilt whole when its stored state on Spark is not the one the DuckDB
  build remembers (a run that failed before publishing, a first Spark run, an engine switch): see
  `_in_sync`.
- The two Python models (identity graph: staging.customer_identifiers; predicted LTV:
  marts.customer_ltv_predicted) run unchanged on DuckDB over Spark's outputs: their inputs are written
  by Spark as Parquet, read by an in-memory DuckDB on the driver, and their outputs go back to Spark as
  Parquet. The identity graph works on one row per distinct identifier combination and the LTV fit's
  one row per customer, so this is the driver's memory, not the cluster's; at 10^9 touches it is the
  first thing to move to Spark (label propagation is a join loop Spark can run as it is).
- `extract` copies every staging and mart table into the run's DuckDB build file (the analysts' file),
  where the same blocking checks run and publish swaps it in atomically (pipelines/orchestration/publish_assets.py).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from pipelines.core.periods import EARLIEST, LATEST
from pipelines.core.table_comments import document_tables
from pipelines.ingest.raw_tables import LINEAGE, RAW_COLUMNS, SOURCES
from pipelines.transform.context import ModelContext
from pipelines.transform.engines.spark_sql import parameters, to_spark
from pipelines.transform.fx import check_fx
from pipelines.transform.models import PYTHON_MODELS
from pipelines.transform.params import as_of_date, model_params, write_config_tables
from pipelines.transform.runner import MACROS, SqlModel, discover_models, plan_write, window_predicate
from pipelines.transform.runner import run_model as run_duckdb_model
from pipelines.transform.state import store_state, stored

log = logging.getLogger(__name__)

# the column each raw source is partitioned by (its month)
RAW_MONTH = {
    "ad_spend": "date",
    "costs": "period_start",
    "customers": "created_at",
    "orders": "created_at",
    "touchpoints": "ts",
    "fx_rates": "date",
}
CONFIG_TABLES = ("config.channel_rules", "config.source_aliases")
SESSION_SETTINGS = {
    # DuckDB's semantics: x / 0 is NULL, invalid casts are NULL (ANSI mode raises)
    "spark.sql.ansi.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",  # DuckDB's timestamp has no time zone
    "spark.sql.sources.partitionOverwriteMode": "dynamic",  # overwrite replaces only the partitions written
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}
LOCAL_SETTINGS = {  # a small local session: few shuffle partitions, no UI
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.memory": "2g",
}


def java_missing_reason() -> str | None:
    """Why Spark cannot start here (no pyspark, no Java), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install '.[spark]')"
    if not shutil.which("java") and not _java_home():
        return "no Java runtime (install openjdk-17-jre-headless, or set JAVA_HOME)"
    return None


def _java_home() -> str | None:
    import os

    home = os.environ.get("JAVA_HOME")
    return home if home and Path(home, "bin", "java").exists() else None


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, what: str, started: float) -> None:
        self.seconds[what] = self.seconds.get(what, 0.0) + time.perf_counter() - started


class SparkEngine:
    """One Spark session and the folder its tables live in."""

    def __init__(self, root: Path, master: str = "local[2]", settings: dict[str, str] | None = None):
        self.root = Path(root)
        self.master = master
        self.settings = settings or {}
        self._spark = None
        self.columns: dict[str, list[str]] = {}  # each model's columns, in its SQL's order
        self.bridge_tables: list[str] = []  # quality.* tables the Python models wrote (bridge -> extract)
        self.timings = Timings()
        self._bridge: duckdb.DuckDBPyConnection | None = None
        self._raw_loaded = False

    # ------------------------------------------------------------------------------------------ session
    @property
    def spark(self):
        if self._spark is None:
            started = time.perf_counter()
            import warnings

            # pyspark.testing (imported by pyspark.sql) warns about pandas 3, which the engine does not use
            warnings.filterwarnings(
                "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
            )
            from pyspark.sql import SparkSession

            builder = SparkSession.builder.appName("acquisition-marts")
            if self.master.startswith("sc://"):  # Spark Connect
                builder = builder.remote(self.master)
            else:
                builder = builder.master(self.master)
                builder = builder.config("spark.sql.warehouse.dir", str(self.warehouse_dir))
                if self.master.startswith("local"):
                    for key, value in LOCAL_SETTINGS.items():
                        builder = builder.config(key, value)
            for key, value in (SESSION_SETTINGS | self.settings).items():
                builder = builder.config(key, value)
            self._spark = builder.getOrCreate()
            if not self.master.startswith("sc://"):
                self._spark.sparkContext.setLogLevel("ERROR")
            for key, value in SESSION_SETTINGS.items():  # a Connect server may ignore builder settings
                self._spark.conf.set(key, value)
            for schema in ("raw", "staging", "marts", "config", "quality"):
                self._spark.sql(f"create database if not exists {schema}")
            self.timings.add("spark start", started)
        return self._spark

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "warehouse"

    def table_dir(self, table: str) -> Path:
        schema, name = table.split(".")
        return self.warehouse_dir / f"{schema}.db" / name

    def stop(self) -> None:
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None
        if self._spark is not None:
            self._spark.stop()
            self._spark = None

    # ------------------------------------------------------------------------------------------ inputs
    def load_raw(self, con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        """Write raw.* and config.* of the build (DuckDB) as Parquet and show them to Spark."""
        started = time.perf_counter()
        counts = {}
        for source in SOURCES:
            target = self.root / "raw" / source
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            columns = list(RAW_COLUMNS[source] | LINEAGE)
            body = ", ".join(f'"{c}"' for c in columns)
            month = f"coalesce(strftime(date_trunc('month', {RAW_MONTH[source]}), '%Y-%m'), 'none')"
            con.execute(
                f"copy (select {body}, {month} as month from raw.{source}) to '{target}' "
                "(format parquet, partition_by (month), overwrite_or_ignore)"
            )
            counts[source] = int(con.execute(f"select count(*) from raw.{source}").fetchall()[0][0])
        for table in CONFIG_TABLES:
            target = self.root / "config" / f"{table.split('.')[1]}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"copy (select * from {table}) to '{target}' (format parquet)")
        self.timings.add("raw to parquet", started)
        started = time.perf_counter()
        spark = self.spark
        for source in SOURCES:
            columns = ", ".join(f"`{c}`" for c in RAW_COLUMNS[source] | LINEAGE)
            path = self.root / "raw" / source
            spark.sql(f"create or replace view raw.{source} as select {columns} from parquet.`{path}`")
        for table in CONFIG_TABLES:
            path = self.root / "config" / f"{table.split('.')[1]}.parquet"
            spark.sql(f"create or replace view {table} as select * from parquet.`{path}`")
        self.timings.add("spark: register raw", started)
        return counts

    # ------------------------------------------------------------------------------------------ models
    def run_models(self, models: list[SqlModel], params: dict[str, Any]) -> dict[str, int]:
        """Every model in dependency order. Spark runs recompute all months: the incremental windows of
        the DuckDB path are decided from bookkeeping that lives in the DuckDB build (meta.model_state and
        the previous marts), so here each incremental model is written whole, partitioned by period."""
        params = all_time(params)
        return {m.table: self.run_model(m, params) for m in models}

    def run_model(self, model: SqlModel, params: dict[str, Any]) -> int:
        started = time.perf_counter()
        try:
            if model.is_python:
                return self._run_python(model, params)
            spark = self.spark
            query = to_spark(model.sql)
            if model.partition_column:
                params = params | {"rewrite_start": EARLIEST}
            args = _args(model.sql, params)
            if model.is_view:
                spark.sql(f"drop table if exists {model.table}")
                spark.sql(f"create or replace view {model.table} as {query}")
                self.columns[model.table] = spark.table(model.table).columns
                return 0
            frame = spark.sql(query, args=args)
            self.columns[model.table] = frame.columns
            partitions = self._partitioning(model, frame)
            if partitions and "__month" in partitions:
                from pyspark.sql import functions as F

                frame = frame.withColumn("__month", F.trunc(F.col(model.partition_column), "month"))
            self._write(model.table, frame, partitions)
            return -1  # counted where it is extracted (build): a count here is one more Spark job
        finally:
            self.timings.add(f"{model.schema} {model.name}", started)

    def _partitioning(self, model: SqlModel, frame) -> list[str]:
        """How an incremental model is partitioned: by grain and period start, by its month column
        (a date), or by the month of its timestamp (a hidden `__month` column, left out of the extract)."""
        if not model.partition_column:
            return []
        return _partition_columns(model, by_month=dict(frame.dtypes)[model.partition_column] != "date")

    def _write(self, table: str, frame, partitions: list[str]) -> None:
        """Replace the whole table (and its folder: a table registered from an earlier session is external)."""
        spark = self.spark
        if spark.catalog.tableExists(table):
            spark.sql(f"drop {'view' if _is_view(spark, table) else 'table'} {table}")
        shutil.rmtree(self.table_dir(table), ignore_errors=True)
        writer = frame.write.mode("overwrite").format("parquet")
        if partitions:
            writer = writer.partitionBy(*partitions)
        writer.saveAsTable(table)

    # ------------------------------------------------------------------------------------------ incremental models
    def _state_file(self, table: str) -> Path:
        return self.root / "state" / f"{table}.json"

    def _in_sync(self, con: duckdb.DuckDBPyConnection, model: SqlModel) -> bool:
        """Whether Spark's stored table is the one the DuckDB build's meta.model_state describes: the
        state file written with the table holds the same `updated_at`. Registers the table's folder in
        this session's catalog (it does not outlive a session) when it is."""
        state = self._state_file(model.table)
        stored = _stored_state(con, model.table)
        if stored is None or not state.exists() or not self.table_dir(model.table).exists():
            return False
        written = json.loads(state.read_text(encoding="utf-8"))
        if written.get("updated_at") != stored:
            return False
        spark = self.spark
        if not spark.catalog.tableExists(model.table):
            spark.catalog.createTable(model.table, path=str(self.table_dir(model.table)), source="parquet")
            # its partitions are kept in the catalog: found in the folders once, then maintained by the writes
            spark.sql(f"alter table {model.table} recover partitions")
        self.columns[model.table] = written["columns"]
        return True

    def _remember(self, con: duckdb.DuckDBPyConnection, model: SqlModel) -> None:
        state = self._state_file(model.table)
        state.parent.mkdir(parents=True, exist_ok=True)
        body = {"updated_at": _stored_state(con, model.table), "columns": self.columns[model.table]}
        state.write_text(json.dumps(body), encoding="utf-8")

    def _build_incremental(self, con: duckdb.DuckDBPyConnection, model: SqlModel, params: dict[str, Any]) -> int:
        """One incremental model: replace the periods plan_write names (dynamic partition overwrite on
        Spark, delete and insert in the DuckDB build), or rebuild it whole."""

        plan = plan_write(con, model, params)
        if plan.full or not self._in_sync(con, model):
            written, rewritten_from = self._rebuild(con, model, plan)
        else:
            written, rewritten_from = self._replace_periods(con, model, plan)
        store_state(con, model.table, plan.fingerprint, params.get("as_of_date"), rewritten_from)
        self._remember(con, model)
        return written

    def _replace_periods(self, con: duckdb.DuckDBPyConnection, model: SqlModel, plan) -> tuple[int, Any]:
        started = time.perf_counter()
        spark = self.spark
        table_columns = spark.table(model.table).columns  # partition columns last: insertInto is by position
        by_month = "__month" in table_columns
        partitions = _partition_columns(model, by_month)
        # A table partitioned by the month of a timestamp is recomputed for whole months (a partition is
        # replaced whole); a partition by a date, or by grain and period start, holds one value of the
        # window's column, so any window covers it whole.
        windows = [_whole_months(w) for w in plan.windows] if by_month else plan.windows
        params = plan.params | {"rewrite_start": min(w[1] for w in windows)}
        if by_month:  # the SQL reads its window's bounds (one window: a model without grain)
            ((_, start, end),) = windows
            params |= {model.since_param: start} if model.since_param else {"window_start": start, "window_end": end}
        frame = spark.sql(
            f"select * from ({to_spark(model.sql)}) where {window_predicate(model, windows)}",
            args=_args(model.sql, params),
        )
        if frame.columns != self.columns[model.table]:
            self.timings.add(f"{model.schema} {model.name}", started)
            return self._rebuild(con, model, plan)
        if by_month:
            from pyspark.sql import functions as F

            frame = frame.withColumn("__month", F.trunc(F.col(model.partition_column), "month"))
        frame = frame.persist()
        try:
            written = {tuple(r) for r in frame.select(*partitions).distinct().collect()}
            on_partitions = window_predicate(model, windows, column="__month" if by_month else None)
            stored = {
                tuple(r) for r in spark.table(model.table).where(on_partitions).select(*partitions).distinct().collect()
            }
            if stored - written:
                # a period the window held has no rows now: dynamic overwrite would keep its old rows
                self.timings.add(f"{model.schema} {model.name}", started)
                return self._rebuild(con, model, plan)
            frame.select(*table_columns).write.insertInto(model.table, overwrite=True)
        finally:
            frame.unpersist()
        spark.catalog.refreshTable(model.table)
        self.timings.add(f"{model.schema} {model.name}", started)
        return self._extract_periods(con, model, windows, by_month), min(w[1] for w in windows)

    def _rebuild(self, con: duckdb.DuckDBPyConnection, model: SqlModel, plan) -> tuple[int, Any]:
        self.run_model(model, all_time(plan.everything))
        self.extract(con, model)
        return -1, EARLIEST

    def _extract_periods(
        self, con: duckdb.DuckDBPyConnection, model: SqlModel, windows: list[tuple], by_month: bool
    ) -> int:
        """The replaced periods' rows into the DuckDB build: delete them there, insert Spark's."""
        started = time.perf_counter()
        columns = self.columns[model.table]
        stored = [r[0] for r in con.execute(f"select column_name from (describe {model.table})").fetchall()]
        if stored != columns:  # the analysts' copy has another shape: copy the whole table
            self.extract(con, model)
            return -1
        target = self.root / "extract" / model.table
        shutil.rmtree(target, ignore_errors=True)
        on_partitions = window_predicate(model, windows, column="__month" if by_month else None)
        self.spark.table(model.table).where(on_partitions).select(*columns).write.mode("overwrite").parquet(str(target))
        rows = f"read_parquet('{target}/*.parquet')"
        con.execute(f"delete from {model.table} where {window_predicate(model, windows)}")
        con.execute(f"insert into {model.table} by name select * from {rows}")
        self.timings.add("extract to duckdb", started)
        return int(con.execute(f"select count(*) from {rows}").fetchall()[0][0])

    # ------------------------------------------------------------------------------------------ Python models on DuckDB
    @property
    def bridge(self) -> duckdb.DuckDBPyConnection:
        if self._bridge is None:
            self._bridge = duckdb.connect(":memory:")
        return self._bridge

    def _to_bridge(self, table: str) -> None:
        """Spark's rows of `table` (a table or a view) as a DuckDB table of the bridge, through Parquet."""
        target = self.root / "bridge" / table
        shutil.rmtree(target, ignore_errors=True)
        columns = self.columns.get(table) or [c for c in self.spark.table(table).columns if c != "__month"]
        self.spark.table(table).select(*columns).write.mode("overwrite").parquet(str(target))
        schema = table.split(".")[0]
        self.bridge.execute(f"create schema if not exists {schema}")
        self.bridge.execute(f"create or replace table {table} as select * from read_parquet('{target}/*.parquet')")

    def _run_python(self, model: SqlModel, params: dict[str, Any]) -> int:
        for ref in sorted(model.refs):
            self._to_bridge(ref)

        self.bridge.execute(MACROS)
        module = PYTHON_MODELS[model.table]
        written = int(module.materialize(ModelContext(self.bridge, model.table, model.sql, params)))
        for table in getattr(module, "TABLES", (model.table,)):
            # every table a Python model writes goes to Spark, where later SQL may read it (channel_summary
            # reads quality.ltv_backtest); its quality tables also go to the warehouse from the bridge
            target = self.root / "bridge-out" / f"{table}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            self.bridge.execute(f"copy (select * from {table}) to '{target}' (format parquet)")
            frame = self.spark.read.parquet(str(target))
            self.columns[table] = frame.columns
            self._write(table, frame, [])
            if table.split(".")[0] not in ("staging", "marts") and table not in self.bridge_tables:
                self.bridge_tables.append(table)
        return written

    # ------------------------------------------------------------------------------------------ the DuckDB extract
    def extract(self, con: duckdb.DuckDBPyConnection, model: SqlModel) -> None:
        """One model's rows into the DuckDB build (the analysts' file): a table is copied through Parquet,
        a view is recreated there from its own SQL (over tables extracted before it); the quality tables
        a Python model wrote come along with it."""

        started = time.perf_counter()
        con.execute(f"create schema if not exists {model.schema}")
        if model.is_view:
            run_duckdb_model(con, model, {})
        else:
            target = self.root / "extract" / model.table
            shutil.rmtree(target, ignore_errors=True)
            columns = self.columns.get(model.table) or [
                c for c in self.spark.table(model.table).columns if c != "__month"
            ]
            self.spark.table(model.table).select(*columns).write.mode("overwrite").parquet(str(target))
            kind = con.execute(
                "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
                [model.schema, model.name],
            ).fetchall()
            if kind and kind[0][0] == "VIEW":
                con.execute(f"drop view {model.table}")
            con.execute(f"create or replace table {model.table} as select * from read_parquet('{target}/*.parquet')")
        if model.is_python:
            # a Python model's own bookkeeping (the identity graph's stored combinations) describes the
            # tables it wrote in this file, not these from Spark: without it, a DuckDB run rebuilds whole
            state_table = getattr(PYTHON_MODELS[model.table], "STATE", None)
            if state_table:
                con.execute(f"drop table if exists {state_table}")
            for table in self.bridge_tables:
                target = self.root / "bridge-out" / f"{table}.parquet"
                target.parent.mkdir(parents=True, exist_ok=True)
                self.bridge.execute(f"copy (select * from {table}) to '{target}' (format parquet)")
                con.execute(f"create schema if not exists {table.split('.')[0]}")
                con.execute(f"create or replace table {table} as select * from read_parquet('{target}')")
        self.timings.add("extract to duckdb", started)

    def build(self, con: duckdb.DuckDBPyConnection, model: SqlModel, params: dict[str, Any]) -> int:
        """Run one model on Spark and extract it into the DuckDB build (raw.* is exported on first use)."""
        if not self._raw_loaded:
            self.load_raw(con)
            self._raw_loaded = True
        if model.partition_column and not model.is_view:
            # the DuckDB path's bookkeeping (meta.model_state, meta.model_writes) decides the periods and
            # records the write, so a later run on either engine continues from these rows
            written = self._build_incremental(con, model, params)
        else:
            written = self.run_model(model, all_time(params))
            self.extract(con, model)
        if model.is_view:
            return 0
        return written if written >= 0 else int(con.execute(f"select count(*) from {model.table}").fetchall()[0][0])


_ALL_TIME = {"window_start": EARLIEST, "window_end": LATEST, "range_start": EARLIEST, "range_end": LATEST}


def all_time(params: dict[str, Any]) -> dict[str, Any]:
    """A run's parameters widened to all months; the "since" parameters (callables over the DuckDB
    bookkeeping) start at the beginning."""
    return params | _ALL_TIME | {name: EARLIEST for name, value in params.items() if callable(value)}


def _partition_columns(model: SqlModel, by_month: bool) -> list[str]:
    if model.grain_column:
        return [model.grain_column, model.partition_column]
    return ["__month"] if by_month else [model.partition_column]


def _whole_months(window: tuple) -> tuple:
    grain, start, end = window
    if end < LATEST and end.day != 1:
        end = date(end.year + end.month // 12, end.month % 12 + 1, 1)
    return grain, start.replace(day=1), end


def _stored_state(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """When the DuckDB build's meta.model_state says `table` was last written (as text), or None."""

    written = stored(con, table, "updated_at")
    return None if written is None else str(written)


def _is_view(spark, table: str) -> bool:
    schema, name = table.split(".")
    return any(t.name == name and t.tableType == "VIEW" for t in spark.catalog.listTables(schema))


def _args(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters the model names, as values Spark binds to its `:name` markers."""
    from pyspark.sql import functions as F

    wanted = parameters(sql)
    missing = wanted - params.keys()
    if missing:
        raise KeyError(f"SQL needs parameter(s) {sorted(missing)} that the run does not provide")
    args = {}
    for name in wanted:
        value = params[name]
        if callable(value):
            raise ValueError(f"parameter ${name} is computed from the DuckDB build; Spark runs bind all-time windows")
        args[name] = F.lit(value) if isinstance(value, (list, tuple)) else value
    return args


def run_transforms_on_spark(con: duckdb.DuckDBPyConnection, config, window, engine: SparkEngine) -> dict[str, int]:
    """The Spark counterpart of pipelines.transform.params.run_transforms: raw.* of `con` in, every staging and
    mart table back into `con` (the DuckDB file analysts open). Staging runs first; a missing exchange
    rate stops the run (pipelines.transform.fx) before any mart is built, as on DuckDB."""

    write_config_tables(con, config)
    params = model_params(config, window, as_of_date(con, config))
    models = discover_models()
    written = {m.table: engine.build(con, m, params) for m in models if m.schema == "staging"}
    check_fx(con)
    written |= {m.table: engine.build(con, m, params) for m in models if m.schema != "staging"}
    document_tables(con, [m.table for m in models])
    return written
