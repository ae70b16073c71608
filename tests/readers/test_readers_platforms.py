"""Platform layouts: detection, language, values, skipped lines and source_row numbers from committed
fixtures whose headers are copied from each platform's documentation (tests/fixtures/exports/make_fixtures.py
says where each comes from)."""

import codecs

import pytest

from pipelines.ingest.readers import ExportError, detect_layout, identify, layout_names, platform_layouts, read_export

AD = ["date", "platform", "campaign_id", "campaign_name", "impressions", "clicks", "spend", "currency", "source_row"]


def rows(result, columns=AD):
    return result.frame.select(columns).rows()


@pytest.mark.parametrize(
    ("fixture", "layout", "language"),
    [
        ("google_ads_ui/campaign_report.csv", "google_ads_ui", "en"),
        ("google_ads_ui/campaign_report_utf8.csv", "google_ads_ui", "en"),
        ("google_ads_ui/campaign_report_ru.csv", "google_ads_ui", "ru"),
        ("google_ads_ui/campaign_report.xlsx", "google_ads_ui", "en"),
        ("meta_ads_manager/campaigns_en.csv", "meta_ads_manager", "en"),
        ("meta_ads_manager/campaigns_ru.csv", "meta_ads_manager", "ru"),
        ("meta_ads_manager/default_columns_en.csv", "meta_ads_manager", "en"),
        ("meta_ads_manager/default_columns_ru.xlsx", "meta_ads_manager", "ru"),
        ("meta_ads_manager/daily_scheduled_ru.csv", "meta_ads_manager", "ru"),
        ("yandex_direct_api/campaign_performance.tsv", "yandex_direct_api", "en"),
        ("yandex_direct_api/no_title_no_summary.tsv", "yandex_direct_api", "en"),
        ("yandex_direct_web/report_cp1251.csv", "yandex_direct_web", "ru"),
        ("yandex_direct_web/report.xlsx", "yandex_direct_web", "ru"),
        # `Расход, ₽` is VK's spend label too: the Yandex labels around it must win
        ("yandex_direct_web/statistics_new_ui.csv", "yandex_direct_web", "ru"),
        ("vk_ads/campaigns_by_day.csv", "vk_ads", "ru"),
        ("vk_ads/campaigns_by_day.xlsx", "vk_ads", "ru"),
        ("vk_ads/campaigns_new_cabinet.csv", "vk_ads", "ru"),
        ("vk_ads_stats/stats_cp1251.csv", "vk_ads_stats", "ru"),
        ("vk_ads_stats/stats_en.csv", "vk_ads_stats", "en"),
        ("tiktok_ads_manager/custom_report.csv", "tiktok_ads_manager", "en"),
        ("tiktok_ads_manager/custom_report.xlsx", "tiktok_ads_manager", "en"),
        ("microsoft_ads/campaign_report.csv", "microsoft_ads", "en"),
        ("microsoft_ads/campaign_report.xlsx", "microsoft_ads", "en"),
        ("microsoft_ads/api_report.csv", "microsoft_ads", "en"),
        ("canonical/ad_spend_crlf.csv", "canonical", ""),
    ],
)
def test_detect_layout_and_language(exports, fixture, layout, language):
    options = {"currency": "USD"}  # the Google .xlsx has no currency column
    assert detect_layout(exports / fixture, "ad_spend", options) == layout
    assert identify(exports / fixture, "ad_spend", options).language == language


def test_every_declared_layout_has_a_fixture(exports):
    folders = {p.name for p in exports.iterdir() if p.is_dir()}
    assert set(platform_layouts()) <= folders
    assert layout_names()[-1] == "canonical"


def test_google_utf16_tabs_preamble_quoted_thousands_dashes_totals(exports):
    result = read_export(exports / "google_ads_ui/campaign_report.csv", "ad_spend")
    assert (result.layout, result.encoding, result.delimiter) == ("google_ads_ui", "utf-16-le", "\t")
    assert rows(result) == [
        ("2024-03-05", "google_ads", "111", "Brand RU", "12345", "678", "12345.67", "RUB", 4),
        ("2024-03-06", "google_ads", "222", "Search, generic", "0", "0", "0.00", "RUB", 5),
        ("2024-03-07", "google_ads", "111", "Brand RU", "999", "1001", "120.10", "RUB", 6),
    ]
    assert result.frame["account_id"].unique().to_list() == ["123-456-7890"]
    # title + date range before the header, two `Total:` rows after the data
    assert (result.rows_read, result.skipped_lines) == (7, 4)


def test_google_plain_csv_any_column_order(exports):
    result = read_export(exports / "google_ads_ui/campaign_report_utf8.csv", "ad_spend")
    assert rows(result) == [
        ("2024-03-05", "google_ads", "333", "Brand EN", "1204", "41", "1017.30", "USD", 4),
        ("2024-03-05", "google_ads", "444", "Generic EN", "0", "0", "0.00", "USD", 5),
    ]


def test_google_russian_interface_decimal_comma(exports):
    result = read_export(exports / "google_ads_ui/campaign_report_ru.csv", "ad_spend")
    assert rows(result) == [
        ("2024-03-05", "google_ads", "555", "Бренд", "12000", "340", "5600.50", "RUB", 4),
        ("2024-03-06", "google_ads", "555", "Бренд", "1000", "10", "99.99", "RUB", 5),
    ]
    assert result.skipped_lines == 3  # title, date range, `Итого: аккаунт`


def test_money_cells_with_a_currency_mark(exports, tmp_path):
    """A spreadsheet that saves currency-formatted cells as CSV writes the mark into the cell. The
    Russian fixture's cells rewritten so: the row's own mark (`₽`, `руб.`) reads as the number; another
    currency's mark (`$` in a RUB row) is left as text, and ingest rejects the row with it."""
    from pipelines.ingest.validate import split_rows

    text = (exports / "google_ads_ui/campaign_report_ru.csv").read_bytes().decode("utf-16")
    text = text.replace("\t5\u00a0600,50", "\t5\u00a0600,50\u00a0₽").replace("\t99,99", "\t99,99 руб.")
    text = text.rstrip("\r\n").split("\n")
    text.insert(5, "07.03.2024\tБренд\t555\tRUB\t10\t1\t$1,00")
    path = tmp_path / "ad_spend" / "marked.csv"
    path.parent.mkdir()
    path.write_bytes(("\ufeff" + "\n".join(text) + "\n").encode("utf-16-le"))
    result = read_export(path, "ad_spend")
    assert rows(result) == [
        ("2024-03-05", "google_ads", "555", "Бренд", "12000", "340", "5600.50", "RUB", 4),
        ("2024-03-06", "google_ads", "555", "Бренд", "1000", "10", "99.99", "RUB", 5),
        ("2024-03-07", "google_ads", "555", "Бренд", "10", "1", "$1,00", "RUB", 6),
    ]
    assert any(
        "2 amount(s) written with the row's currency mark" in n and "1 with another" in n for n in result.notes
    ), result.notes
    good, failures = split_rows("ad_spend", result)
    assert good["spend"].to_list() == [5600.5, 99.99]
    assert failures.select("source_row", "column_name", "raw_value").rows() == [(6, "spend", "$1,00")]


def test_google_xlsx_date_cells_and_account_currency_from_settings(exports):
    path = exports / "google_ads_ui/campaign_report.xlsx"
    with pytest.raises(
        ExportError, match=r"recognised as google_ads_ui \(en interface\), but the file names no currency"
    ):
        read_export(path, "ad_spend")
    result = read_export(path, "ad_spend", {"currency": "usd"})
    assert (result.encoding, result.delimiter) == ("xlsx", "xlsx")
    assert rows(result) == [
        ("2024-03-05", "google_ads", "666", "Brand XL", "1204", "41", "1017.3", "USD", 4),
        ("2024-03-06", "google_ads", "666", "Brand XL", "10", "1", "0.05", "USD", 5),
    ]


def test_google_without_currency_column_needs_the_option(tmp_path):
    text = "Campaign report\r\nMarch 2024\r\nDay\tCampaign\tCampaign ID\tClicks\tCost\r\n2024-03-05\tA\t1\t2\t3.50\r\n"
    path = tmp_path / "report.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    with pytest.raises(ExportError) as caught:
        read_export(path, "ad_spend")
    # the layout is recognised: the message says so, and names the setting rather than a missing column
    assert caught.value.line == 3
    assert caught.value.message == (
        "recognised as google_ads_ui (en interface), but the file names no currency: add the 'Currency code' "
        'column to the report, or set the account currency in the settings: [sources.ad_spend] currency = "RUB" '
        "(the three-letter code of the account)"
    )
    result = read_export(path, "ad_spend", options={"currency": "USD"})
    assert rows(result, ["campaign_id", "clicks", "spend", "currency", "impressions", "source_row"]) == [
        ("1", "2", "3.50", "USD", None, 4)
    ]


def test_meta_english_summary_row_empty_clicks_currency_from_header(exports):
    result = read_export(exports / "meta_ads_manager/campaigns_en.csv", "ad_spend")
    assert (result.encoding, result.delimiter) == ("utf-8-sig", ",")
    assert rows(result) == [
        ("2024-03-01", "meta_ads", "238001", "Retargeting, EU", "1000", "0", "50.25", "USD", 3),
        ("2024-03-02", "meta_ads", "238002", "Prospecting", "2000", "25", "100.50", "USD", 4),
    ]
    assert (result.rows_read, result.skipped_lines) == (3, 1)


def test_meta_russian_header_rub_and_totals_last(exports):
    result = read_export(exports / "meta_ads_manager/campaigns_ru.csv", "ad_spend")
    assert rows(result) == [("2024-03-05", "meta_ads", "120001", "Весна", "1500", "12", "1234.56", "RUB", 2)]
    assert (result.rows_read, result.skipped_lines) == (2, 1)


def test_meta_russian_header_with_yo_spelling(tmp_path):
    header = "Начало отчётности,Конец отчётности,Название кампании,ID кампании,Показы,Клики по ссылке,Потраченная сумма (EUR)"
    path = tmp_path / "meta.csv"
    path.write_bytes(codecs.BOM_UTF8 + f"{header}\n2024-03-05,2024-03-05,X,1,10,,2.5\n".encode())
    result = read_export(path, "ad_spend")
    assert rows(result, ["campaign_id", "clicks", "spend", "currency"]) == [("1", "0", "2.5", "EUR")]


def test_meta_russian_scheduled_daily_report_without_a_day_column(exports):
    # issue 28's header: each row's start equals its end, so it is that day; the summary row (no campaign,
    # 10 to 11 March) is skipped as a summary, not quarantined as a row covering two days
    result = read_export(exports / "meta_ads_manager/daily_scheduled_ru.csv", "ad_spend")
    assert rows(result) == [
        ("2024-03-10", "meta_ads", "Весна", "Весна", "1000", "10", "500.25", "RUB", 3),
        ("2024-03-11", "meta_ads", "Весна", "Весна", "2000", "20", "1000.25", "RUB", 4),
    ]
    assert (result.rows_read, result.skipped_lines, result.suspects) == (3, 1, {})


def test_google_ads_russian_report_without_currency_names_the_setting(tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("День;Кампания;Идентификатор кампании;Клики;Цена\n2024-03-05;А;1;2;3,50\n", encoding="utf-8")
    with pytest.raises(
        ExportError, match=r"recognised as google_ads_ui \(ru interface\).*'Код валюты'.*\[sources\.ad_spend\] currency"
    ):
        read_export(path, "ad_spend")


def test_meta_rows_without_a_day_breakdown_are_quarantined_not_put_on_their_first_day(tmp_path):
    # header as in the English fixture (Meta's Reporting starts / Reporting ends), exported without
    # Breakdown > By time > Day: one campaign row covers the whole of March
    path = tmp_path / "meta_month.csv"
    path.write_text(
        "Reporting starts,Reporting ends,Campaign name,Campaign ID,Impressions,Link clicks,Amount spent (USD)\n"
        "2024-03-01,2024-03-31,Spring,1,3000,25,150.75\n2024-03-05,2024-03-05,Summer,2,100,2,10.00\n"
    )
    result = read_export(path, "ad_spend")
    assert list(result.suspects) == [2] and "covers 2024-03-01 to 2024-03-31" in result.suspects[2]
    assert "1 row(s) cover several days (no day breakdown): quarantined" in result.notes
    from pipelines.ingest.validate import split_rows

    good, failures = split_rows("ad_spend", result)
    assert good["campaign_id"].to_list() == ["2"]
    assert failures.select("source_row", "check_name").rows() == [(2, "whole_line")]


def test_meta_default_columns_name_is_the_key(exports):
    result = read_export(exports / "meta_ads_manager/default_columns_en.csv", "ad_spend")
    assert rows(result) == [
        ("2024-03-01", "meta_ads", "Spring sale", "Spring sale", "2300", None, "105.35", "EUR", 3),
        ("2024-03-02", "meta_ads", "Spring sale", "Spring sale", "3000", None, "55.00", "EUR", 4),
    ]
    assert result.skipped_lines == 1  # the summary row under the header
    assert "campaign key: campaign_name (the export has no campaign id column)" in result.notes


def test_meta_default_columns_russian_xlsx(exports):
    result = read_export(exports / "meta_ads_manager/default_columns_ru.xlsx", "ad_spend")
    assert rows(result) == [
        ("2024-03-05", "meta_ads", "Весна ретаргет", "Весна ретаргет", "1200", None, "1201.5", "RUB", 2),
        ("2024-03-06", "meta_ads", "Весна ретаргет", "Весна ретаргет", "150", None, "98.76", "RUB", 3),
    ]


def test_yandex_micros_dashes_summary_line(exports):
    result = read_export(exports / "yandex_direct_api/campaign_performance.tsv", "ad_spend")
    assert (result.encoding, result.delimiter) == ("utf-8", "\t")
    assert rows(result) == [
        ("2024-03-05", "yandex_direct", "5550001", "Поиск бренд", "1200", "34", "1234.56", "RUB", 3),
        ("2024-03-06", "yandex_direct", "5550002", "РСЯ", "0", "0", "0.0", "RUB", 4),
        ("2024-03-07", "yandex_direct", "5550001", "Поиск бренд", "10", "1", "0.5", "RUB", 5),
    ]
    # report-name line before the header, `Total rows: 3` after the data
    assert (result.rows_read, result.skipped_lines) == (5, 2)
    assert result.notes == ["money in micros (all 2 non-zero Cost values are whole multiples of 10 000)"]


def test_yandex_without_report_name_and_summary(exports):
    result = read_export(exports / "yandex_direct_api/no_title_no_summary.tsv", "ad_spend")
    assert rows(result, ["campaign_id", "clicks", "spend", "source_row"]) == [
        ("700", "3", "1500.0", 2),
        ("700", "4", "2.01", 3),
    ]
    assert result.skipped_lines == 0


def test_yandex_units_are_told_from_micros_and_campaign_id_is_optional(exports):
    result = read_export(exports / "yandex_direct_api/units_no_campaign_id.tsv", "ad_spend")
    assert rows(result, ["campaign_id", "campaign_name", "spend", "currency", "source_row"]) == [
        ("РСЯ | широкая", "РСЯ | широкая", "345.60", "RUB", 3),
        ("РСЯ | широкая", "РСЯ | широкая", "120", "RUB", 4),
    ]
    assert "money in currency units (amounts with decimals or not multiples of 10 000)" in result.notes


def test_yandex_money_setting_is_checked_against_the_file(exports):
    path = exports / "yandex_direct_api/with_currency.tsv"
    assert rows(read_export(path, "ad_spend"), ["campaign_id", "spend", "currency", "source_row"]) == [
        ("7", "1234.56", "KZT", 3)
    ]
    with pytest.raises(ExportError, match="not whole multiples of 10 000"):
        read_export(path, "ad_spend", options={"yandex_money_in_micros": True})
    in_units = read_export(
        exports / "yandex_direct_api/campaign_performance.tsv", "ad_spend", options={"yandex_money_in_micros": False}
    )
    assert in_units.frame["spend"].to_list()[0] == "1234560000"


def test_yandex_single_ambiguous_amount_asks_for_the_setting(tmp_path):
    path = tmp_path / "report.tsv"
    path.write_text("Date\tCampaignId\tCost\n2024-03-05\t1\t50000\n", encoding="utf-8")
    with pytest.raises(ExportError, match="set yandex_money_in_micros"):
        read_export(path, "ad_spend")
    assert read_export(path, "ad_spend", {"yandex_money_in_micros": True}).frame["spend"].to_list() == ["0.05"]


def test_yandex_without_column_header_says_so(exports):
    with pytest.raises(ExportError, match="the first line holds data, not column names"):
        read_export(exports / "yandex_direct_api/no_column_header.tsv", "ad_spend")


def test_yandex_web_report_cp1251_preamble_currency_in_header(exports):
    result = read_export(exports / "yandex_direct_web/report_cp1251.csv", "ad_spend")
    assert result.encoding == "cp1251" and result.delimiter == ";"
    assert rows(result) == [
        ("2024-03-05", "yandex_direct", "76543210", "Поиск | бренд", "1230", "45", "2345.67", "RUB", 5),
        ("2024-03-06", "yandex_direct", "76543210", "Поиск | бренд", "0", "0", "0.00", "RUB", 6),
    ]
    assert result.skipped_lines == 4  # title, period, blank line, Итого
    assert any(note.startswith("encoding guessed (confidence") for note in result.notes)


def test_yandex_web_xlsx_with_serial_dates(exports):
    result = read_export(exports / "yandex_direct_web/report.xlsx", "ad_spend")
    assert rows(result) == [
        ("2024-03-05", "yandex_direct", "76543211", "РСЯ | ретаргет", "5000", "20", "800.8", "RUB", 5)
    ]


def test_vk_ads_cabinet_export(exports):
    result = read_export(exports / "vk_ads/campaigns_by_day.csv", "ad_spend")
    assert rows(result) == [
        ("2024-03-05", "vk_ads", "11223344", "Лиды весна", "15000", "120", "1500.00", "RUB", 2),
        ("2024-03-06", "vk_ads", "11223344", "Лиды весна", "9000", "60", "666.60", "RUB", 3),
    ]
    xlsx = read_export(exports / "vk_ads/campaigns_by_day.xlsx", "ad_spend")
    assert rows(xlsx) == [("2024-03-07", "vk_ads", "11223355", "Охват", "30000", "90", "2999.99", "RUB", 2)]


def test_vk_cp1251_semicolons_decimal_comma_nbsp_totals(exports):
    result = read_export(exports / "vk_ads_stats/stats_cp1251.csv", "ad_spend")
    assert (result.encoding, result.delimiter) == ("cp1251", ";")
    assert rows(result) == [
        ("2024-03-05", "vk_ads", "90001", "Лето", "12345", "67", "1234.50", "RUB", 2),
        ("2024-03-06", "vk_ads", "90002", "Осень", "0", "0", "0", "RUB", 3),
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


def test_tiktok_csv_and_xlsx(exports):
    result = read_export(exports / "tiktok_ads_manager/custom_report.csv", "ad_spend")
    assert rows(result) == [
        ("2024-03-05", "tiktok_ads", "1790000000000001", "Spring UGC", "40120", "512", "250.40", "USD", 2),
        ("2024-03-06", "tiktok_ads", "1790000000000001", "Spring UGC", "31004", "388", "199.60", "USD", 3),
    ]
    assert result.skipped_lines == 1  # `Total of 2 results`
    xlsx = read_export(exports / "tiktok_ads_manager/custom_report.xlsx", "ad_spend")
    assert "sheet 'Export'" in xlsx.notes  # the first sheet holds notes, the header is on the second
    assert rows(xlsx) == [
        ("2024-03-07", "tiktok_ads", "1790000000000001", "Spring UGC", "12000", "150", "75.25", "USD", 2)
    ]


def test_microsoft_preamble_us_dates_footer(exports):
    result = read_export(exports / "microsoft_ads/campaign_report.csv", "ad_spend")
    assert rows(result) == [
        ("2024-03-05", "microsoft_ads", "410001", "Brand - Bing", "2010", "77", "96.25", "USD", 12),
        ("2024-03-12", "microsoft_ads", "410001", "Brand - Bing", "1500", "60", "70.10", "USD", 13),
    ]
    assert (result.rows_read, result.skipped_lines) == (13, 11)  # 9 preamble lines, a blank, the footer
    xlsx = read_export(exports / "microsoft_ads/campaign_report.xlsx", "ad_spend")
    assert rows(xlsx) == [("2024-03-19", "microsoft_ads", "410001", "Brand - Bing", "990", "31", "40.4", "USD", 6)]
    # the Reporting API's column names and its footer as Microsoft's guide prints it (`@2024 ...`)
    api = read_export(exports / "microsoft_ads/api_report.csv", "ad_spend")
    assert rows(api) == [
        ("2024-03-20", "microsoft_ads", "410002", "Generic - Bing", "1200", "18", "21.60", "USD", 12),
        ("2024-03-21", "microsoft_ads", "410002", "Generic - Bing", "1350", "22", "25.30", "USD", 13),
    ]
    assert api.skipped_lines == 12  # 9 preamble lines, two blanks, the footer


def test_column_order_extra_columns_and_case_never_matter(tmp_path):
    path = tmp_path / "tiktok.csv"
    path.write_text("COST,extra,campaign NAME,currency,BY DAY\n1.5,x,A,USD,2024-03-05\n", encoding="utf-8")
    result = read_export(path, "ad_spend")
    assert result.layout == "tiktok_ads_manager"
    assert rows(result, ["date", "campaign_id", "spend", "currency"]) == [("2024-03-05", "A", "1.5", "USD")]


def test_a_header_two_platforms_fit_equally_is_refused(tmp_path, monkeypatch):
    from dataclasses import replace

    import pipelines.ingest.readers.layout as layout

    path = tmp_path / "ambiguous.csv"
    path.write_text("Day,Campaign ID,Cost,Currency code\n2024-03-05,1,2,USD\n", encoding="utf-8")
    assert read_export(path, "ad_spend").layout == "google_ads_ui"
    # a second platform declaring the same labels would make the platform a coin toss
    twin = replace(platform_layouts()["google_ads_ui"], name="twin", platform="other_ads")
    monkeypatch.setattr(
        layout, "platform_layouts", lambda: {"google_ads_ui": platform_layouts()["google_ads_ui"], "twin": twin}
    )
    monkeypatch.setattr("pipelines.ingest.readers.engine.platform_layouts", layout.platform_layouts)
    with pytest.raises(ExportError, match="fits both google_ads_ui and twin"):
        read_export(path, "ad_spend")


def test_platform_layout_for_another_source_is_an_error(exports):
    with pytest.raises(ExportError, match="google_ads_ui holds ad_spend, not orders"):
        read_export(exports / "google_ads_ui/campaign_report.csv", "orders")


def test_unrecognised_layout_names_the_header_and_the_closest_layouts(exports):
    with pytest.raises(ExportError) as caught:
        read_export(exports / "errors/ad_spend_without_spend.csv", "ad_spend")
    message = caught.value.message
    assert "unrecognised layout" in message
    assert "header found: ['date', 'platform', 'campaign_id', 'currency']" in message
    assert "canonical lacks spend" in message
    assert "required: date, platform, campaign_id, spend, currency" in message


def test_undecodable_file(exports):
    with pytest.raises(ExportError, match="cannot decode") as caught:
        read_export(exports / "errors/undecodable.csv", "fx_rates")
    assert caught.value.line == 2


def test_unknown_source_is_a_value_error(exports):
    with pytest.raises(ValueError, match="unknown source"):
        read_export(exports / "canonical/ad_spend_crlf.csv", "leads")


def test_an_empty_file_and_an_xls_workbook_are_named_for_what_they_are(tmp_path):
    """issue 26: a 0-byte file was "unrecognised layout", an .xls "cannot decode as utf-8"."""
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ExportError, match=r"the file is empty \(0 bytes\)") as caught:
        detect_layout(path, "orders")
    assert caught.value.line == 1
    old = tmp_path / "report.xls"
    old.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 504)  # an OLE2 compound file's header
    with pytest.raises(ExportError, match=r"Excel 97-2003 workbook \(.xls\) is not read: .* save it as .xlsx or CSV"):
        detect_layout(old, "ad_spend")


@pytest.mark.parametrize("header", ["date,campaign_id,spend,currency", "Date,Campaign ID,Spend,Currency"])
def test_a_canonical_header_missing_platform_is_no_platform_layout(tmp_path, header):
    """Generic names (date, spend, currency) alone never make a file some platform's export."""
    path = tmp_path / "spend.csv"
    path.write_text(header + "\n2024-03-05,1,2,USD\n", encoding="utf-8")
    with pytest.raises(ExportError, match="canonical lacks platform"):
        read_export(path, "ad_spend")


def test_metrica_logs_api_visits(exports):
    result = read_export(exports / "metrica_logs_api/visits.tsv", "touchpoints")
    assert (result.layout, result.frame.height, result.skipped_lines) == ("metrica_logs_api", 2004, 0)
    assert result.frame.head(4).select(
        "visitor_id", "ts", "utm_source", "utm_medium", "referrer", "click_id"
    ).rows() == [
        # 23:58 in Moscow is 20:58 UTC; the yclid is only in the landing page
        ("171111", "2024-03-01 20:58:10", None, None, "https://yandex.ru/", "yclid=8001234567"),
        ("171111", "2024-03-03 07:00:00", None, None, "https://www.google.com/", None),
        # UTM tags only in the landing page's query string
        ("171111", "2024-03-05 09:00:00", "newsletter", "email", None, None),
        ("171112", "2024-03-03 21:00:30", None, None, None, None),
    ]
    assert result.notes == ["ts converted from Europe/Moscow to UTC"]
    utc = read_export(exports / "metrica_logs_api/visits.tsv", "touchpoints", {"timezone": "UTC"})
    assert utc.frame["ts"][0] == "2024-03-01 23:58:10"


@pytest.mark.parametrize("fixture", ["events_20240301.parquet", "events_20240304.ndjson"])
def test_ga4_bigquery_export_one_touch_per_session(exports, fixture):
    result = read_export(exports / "ga4_bigquery" / fixture, "touchpoints")
    assert detect_layout(exports / "ga4_bigquery" / fixture, "touchpoints") == result.layout == "ga4_bigquery"
    assert result.frame.head(3).select(
        "visitor_id", "customer_id", "ts", "utm_source", "utm_medium", "referrer", "click_id", "source_row"
    ).rows() == [
        # the session that goes on after midnight is one touch, at its session_start
        ("1111.2222", None, "2024-03-04 23:59:30.000000", "google", "cpc", None, "gclid=Cj0KCQiA", 1),
        # no collected_traffic_source: the tags of the page URL
        ("1111.2222", None, "2024-03-06 09:00:00.000000", "newsletter", "email", None, None, 3),
        # no session_start: the session's first event; the user id of its later login
        ("1111.2222", "G1", "2024-03-07 08:00:00.000000", None, None, "https://www.bing.com/", None, 4),
    ]
    assert result.rows_read == result.frame.height + result.skipped_lines
    if fixture.endswith(".parquet"):
        assert (result.rows_read, result.frame.height) == (3005, 303)


def test_ga4_file_without_its_fields_names_them(tmp_path):
    import duckdb

    path = tmp_path / "events.parquet"
    duckdb.sql(f"copy (select 'x' as event_name, 1 as event_timestamp) to '{path}'")
    with pytest.raises(ExportError, match="field.s. missing: user_pseudo_id"):
        read_export(path, "touchpoints")
    with pytest.raises(ExportError, match="ga4_bigquery holds touchpoints, not orders"):
        read_export(path, "orders")


def test_junk_before_a_byte_order_mark_is_an_export_error_not_a_crash(exports, tmp_path):
    """Found by the mutation property test: stray bytes in front of a UTF-16 report."""
    path = tmp_path / "report.csv"
    path.write_bytes(b"\x13\x99junk\r" + (exports / "google_ads_ui/campaign_report.csv").read_bytes())
    with pytest.raises(ExportError):
        read_export(path, "ad_spend")
