"""values.py: vectorised parsers for numbers, dates and timestamps, and the readers' normalisation."""

from datetime import date, datetime

import polars as pl
import pytest

from pipelines.ingest.readers.values import format_number, normalise_number, parse_date, parse_number, parse_timestamp


def apply(expr_fn, values: list[str | None]) -> list:
    return pl.DataFrame({"x": values}, schema={"x": pl.String}).select(expr_fn(pl.col("x")))["x"].to_list()


NUMBERS = [
    ("1234.56", 1234.56),
    ("1 234,56", 1234.56),
    ("1\u00a0234,56", 1234.56),
    ("1\u202f234,56", 1234.56),
    ("1,234.56", 1234.56),
    ('"1,234"', 1234.0),
    ("1,234", 1234.0),
    ("-12,5", -12.5),
    ("12 345 678,9", 12345678.9),
    ("1.234,56", 1234.56),
    ("  42 ", 42.0),
    ("-0.5", -0.5),
    ("\u2212 7,5".replace(" ", ""), -7.5),
    ("1e-3", 0.001),
    ("", None),
    (None, None),
    ("abc", None),
    ("1,23,4", None),
    ("1 2 3", None),
    ("12.5.2024", None),
    ("nan", None),
    ("--", None),
]


@pytest.mark.parametrize(("text", "expected"), NUMBERS)
def test_parse_number(text, expected):
    assert apply(parse_number, [text]) == [expected]


def test_parse_number_is_float64():
    df = pl.DataFrame({"x": ["1"]}).select(parse_number(pl.col("x")))
    assert df.schema["x"] == pl.Float64


def test_normalise_number_keeps_unreadable_text_and_honours_decimal_comma():
    values = ["1,234", "12,5", "1 234,56", "oops", "", "1,234.5"]
    assert apply(normalise_number, values) == ["1234", "12.5", "1234.56", "oops", None, "1234.5"]
    assert apply(lambda e: normalise_number(e, True), values) == ["1.234", "12.5", "1234.56", "oops", None, "1234.5"]
    # a layout that never uses decimal commas leaves `12,5` for validation to reject
    assert apply(lambda e: normalise_number(e, False), values) == ["1234", "12,5", "1 234,56", "oops", None, "1234.5"]


DATES = [
    ("2024-03-05", date(2024, 3, 5)),
    ("05.03.2024", date(2024, 3, 5)),
    ("5.3.2024", date(2024, 3, 5)),
    ("05/03/2024", date(2024, 3, 5)),  # day first
    ("2024/03/05", date(2024, 3, 5)),
    ("20240305", date(2024, 3, 5)),
    ("2024-03-05T14:03:00", date(2024, 3, 5)),
    ("2024-03-05 23:30:00+03:00", date(2024, 3, 5)),
    (" 2024-03-05 ", date(2024, 3, 5)),
    ("31.02.2024", None),
    ("2024-13-01", None),
    ("05.03.24", None),
    ("2024-03-05x", None),
    ("garbage", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_parse_date(text, expected):
    assert apply(parse_date, [text]) == [expected]


TIMESTAMPS = [
    ("2024-03-05T14:03:00", datetime(2024, 3, 5, 14, 3)),
    ("2024-03-05 14:03:00", datetime(2024, 3, 5, 14, 3)),
    ("2024-03-05 14:03:00.123456", datetime(2024, 3, 5, 14, 3, 0, 123456)),
    ("2024-03-05T14:03", datetime(2024, 3, 5, 14, 3)),
    ("05.03.2024 14:03", datetime(2024, 3, 5, 14, 3)),
    ("05.03.2024 14:03:07", datetime(2024, 3, 5, 14, 3, 7)),
    ("05/03/2024 14:03", datetime(2024, 3, 5, 14, 3)),
    ("2024-03-05", datetime(2024, 3, 5)),
    ("05.03.2024", datetime(2024, 3, 5)),
    ("2024-03-05T14:03:00Z", datetime(2024, 3, 5, 14, 3)),
    ("2024-03-05T01:03:00+03:00", datetime(2024, 3, 4, 22, 3)),
    ("2024-03-05T22:00:00-05:30", datetime(2024, 3, 6, 3, 30)),
    ("2024-03-05T14:03:00.5+0300", datetime(2024, 3, 5, 11, 3, 0, 500000)),
    ("2024-03-05 25:00:00", None),
    ("2024-03-05T", None),
    ("garbage", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), TIMESTAMPS)
def test_parse_timestamp(text, expected):
    assert apply(parse_timestamp, [text]) == [expected]


def test_parse_timestamp_dtype_is_microseconds():
    df = pl.DataFrame({"x": ["2024-03-05"]}).select(parse_timestamp(pl.col("x")))
    assert df.schema["x"] == pl.Datetime("us")


def test_parsers_work_on_many_rows_at_once():
    texts = ["1 234,5", "x", "7"] * 1000
    assert apply(parse_number, texts)[:3] == [1234.5, None, 7.0]
    assert apply(parse_number, texts).count(None) == 1000


def test_format_number_groups_and_rounds():
    df = pl.DataFrame({"v": [0.0, 999.995, 1234567.891, -1234.5]})
    out = df.select(
        a=format_number(pl.col("v"), 2, ","),
        b=format_number(pl.col("v"), 0, "\u00a0", ","),
        c=format_number(pl.col("v"), 2, "\u00a0", ","),
    )
    assert out["a"].to_list() == ["0.00", "1,000.00", "1,234,567.89", "-1,234.50"]
    assert out["b"].to_list() == ["0", "1\u00a0000", "1\u00a0234\u00a0568", "-1\u00a0235"]
    assert out["c"].to_list() == ["0,00", "1\u00a0000,00", "1\u00a0234\u00a0567,89", "-1\u00a0234,50"]


def test_excel_serial_dates_in_a_csv_are_read(tmp_path):
    """issue 26: the README said serial numbers are read; in a CSV (saved from Excel with unformatted date
    cells) they were rejected. 45356 is 5 March 2024 in Excel's 1900 system."""
    from pipelines.ingest.readers import read_export

    path = tmp_path / "spend.csv"
    path.write_text("date,platform,campaign_id,spend,currency\n45356,vk_ads,7,100,RUB\n", encoding="utf-8")
    assert read_export(path, "ad_spend").frame["date"].to_list() == ["2024-03-05"]
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,created_at,status,revenue,currency\nA1,c1,45356,paid,10,RUB\n")
    assert read_export(orders, "orders").frame["created_at"].to_list() == ["2024-03-05"]


def test_a_line_with_more_cells_than_the_header_is_quarantined_not_cut(tmp_path):
    """issue 26: a trailing extra cell was dropped without a word; an unquoted comma in a value shifts
    every value after it, so such a line is quarantined, naming why."""
    from pipelines.ingest.readers import read_export

    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,created_at,status,revenue,currency\n"
        "A1,c1,2024-03-05,paid,10,RUB\n"
        "A2,Smith, John,2024-03-05,paid,20,RUB\n"  # line 3: an unquoted comma
        "A3,c3,2024-03-05,paid,30,RUB,\n",  # line 4: a trailing separator only (an empty cell): fine
        encoding="utf-8",
    )
    result = read_export(path, "orders")
    assert list(result.suspects) == [3] and "more cells than the header" in result.suspects[3]
    assert any("1 line(s) with more cells than the header" in note for note in result.notes)


def test_a_two_row_header_with_a_merged_group_cell_is_read(tmp_path):
    """issue 26: an .xlsx whose UTM columns sit under one merged "UTM" cell lost every UTM column without a
    word and rejected the sub-header as data. The two rows now read as `UTM source`, `UTM medium`, ..."""
    import xlsxwriter

    from pipelines.ingest.readers import read_export

    path = tmp_path / "orders.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    for column, name in enumerate(("order_id", "customer_id", "created_at", "status", "revenue", "currency")):
        sheet.write(0, column, name)
    sheet.merge_range(0, 6, 0, 10, "UTM")
    for column, name in enumerate(("source", "medium", "campaign", "content", "term"), start=6):
        sheet.write(1, column, name)
    for column, value in enumerate(("A1", "c1", "2024-03-05 10:00", "paid", "990", "RUB", "google", "cpc", "brand")):
        sheet.write(2, column, value)
    book.close()
    result = read_export(path, "orders")
    assert result.frame.height == 1
    row = result.frame.row(0, named=True)
    assert (row["order_id"], row["utm_source"], row["utm_medium"], row["utm_campaign"]) == (
        "A1",
        "google",
        "cpc",
        "brand",
    )
    assert row["source_row"] == 3  # the spreadsheet's line of the data row
