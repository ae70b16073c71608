"""The nightly refresh: the current month, plus the previous one while its late data can still arrive."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.config import Config, load_config


def refresh_range(today: date, late_data_days: int) -> tuple[str, str]:
    """Monthly partition keys (first, last) a nightly run on `today` refreshes."""
    current = today.replace(day=1)
    if today.day <= late_data_days:
        previous = date(current.year - (current.month == 1), (current.month - 2) % 12 + 1, 1)
        return previous.isoformat(), current.isoformat()
    return current.isoformat(), current.isoformat()


def build_nightly_schedule(job: dg.UnresolvedAssetJobDefinition, config: Config | None = None) -> dg.ScheduleDefinition:
    config = config or load_config()

    @dg.schedule(
        name="nightly_refresh",
        job=job,
        cron_schedule=config.schedule_cron,
        execution_timezone=config.schedule_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Refreshes the current month nightly, and the previous one during the first "
        f"{config.late_data_days} days of a month.",
    )
    def nightly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        moment: datetime = context.scheduled_execution_time
        first, last = refresh_range(moment.date(), config.late_data_days)
        return dg.RunRequest(
            run_key=f"nightly-{moment.date().isoformat()}",
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        )

    return nightly_refresh
