"""The SQL model runner: dependency order, bound parameters, incremental windows, shape changes."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pytest

from pipelines.core.config import ATTRIBUTION_MODELS, parse_config
from pipelines.core.db import rows
from pipelines.core.paths import SQL_DIR
from pipelines.transform.params import EARLIEST, LATEST, widen_window
from pipelines.transform.runner import discover_models, run_model


def write_model(root, schema: str, name: str, text: str) -> None:
    (root / schema).mkdir(parents=True, exist_ok=True)
    (root / schema / f"{name}.sql").write_text(text, encoding="utf-8")


@pytest.fixture
def models(tmp_path):
    write_model(tmp_path, "marts", "b", "-- materialized: incremental by d\nselect d, v * 10 as w from staging.a\n")
    write_model(
        tmp_path,
        "staging",
        "a",
        "-- materialized: table\nselect ('2024-01-01'::date + to_months(range::int))::date as d, $v::int as v from range(12)\n",
    )
    return discover_models(tmp_path)


def test_models_run_after_the_tables_they_read(models):
    assert [m.table for m in models] == ["staging.a", "marts.b"]
    assert models[1].partition_column == "d" and models[0].partition_column is None


def test_incremental_model_replaces_only_the_window(models):
    con = duckdb.connect()
    everything = {"v": 1, "window_start": EARLIEST, "window_end": LATEST}
    for m in models:
        run_model(con, m, everything)
    march_to_april = {"v": 2, "window_start": date(2024, 3, 1), "window_end": date(2024, 5, 1)}
    for m in models:
        run_model(con, m, march_to_april)
    got = dict(rows(con, "select d::varchar, w from marts.b order by d"))
    assert got["2024-02-01"] == 10 and got["2024-03-01"] == 20 and got["2024-04-01"] == 20 and got["2024-05-01"] == 10
    assert len(got) == 12


def test_changed_columns_rebuild_the_whole_table(tmp_path, models):
    con = duckdb.connect()
    for m in models:
        run_model(con, m, {"v": 1, "window_start": EARLIEST, "window_end": LATEST})
    write_model(
        tmp_path, "marts", "b", "-- materialized: incremental by d\nselect d, v * 10 as w, 1 as extra from staging.a\n"
    )
    b = [m for m in discover_models(tmp_path) if m.name == "b"][0]
    run_model(con, b, {"v": 1, "window_start": date(2024, 3, 1), "window_end": date(2024, 4, 1)})
    assert rows(con, "select count(*), sum(extra) from marts.b") == [(12, 12)]


def test_a_missing_parameter_is_named(tmp_path):
    write_model(tmp_path, "staging", "p", "-- materialized: table\nselect $nope as x\n")
    with pytest.raises(KeyError, match="nope"):
        run_model(duckdb.connect(), discover_models(tmp_path)[0], {})


def test_a_file_without_header_is_refused(tmp_path):
    write_model(tmp_path, "staging", "x", "select 1\n")
    with pytest.raises(ValueError, match="first line must be"):
        discover_models(tmp_path)


def test_window_widens_to_whole_periods_of_every_grain():
    assert widen_window(date(2024, 3, 1), date(2024, 5, 1), parse_config({"periods": {"grains": ["month"]}})) == (
        date(2024, 3, 1),
        date(2024, 5, 1),
    )
    assert widen_window(
        date(2024, 3, 1), date(2024, 5, 1), parse_config({"periods": {"grains": ["month", "quarter"]}})
    ) == (date(2024, 1, 1), date(2024, 7, 1))
    assert widen_window(date(2024, 3, 1), date(2024, 4, 1), parse_config({"periods": {"grains": ["week"]}})) == (
        date(2024, 2, 26),
        date(2024, 4, 1),
    )
    assert widen_window(
        date(2024, 3, 1), date(2024, 5, 1), parse_config({"periods": {"grains": ["year", "month"]}})
    ) == (date(2024, 1, 1), date(2025, 1, 1))
    # a week that starts in February holds March days: it is recomputed too
    assert widen_window(
        date(2024, 3, 1), date(2024, 4, 1), parse_config({"periods": {"grains": ["month", "week"]}})
    ) == (date(2024, 2, 26), date(2024, 4, 1))


def test_a_view_is_computed_when_read_and_takes_no_parameters(tmp_path):
    write_model(tmp_path, "staging", "v", "-- materialized: view\nselect 41 + 1 as answer\n")
    con = duckdb.connect()
    model = discover_models(tmp_path)[0]
    assert run_model(con, model, {}) == 0
    assert rows(con, "select table_type from information_schema.tables where table_name = 'v'") == [("VIEW",)]
    assert rows(con, "select answer from staging.v") == [(42,)]
    write_model(tmp_path, "staging", "w", "-- materialized: view\nselect $x as x\n")
    with pytest.raises(ValueError, match="a view cannot take bound parameters"):
        discover_models(tmp_path)


def test_per_grain_windows_rewrite_only_the_periods_the_range_touches(tmp_path):
    write_model(
        tmp_path,
        "marts",
        "g",
        """-- materialized: incremental by period_start per period_grain
select 'month' as period_grain, ('2024-01-01'::date + to_months(range::int))::date as period_start, $v::int as v from range(12)
union all select 'year', '2024-01-01'::date, $v::int""",
    )
    model = discover_models(tmp_path)[0]
    con = duckdb.connect()
    base = {
        "grains": ["month", "year"],
        "range_start": EARLIEST,
        "range_end": LATEST,
        "window_start": EARLIEST,
        "window_end": LATEST,
    }
    run_model(con, model, base | {"v": 1})
    march_april = {
        "range_start": date(2024, 3, 1),
        "range_end": date(2024, 5, 1),
        "window_start": date(2024, 1, 1),
        "window_end": date(2025, 1, 1),
    }
    assert run_model(con, model, base | march_april | {"v": 2}) == 3
    got = {(g, str(d)): v for g, d, v in rows(con, "select * from marts.g")}
    assert got[("month", "2024-03-01")] == got[("month", "2024-04-01")] == got[("year", "2024-01-01")] == 2
    assert got[("month", "2024-01-01")] == got[("month", "2024-07-01")] == got[("month", "2024-12-01")] == 1


@pytest.mark.parametrize("path", ["marts/attribution.sql", "marts/cohort_members.sql"])
def test_sql_that_spells_out_the_models_names_every_one(path):
    # these files turn the wide credits into one row per model by name: a model added to the config and
    # not to each of their `case ... attribution_model` lists would be missing from every cohort and CAC table
    text = (SQL_DIR / path).read_text(encoding="utf-8")
    lists = re.findall(r"case \w+\.attribution_model\n(.*?)\n\s*end", text, flags=re.DOTALL)
    assert lists
    for listed in lists:
        models = re.findall(r"when '(\w+)' then", listed)
        columns = re.findall(r"then \w+\.(?:credit|total|largest)_(\w+)", listed)
        assert models == list(ATTRIBUTION_MODELS) and columns == models, listed
