"""The interval macros the headline's figures carry (docs/metrics.md "The headline"): Student's t quantile
against scipy, and the credit-weighted mean's 90 % interval covering the truth on skewed margins."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy.stats import t as student

from pipelines.transform.runner import MACROS


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    connection.execute(MACROS)
    yield connection
    connection.close()


@pytest.mark.parametrize("df", [4, 4.5, 5, 7, 10, 29, 100, 1000])
def test_the_t_quantile_matches_scipy(con, df):
    got = con.execute("select t_quantile_95(?)", [df]).fetchall()[0][0]
    assert got == pytest.approx(student.ppf(0.95, df), abs=2.5e-4)


def test_the_interval_covers_the_truth_85_to_95_percent_of_the_time_on_skewed_margins(con):
    """1 000 channels of 100 customers: margins log-normal (sigma 0.8, skewness about 3, as order values
    are), credits 1, 0.5 or 0.25 independent of them. The credit-weighted mean estimates the true mean
    exp(mu + sigma²/2); its 90 % interval should hold it about 90 % of the time (skew costs a few points)."""
    rng = np.random.default_rng(20261205)
    replications, customers, mu, sigma = 1_000, 100, 7.0, 0.8
    truth = float(np.exp(mu + sigma**2 / 2))
    frame = pl.DataFrame(
        {
            "rep": np.repeat(np.arange(replications), customers),
            "w": rng.choice([1.0, 0.5, 0.25], replications * customers, p=[0.6, 0.25, 0.15]),
            "x": rng.lognormal(mu, sigma, replications * customers),
        }
    )
    con.register("margins", frame.to_arrow())
    [(covered, nulls)] = con.execute(
        """with sums as (
               select rep, sum(w) as sw, sum(w * w) as sw2, sum(w * x) as swx, sum(w * w * x) as sw2x,
                      sum(w * w * x * x) as sw2x2, count(*) as m
               from margins group by rep
           ), half as (
               select swx / sw as mean, mean_interval_half(sw, sw2, swx, sw2x, sw2x2, m) as h from sums
           )
           select avg(case when abs(mean - ?) <= h then 1.0 else 0.0 end), count(*) filter (where h is null)
           from half""",
        [truth],
    ).fetchall()
    assert nulls == 0
    assert 0.85 <= covered <= 0.95, covered


def test_no_interval_below_five_effective_customers(con):
    # four customers at credit 1: n_eff = 4; five: an interval
    four = con.execute("select mean_interval_half(4, 4, 400, 400, 50000, 4)").fetchall()[0][0]
    five = con.execute("select mean_interval_half(5, 5, 500, 500, 60000, 5)").fetchall()[0][0]
    assert four is None and five is not None and five > 0
