"""The blocking checks run before publishing: each one fails on the broken warehouse it exists for."""

from __future__ import annotations

from datetime import date, datetime

import pandera.polars as pa
import polars as pl
from conftest import insert, make_config, new_warehouse, run

from pipelines.core.config import ATTRIBUTION_MODELS
from pipelines.publish.checks import _failure_line, run_checks

CONFIG = make_config(grains=("month",))
MARCH = (date(2024, 3, 1), date(2024, 4, 1))


def failed(con, window=(date(1900, 1, 1), date(2999, 12, 31))) -> set[str]:
    return {result.name for result in run_checks(con, window) if not result.passed}


def warehouse():
    con = new_warehouse(CONFIG)
    insert(
        con,
        "raw.orders",
        [
            {
                "order_id": order_id,
                "customer_id": customer,
                "created_at": created,
                "status": "paid",
                "revenue": 100.0,
                "currency": "RUB",
                "utm_source": "vk",
                "utm_medium": "cpc",
            }
            for order_id, customer, created in (
                ("j1", "a", datetime(2024, 1, 10)),
                ("m1", "b", datetime(2024, 3, 10)),
                ("m2", "a", datetime(2024, 3, 12)),
            )
        ],
    )
    run(con, CONFIG)
    return con


def test_a_consistent_build_passes_every_check():
    con = warehouse()
    assert failed(con) == set()
    run(con, CONFIG, window=MARCH)
    assert failed(con, MARCH) == set()


def test_credits_not_summing_to_one_block_the_build():
    con = warehouse()
    # marts.attribution is the long view of marts.attribution_credits (a credit column per model)
    con.execute("update marts.attribution_credits set credit_linear = 0.5 where order_id = 'j1'")
    assert "attribution_credits_sum_to_one" in failed(con)
    # after a nightly run of March, the check covers the purchases that run credited
    run(con, CONFIG, window=MARCH)
    con.execute("update marts.attribution_credits set credit_markov = 0.5 where order_id = 'm1'")
    assert "attribution_credits_sum_to_one" in failed(con, MARCH)
    # a purchase given nothing under one model (no row of it in the long view) fails as well, as do
    # negative credits that would make the stored column sum to 1
    run(con, CONFIG, window=MARCH)
    assert failed(con, MARCH) == set()
    con.execute("update marts.attribution_credits set credit_shapley = 0 where order_id = 'm1'")
    assert "attribution_credits_sum_to_one" in failed(con, MARCH)
    run(con, CONFIG, window=MARCH)
    zero = ", ".join(f"0.0 as credit_{m}" for m in ATTRIBUTION_MODELS if m != "linear")
    con.execute(
        f"""insert into marts.attribution_credits select * replace (2::bigint as touch_position,
            -0.5 as credit_linear, {zero}) from marts.attribution_credits where order_id = 'm1'"""
    )
    con.execute("update marts.attribution_credits set credit_linear = 1.5 where order_id = 'm1' and touch_position = 1")
    assert "attribution_credits_sum_to_one" in failed(con, MARCH)


def test_a_customer_new_twice_and_a_file_that_does_not_reconcile_block_the_build():
    con = warehouse()
    con.execute("update marts.orders set customer_type = 'new' where order_id = 'm2'")
    con.execute("create schema if not exists quality")  # the predicted-LTV model writes quality.ltv_* too
    con.execute(
        """create table quality.file_loads as select 'orders' as source, 'x.csv' as source_file,
           10 as rows_read, 8 as rows_loaded, 0 as duplicates_dropped, 1 as rows_rejected, 0 as rows_skipped"""
    )
    assert {"one_first_purchase_per_customer", "file_reconciliation"} <= failed(con)


def test_a_failed_model_check_reads_as_one_line_naming_column_check_rows_and_values():
    """issue 26: a failed check printed a truncated polars table; now one line per column and check."""

    class Credits(pa.DataFrameModel):
        credit: pl.Float64 = pa.Field(gt=0)

    try:
        Credits.validate(pl.DataFrame({"credit": [0.5, 0.0, -1.0, 0.25]}), lazy=True)
    except pa.errors.SchemaErrors as exc:
        line = _failure_line(exc.failure_cases)
    assert line == "credit fails greater_than(0) in 2 row(s) at row(s) 1, 2: 0.0, -1.0"
    assert "\n" not in line
