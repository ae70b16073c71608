"""Local time (docs/metrics.md): a timestamp with an offset is converted to the business's time zone
(`reporting.timezone`, default the schedule's) before it gets a day, week or month; for orders, CRM deals,
touchpoints, GA4 and Metrica. The same month boundary through the whole pipeline:
tests/e2e/test_shop_exports.py (a Bitrix24 deal won at 01:00 Moscow time on 1 May is May's)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.core.config import ConfigError, parse_config
from pipelines.ingest.readers import ReadResult, read_export
from pipelines.ingest.validate import split_rows
from schemas.inputs import COLUMNS

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
MOSCOW = "Europe/Moscow"


def orders(*created: str) -> ReadResult:
    frame = pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(created))],
            "email": ["a@b.example"] * len(created),
            "created_at": list(created),
            "status": ["paid"] * len(created),
            "revenue": ["10"] * len(created),
            "currency": ["RUB"] * len(created),
        }
    )
    frame = frame.select(
        *(pl.col(c) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in COLUMNS["orders"]),
        pl.int_range(2, len(created) + 2, dtype=pl.Int64).alias("source_row"),
    )
    return ReadResult("canonical", frame, len(created), 0, "utf-8", ",")


def test_an_order_at_one_in_the_morning_moscow_time_on_the_first_stays_in_its_month():
    read = orders("2024-03-01T01:00:00+03:00", "2024-03-01 01:00:00 +0300", "2024-02-29T22:30:00Z", "2024-03-01 01:00")
    good, failures = split_rows("orders", read, zone=MOSCOW)
    assert failures.height == 0
    assert good["created_at"].dt.strftime("%Y-%m-%d %H:%M").to_list() == [
        "2024-03-01 01:00",
        "2024-03-01 01:00",
        "2024-03-01 01:30",  # 22:30 UTC is 01:30 in Moscow
        "2024-03-01 01:00",  # no offset: taken as written, already local
    ]
    # without a zone (a reader used on its own) the instant is naive UTC, as before: February
    utc, _ = split_rows("orders", read)
    assert utc["created_at"].dt.strftime("%Y-%m-%d %H:%M").to_list()[0] == "2024-02-29 22:00"


def test_the_business_time_zone_defaults_to_the_schedules_and_is_checked():
    assert parse_config({}).local_timezone == MOSCOW
    assert parse_config({"schedule": {"timezone": "Asia/Almaty"}}).local_timezone == "Asia/Almaty"
    config = parse_config({"reporting": {"timezone": "Europe/Berlin"}, "schedule": {"timezone": "Asia/Almaty"}})
    assert config.local_timezone == "Europe/Berlin"
    assert config.ingest_options("orders") == {"reporting_timezone": "Europe/Berlin"}
    with pytest.raises(ConfigError, match=r"reporting.timezone = 'Mars/Olympus': expected an IANA time zone"):
        parse_config({"reporting": {"timezone": "Mars/Olympus"}})


def test_metrica_in_the_counters_zone_needs_no_conversion_when_it_is_the_business_zone():
    path = EXPORTS / "metrica_logs_api/visits.tsv"
    same = read_export(path, "touchpoints", {"reporting_timezone": MOSCOW})
    assert same.frame["ts"][0] == "2024-03-01 23:58:10" and same.notes == []
    berlin = read_export(path, "touchpoints", {"reporting_timezone": "Europe/Berlin"})
    assert berlin.frame["ts"][0] == "2024-03-01 21:58:10"
    assert berlin.notes == ["ts converted from Europe/Moscow to Europe/Berlin"]


def test_ga4_utc_event_times_are_given_in_the_business_zone():
    path = EXPORTS / "ga4_bigquery/events_20240301.parquet"
    utc = read_export(path, "touchpoints")
    moscow = read_export(path, "touchpoints", {"reporting_timezone": MOSCOW})
    assert utc.frame["ts"][0] == "2024-03-04 23:59:30.000000"
    assert moscow.frame["ts"][0] == "2024-03-05 02:59:30.000000"  # UTC+3: the next day in Moscow
    assert moscow.frame.height == utc.frame.height
