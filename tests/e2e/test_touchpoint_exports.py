"""Touchpoints as analytics tools record them, through the real pipeline: a Yandex Metrica Logs API
visits export (tests/fixtures/exports/metrica_logs_api/visits.tsv) and a GA4 BigQuery export as
Parquet (tests/fixtures/exports/ga4_bigquery/) beside the canonical test data, customers who ordered
from those visitors' browsers, and their first purchases' credits under the rule models, worked out
by hand below.

Customer M1 (client 171111), first purchase 2024-03-06 10:00 UTC, three visits within the look-back:
  t1 2024-03-01 20:58:10 UTC  yclid in the landing page             -> yandex_direct
  t2 2024-03-03 07:00:00 UTC  referer www.google.com, no tags        -> organic_search
  t3 2024-03-05 09:00:00 UTC  utm e-mail tags in the landing page    -> email
Customer M2 (client 171112), first purchase 2024-03-04 12:00 UTC, one direct visit just after local
midnight (2024-03-03 21:00:30 UTC) -> direct under every model.

Customer G1 (GA4 user_pseudo_id 1111.2222, user_id G1 sent at a login in the third session), first
purchase 2024-03-07 09:00 UTC, three sessions:
  s1 2024-03-04 23:59:30 UTC  session_start with gclid (collected_traffic_source) -> google_ads
  s2 2024-03-06 09:00:00 UTC  e-mail UTM tags only in page_location             -> email
  s3 2024-03-07 08:00:00 UTC  no session_start; referer www.bing.com            -> organic_search
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime

import pytest
from conftest import FULL_RANGE, PYTHON, ROOT, assert_ok, make_site
from rawdata import write_raw

pytestmark = pytest.mark.slow

PURCHASE = datetime(2024, 3, 6, 10, 0, 0)
TOUCHES = {  # channel -> touch time (UTC)
    "yandex_direct": datetime(2024, 3, 1, 20, 58, 10),
    "organic_search": datetime(2024, 3, 3, 7, 0, 0),
    "email": datetime(2024, 3, 5, 9, 0, 0),
}
HALF_LIFE_DAYS = 7.0  # acquisition.toml
DATA_DRIVEN = {"markov", "shapley"}


def _decay(purchase: datetime, touches: dict[str, datetime]) -> dict[str, float]:
    """time_decay by its definition: weight 2^(-Δt / half-life), normalised to sum 1."""
    weights = {c: 2 ** (-((purchase - t).total_seconds() / 86400) / HALF_LIFE_DAYS) for c, t in touches.items()}
    return {c: w / sum(weights.values()) for c, w in weights.items()}


EXPECTED_M1 = {
    "first_touch": {"yandex_direct": 1.0},
    "last_touch": {"email": 1.0},
    "last_non_direct": {"email": 1.0},
    "linear": {c: 1 / 3 for c in TOUCHES},
    "position_based": {"yandex_direct": 0.4, "organic_search": 0.2, "email": 0.4},
    "time_decay": _decay(PURCHASE, TOUCHES),
}
GA4_PURCHASE = datetime(2024, 3, 7, 9, 0, 0)
GA4_TOUCHES = {
    "google_ads": datetime(2024, 3, 4, 23, 59, 30),
    "email": datetime(2024, 3, 6, 9, 0, 0),
    "organic_search": datetime(2024, 3, 7, 8, 0, 0),
}
EXPECTED_G1 = {
    "first_touch": {"google_ads": 1.0},
    "last_touch": {"organic_search": 1.0},
    "last_non_direct": {"organic_search": 1.0},
    "linear": {c: 1 / 3 for c in GA4_TOUCHES},
    "position_based": {"google_ads": 0.4, "email": 0.2, "organic_search": 0.4},
    "time_decay": _decay(GA4_PURCHASE, GA4_TOUCHES),
}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("metrica"))
    write_raw(site.raw)
    shutil.copyfile(
        ROOT / "tests/fixtures/exports/metrica_logs_api/visits.tsv", site.raw / "touchpoints" / "metrica_visits.tsv"
    )
    shutil.copyfile(
        ROOT / "tests/fixtures/exports/ga4_bigquery/events_20240301.parquet",
        site.raw / "touchpoints" / "events_20240301.parquet",
    )
    # the shop passes the analytics client id with the order, as the GA4 / Metrica guides suggest; the
    # times are UTC instants (`Z`), given like every touch in the business's time zone (Moscow) on loading
    (site.raw / "orders" / "analytics_customers.csv").write_text(
        "order_id,customer_id,visitor_id,created_at,status,revenue,currency\n"
        "M1-1,M1,171111,2024-03-06 10:00:00Z,paid,5000,RUB\n"
        "M2-1,M2,171112,2024-03-04 12:00:00Z,paid,3000,RUB\n"
        "G1-1,G1,1111.2222,2024-03-07 09:00:00Z,paid,7000,RUB\n",
        encoding="utf-8",
    )
    assert_ok(site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[1]))
    return site


def credits(site, order_id: str) -> dict[str, dict[str, float]]:
    code = (
        "import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(json.dumps(con.execute('select attribution_model, channel, sum(credit) from marts.attribution "
        "where order_id = ? group by all', [sys.argv[2]]).fetchall()))"
    )
    out = subprocess.run(
        [PYTHON, "-c", code, str(site.warehouse), order_id], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    found: dict[str, dict[str, float]] = {}
    for model, channel, credit in json.loads(out.stdout):
        found.setdefault(model, {})[channel] = credit
    return found


@pytest.mark.parametrize(("order_id", "models"), [("M1-1", EXPECTED_M1), ("G1-1", EXPECTED_G1)], ids=["metrica", "ga4"])
def test_an_analytics_journey_gets_the_credits_the_rule_models_prescribe(published, order_id, models):
    found = credits(published, order_id)
    assert set(found) == set(models) | DATA_DRIVEN
    # the data-driven models (their weights depend on every journey: tests/sql/test_data_driven.py) credit
    # exactly the journey's own channels, summing to 1
    for model in DATA_DRIVEN:
        assert set(found[model]) <= set(models["linear"]), model
        assert sum(found[model].values()) == pytest.approx(1.0, abs=1e-9), model
    for model, expected in models.items():
        assert set(found[model]) == set(expected), model
        for channel, credit in expected.items():
            assert found[model][channel] == pytest.approx(credit, abs=1e-9), (model, channel)


def test_a_visit_after_local_midnight_is_the_previous_day_in_utc_and_direct(published):
    assert credits(published, "M2-1") == {
        model: {"direct": pytest.approx(1.0)} for model in set(EXPECTED_M1) | DATA_DRIVEN
    }
