"""Shop and CRM layouts (orders, customers) at the reader: detection, statuses, net revenue, line items.
The fixtures' headers come from public sources (tests/fixtures/exports/make_shop_fixtures.py); the whole
way through the pipeline, with hand-counted figures, is tests/e2e/test_shop_exports.py."""

import sys

import pytest

from pipelines.core.config import ConfigError, parse_config
from pipelines.ingest.readers import ExportError, detect_layout, read_export
from pipelines.ingest.validate import split_rows

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "fixtures" / "exports"))
from make_shop_fixtures import AMOCRM_LEADS, BITRIX24_DEALS, SHOPIFY_ORDERS, table  # noqa: E402

ORDER = ["order_id", "created_at", "status", "revenue", "refunded_amount", "currency"]


@pytest.mark.parametrize(
    ("fixture", "source", "layout"),
    [
        ("shopify_orders/orders_export.csv", "orders", "shopify_orders"),
        ("amocrm_leads/leads.csv", "orders", "amocrm_leads"),
        ("bitrix24_deals/deals.csv", "orders", "bitrix24_deals"),
        ("shopify_customers/customers_export.csv", "customers", "shopify_customers"),
        ("canonical/customers_bom.tsv", "customers", "canonical"),  # not taken for Shopify's
        ("canonical/orders_cp1251.csv", "orders", "canonical"),
    ],
)
def test_detect_shop_and_crm_layouts(exports, fixture, source, layout):
    assert detect_layout(exports / fixture, source) == layout


def test_shopify_line_items_grouped_net_of_taxes(exports):
    result = read_export(exports / "shopify_orders/orders_export.csv", "orders")
    assert result.frame.select(ORDER).rows()[:2] == [
        ("#1001", "2024-03-05 12:00:00 +0300", "paid", "1200.0", "0.0", "RUB"),
        ("#1002", "2024-03-10 15:00:00 +0300", "paid", "500.0", "250.0", "RUB"),
    ]
    assert result.frame["source_row"].to_list() == [2, 4, 5, 8, 9, 10]  # each order's first line
    assert (result.rows_read, result.skipped_lines) == (9, 3)
    # the customer's phone column is empty: the billing phone is taken
    assert result.frame["phone"][0] == "+7 (999) 111-22-33"


def test_shopify_unknown_financial_status_is_quarantined_with_its_reason(tmp_path):
    path = tmp_path / "orders_export.csv"
    rows = [
        {"Name": "#1", "Email": "a@b.example", "Financial Status": "paid", "Currency": "USD", "Total": "10.00",
         "Taxes": "0.00", "Created at": "2024-03-05 12:00:00 -0500"},
        {"Name": "#2", "Email": "c@d.example", "Financial Status": "on_hold", "Currency": "USD", "Total": "5.00",
         "Taxes": "0.00", "Created at": "2024-03-06 12:00:00 -0500"},
    ]  # fmt: skip
    path.write_text(table(SHOPIFY_ORDERS, rows), encoding="utf-8")
    result = read_export(path, "orders")
    good, failures = split_rows("orders", result)
    assert good["order_id"].to_list() == ["#1"]
    assert failures.select("source_row", "check_name").rows() == [(3, "whole_line")]
    assert "status 'on_hold' is not one shopify_orders knows" in failures["reason"][0]


def test_bitrix24_stage_without_semantic_and_pipeline_prefix(tmp_path):
    path = tmp_path / "deals.csv"
    base = {"OPPORTUNITY": "100", "CURRENCY_ID": "EUR", "DATE_CREATE": "2024-03-01T10:00:00+03:00", "CONTACT_ID": "5",
            "CLOSEDATE": "2024-03-02T10:00:00+03:00"}  # fmt: skip
    rows = [
        base | {"ID": "1", "STAGE_ID": "C3:WON"},
        base | {"ID": "2", "STAGE_ID": "C3:LOSE"},
        base | {"ID": "3", "STAGE_ID": "C3:NEW"},
        base | {"ID": "4", "STAGE_ID": "C3:UC_PAID"},  # the business's own stage, named in the settings
    ]
    path.write_text(table(BITRIX24_DEALS, rows), encoding="utf-8")
    plain = read_export(path, "orders")
    assert plain.frame.select("order_id", "status", "created_at").rows() == [
        ("1", "paid", "2024-03-02T10:00:00+03:00"),  # won: its close date
        ("2", "cancelled", "2024-03-02T10:00:00+03:00"),
        ("3", "pending", "2024-03-01T10:00:00+03:00"),  # in progress: its creation
        ("4", "pending", "2024-03-01T10:00:00+03:00"),
    ]
    own = read_export(path, "orders", {"won_stages": ["UC_PAID"]})
    assert own.frame["status"].to_list() == ["paid", "cancelled", "pending", "paid"]


def test_amocrm_lost_stage_setting_and_status_ids(tmp_path):
    path = tmp_path / "leads.csv"
    base = {"Бюджет ₽": "1 000", "Дата создания": "01.03.2024 10:00:00", "Рабочий email (контакт)": "a@b.example",
            "Дата закрытия": "02.03.2024 10:00:00"}  # fmt: skip
    rows = [base | {"ID": "1", "Этап сделки": "142"}, base | {"ID": "2", "Этап сделки": "Не дозвонились"}]
    path.write_text(table(AMOCRM_LEADS, rows, delimiter=";"), encoding="utf-8")
    result = read_export(path, "orders", {"lost_stages": ["не дозвонились"]})
    assert result.frame.select("status", "revenue", "currency").rows() == [
        ("paid", "1000", "RUB"),
        ("cancelled", "1000", "RUB"),
    ]


def test_shopify_customers_id_without_the_apostrophe(exports):
    result = read_export(exports / "shopify_customers/customers_export.csv", "customers")
    assert result.frame.select("customer_id", "email", "phone").rows() == [
        ("7001", "anna@shop.example", "+79991112233"),
        ("7002", "boris@shop.example", "+7 999 222-33-44"),  # the default address's phone
    ]


def test_stage_settings_are_validated():
    config = parse_config({"sources": {"orders": {"won_stages": ["Оплачено"], "lost_stages": ["Отказ"]}}})
    assert config.reader_options["orders"]["won_stages"] == ["Оплачено"]
    with pytest.raises(ConfigError, match=r"sources.orders.won_stages = 'Оплачено': expected a list of stage names"):
        parse_config({"sources": {"orders": {"won_stages": "Оплачено"}}})


def test_a_layout_for_orders_in_the_customers_folder_is_named(exports):
    with pytest.raises(ExportError, match="layout shopify_orders holds orders, not customers"):
        read_export(exports / "shopify_orders/orders_export.csv", "customers")
