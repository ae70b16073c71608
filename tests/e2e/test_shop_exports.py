"""Shop and CRM exports through the real pipeline: `python -m pipelines backfill` over a raw folder whose
orders/ holds the Shopify orders export, the amoCRM leads export and Bitrix24 deals (headers copied from
public sources: tests/fixtures/exports/make_shop_fixtures.py) beside the canonical orders, and whose
customers/ holds Shopify's customers export; then the published warehouse is read back.

Every expected figure is counted by hand from the fixture rows (their comments say why each is what it is).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FULL_RANGE, PYTHON, ROOT, assert_ok, make_site
from rawdata import write_raw

pytestmark = pytest.mark.slow

EXPORTS = ROOT / "tests" / "fixtures" / "exports"
ORDERS = ("shopify_orders/orders_export.csv", "amocrm_leads/leads.csv", "bitrix24_deals/deals.csv")
CUSTOMERS = ("shopify_customers/customers_export.csv",)
# fixture -> (layout, rows read, loaded, skipped (line items folded), rejected)
FILES = {
    "orders/shopify_orders__orders_export.csv": ("shopify_orders", 9, 6, 3, 0),
    "orders/amocrm_leads__leads.csv": ("amocrm_leads", 5, 5, 0, 0),
    "orders/bitrix24_deals__deals.csv": ("bitrix24_deals", 5, 5, 0, 0),
    "customers/shopify_customers__customers_export.csv": ("shopify_customers", 2, 2, 0, 0),
}
STATUSES = {  # raw.orders: every row, with the status its export's value or stage maps to
    "#1001": "paid",
    "#1002": "paid",  # partially_refunded: valid, revenue lowered by the refund
    "#1003": "paid",
    "#1004": "refunded",
    "#1005": "cancelled",  # Financial Status paid, but Cancelled at is set
    "#1006": "pending",
    "501": "paid",
    "502": "pending",
    "503": "cancelled",
    "504": "paid",
    "505": "paid",  # the business's own stage "Оплачено", named in [sources.orders] won_stages
    "9001": "paid",
    "9002": "cancelled",
    "9003": "pending",
    "9004": "paid",
    "9005": "paid",
}
# marts.orders (valid orders only): date, revenue (net of taxes), refund (net of tax), new | repeat
VALID = {
    "#1001": ("2024-03-05", 1200.0, 0.0, "new"),  # Total 1400 - Taxes 200, two line items counted once
    "#1002": ("2024-03-10", 500.0, 250.0, "new"),  # 600 - 100; refund 300 x 500 / 600
    "#1003": ("2024-04-02", 800.0, 0.0, "repeat"),  # Anna's second order
    "501": ("2024-03-20", 350000.0, 0.0, "new"),  # dated by its close date, not its creation (1 March)
    "504": ("2024-04-15", 45000.0, 0.0, "repeat"),  # Zoya by her mobile (8 927 ... = +7 927 ...)
    "505": ("2024-03-14", 10000.0, 0.0, "new"),
    "9001": ("2024-03-15", 10000.0, 0.0, "new"),  # OPPORTUNITY 12000 - TAX_VALUE 2000, CLOSEDATE
    "9004": ("2024-04-10", 5000.0, 0.0, "repeat"),  # contact 77 again
    "9005": ("2024-05-01", 2500.0, 0.0, "new"),  # 01:00 Moscow time on 1 May: May's, not April's (22:00 UTC)
}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("shops"))
    write_raw(site.raw)
    for folder, fixtures in (("orders", ORDERS), ("customers", CUSTOMERS)):
        for fixture in fixtures:
            shutil.copyfile(EXPORTS / fixture, site.raw / folder / fixture.replace("/", "__"))
    config = site.root / "settings.toml"
    config.write_text(
        (ROOT / "acquisition.toml").read_text(encoding="utf-8") + '\n[sources.orders]\nwon_stages = ["Оплачено"]\n',
        encoding="utf-8",
    )
    assert_ok(site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[1], "--config", str(config)))
    return site


def query(path: Path, sql: str) -> list[tuple]:
    code = "import duckdb, json, sys; print(json.dumps(duckdb.connect(sys.argv[1], read_only=True).sql(sys.argv[2]).fetchall(), default=str))"
    out = subprocess.run([PYTHON, "-c", code, str(path), sql], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return [tuple(row) for row in json.loads(out.stdout)]


def test_every_row_is_loaded_folded_or_quarantined(published):
    loads = {
        row[0]: row[1:]
        for row in query(
            published.warehouse,
            "select source_file, layout, rows_read, rows_loaded, rows_skipped, rows_rejected from quality.file_loads",
        )
    }
    for name, expected in FILES.items():
        assert loads[name] == expected, name
    statuses = dict(query(published.warehouse, "select order_id, status from raw.orders where layout <> 'canonical'"))
    assert statuses == STATUSES


def test_orders_revenue_refunds_and_new_or_repeat_are_exact(published):
    ids = ", ".join(f"'{i}'" for i in STATUSES)
    rows = query(
        published.warehouse,
        f"""select order_id, order_date, round(revenue, 2), round(refunded_amount, 2), customer_type
            from marts.orders where order_id in ({ids})""",
    )
    assert {r[0]: r[1:] for r in rows} == VALID
    # one customer per person across line items and exports: Anna (Shopify, keyed by her Shopify customer
    # id through the customers export), Boris, Zoya (amoCRM, e-mail then mobile), Xenia, Bitrix24 contact 77
    keys = dict(
        query(published.warehouse, f"select order_id, customer_key from marts.orders where order_id in ({ids})")
    )
    assert keys["#1001"] == keys["#1003"] == "crm:7001"
    assert keys["501"] == keys["504"]
    assert keys["9001"] == keys["9004"] == "crm:77"
    assert len({keys[o] for o in VALID}) == 6


def test_refunds_without_a_date_and_taxes_are_said_in_the_file_notes(published):
    notes = dict(query(published.warehouse, "select source_file, notes from quality.file_loads"))
    shopify = notes["orders/shopify_orders__orders_export.csv"]
    assert "revenue = total minus taxes" in shopify
    assert "refunds carry no date" in shopify
    assert "3 line-item row(s) folded into their orders (6 orders)" in shopify
    assert "close date" in notes["orders/bitrix24_deals__deals.csv"]


def test_personal_data_lands_only_as_keys(published):
    leaks = query(
        published.warehouse,
        """select count(*) from raw.orders where layout <> 'canonical'
           and (email_key like '%@%' or phone_key like '%927%')""",
    )
    assert leaks == [(0,)]
    customers = query(
        published.warehouse,
        "select customer_id, email_key is not null, phone_key is not null from raw.customers "
        "where layout = 'shopify_customers' order by 1",
    )
    # the id without Shopify's leading apostrophe; Boris's phone from his default address
    assert customers == [("7001", True, True), ("7002", True, True)]
