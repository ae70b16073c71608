"""The canonical layout for every source: encodings, delimiters, numbers, blank lines, source_row."""

import codecs

import polars as pl
import pytest

from pipelines.ingest.readers import ExportError, detect_layout, read_export
from schemas.inputs import COLUMNS


def test_ad_spend_crlf_blank_lines_extra_column_and_quoted_thousands(exports):
    path = exports / "canonical/ad_spend_crlf.csv"
    result = read_export(path, "ad_spend")
    assert (result.layout, result.encoding, result.delimiter) == ("canonical", "utf-8", ",")
    frame = result.frame
    assert frame.columns == [*COLUMNS["ad_spend"], "source_row"]
    assert set(frame.schema.values()) == {pl.String, pl.Int64}
    assert frame.schema["source_row"] == pl.Int64
    assert frame.select("date", "platform", "campaign_id", "spend", "currency", "clicks", "source_row").rows() == [
        ("2024-03-05", "google_ads", "c1", "1234.50", "RUB", "10", 2),
        ("05.03.2024", "yandex_direct", "c2", "99", "USD", None, 4),  # canonical keeps dates as written
    ]
    # optional columns absent from the header are null; the unknown `Extra` is dropped
    assert frame["impressions"].null_count() == 2 and "Extra" not in frame.columns
    # blank lines 3, 5 and 6 after the header
    assert (result.rows_read, result.skipped_lines) == (5, 3)


def test_cp1251_semicolon_decimal_comma_nbsp(exports):
    result = read_export(exports / "canonical/orders_cp1251.csv", "orders")
    assert (result.encoding, result.delimiter) == ("cp1251", ";")
    assert result.frame.select("order_id", "revenue", "cost_of_goods", "utm_campaign", "source_row").rows() == [
        ("o-1", "1234.56", "1.234", "весна", 2),  # in a `;` file `1,234` is a decimal comma
        ("o-2", "12345.5", "-12.5", "лето", 3),
        ("o-3", "abc", None, None, 4),  # unreadable numbers stay for validation to reject
    ]
    assert result.frame["created_at"].to_list() == ["05.03.2024 14:03", "2024-03-06T10:00:00", "2024-03-07"]
    assert (result.rows_read, result.skipped_lines) == (3, 0)


def test_utf8_bom_tab_and_missing_optional_columns(exports):
    result = read_export(exports / "canonical/customers_bom.tsv", "customers")
    assert (result.encoding, result.delimiter) == ("utf-8-sig", "\t")
    assert result.frame.rows() == [
        ("42", "Anna@Example.com", None, "2024-03-05 14:03:00", 2),
        ("43", None, None, "05.03.2024 09:00", 3),
    ]


def test_utf16_with_narrow_nbsp_thousands(exports):
    result = read_export(exports / "canonical/fx_rates_utf16.csv", "fx_rates")
    assert (result.encoding, result.delimiter) == ("utf-16-le", ",")
    assert result.frame.rows() == [("2024-03-05", "USD", "91.5", 2), ("2024-03-05", "BTC", "6123456.78", 3)]


@pytest.mark.parametrize("source", sorted(COLUMNS))
def test_every_source_reads_its_required_columns_in_any_order(tmp_path, source):
    from schemas.inputs import REQUIRED

    header = list(reversed(REQUIRED[source]))
    path = tmp_path / f"{source}.csv"
    path.write_text(" , ".join(h.upper() for h in header) + "\n" + ",".join(f"v{i}" for i in range(len(header))) + "\n")
    result = read_export(path, source)
    assert result.layout == "canonical"
    assert result.frame.columns == [*COLUMNS[source], "source_row"]
    row = result.frame.row(0, named=True)
    assert {h: row[h] for h in header} == {h: f"v{i}" for i, h in enumerate(header)}
    assert row["source_row"] == 2


def test_cp1251_found_after_the_first_64_kib(tmp_path):
    """The head is plain ASCII (valid UTF-8); a cp1251 byte far down must switch the encoding."""
    lines = ["customer_id,email"] + [f"{i},a{i}@example.com" for i in range(8000)] + ["9000,почта@пример.рф"]
    path = tmp_path / "customers.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1251"))
    assert path.stat().st_size > 64 * 1024
    result = read_export(path, "customers")
    assert result.encoding == "cp1251"
    assert result.frame.row(-1) == ("9000", "почта@пример.рф", None, None, 8002)


def test_header_only_gives_an_empty_frame(tmp_path):
    path = tmp_path / "fx.csv"
    path.write_text("date,currency,rate\n")
    result = read_export(path, "fx_rates")
    assert (result.frame.height, result.rows_read, result.skipped_lines) == (0, 0, 0)
    assert result.frame.columns == ["date", "currency", "rate", "source_row"]


def test_a_line_of_only_delimiters_counts_as_blank(tmp_path):
    path = tmp_path / "fx.csv"
    path.write_text("date;currency;rate\n;;\n2024-03-05;USD;91,5\n")
    result = read_export(path, "fx_rates")
    assert result.frame.rows() == [("2024-03-05", "USD", "91.5", 3)]
    assert (result.rows_read, result.skipped_lines) == (2, 1)


def test_utf16_big_endian_bom(tmp_path):
    path = tmp_path / "fx.csv"
    path.write_bytes(codecs.BOM_UTF16_BE + "date\tcurrency\trate\n2024-03-05\tEUR\t99,1\n".encode("utf-16-be"))
    result = read_export(path, "fx_rates")
    assert (result.encoding, result.delimiter) == ("utf-16-be", "\t")
    assert result.frame.rows() == [("2024-03-05", "EUR", "99.1", 2)]


def test_detection_ignores_the_file_name(tmp_path, exports):
    path = tmp_path / "google_ads_campaign_report.csv"
    path.write_bytes((exports / "canonical/ad_spend_crlf.csv").read_bytes())
    assert detect_layout(path, "ad_spend") == "canonical"


def test_missing_required_column_is_named(exports):
    with pytest.raises(ExportError) as caught:
        read_export(exports / "errors/ad_spend_without_spend.csv", "ad_spend")
    error = caught.value
    assert error.line == 1
    assert "spend" in error.message and "campaign_id" not in error.message.split(";")[0]
    assert str(error) == f"{error.path}:1: {error.message}"


def test_file_of_another_source_names_all_missing_columns(exports):
    with pytest.raises(ExportError, match="canonical lacks order_id, created_at, status, revenue"):
        read_export(exports / "canonical/ad_spend_crlf.csv", "orders")


def test_values_are_trimmed_and_whitespace_only_cells_are_null(tmp_path):
    path = tmp_path / "touchpoints.csv"
    path.write_text("visitor_id,ts,utm_source,referrer\n v1 ,2024-03-05 10:00,\u00a0 ,\n   ,  ,  ,\n", encoding="utf-8")
    result = read_export(path, "touchpoints")
    assert result.frame.select("visitor_id", "ts", "utm_source", "referrer", "source_row").rows() == [
        ("v1", "2024-03-05 10:00", None, None, 2)
    ]
    assert (result.rows_read, result.skipped_lines) == (2, 1)  # line 3 holds only spaces


@pytest.mark.parametrize(
    ("fixture", "source"),
    [
        ("canonical/ad_spend_crlf.csv", "ad_spend"),
        ("canonical/orders_cp1251.csv", "orders"),
        ("canonical/customers_bom.tsv", "customers"),
        ("canonical/fx_rates_utf16.csv", "fx_rates"),
        ("google_ads_ui/campaign_report.csv", "ad_spend"),
        ("meta_ads_manager/campaigns_en.csv", "ad_spend"),
        ("meta_ads_manager/campaigns_ru.csv", "ad_spend"),
        ("yandex_direct_api/campaign_performance.tsv", "ad_spend"),
        ("vk_ads_stats/stats_cp1251.csv", "ad_spend"),
    ],
)
def test_result_contract_holds_for_every_fixture(exports, fixture, source):
    result = read_export(exports / fixture, source)
    frame = result.frame
    assert frame.columns == [*COLUMNS[source], "source_row"]
    assert all(dtype == pl.String for name, dtype in frame.schema.items() if name != "source_row")
    assert frame.schema["source_row"] == pl.Int64
    assert result.rows_read == frame.height + result.skipped_lines
    # every line but the header is either a row or skipped
    lines = (exports / fixture).read_bytes().decode(result.encoding).lstrip("\ufeff")
    assert result.rows_read == len(lines.splitlines()) - 1
    assert frame["source_row"].is_sorted() and frame["source_row"].n_unique() == frame.height


def test_a_cut_last_line_is_a_suspect_and_a_whole_file_is_not(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_bytes(
        b"date;currency;rate\n30.10.2026;USD;91,9911\n31.10.2026;EUR;99,1234\n31.10.2026;CNY;12,3456\n31.10.2026;USD;9"
    )
    result = read_export(path, "fx_rates")
    assert list(result.suspects) == [5] and "cut off" in result.suspects[5]
    path.write_bytes(path.read_bytes() + b"9,1\n")  # the same line, complete
    assert read_export(path, "fx_rates").suspects == {}
    path.write_bytes(
        b"date;currency;rate\n30.10.2026;USD;91,9911\n31.10.2026;EUR;99,1234\n31.10.2026;CNY;12,3456\n31.10.2026;USD;91,9999"
    )
    assert read_export(path, "fx_rates").suspects == {}  # no line break, but as long as its neighbours


def test_a_header_cell_that_looks_like_a_column_is_named_in_the_notes(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,created_at,status,revenue,currency,UTM Sorce,Cost of good,Comment\no1,2024-01-01,paid,1,RUB,g,1,x\n",
        encoding="utf-8",
    )
    result = read_export(path, "orders")
    assert result.notes == [
        "column 'UTM Sorce' is not read: did you mean utm_source?",
        "column 'Cost of good' is not read: did you mean cost_of_goods?",
    ]
    assert result.frame["utm_source"].to_list() == [None]


def test_headers_as_people_type_them_are_the_canonical_columns(exports):
    result = read_export(exports / "canonical/orders_typed_header.csv", "orders")
    assert result.frame.select("order_id", "created_at", "cost_of_goods", "utm_source", "utm_medium").rows() == [
        ("o-9", "2024-03-05 10:00", "600", "google", "cpc")
    ]
    assert result.notes == []
