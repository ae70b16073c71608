"""Predicted LTV refitted on a cadence (pipelines/transform/models/ltv_predict.py, docs/metrics.md "Models
refitted on a cadence"): fitted as of the last `ltv.cadence` boundary, the stored fit reused while its
inputs are unchanged, every customer rescored at the as-of date; through the real SQL on DuckDB, with
the hand-made cohorts of tests/sql/test_ltv_predicted.py lived on to February 2024."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest
from test_ltv import LND, build_upstream, records
from test_ltv_predicted import PREDICTED_MODELS, hand_orders, one_value, run_predicted

from pipelines.core.config import ConfigError, load_config, parse_config
from pipelines.core.periods import fit_date
from pipelines.transform.models import ltv_predict

lifetimes = pytest.importorskip("lifetimes")
from lifetimes import BetaGeoFitter, GammaGammaFitter  # noqa: E402
from lifetimes.utils import summary_data_from_transaction_data  # noqa: E402

UNTIL = date(2024, 2, 20)
ORDERS = hand_orders("2023-01-01", "old", 60, seed=1, until=UNTIL) + hand_orders(
    "2023-11-01", "young", 60, seed=2, until=UNTIL
)
CUSTOMERS = sorted({row[1] for row in ORDERS})
# two channels of 60 customers, each fitted on its own (ltv.min_customers_per_fit = 50 below)
CREDITS = {c: [(LND, "vk_ads" if i % 2 else "google_ads", 1.0)] for i, c in enumerate(CUSTOMERS)}
MONTH_END = date(2024, 1, 31)  # the fit date of every as-of date below
TABLES = (*PREDICTED_MODELS[1:], "quality.ltv_fits", "quality.ltv_backtest")


def orders_to(day: date, extra=()) -> list[tuple]:
    return [row for row in ORDERS if date.fromisoformat(row[2]) <= day] + list(extra)


def night(con, as_of: date, extra=()) -> None:
    """A night: the upstream marts rebuilt from the orders up to `as_of` (quality.* and meta.* kept), then
    the predicted-LTV models."""
    build_upstream(con, orders_to(as_of, extra), CREDITS)
    run_predicted(con, as_of.isoformat(), min_customers=50)


def tables(con) -> dict[str, list[tuple]]:
    return {t: con.sql(f"select * from {t} order by all").fetchall() for t in TABLES}


@pytest.fixture
def fits_counted(monkeypatch):
    """How many BG/NBD fits the model ran (each refit: the pooled and every channel, forecast and back-test)."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(args)
        return fit_bgnbd(*args, **kwargs)

    fit_bgnbd = ltv_predict.fit_bgnbd
    monkeypatch.setattr(ltv_predict, "fit_bgnbd", counted)
    return calls


def test_the_fit_date_is_the_last_cadence_boundary():
    assert fit_date(date(2024, 2, 14), "monthly") == MONTH_END
    assert fit_date(MONTH_END, "monthly") == MONTH_END
    assert fit_date(date(2024, 2, 14), "weekly") == date(2024, 2, 11)  # a Sunday
    assert fit_date(date(2024, 2, 14), "daily") == date(2024, 2, 14)
    assert load_config().ltv_cadence == "monthly"
    assert parse_config({"ltv": {"cadence": "weekly"}}).ltv_cadence == "weekly"
    with pytest.raises(ConfigError, match="ltv.cadence = 'hourly': expected one of"):
        parse_config({"ltv": {"cadence": "hourly"}})


def test_a_full_build_mid_month_fits_at_the_previous_month_end(fits_counted):
    con = duckdb.connect()
    night(con, date(2024, 2, 14))
    assert fits_counted  # nothing stored: fitted
    dates = records(
        con,
        "select purpose, min(summary_as_of) as first, max(summary_as_of) as last from quality.ltv_fits group by all",
    )
    assert {r["purpose"]: (r["first"], r["last"]) for r in dates} == {
        "forecast": (MONTH_END, MONTH_END),
        "backtest": (date(2023, 7, 31), date(2023, 7, 31)),
    }
    ends = con.execute("select distinct calibration_end, holdout_end from quality.ltv_backtest").fetchall()
    assert ends == [(date(2023, 7, 31), MONTH_END)]
    # the same fits and back-test as a build at the month end itself, on the orders it saw
    at_month_end = duckdb.connect()
    night(at_month_end, MONTH_END)
    stored, month_end = tables(con), tables(at_month_end)
    for name in ("quality.ltv_fits", "quality.ltv_backtest"):
        assert stored[name] == month_end[name], name
    # ... while the customers are scored at the as-of date
    assert one_value(con, "select max(tenure) from marts.customer_ltv_predicted") == (
        one_value(at_month_end, "select max(tenure) from marts.customer_ltv_predicted") + 14
    )


def test_a_nightly_within_the_month_reuses_the_fit_and_equals_a_full_rebuild(fits_counted):
    con = duckdb.connect()
    night(con, date(2024, 2, 10))
    fitted_at = one_value(con, "select updated_at from meta.model_state where table_name = 'quality.ltv_fits'")
    fitted = len(fits_counted)
    assert fitted == 4  # forecast: pooled, vk_ads, google_ads; back-test (30 customers a channel then): pooled
    night(con, date(2024, 2, 14))  # new orders, all after the fit date
    assert len(fits_counted) == fitted, "the nightly refitted"
    assert one_value(con, "select updated_at from meta.model_state where table_name = 'quality.ltv_fits'") == fitted_at
    nightly = tables(con)
    assert {r[0] for r in con.execute("select distinct fit_used from marts.customer_ltv_predicted").fetchall()} == {
        "vk_ads",
        "google_ads",
    }

    full = duckdb.connect()
    night(full, date(2024, 2, 14))
    assert len(fits_counted) > fitted  # nothing stored there: fitted
    rebuilt = tables(full)
    for name in TABLES:
        assert nightly[name] == rebuilt[name], name


def test_a_late_order_before_the_fit_date_refits_and_one_after_it_only_rescores(fits_counted):
    con = duckdb.connect()
    night(con, date(2024, 2, 14))
    key = one_value(con, "select any_value(fit_key) from quality.ltv_fits")
    before = len(fits_counted)
    after_fit_date = ("late-after", "young1", "2024-02-12", 100.0, 40.0)
    night(con, date(2024, 2, 14), [after_fit_date])
    assert len(fits_counted) == before and one_value(con, "select any_value(fit_key) from quality.ltv_fits") == key
    assert one_value(con, "select frequency from marts.customer_ltv_predicted where customer_key = 'young1'") == (
        one_value(con, "select count(distinct order_ts::date) - 1 from marts.orders where customer_key = 'young1'")
    )
    before_fit_date = ("late-before", "young1", "2024-01-15", 100.0, 40.0)
    night(con, date(2024, 2, 14), [after_fit_date, before_fit_date])
    assert len(fits_counted) > before
    assert one_value(con, "select count(distinct fit_key) from quality.ltv_fits") == 1
    assert one_value(con, "select any_value(fit_key) from quality.ltv_fits") != key
    # and it is the fit a full build of the same orders makes
    full = duckdb.connect()
    night(full, date(2024, 2, 14), [after_fit_date, before_fit_date])
    assert tables(con) == tables(full)


def test_rescoring_at_the_as_of_date_equals_lifetimes_with_the_stored_fits():
    con = duckdb.connect()
    night(con, date(2024, 2, 10))
    night(con, date(2024, 2, 14))  # scored with the stored fits
    as_of = date(2024, 2, 14)
    fits = {f["fit"]: f for f in records(con, "select * from quality.ltv_fits where purpose = 'forecast'")}
    got = con.sql("select * from marts.customer_ltv_predicted order by customer_key").df()
    # the summary is the as-of date's, as lifetimes computes it
    orders = con.sql("select customer_key, order_ts, margin from marts.orders").df()
    theirs = summary_data_from_transaction_data(
        orders, "customer_key", "order_ts", monetary_value_col="margin", observation_period_end=str(as_of), freq="D"
    ).loc[got["customer_key"]]
    np.testing.assert_array_equal(got["tenure"], theirs["T"])
    np.testing.assert_array_equal(got["frequency"], theirs["frequency"])
    np.testing.assert_array_equal(got["recency"], theirs["recency"])
    days_12 = (date(2025, 2, 14) - as_of).days
    for used, rows in got.groupby("fit_used"):
        fit = fits[used]
        assert fit["status"] == "fitted"
        bg = BetaGeoFitter()
        bg.params_ = pd.Series({k: fit[k] for k in ("r", "alpha", "a", "b")})
        gg = GammaGammaFitter()
        gg.params_ = pd.Series({k: fit[k] for k in ("p", "q", "v")})
        x, t_x, T = rows["frequency"], rows["recency"], rows["tenure"]
        expected = bg.conditional_expected_number_of_purchases_up_to_time(days_12, x, t_x, T)
        np.testing.assert_allclose(rows["expected_orders_12m"], expected, rtol=1e-9)
        np.testing.assert_allclose(rows["p_alive"], bg.conditional_probability_alive(x, t_x, T), rtol=1e-9)
        per_order = gg.conditional_expected_average_profit(x, rows["monetary_value"].fillna(0))
        np.testing.assert_allclose(rows["expected_margin_12m"], expected * per_order, rtol=1e-9)
        # to the end of month 11 after acquisition: from the as-of date, per customer
        left = [
            max((pd.Timestamp(m) + pd.DateOffset(months=12) - pd.Timedelta(days=1) - pd.Timestamp(as_of)).days, 0)
            for m in rows["acquisition_month"]
        ]
        to_horizon = bg.conditional_expected_number_of_purchases_up_to_time(np.array(left, float), x, t_x, T)
        np.testing.assert_allclose(rows["expected_margin_to_horizon_12"], to_horizon * per_order, rtol=1e-9, atol=1e-12)
