"""Platform layouts: detection, values, skipped lines and source_row numbers from committed fixtures."""

import codecs

import pytest

from pipelines.readers import LAYOUTS, ExportError, detect_layout, read_export
from pipelines.readers.base import COLUMNS

AD = ["date", "platform", "account_id", "campaign_id", "campaign_name", "impressions", "clicks", "spend", "currency",
      "source_row"]


def rows(result, columns=AD):
    return result.frame.select(columns).rows()


@pytest.mark.parametrize(
    ("fixture", "layout"),
    [
        ("google_ads_ui/campaign_report.csv", "google_ads_ui"),
        ("meta_ads_manager/campaigns_en.csv", "meta_ads_manager"),
        ("meta_ads_manager/campaigns_ru.csv", "meta_ads_manager"),
        ("yandex_direct_api/campaign_performance.tsv", "yandex_direct_api"),
        ("yandex_direct_api/with_currency.tsv", "yandex_direct_api"),
        ("vk_ads_stats/stats_cp1251.csv", "vk_ads_stats"),
        ("vk_ads_stats/stats_rub_sign.csv", "vk_ads_stats"),
        ("vk_ads_stats/stats_en.csv", "vk_ads_stats"),
        ("canonical/ad_spend_crlf.csv", "canonical"),
    ],
)
def test_detect_layout(exports, fixture, layout):
    assert detect_layout(exports / fixture, "ad_spend") == layout


def test_every_layout_is_registered_with_its_parts():
    assert list(LAYOUTS) == ["google_ads_ui", "meta_ads_manager", "yandex_direct_api", "vk_ads_stats", "canonical"]
    for name, layout in LAYOUTS.items():
        assert callable(layout.detect) and callable(layout.read) and callable(layout.write), name
    assert LAYOUTS["canonical"].sources == frozenset(COLUMNS)
    assert all(LAYOUTS[n].sources == {"ad_spend"} for n in list(LAYOUTS)[:-1])


def test_google_ads_utf16_tabs_preamble_quoted_thousands_dashes_totals(exports):
    result = read_export(exports / "google_ads_ui/campaign_report.csv", "ad_spend")
    assert (result.layout, result.encoding, result.delimiter) == ("google_ads_ui", "utf-16-le", "\t")
    assert rows(result) == [
        ("2024-03-05", "google_ads", "123-456-7890", "111", "Brand RU", "12345", "678", "12345.67", "RUB", 4),
        ("2024-03-06", "google_ads", "123-456-7890", "222", "Search, generic", "0", "0", "0.00", "RUB", 5),
        ("2024-03-07", "google_ads", "123-456-7890", "111", "Brand RU", "999", "1001", "120.10", "RUB", 6),
    ]
    # title + date range before the header, two `Total:` rows after the data
    assert (result.rows_read, result.skipped_lines) == (7, 4)
    assert result.frame.select("utm_source", "utm_medium", "utm_campaign").null_count().row(0) == (3, 3, 3)


def test_google_ads_without_currency_column_needs_the_option(tmp_path):
    text = "Campaign report\r\nMarch 2024\r\nDay\tCampaign\tCampaign ID\tClicks\tCost\r\n2024-03-05\tA\t1\t2\t3.50\r\n"
    path = tmp_path / "report.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    with pytest.raises(ExportError, match=r"Currency code \(currency\)") as caught:
        read_export(path, "ad_spend")
    assert caught.value.line == 3
    result = read_export(path, "ad_spend", options={"currency": "USD"})
    assert rows(result, ["campaign_id", "clicks", "spend", "currency", "impressions", "source_row"]) == [
        ("1", "2", "3.50", "USD", None, 4)
    ]


def test_meta_english_summary_row_empty_clicks_currency_from_header(exports):
    result = read_export(exports / "meta_ads_manager/campaigns_en.csv", "ad_spend")
    assert (result.encoding, result.delimiter) == ("utf-8-sig", ",")
    assert rows(result) == [
        ("2024-03-01", "meta_ads", None, "238001", "Retargeting, EU", "1000", "0", "50.25", "USD", 3),
        ("2024-03-02", "meta_ads", None, "238002", "Prospecting", "2000", "25", "100.50", "USD", 4),
    ]
    assert (result.rows_read, result.skipped_lines) == (3, 1)


def test_meta_russian_header_rub_and_totals_last(exports):
    result = read_export(exports / "meta_ads_manager/campaigns_ru.csv", "ad_spend")
    assert rows(result) == [("2024-03-05", "meta_ads", None, "120001", "Весна", "1500", "12", "1234.56", "RUB", 2)]
    assert (result.rows_read, result.skipped_lines) == (2, 1)


def test_meta_russian_header_with_yo_spelling(tmp_path):
    header = "Начало отчётности,Конец отчётности,Название кампании,ID кампании,Показы,Клики по ссылке,Потраченная сумма (EUR)"
    path = tmp_path / "meta.csv"
    path.write_bytes(codecs.BOM_UTF8 + f"{header}\n2024-03-05,2024-03-05,X,1,10,,2.5\n".encode())
    result = read_export(path, "ad_spend")
    assert rows(result, ["campaign_id", "clicks", "spend", "currency"]) == [("1", "0", "2.5", "EUR")]


def test_yandex_micros_dashes_summary_line(exports):
    result = read_export(exports / "yandex_direct_api/campaign_performance.tsv", "ad_spend")
    assert (result.encoding, result.delimiter) == ("utf-8", "\t")
    assert rows(result) == [
        ("2024-03-05", "yandex_direct", None, "5550001", "Поиск бренд", "1200", "34", "1234.56", "RUB", 3),
        ("2024-03-06", "yandex_direct", None, "5550002", "РСЯ", "0", "0", "0.0", "RUB", 4),
        ("2024-03-07", "yandex_direct", None, "5550001", "Поиск бренд", "10", "1", "0.5", "RUB", 5),
    ]
    # report-name line before the header, `Total rows: 3` after the data
    assert (result.rows_read, result.skipped_lines) == (5, 2)


def test_yandex_currency_column_and_units_option(exports):
    path = exports / "yandex_direct_api/with_currency.tsv"
    in_units = read_export(path, "ad_spend", options={"yandex_money_in_micros": False})
    assert rows(in_units, ["campaign_id", "spend", "currency", "source_row"]) == [("7", "1234.56", "KZT", 3)]
    # the default reads Cost as micros
    assert read_export(path, "ad_spend").frame["spend"].to_list() == ["0.00123456"]


def test_vk_cp1251_semicolons_decimal_comma_nbsp_totals(exports):
    result = read_export(exports / "vk_ads_stats/stats_cp1251.csv", "ad_spend")
    assert (result.encoding, result.delimiter) == ("cp1251", ";")
    assert rows(result) == [
        ("2024-03-05", "vk_ads", None, "90001", "Лето", "12345", "67", "1234.50", "RUB", 2),
        ("2024-03-06", "vk_ads", None, "90002", "Осень", "0", "0", "0", "RUB", 3),
    ]
    assert (result.rows_read, result.skipped_lines) == (3, 1)


def test_vk_rouble_sign_and_english_header(exports):
    ru = read_export(exports / "vk_ads_stats/stats_rub_sign.csv", "ad_spend")
    assert rows(ru, ["date", "impressions", "spend", "currency", "source_row"]) == [
        ("2024-03-07", "1000", "99.9", "RUB", 2)
    ]
    en = read_export(exports / "vk_ads_stats/stats_en.csv", "ad_spend")
    assert rows(en, ["date", "campaign_name", "spend", "currency"]) == [("2024-03-08", "Spring", "0.5", "RUB")]
    assert (en.rows_read, en.skipped_lines) == (2, 1)


def test_platform_layout_for_another_source_is_an_error(exports):
    with pytest.raises(ExportError, match="google_ads_ui holds ad_spend, not orders"):
        read_export(exports / "google_ads_ui/campaign_report.csv", "orders")


def test_unrecognised_layout_says_what_was_seen_and_expected(exports):
    with pytest.raises(ExportError) as caught:
        read_export(exports / "errors/unknown_layout.csv", "ad_spend")
    message = caught.value.message
    assert "unrecognised layout" in message
    assert "['foo', 'bar', 'baz']" in message
    assert "required: date, platform, campaign_id, spend, currency" in message
    assert "google_ads_ui" in message and "vk_ads_stats" in message


def test_undecodable_file(exports):
    with pytest.raises(ExportError, match="cannot decode") as caught:
        read_export(exports / "errors/undecodable.csv", "fx_rates")
    assert caught.value.line == 2


def test_unknown_source_is_a_value_error(exports):
    with pytest.raises(ValueError, match="unknown source"):
        read_export(exports / "canonical/ad_spend_crlf.csv", "leads")


def test_empty_file_is_an_unrecognised_layout(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ExportError, match="unrecognised layout") as caught:
        detect_layout(path, "orders")
    assert caught.value.line == 1


def test_layout_modules_can_be_used_directly(exports):
    result = LAYOUTS["vk_ads_stats"].read(exports / "vk_ads_stats/stats_cp1251.csv", "ad_spend")
    assert result.frame["campaign_id"].to_list() == ["90001", "90002"]
    with pytest.raises(ExportError, match="no VK Ads header"):
        LAYOUTS["vk_ads_stats"].read(exports / "google_ads_ui/campaign_report.csv", "ad_spend")
