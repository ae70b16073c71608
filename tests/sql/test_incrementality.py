"""The marketing-mix model behind incremental CAC (pipelines/transform/models/incrementality.py), on generated
data with a known truth, through the real runner on a real DuckDB: channel A's spend causes new customers
with a known response, channel B's causes none (yet attribution credits B with some of the baseline's
buyers, as retargeting collects credit for buyers who would have come anyway)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from threadpoolctl import threadpool_limits

from pipelines.core.db import scalar
from pipelines.core.table_comments import undocumented_columns
from pipelines.publish.checks import evaluate
from pipelines.transform.models import incrementality, mmm
from pipelines.transform.runner import discover_models, run_model
from schemas.marts_incrementality import ChannelIncrementality, ChannelResponseCurves, IncrementalityFit

START = date(2024, 1, 1)  # a Monday
WEEKS = 104
LAST_SUNDAY = START + timedelta(days=7 * WEEKS - 1)
MODEL = next(m for m in discover_models() if m.table == "marts.channel_incrementality")
SPEND = next(m for m in discover_models() if m.table == "staging.ad_spend_channels")  # the view the model reads
TRUE_ALPHA, TRUE_BETA, TRUE_LAMBDA, SCALE = 0.3, 100.0, 2.0, 80_000.0


def generate(seed: int = 0, weeks: int = WEEKS, constant_b: bool = False):
    """Weekly spend of A and B, A's caused customers and the baseline's, drawn with `seed`: baseline 60 a
    week +-20 % over the year, Poisson; A's spend drawn from {0 ... 80 000} and causing
    Poisson(100 tanh(2 adstock / 2)) customers (geometric adstock 0.3, spend over 80 000); B's spend drawn
    the same way (or held constant) and causing none."""
    rng = np.random.default_rng(seed)
    day_of_year = np.array([(START + timedelta(days=7 * w)).timetuple().tm_yday for w in range(weeks)], float)
    baseline = 60 * (1 + 0.2 * np.sin(2 * np.pi * day_of_year / 365.25))
    a = rng.integers(0, 80_001, weeks).astype(float)
    b = np.full(weeks, 40_000.0) if constant_b else rng.integers(0, 80_001, weeks).astype(float)
    design = mmm.Model(mmm.Series(np.zeros(weeks), np.vstack([a, b]), day_of_year), scale=np.array([SCALE, SCALE]))
    weights, _ = design.weights(np.array([TRUE_ALPHA, TRUE_ALPHA]))
    adstock = np.einsum("cl,clt->ct", weights, design.lagged)[0]
    caused = rng.poisson(TRUE_BETA * np.tanh(TRUE_LAMBDA * adstock / 2))
    organic = rng.poisson(baseline)
    return a, b, caused, organic


def build(con: duckdb.DuckDBPyConnection, a, b, caused, organic, weeks_from: date = START) -> None:
    """The model's inputs: staging.ad_spend + channel_map, read through staging.ad_spend_channels (a row per channel and week, on its Monday),
    marts.first_purchases and marts.attribution (A's customers credited to a; every third baseline customer
    to b, the rest to direct)."""
    spend, customers, credits = [], [], []
    for w in range(len(a)):
        monday = weeks_from + timedelta(days=7 * w)
        spend += [(monday, "a_src", a[w]), (monday, "b_src", b[w])]
        for i in range(int(caused[w]) + int(organic[w])):
            ts = monday + timedelta(days=i % 7, hours=12)
            key = f"w{w}-{i}"
            channel = "a" if i < caused[w] else ("b" if i % 3 == 0 else "direct")
            customers.append((key, ts))
            credits.append((key, ts, "last_non_direct", channel, 1.0))
    con.execute("create schema if not exists staging; create schema if not exists marts")
    frame = pl.DataFrame(spend, schema=["date", "source", "spend"], orient="row")  # noqa: F841
    con.execute(
        "create or replace table staging.ad_spend as select date::date as date, source, null::varchar as medium, "
        "null::varchar as campaign, null::varchar as platform, spend::double as spend, "
        "null::bigint as impressions, null::bigint as clicks from frame"
    )
    con.execute(
        """create or replace table staging.channel_map as
           select * from (values ('a_src', 'a'), ('b_src', 'b')) t(source, channel),
                         (select null::varchar as medium, null::varchar as campaign, null::varchar as referrer_host,
                                 null::varchar as click_id_type, null::varchar as platform)"""
    )
    firsts = pl.DataFrame(customers, schema=["customer_key", "first_purchase_ts"], orient="row")  # noqa: F841
    con.execute("create or replace table marts.first_purchases as select * from firsts")
    attributed = pl.DataFrame(  # noqa: F841
        credits, schema=["order_id", "first_purchase_ts", "attribution_model", "channel", "credit"], orient="row"
    )
    con.execute("create or replace table marts.attribution as select * from attributed")
    run_model(con, SPEND, {})


def params(as_of: date, **overrides) -> dict:
    return {"as_of_date": as_of, "default_model": "last_non_direct", "settings_fingerprint": "test"} | overrides


def table(con, name: str) -> pl.DataFrame:
    return con.sql(f"select * from {name}").pl()


@pytest.fixture(scope="module")
def fitted():
    a, b, caused, organic = generate()
    con = duckdb.connect()
    build(con, a, b, caused, organic)
    run_model(con, MODEL, params(LAST_SUNDAY))
    yield con, (a, b, caused, organic)
    con.close()


def test_a_is_found_near_its_truth_and_inside_its_interval_and_b_is_found_to_cause_nothing(fitted):
    con, (a, _, caused, _) = fitted
    rows = {r["channel"]: r for r in table(con, "marts.channel_incrementality").iter_rows(named=True)}
    truth = a.sum() / caused.sum()  # A's spend per customer it caused
    ra, rb = rows["a"], rows["b"]
    assert ra["status"] == rb["status"] == "fitted"
    assert abs(ra["incremental_cac"] / truth - 1) <= 0.25, (ra["incremental_cac"], truth)
    assert ra["incremental_cac_lower"] <= truth <= ra["incremental_cac_upper"]
    assert ra["incremental_cac_upper"] < 1.6 * ra["incremental_cac_lower"]  # an interval that says something
    # B: its median contribution over the bootstrap is at most 5 % of A's, its CAC none or > 4 x A's
    result = _replicates(con)
    medians = np.median(result, axis=0)
    assert medians[1] <= 0.05 * medians[0]
    assert rb["incremental_cac"] is None or rb["incremental_cac"] > 4 * ra["incremental_cac"]
    assert rb["incremental_cac_upper"] is None  # its contribution's 5 % quantile is no more than 1 % of customers
    # attribution credits B with a third of the baseline's buyers: its attributed CAC looks cheap, its ratio high
    assert rb["attributed_cac"] < 0.5 * (rb["incremental_cac"] or np.inf)
    assert ra["incremental_to_attributed_cac"] == pytest.approx(
        ra["attributed_new_customers"] / ra["incremental_new_customers"]
    )


def _replicates(con) -> np.ndarray:
    """Per bootstrap refit, the contribution of (a, b), refitted here from the same rows (the fit is
    deterministic: this is the model's own bootstrap)."""
    frame = con.sql(
        MODEL.sql, params={"fit_start": START, "fit_end": LAST_SUNDAY, "default_model": "last_non_direct"}
    ).pl()
    spend = np.array([frame.filter(pl.col("channel") == c)["spend"].to_numpy() for c in ("a", "b")])
    y = frame.filter(pl.col("channel") == "a")["new_customers"].to_numpy()
    weeks = frame.filter(pl.col("channel") == "a")["week_start"].to_list()
    series = mmm.Series(y, spend, np.array([w.timetuple().tm_yday for w in weeks], float))
    result = mmm.fit_with_intervals(series)
    return np.array([mmm.contributions(result.model, p) for p in result.replicates])


def test_the_estimate_is_not_one_lucky_draw():
    """Over several independent data sets the point estimate of A's CAC stays within 25 % of its truth and
    B's contribution small (the MAP fit alone: the intervals are the first test's)."""
    for seed in range(1, 7):
        with threadpool_limits(limits=1, user_api="blas"):  # as the model fits (mmm.fit_with_intervals)
            _check_seed(seed)


def _check_seed(seed: int) -> None:
    a, b, caused, organic = generate(seed)
    day_of_year = np.array([(START + timedelta(days=7 * w)).timetuple().tm_yday for w in range(WEEKS)], float)
    model = mmm.Model(mmm.Series(caused + organic, np.vstack([a, b]), day_of_year))
    fit = model.fit()
    assert fit.converged
    contribution = mmm.contributions(model, fit.params)
    assert abs(a.sum() / contribution[0] / (a.sum() / caused.sum()) - 1) <= 0.25, seed
    assert contribution[1] <= 0.1 * contribution[0], seed


def test_tables_match_their_models_are_documented_and_pass_their_checks(fitted):
    con, _ = fitted
    ChannelIncrementality.validate(table(con, "marts.channel_incrementality"))
    ChannelResponseCurves.validate(table(con, "marts.channel_response_curves"))
    IncrementalityFit.validate(table(con, "quality.incrementality_fit"))
    for name in incrementality.TABLES:
        assert undocumented_columns(con, name) == [], name
    assert all(r.passed for r in evaluate(con, "marts.channel_incrementality")), evaluate(
        con, "marts.channel_incrementality"
    )
    curves = table(con, "marts.channel_response_curves")
    assert curves.filter(pl.col("is_current_spend")).height == 2  # today's spend marked once per channel
    fits = {r["purpose"]: r for r in table(con, "quality.incrementality_fit").iter_rows(named=True)}
    assert fits["fit"]["weeks"] == WEEKS and fits["holdout"]["weeks"] == incrementality.HOLDOUT_WEEKS
    assert fits["holdout"]["mape"] < 0.3


def test_a_rerun_gives_identical_tables(fitted):
    con, data = fitted
    again = duckdb.connect()
    build(again, *data)
    run_model(again, MODEL, params(LAST_SUNDAY))
    for name in incrementality.TABLES:
        assert table(again, name).equals(table(con, name), null_equal=True), name


def test_too_little_data_is_a_status_never_a_number():
    a, b, caused, organic = generate(weeks=40)
    con = duckdb.connect()
    build(con, a, b, caused, organic)
    run_model(con, MODEL, params(START + timedelta(days=7 * 40 - 1)))
    rows = table(con, "marts.channel_incrementality")
    assert rows["status"].to_list() == ["too_little_data", "too_little_data"]
    numbers = rows.select(pl.col("^incremental.*$", "^marginal.*$", "current_weekly_spend"))
    assert numbers.null_count().row(0) == (rows.height,) * numbers.width
    assert "40 complete weeks" in rows["message"][0]
    assert table(con, "marts.channel_response_curves").height == 0
    assert table(con, "quality.incrementality_fit")["status"].to_list() == ["too_little_data"]


def test_a_channel_whose_spend_never_varies_is_a_status_never_a_number():
    a, b, caused, organic = generate(constant_b=True)
    con = duckdb.connect()
    build(con, a, b, caused, organic)
    run_model(con, MODEL, params(LAST_SUNDAY))
    rows = {r["channel"]: r for r in table(con, "marts.channel_incrementality").iter_rows(named=True)}
    assert rows["b"]["status"] == "constant_spend" and rows["a"]["status"] == "fitted"
    numbers = [k for k in rows["b"] if k.startswith(("incremental", "marginal"))]
    assert [k for k in numbers if rows["b"][k] is not None] == []
    assert rows["b"]["spend"] == pytest.approx(40_000.0 * WEEKS)
    assert set(table(con, "marts.channel_response_curves")["channel"]) == {"a"}


def test_fit_date_is_the_last_cadence_boundary():
    wednesday = date(2025, 12, 31)
    assert incrementality.fit_date(wednesday, "weekly") == date(2025, 12, 28)
    assert incrementality.fit_date(date(2025, 12, 28), "weekly") == date(2025, 12, 28)
    assert incrementality.fit_date(wednesday, "monthly") == wednesday
    assert incrementality.fit_date(date(2026, 1, 30), "monthly") == wednesday
    assert incrementality.fit_date(wednesday, "daily") == wednesday
    fitted, start, end = incrementality.fit_window(date(2026, 1, 30), "monthly", 104)
    assert (fitted, end, (end - start).days + 1) == (wednesday, date(2025, 12, 28), 7 * 104)


INPUTS = ("staging.ad_spend", "staging.channel_map", "marts.first_purchases", "marts.attribution")


def copy(source, names) -> duckdb.DuckDBPyConnection:
    """A new warehouse with `names` copied from `source` (meta.model_state with its key, as the runner makes it)."""
    target = duckdb.connect()
    for name in names:
        frame = source.sql(f"select * from {name}").pl()  # noqa: F841
        target.execute(f"create schema if not exists {name.split('.')[0]}")
        if name == "meta.model_state":
            target.execute(
                "create table meta.model_state (table_name varchar primary key, fingerprint varchar, "
                "as_of_date date, updated_at timestamp)"
            )
            target.execute("insert into meta.model_state select * from frame")
        else:
            target.execute(f"create table {name} as select * from frame")
    if "staging.ad_spend" in names:
        run_model(target, SPEND, {})
    return target


def test_a_nightly_between_refits_keeps_the_stored_fit_and_equals_a_full_build(fitted):
    """Data of the days after the last Sunday arrive (and the attribution of an older buyer changes): the
    nightly run keeps the stored fit (no refit: meta.model_state is not rewritten), recomputes the
    attributed columns, and publishes what a full build of the same inputs at the same as-of date does.
    A late row inside the fit window makes it refit."""
    con, _ = fitted
    nightly = copy(con, (*INPUTS, *incrementality.TABLES, "meta.model_state", "meta.model_writes"))
    fitted_at = scalar(nightly, "select updated_at from meta.model_state")
    wednesday = LAST_SUNDAY + timedelta(days=3)
    nightly.execute(
        "insert into staging.ad_spend values (?, 'a_src', null, null, null, 50000.0, null, null)", [wednesday]
    )
    nightly.execute("insert into marts.first_purchases values ('late', ?)", [wednesday])
    nightly.execute(
        "update marts.attribution set channel = 'b' where order_id = "
        "(select min(order_id) from marts.attribution where channel = 'direct')"
    )
    run_model(nightly, MODEL, params(wednesday))
    assert scalar(nightly, "select updated_at from meta.model_state") == fitted_at  # no refit

    full = copy(nightly, INPUTS)
    run_model(full, MODEL, params(wednesday))
    for name in incrementality.TABLES:
        assert table(nightly, name).equals(table(full, name), null_equal=True), name
    before = table(con, "marts.channel_incrementality")
    after = table(nightly, "marts.channel_incrementality")
    assert after["incremental_cac"].equals(before["incremental_cac"])  # the stored fit
    assert not after["attributed_new_customers"].equals(before["attributed_new_customers"])  # this run's credits

    # spend of a week inside the window, exported late: the fit's data changed, so it refits
    nightly.execute("insert into staging.ad_spend values (?, 'b_src', null, null, null, 1000.0, null, null)", [START])
    run_model(nightly, MODEL, params(wednesday))
    assert scalar(nightly, "select updated_at from meta.model_state") != fitted_at
    assert not table(nightly, "quality.incrementality_fit")["fit_key"].equals(
        table(full, "quality.incrementality_fit")["fit_key"]
    )


def test_the_blocking_check_catches_a_number_without_a_fit_and_an_inverted_interval(fitted):
    con, _ = fitted
    for corruption in (
        "update marts.channel_incrementality set status = 'constant_spend' where channel = 'a'",
        "update marts.channel_incrementality set incremental_cac_lower = incremental_cac_upper + 1 where channel = 'a'",
    ):
        bad = copy(con, ("marts.channel_incrementality",))
        bad.execute(corruption)
        failed = [r.name for r in evaluate(bad, "marts.channel_incrementality") if not r.passed]
        assert failed == ["incrementality_numbers_hold"], corruption
