"""The Spark engine builds the same tables as DuckDB (pipelines/transform/engines/).

The fast tests need only sqlglot: every file of sql/ transpiles, with our macros expanded and the rewrite
rules applied. The slow ones need Java and pyspark: they ingest the bundled sample once, build every
staging and mart model with DuckDB and with Spark `local[2]`, and compare every table row for row
(money to the kopeck, everything else to 1e-9). Then a nightly run of the last month, after its spend
changed, on both engines (Spark in a new session over the same folder): every table is compared again,
and on Spark the incremental tables must have replaced exactly the partitions of the recomputed periods.
Without Java or pyspark they skip, saying which is missing.
"""

from __future__ import annotations

import re
import shutil
import time
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.core.config import load_config
from pipelines.core.paths import PROJECT_ROOT
from pipelines.transform.runner import discover_models

SAMPLE = PROJECT_ROOT / "data" / "sample"
sqlglot = pytest.importorskip(
    "sqlglot", reason="sqlglot is not installed: the Spark engine's transpiler is not tested (pip install '.[spark]')"
)


def test_every_sql_file_transpiles_to_spark_with_macros_expanded():
    from pipelines.transform.engines.spark_sql import macros, to_spark

    assert {"exact_sum", "utm_value", "last_day_of_period", "staging.touch_tag_key"} <= set(macros())
    for model in discover_models():
        spark_sql = to_spark(model.sql).lower()
        for name in macros():
            assert f"{name.split('.')[-1]}(" not in spark_sql, f"{model.table}: macro {name} left in {spark_sql[:200]}"
        assert "asof join" not in spark_sql and not re.search(r"\$[a-z_]", spark_sql), model.table


def test_rewrite_rules():
    from pipelines.transform.engines.spark_sql import to_spark

    asof = to_spark("select a.d, b.r from a asof left join b on b.c = a.c and a.d >= b.d").lower()
    assert "left join lateral (select * from b where" in asof and "order by b.d desc limit 1" in asof
    assert "decimal(38, 10)" in to_spark("select exact_sum(x) from t").lower()
    assert "substring(k, 5)" in to_spark("select k[5:] from t").lower()
    assert (
        "explode(cast(sequence("
        in to_spark("select unnest(generate_series(a, b, interval 1 day))::date as d from t").lower()
    )
    assert "make_dt_interval(" in to_spark("select ts - to_days(3) from t").lower()
    assert "unix_micros(" in to_spark("select epoch(a - b) from t").lower()
    assert (
        "cast(row_number() over (partition by k order by t nulls last) as bigint)"
        in to_spark("select row_number() over (partition by k order by t) as n from x").lower()
    )


def _spark_missing() -> str | None:
    from pipelines.transform.engines.spark import java_missing_reason

    return java_missing_reason()


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    reason = _spark_missing()
    if reason:
        message = f"SPARK ENGINE NOT TESTED: {reason}"
        warnings.warn(message, stacklevel=2)
        pytest.skip(message)
    from pipelines.ingest.load import ingest_source
    from pipelines.ingest.raw_tables import SOURCES
    from pipelines.transform.engines.spark import SparkEngine, run_transforms_on_spark
    from pipelines.transform.params import EARLIEST, LATEST, run_transforms

    folder = tmp_path_factory.mktemp("spark")
    config = load_config()
    ingested = folder / "ingested.duckdb"
    con = duckdb.connect(str(ingested))
    for source in SOURCES:
        ingest_source(con, source, SAMPLE, "spark-test", "spark-test-secret", max_reject_share=1.0)
    con.close()
    shutil.copyfile(ingested, folder / "spark_build.duckdb")
    reference = duckdb.connect(str(ingested))
    started = time.perf_counter()
    run_transforms(reference, config, (EARLIEST, LATEST))
    duckdb_seconds = time.perf_counter() - started

    spark_con = duckdb.connect(str(folder / "spark_build.duckdb"))
    engine = SparkEngine(folder / "spark", master="local[2]")
    started = time.perf_counter()
    try:
        run_transforms_on_spark(spark_con, config, (EARLIEST, LATEST), engine)
    finally:
        spark_seconds = time.perf_counter() - started
        engine.stop()
    print(
        f"\nsample: DuckDB {duckdb_seconds:.1f} s, Spark local[2] {spark_seconds:.1f} s; Spark's slowest steps: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(engine.timings.seconds.items(), key=lambda kv: -kv[1])[:6])
    )
    tables = [m.table for m in discover_models()] + [
        "quality.identity_conflicts",
        "quality.ltv_fits",
        "quality.ltv_backtest",
    ]
    from pipelines.transform.engines.compare import compare_builds

    full_differences = compare_builds(reference, spark_con, tables)

    # the nightly: the last month's spend doubled, that month recomputed on both engines
    month = reference.sql("select date_trunc('month', max(date))::date from raw.ad_spend").fetchall()[0][0]
    nightly = (month, date(month.year + month.month // 12, month.month % 12 + 1, 1))
    before = partition_files(folder / "spark")
    for con in (reference, spark_con):
        con.execute("update raw.ad_spend set spend = spend * 2 where date >= ?", [month])
    run_transforms(reference, config, nightly)
    engine = SparkEngine(folder / "spark", master="local[2]")
    started = time.perf_counter()
    try:
        run_transforms_on_spark(spark_con, config, nightly, engine)
    finally:
        engine.stop()
    print(
        f"nightly of {month:%Y-%m} on Spark: {time.perf_counter() - started:.1f} s; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(engine.timings.seconds.items(), key=lambda kv: -kv[1])[:6])
    )
    yield Builds(reference, spark_con, tables, full_differences, month, before, partition_files(folder / "spark"))
    reference.close()
    spark_con.close()


@dataclass
class Builds:
    reference: duckdb.DuckDBPyConnection
    spark_con: duckdb.DuckDBPyConnection
    tables: list[str]
    full_differences: list
    nightly_month: date
    files_before: dict[str, dict[str, tuple[str, ...]]]
    files_after: dict[str, dict[str, tuple[str, ...]]]


INCREMENTAL = {
    "marts.attribution_credits": "__month",
    "marts.cohort_members": "cohort_month",
    "marts.channel_period_cac": "period_start",
    "marts.blended_cac": "period_start",
    "staging.touch_tags": "seen_month",
}


def partition_files(root: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """Per incremental table, each partition folder (relative) and the names of its Parquet files."""
    out = {}
    for table in INCREMENTAL:
        schema, name = table.split(".")
        folder = root / "warehouse" / f"{schema}.db" / name
        out[table] = {
            str(part.parent.relative_to(folder)): tuple(sorted(p.name for p in part.parent.glob("*.parquet")))
            for part in folder.rglob("*.parquet")
        }
    return out


@pytest.mark.slow
def test_spark_builds_every_table_as_duckdb_does(builds):
    assert not builds.full_differences, "\n".join(map(str, builds.full_differences))
    marts = [t for t in builds.tables if t.startswith("marts.")]
    assert all(builds.reference.sql(f"select count(*) from {t}").fetchall()[0][0] > 0 for t in marts)


@pytest.mark.slow
def test_a_nightly_run_on_spark_replaces_only_the_recomputed_periods(builds):
    from pipelines.transform.engines.compare import compare_builds

    differences = compare_builds(builds.reference, builds.spark_con, builds.tables)
    assert not differences, "\n".join(map(str, differences))
    month = builds.nightly_month
    doubled = builds.spark_con.sql(
        "select count(*) from marts.channel_period_cac where period_grain = 'month' and period_start = ? and ad_spend > 0",
        params=[month],
    ).fetchall()[0][0]
    assert doubled > 0
    credits_start = _last_write_start(builds.spark_con, "marts.attribution_credits")
    for table, column in INCREMENTAL.items():
        before, after = builds.files_before[table], builds.files_after[table]
        # the write replaced periods and was logged as such for the models after it (not a rebuild)
        start = _last_write_start(builds.spark_con, table)
        assert start > date(1900, 1, 1), table
        # per grain, the periods from the one holding the first recomputed day (the CAC tables follow
        # the months attribution re-credited)
        since = credits_start if table.endswith("_cac") else start
        kept = {p for p in before if not _recomputed(p, column, since)}
        assert kept and len(kept) < len(before), f"{table}: {sorted(before)}"
        for part in before:
            if part in kept:
                assert after.get(part) == before[part], f"{table} {part} was rewritten"
            else:
                assert after.get(part) != before[part], f"{table} {part} was not rewritten"


def _last_write_start(con, table: str) -> date:
    return con.sql(
        "select window_start from meta.model_writes where table_name = ? order by written_at desc limit 1",
        params=[table],
    ).fetchall()[0][0]


def _recomputed(partition: str, column: str, since: date) -> bool:
    """Whether a partition folder (`col=value/...`) is one a nightly window from `since` to the end of
    the data covers (per grain: from the period that holds `since`)."""
    from pipelines.core.periods import covering_periods

    values = dict(part.split("=", 1) for part in partition.split("/"))
    first = date.fromisoformat(values[column][:10])
    grain = values.get("period_grain")
    return first >= (covering_periods(since, since, grain)[0] if grain else since)


@pytest.mark.slow
def test_the_spark_build_passes_the_blocking_checks(builds):
    from pipelines.publish.checks import run_checks

    spark_con = builds.spark_con
    failed = [r for r in run_checks(spark_con) if not r.passed]
    assert not failed, "\n".join(f"{r.asset} {r.name}: {r.detail}" for r in failed)


def test_engine_setting_is_validated_and_duckdb_stays_the_default(tmp_path):
    from pipelines.core.config import ConfigError, parse_config
    from pipelines.orchestration.resources import WarehouseResource

    assert parse_config({}).engine == "duckdb" and parse_config({}).spark_master == "local[2]"
    spark = parse_config({"engine": {"kind": "spark", "spark": {"master": "sc://spark.example:15002"}}})
    assert (spark.engine, spark.spark_master) == ("spark", "sc://spark.example:15002")
    for bad, words in [
        ({"kind": "flink"}, "engine.kind"),
        ({"spark": {"master": "loca[2]"}}, "engine.spark.master"),
        ({"spark": {"cores": 2}}, "engine.spark.cores"),
        ({"mode": 1}, "engine.mode"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(words)):
            parse_config({"engine": bad})
    # the resource starts no Spark session for DuckDB, and only builds the engine object (lazily) for Spark
    assert WarehouseResource(warehouse_path=str(tmp_path / "w.duckdb")).spark_engine() is None
    engine = WarehouseResource(warehouse_path=str(tmp_path / "w.duckdb"), engine="spark").spark_engine()
    assert engine is not None and engine.master == "local[2]" and engine._spark is None
