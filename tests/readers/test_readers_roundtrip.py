"""Each layout's writer produces the layout's quirks, and reading the file back gives the same values."""

import codecs
from datetime import date, datetime

import polars as pl
import pytest

from pipelines.devtools.generate import layout_writers as lw
from pipelines.ingest.readers import detect_layout, read_export
from pipelines.ingest.readers.values import parse_date, parse_number, parse_timestamp

AD_SPEND = pl.DataFrame(
    {
        "date": [date(2024, 3, 1), date(2024, 3, 1), date(2024, 3, 2)],
        "platform": ["x", "x", "x"],
        "campaign_id": ["101", "102", "101"],
        "campaign_name": ['Brand, "RU"', "Generic\tsearch", 'Brand, "RU"'],
        "impressions": [12345, 0, 1_000_000],
        "clicks": [0, 17, 1234],
        "spend": [12345.67, 0.5, 0.0],
        "currency": ["RUB", "RUB", "RUB"],
    }
)


def typed_ad_spend(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        parse_date(pl.col("date")).alias("date"),
        "campaign_id",
        "campaign_name",
        parse_number(pl.col("impressions")).cast(pl.Int64).alias("impressions"),
        parse_number(pl.col("clicks")).cast(pl.Int64).alias("clicks"),
        parse_number(pl.col("spend")).alias("spend"),
        "currency",
    )


EXPECTED = AD_SPEND.drop("platform").with_columns(pl.col("impressions", "clicks").cast(pl.Int64))


# the generator's writers (pipelines/devtools/generate/layout_writers.py) -> layout, platform, encoding
WRITERS = {
    "google_ads_ui": (lw.write_google_ads, "google_ads", "utf-16-le"),
    "meta_ads_manager": (lw.write_meta_ads, "meta_ads", "utf-8-sig"),
    "yandex_direct_api": (lw.write_yandex_direct, "yandex_direct", "utf-8"),
    "vk_ads_stats": (lw.write_vk_ads, "vk_ads", "cp1251"),
}


@pytest.mark.parametrize("layout", list(WRITERS))
def test_platform_round_trip(tmp_path, layout):
    write, platform, encoding = WRITERS[layout]
    path = tmp_path / "export.csv"
    write(AD_SPEND, path)
    result = read_export(path, "ad_spend")
    if encoding == "cp1251":
        encoding = result.encoding if result.encoding in ("cp1251", "cp1252") else encoding
    assert (result.layout, result.encoding) == (layout, encoding)
    assert result.frame["platform"].unique().to_list() == [platform]
    assert typed_ad_spend(result.frame).equals(EXPECTED)
    assert result.frame.height == 3 and result.rows_read == result.frame.height + result.skipped_lines


def test_google_writer_quirks(tmp_path):
    path = tmp_path / "google.csv"
    lw.write_google_ads(AD_SPEND, path)
    data = path.read_bytes()
    assert data.startswith(codecs.BOM_UTF16_LE)
    lines = data[2:].decode("utf-16-le").split("\r\n")
    assert lines[:3] == [
        "Campaign report",
        "1 March 2024 - 2 March 2024",
        "Day\tCampaign\tCampaign ID\tCurrency code\tImpressions\tClicks\tCost",
    ]
    assert lines[3] == '2024-03-01\t"Brand, ""RU"""\t101\tRUB\t"12,345"\t --\t"12,345.67"'
    assert lines[-2] == 'Total: Campaigns\t\t\t\t"1,012,345"\t"1,251"\t"12,346.17"'
    result = read_export(path, "ad_spend")
    assert result.frame["source_row"].to_list() == [4, 5, 6]
    assert (result.rows_read, result.skipped_lines) == (6, 3)  # title, date range, one Total row


def test_meta_writer_russian(tmp_path):
    path = tmp_path / "meta.csv"
    lw.write_meta_ads(AD_SPEND, path, language="ru")
    text = path.read_bytes().decode("utf-8-sig")
    assert text.startswith(
        "Начало отчетности,Конец отчетности,Название кампании,ID кампании,Показы,"
        "Клики по ссылке,Потраченная сумма (RUB)\n2024-03-01,2024-03-02,,,1012345,1251,12346.17\n"
    )
    assert typed_ad_spend(read_export(path, "ad_spend").frame).equals(EXPECTED)


def test_yandex_writer_micros_and_currency_column(tmp_path):
    path = tmp_path / "yandex.tsv"
    lw.write_yandex_direct(AD_SPEND.with_columns(currency=pl.lit("KZT")), path)
    lines = path.read_bytes().decode().split("\n")
    assert lines[:3] == [
        "Campaign performance",
        "Date\tCampaignId\tCampaignName\tImpressions\tClicks\tCost\tCurrency",
        '2024-03-01\t101\t"Brand, ""RU"""\t12345\t--\t12345670000\tKZT',
    ]
    assert lines[-2:] == ["Total rows: 3", ""]
    assert read_export(path, "ad_spend").frame["currency"].unique().to_list() == ["KZT"]

    lw.write_yandex_direct(AD_SPEND, path, money_in_micros=False)
    result = read_export(path, "ad_spend", options={"yandex_money_in_micros": False})
    assert typed_ad_spend(result.frame).equals(EXPECTED)


def test_vk_writer_cp1251_and_utf8(tmp_path):
    path = tmp_path / "vk.csv"
    lw.write_vk_ads(AD_SPEND, path)
    lines = path.read_bytes().decode("cp1251").split("\r\n")
    assert lines[0] == "Дата;ID кампании;Кампания;Показы;Клики;Потрачено, руб."
    assert lines[1] == '01.03.2024;101;"Brand, ""RU""";12\u00a0345;0;12\u00a0345,67'
    assert lines[-2] == "Итого;;;1\u00a0012\u00a0345;1\u00a0251;12\u00a0346,17"

    lw.write_vk_ads(AD_SPEND, path, encoding="utf-8", language="en")
    assert path.read_bytes().decode().startswith("Date;Campaign ID;Campaign;Impressions;Clicks;Spent, ₽\r\n")
    result = read_export(path, "ad_spend")
    assert result.encoding == "utf-8"
    assert typed_ad_spend(result.frame).equals(EXPECTED)


ORDERS = pl.DataFrame(
    {
        "order_id": ["o-1", "o-2"],
        "customer_id": ["c-1", None],
        "email": ["a@example.com", "b@пример.рф"],
        "created_at": [datetime(2024, 3, 5, 14, 3), datetime(2024, 3, 6, 9, 0, 0, 500000)],
        "status": ["paid", "refunded"],
        "revenue": [1234.56, 0.1],
        "refunded_amount": [None, 0.1],
        "currency": ["RUB", "USD"],
        "utm_campaign": ["весна; скидки", None],
    }
)


@pytest.mark.parametrize(
    ("options", "encoding", "delimiter"),
    [
        ({}, "utf-8", ","),
        ({"delimiter": ";", "decimal_comma": True, "encoding": "cp1251"}, "cp1251", ";"),
        ({"delimiter": "\t", "bom": True}, "utf-8-sig", "\t"),
        ({"encoding": "utf-16-le", "bom": True, "line_terminator": "\r\n"}, "utf-16-le", ","),
    ],
)
def test_canonical_round_trip(tmp_path, options, encoding, delimiter):
    path = tmp_path / "orders.csv"
    lw.write_canonical(ORDERS.with_columns(source_row=pl.lit(9)), path, **options)
    result = read_export(path, "orders")
    assert (result.layout, result.encoding, result.delimiter) == ("canonical", encoding, delimiter)
    frame = result.frame
    assert frame.select(
        "order_id",
        "customer_id",
        "email",
        "status",
        "currency",
        "utm_campaign",
        parse_timestamp(pl.col("created_at")).alias("created_at"),
        parse_number(pl.col("revenue")).alias("revenue"),
        parse_number(pl.col("refunded_amount")).alias("refunded_amount"),
    ).equals(
        ORDERS.select(
            "order_id",
            "customer_id",
            "email",
            "status",
            "currency",
            "utm_campaign",
            "created_at",
            "revenue",
            "refunded_amount",
        )
    )
    assert frame["source_row"].to_list() == [2, 3]  # the frame's own source_row is not written
    assert frame["phone"].null_count() == 2


def test_canonical_writer_decimal_comma_text(tmp_path):
    path = tmp_path / "fx.csv"
    lw.write_canonical(
        pl.DataFrame({"date": [date(2024, 3, 5)], "currency": ["USD"], "rate": [91.5]}),
        path,
        delimiter=";",
        decimal_comma=True,
    )
    assert path.read_text() == "date;currency;rate\n2024-03-05;USD;91,5\n"


def test_every_writer_writes_what_its_layout_detects(tmp_path):
    for name, (write, _, _) in {**WRITERS, "canonical": (lw.write_canonical, None, None)}.items():
        path = tmp_path / f"{name}.txt"
        write(AD_SPEND, path)
        assert detect_layout(path, "ad_spend") == name


def test_writers_accept_frames_without_optional_columns(tmp_path):
    minimal = AD_SPEND.select("date", "platform", "campaign_id", "spend", "currency")
    for name, (write, _, _) in {**WRITERS, "canonical": (lw.write_canonical, None, None)}.items():
        path = tmp_path / f"{name}.txt"
        write(minimal, path)
        result = read_export(path, "ad_spend")
        assert result.layout == name
        assert result.frame.select(parse_number(pl.col("spend")))["spend"].to_list() == [12345.67, 0.5, 0.0], name
