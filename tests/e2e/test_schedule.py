"""The nightly schedule, evaluated through Dagster's own schedule API: which months each night refreshes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.core.config import Config, load_config
from pipelines.orchestration.definitions import defs, refresh_job
from pipelines.orchestration.schedules import build_nightly_schedule

MSK = ZoneInfo("Europe/Moscow")


def requested_range(schedule: dg.ScheduleDefinition, moment: datetime) -> tuple[str, str, str]:
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=moment, repository_def=defs.get_repository_def()
        )
        result = schedule.evaluate_tick(context)
    assert result.skip_message is None and len(result.run_requests) == 1
    request = result.run_requests[0]
    return (request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG], request.run_key)


def test_the_project_schedule_comes_from_acquisition_toml():
    config = load_config()
    schedule = defs.resolve_schedule_def("nightly_refresh")
    assert schedule.cron_schedule == config.schedule_cron == "30 2 * * *"
    assert schedule.execution_timezone == config.schedule_timezone == "Europe/Moscow"
    assert schedule.job_name == "refresh"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # issue 25: a person starts it


# late_data_days = 5 in acquisition.toml
@pytest.mark.parametrize(
    "night, first, last",
    [
        (datetime(2024, 6, 17, 2, 30, tzinfo=MSK), "2024-06-01", "2024-06-01"),  # mid-month: current only
        (datetime(2024, 6, 1, 2, 30, tzinfo=MSK), "2024-05-01", "2024-06-01"),  # 1st: previous too
        (datetime(2024, 6, 5, 2, 30, tzinfo=MSK), "2024-05-01", "2024-06-01"),  # day late_data_days: previous too
        (datetime(2024, 6, 6, 2, 30, tzinfo=MSK), "2024-06-01", "2024-06-01"),  # day late_data_days + 1: current only
        (datetime(2025, 1, 1, 2, 30, tzinfo=MSK), "2024-12-01", "2025-01-01"),  # New Year: December of last year
        (datetime(2025, 1, 31, 2, 30, tzinfo=MSK), "2025-01-01", "2025-01-01"),  # last day of a month
        (datetime(2024, 3, 1, 2, 30, tzinfo=MSK), "2024-02-01", "2024-03-01"),  # after a leap February
        # the daemon may hand over the moment in UTC: the date that counts is the schedule's own
        (datetime(2024, 5, 31, 23, 30, tzinfo=UTC), "2024-05-01", "2024-06-01"),
    ],
)
def test_nightly_run_requests_cover_current_and_late_months(night, first, last):
    got_first, got_last, run_key = requested_range(defs.resolve_schedule_def("nightly_refresh"), night)
    assert (got_first, got_last) == (first, last)
    assert run_key == f"nightly-{night.astimezone(MSK).date().isoformat()}"  # one run per night, even on retry


def test_schedule_follows_a_different_configuration():
    config = Config(schedule_cron="15 4 * * *", schedule_timezone="America/New_York", late_data_days=2)
    schedule = build_nightly_schedule(refresh_job, config)
    assert schedule.cron_schedule == "15 4 * * *" and schedule.execution_timezone == "America/New_York"
    ny = ZoneInfo("America/New_York")
    assert requested_range(schedule, datetime(2024, 3, 2, 4, 15, tzinfo=ny))[:2] == ("2024-02-01", "2024-03-01")
    assert requested_range(schedule, datetime(2024, 3, 3, 4, 15, tzinfo=ny))[:2] == ("2024-03-01", "2024-03-01")
    # 03:00 UTC on 1 March is still 29 February in New York
    assert requested_range(schedule, datetime(2024, 3, 1, 3, 0, tzinfo=UTC))[:2] == (
        "2024-02-01",
        "2024-02-01",
    )


def test_late_data_days_zero_never_refreshes_the_previous_month():
    schedule = build_nightly_schedule(refresh_job, Config(late_data_days=0))
    assert requested_range(schedule, datetime(2024, 1, 1, 2, 30, tzinfo=MSK))[:2] == ("2024-01-01", "2024-01-01")


def test_schedule_can_be_called_directly_like_dagster_docs_show():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2025, 1, 3, 2, 30, tzinfo=MSK))
    request = defs.resolve_schedule_def("nightly_refresh")(context)
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == "2024-12-01"
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == "2025-01-01"
