"""The bundled sample through a real Dagster run of every asset: every planted bad row quarantined and
nothing else, every file reconciled, duplicates dropped, every column documented, README queries run."""

from __future__ import annotations

import json
import re

import duckdb
import pytest
from pipeline_runs import materialize_everything

from pipelines.core.paths import PROJECT_ROOT
from pipelines.reporting.charts import write_charts

SAMPLE = PROJECT_ROOT / "data" / "sample"
MANIFEST = json.loads((SAMPLE / "MANIFEST.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return tmp_path_factory.mktemp("sample") / "warehouse.duckdb"


@pytest.fixture(scope="module")
def published(warehouse):
    result = materialize_everything(SAMPLE, warehouse)
    assert result.success
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert checks and all(e.event_specific_data.passed for e in checks)
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


def test_exactly_the_planted_bad_rows_are_quarantined(published):
    got = set(published.execute("select source_file, source_row from quality.rejected_rows").fetchall())
    planted = {(bad["path"], bad["line"]) for bad in MANIFEST["bad_rows"]}
    assert got == planted


def test_every_file_reconciles_and_duplicates_are_dropped(published):
    files = published.execute(
        "select source_file, rows_read, rows_loaded, duplicates_dropped, rows_rejected, rows_skipped from quality.file_loads"
    ).fetchall()
    assert len(files) == len(MANIFEST["files"])
    for name, read, loaded, dups, rejected, skipped in files:
        assert read == loaded + dups + rejected + skipped, name
    # the overlapping re-exports the generator planted are dropped, and the newer file's rows kept
    for planted in MANIFEST["duplicates"]:
        source = planted["file"].split("/")[0]
        dropped = published.execute(
            "select sum(duplicates_dropped) from quality.file_loads where source = ?", [source]
        ).fetchall()[0][0]
        assert dropped == planted["rows"], source
    # (touchpoints also lose a few identical visits logged twice in the same second; they are one visit)
    layouts = {row[0] for row in published.execute("select distinct layout from quality.file_loads").fetchall()}
    assert layouts == {
        "canonical",
        "google_ads_ui",
        "meta_ads_manager",
        "yandex_direct_api",
        "vk_ads_stats",
        "ga4_bigquery",
        "shopify_orders",
    }


def test_no_personal_data_in_the_published_file(published):
    text_columns = published.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type = 'VARCHAR' and table_schema in ('raw', 'staging', 'marts', 'quality')"
    ).fetchall()
    for schema, table, column in text_columns:
        hits = published.execute(
            f"""select count(*) from {schema}.{table} where regexp_matches("{column}", '[^@\\s*]+@[^@\\s*]+\\.[a-z]+')"""
        ).fetchall()[0][0]
        assert hits == 0, f"{schema}.{table}.{column} holds e-mail addresses"


def test_every_table_and_column_analysts_can_see_has_a_comment(published):
    schemas = "('marts', 'quality', 'meta', 'raw', 'staging', 'config')"
    missing = published.execute(
        f"select schema_name, table_name, column_name from duckdb_columns() where schema_name in {schemas} and comment is null"
    ).fetchall()
    assert missing == []
    tables = published.execute(
        f"""select schema_name, table_name, comment from duckdb_tables() where schema_name in {schemas}
            union all select schema_name, view_name, comment from duckdb_views() where schema_name in {schemas}"""
    ).fetchall()
    assert {schema for schema, *_ in tables} >= {"marts", "quality", "meta", "raw", "staging", "config"}
    assert [(schema, table) for schema, table, comment in tables if not comment] == []


def test_readme_queries_run_and_return_rows(published):
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sql\n(.*?)```", readme, re.S).group(1)
    queries = [q for q in block.split(";") if q.strip()]
    assert len(queries) == 3
    for query in queries:
        assert published.sql(query).fetchall(), query


def test_build_info_says_what_the_file_was_built_from(published):
    raw_dir, as_of = published.execute("select raw_dir, as_of_date from meta.build_info").fetchall()[0]
    assert raw_dir == str(SAMPLE)
    assert str(as_of) == "2026-10-31"


def test_charts_are_drawn_from_the_published_file(published, warehouse, tmp_path):
    written = write_charts(warehouse, tmp_path)
    assert [p.name for p in written] == ["cac_trend.png", "payback_curves.png", "ltv_cac.png"]
    for png in written:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_the_marketing_mix_model_runs_in_the_real_pipeline_and_the_report_shows_it(published):
    """Issue 30 through Dagster on the sample: every paid channel has a row, fitted or saying why not; the
    window is the last complete weeks before the as-of date's last Sunday; the report section shows each
    channel's incremental CAC as the table holds it."""
    from pipelines.reporting.incrementality import html_fragment, rows, terminal_text

    found = published.sql("select * from marts.channel_incrementality order by spend desc, channel").pl()
    spenders = {
        channel
        for (channel,) in published.sql(
            "select distinct channel from marts.channel_period_cac where period_grain = 'month' and ad_spend > 0"
        ).fetchall()
    }
    assert found.height >= 3 and set(found["channel"]) <= spenders
    assert set(found["status"]) <= {"fitted", "constant_spend"} and "fitted" in set(found["status"])
    assert (str(found["window_end"][0]), str(found["fitted_as_of"][0])) == ("2026-10-25", "2026-10-25")
    fit = published.sql("select * from quality.incrementality_fit order by purpose").pl()
    assert fit["purpose"].to_list() == ["fit", "holdout"] and fit["converged"].all()
    assert published.sql("select count(*) from marts.channel_response_curves where is_current_spend").fetchall()[0][
        0
    ] == (found.filter(found["status"] == "fitted").height)
    text, page = terminal_text(published), html_fragment(published, "RUB")
    for line in rows(found):
        assert line[3] in text and line[3] in page  # incremental CAC, as rounded for people
    assert all(len(line) <= 100 for line in text.splitlines())
    assert page.count("<svg") == 1 and 'id="incrementality"' in page
