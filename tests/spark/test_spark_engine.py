"""The Spark engine builds the same tables as DuckDB (pipelines/engines/).

The fast tests need only sqlglot: every file of sql/ transpiles, with our macros expanded and the rewrite
rules applied. The slow one needs Java and pyspark: it ingests the bundled sample once, builds every
staging and mart model with DuckDB and with Spark `local[2]`, and compares every table row for row
(money to the kopeck, everything else to 1e-9). Without Java or pyspark it skips, saying which is missing.
"""

from __future__ import annotations

import re
import shutil
import time
import warnings
from pathlib import Path

import duckdb
import pytest

from pipelines.config import PROJECT_ROOT, load_config
from pipelines.sql_models import discover_models

SAMPLE = PROJECT_ROOT / "data" / "sample"
sqlglot = pytest.importorskip("sqlglot", reason="sqlglot is not installed: the Spark engine's transpiler is not tested (pip install '.[spark]')")


def test_every_sql_file_transpiles_to_spark_with_macros_expanded():
    from pipelines.engines.spark_sql import macros, to_spark

    assert {"exact_sum", "utm_value", "last_day_of_period", "staging.touch_tag_key"} <= set(macros())
    for model in discover_models():
        spark_sql = to_spark(model.sql).lower()
        for name in macros():
            assert f"{name.split('.')[-1]}(" not in spark_sql, f"{model.table}: macro {name} left in {spark_sql[:200]}"
        assert "asof join" not in spark_sql and not re.search(r"\$[a-z_]", spark_sql), model.table


def test_rewrite_rules():
    from pipelines.engines.spark_sql import to_spark

    asof = to_spark("select a.d, b.r from a asof left join b on b.c = a.c and a.d >= b.d").lower()
    assert "left join lateral (select * from b where" in asof and "order by b.d desc limit 1" in asof
    assert "decimal(38, 10)" in to_spark("select exact_sum(x) from t").lower()
    assert "substring(k, 5)" in to_spark("select k[5:] from t").lower()
    assert "explode(cast(sequence(" in to_spark(
        "select unnest(generate_series(a, b, interval 1 day))::date as d from t").lower()
    assert "make_dt_interval(" in to_spark("select ts - to_days(3) from t").lower()
    assert "unix_micros(" in to_spark("select epoch(a - b) from t").lower()
    assert "cast(row_number() over (partition by k order by t nulls last) as bigint)" in to_spark(
        "select row_number() over (partition by k order by t) as n from x").lower()


def _spark_missing() -> str | None:
    from pipelines.engines.spark import java_missing_reason

    return java_missing_reason()


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    reason = _spark_missing()
    if reason:
        message = f"SPARK ENGINE NOT TESTED: {reason}"
        warnings.warn(message)
        pytest.skip(message)
    from pipelines.engines.spark import SparkEngine, run_transforms_on_spark
    from pipelines.ingest import ingest_source
    from pipelines.raw_tables import SOURCES
    from pipelines.transform import EARLIEST, LATEST, run_transforms

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
    print(f"\nsample: DuckDB {duckdb_seconds:.1f} s, Spark local[2] {spark_seconds:.1f} s; Spark's slowest steps: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(engine.timings.seconds.items(), key=lambda kv: -kv[1])[:6]))
    yield reference, spark_con
    reference.close()
    spark_con.close()


@pytest.mark.slow
def test_spark_builds_every_table_as_duckdb_does(builds):
    from pipelines.engines.compare import compare_builds

    reference, spark_con = builds
    tables = [m.table for m in discover_models()] + ["quality.identity_conflicts", "quality.ltv_fits", "quality.ltv_backtest"]
    differences = compare_builds(reference, spark_con, tables)
    assert not differences, "\n".join(map(str, differences))
    marts = [t for t in tables if t.startswith("marts.")]
    assert all(reference.sql(f"select count(*) from {t}").fetchall()[0][0] > 0 for t in marts)


@pytest.mark.slow
def test_the_spark_build_passes_the_blocking_checks(builds):
    from pipelines.checks import run_checks

    _, spark_con = builds
    failed = [r for r in run_checks(spark_con) if not r.passed]
    assert not failed, "\n".join(f"{r.asset} {r.name}: {r.detail}" for r in failed)


def test_engine_setting_is_validated_and_duckdb_stays_the_default(tmp_path):
    from pipelines.config import ConfigError, parse_config
    from pipelines.resources import WarehouseResource

    assert parse_config({}).engine == "duckdb" and parse_config({}).spark_master == "local[2]"
    spark = parse_config({"engine": {"kind": "spark", "spark": {"master": "sc://spark.example:15002"}}})
    assert (spark.engine, spark.spark_master) == ("spark", "sc://spark.example:15002")
    for bad, words in [({"kind": "flink"}, "engine.kind"), ({"spark": {"master": "loca[2]"}}, "engine.spark.master"),
                       ({"spark": {"cores": 2}}, "engine.spark.cores"), ({"mode": 1}, "engine.mode")]:
        with pytest.raises(ConfigError, match=re.escape(words)):
            parse_config({"engine": bad})
    # the resource starts no Spark session for DuckDB, and only builds the engine object (lazily) for Spark
    assert WarehouseResource(warehouse_path=str(tmp_path / "w.duckdb")).spark_engine() is None
    engine = WarehouseResource(warehouse_path=str(tmp_path / "w.duckdb"), engine="spark").spark_engine()
    assert engine is not None and engine.master == "local[2]" and engine._spark is None
