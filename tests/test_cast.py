"""The cast step's shortcuts change no value: the plain-form fast parse and the reader's `clean`
columns give exactly what the general parsers give (pipelines/ingest/readers/values.py)."""

from __future__ import annotations

import math

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.ingest.readers.values import parse_date, parse_number, parse_timestamp
from pipelines.ingest.validate import cast_frame
from schemas.inputs import COLUMNS

# forms the fast parse takes, forms only the general parser takes, and junk
TIMES = [
    "2024-03-05 14:03:00",
    "2024-03-05T14:03:00",
    "2024-03-05 14:03",
    "2024-03-05 14:03:00.25",
    "2024-03-05T14:03:00Z",
    "2024-03-05 14:03:00+03:00",
    "05.03.2024 14:03",
    "2024-03-05",
    "20240305",
    "2024-3-5 4:03:00",
    "2024-02-30 10:00:00",
    "2024-03-05 24:00:00",
    "yesterday",
    "",
    "  2024-03-05 14:03:00 ",
    # GA4's microseconds (a quick form of their own), and the near misses the general parser decides
    "2024-03-05 14:03:00.123456",
    "2024-03-05 14:03:00.000000",
    "2024-03-05 14:03:00.1234567",
    "2024-03-05 14:03:00.123456Z",
    "2024-02-30 14:03:00.123456",
    "2024-03-05 14:03:00.",
]
DATES = [
    "2024-03-05",
    "05.03.2024",
    "2024/03/05",
    "20240305",
    "2024-3-5",
    "2024-02-30",
    "2024-03-05 10:00",
    "03/05/2024",
    "x",
    "",
]
NUMBERS = [
    "1234.5",
    "-5",
    "1e3",
    "+7",
    ".5",
    "1,5",
    "1 234,56",
    "1\u00a0234,56",
    "1,234.56",
    "inf",
    "NaN",
    "-inf",
    "1e400",
    "0x10",
    "12abc",
    "",
    " 42 ",
    "\u22123",
    '"12"',
]


def _frame(source: str, **columns: list) -> pl.DataFrame:
    """A reader's frame: every canonical column of the source, as text."""
    n = len(next(iter(columns.values())))
    return pl.DataFrame(
        {c: columns.get(c, [None] * n) for c in COLUMNS[source]}, schema={c: pl.String for c in COLUMNS[source]}
    )


def _expected(column: str, parser, values: list[str]) -> list:
    text = pl.col(column).str.strip_chars()
    return pl.DataFrame({column: values}).select(parser(pl.when(text != "").then(text))).to_series().to_list()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(TIMES) | st.text(max_size=12), min_size=1, max_size=30),
    st.lists(st.sampled_from(NUMBERS) | st.text(alphabet="0123456789,. -e", max_size=8), min_size=1, max_size=30),
    st.lists(st.sampled_from(DATES), min_size=1, max_size=30),
)
def test_fast_parse_equals_the_general_parsers(times, numbers, dates):
    check_against_general_parsers(times, numbers, dates)


def test_every_listed_form_parses_as_the_general_parsers_say():
    n = max(len(TIMES), len(NUMBERS), len(DATES))
    cycle = lambda values: [values[i % len(values)] for i in range(n)]  # noqa: E731
    check_against_general_parsers(cycle(TIMES), cycle(NUMBERS), cycle(DATES))


def check_against_general_parsers(times, numbers, dates):
    n = min(len(times), len(numbers), len(dates))
    times, numbers, dates = times[:n], numbers[:n], dates[:n]
    orders = _frame(
        "orders",
        order_id=["o"] * n,
        created_at=times,
        status=["paid"] * n,
        revenue=numbers,
        currency=["RUB"] * n,
        refunded_at=dates,
    )
    typed, _ = cast_frame("orders", orders)
    assert typed["created_at"].to_list() == _expected("created_at", parse_timestamp, times)
    assert typed["revenue"].to_list() == _expected("revenue", parse_number, numbers)
    # refunded_at is a timestamp column: a plain date is midnight
    assert typed["refunded_at"].to_list() == _expected("refunded_at", parse_timestamp, dates)
    ad = _frame("ad_spend", date=dates, impressions=numbers)
    typed, failures = cast_frame("ad_spend", ad)
    assert typed["date"].to_list() == _expected("date", parse_date, dates)
    whole = [
        v if v is not None and math.isfinite(v) and v == round(v) and abs(v) < 2**63 else None
        for v in _expected("impressions", parse_number, numbers)
    ]
    assert typed["impressions"].to_list() == [None if v is None else int(v) for v in whole]
    failed = set(failures.filter(pl.col("column_name") == "impressions")["row"].to_list())
    assert failed == {i for i, (t, v) in enumerate(zip(numbers, whole, strict=False)) if t.strip() and v is None}


def test_clean_columns_pass_through_and_others_are_normalised():
    frame = _frame(
        "touchpoints",
        visitor_id=["v1", " v2 ", ""],
        ts=["2024-03-05 14:03:00", " 2024-03-05 14:03:00", None],
        utm_source=["Google", None, " "],
    )
    typed, _ = cast_frame("touchpoints", frame)
    assert typed["visitor_id"].to_list() == ["v1", "v2", None]
    assert typed["utm_source"].to_list() == ["Google", None, None]
    assert typed["ts"].null_count() == 1
    # a reader's clean column is taken as it is (the reader stripped it): nothing is stripped twice
    typed, _ = cast_frame("touchpoints", frame, clean=frozenset({"visitor_id"}))
    assert typed["visitor_id"].to_list() == ["v1", " v2 ", ""]
