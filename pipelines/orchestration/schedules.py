"""The nightly refresh: the current month, plus the previous one while its late data can still arrive."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.core.config import Config, load_config


def refresh_range(today: date, late_data_days: int) -> tuple[str, str]:
    """Monthly partition keys (first, last) a nightly run on `today` refreshes: the current month, and
    during its first `late_data_days` days (day 1 .. late_data_days) the previous month too."""
    current = today.replace(day=1)
    if today.day <= late_data_days:
        previous = date(current.year - (current.month == 1), (current.month - 2) % 12 + 1, 1)
        return previous.isoformat(), current.isoformat()
    return current.isoformat(), current.isoformat()


def local_date(moment: datetime, timezone: str) -> date:
    """The calendar date of `moment` where the schedule runs (a naive moment is taken as local there)."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(ZoneInfo(timezone)).date()


def build_nightly_schedule(job, config: Config | None = None) -> dg.ScheduleDefinition:
    """`job`: the partitioned refresh job; cron, time zone and late-data days come from [schedule]."""
    config = config or load_config()

    @dg.schedule(
        name="nightly_refresh",
        job=job,
        cron_schedule=config.schedule_cron,
        execution_timezone=config.schedule_timezone,
        # stopped until a person starts it (UI or `dagster schedule start nightly_refresh`), as Dagster's
        # convention is: loading the definitions never starts writing a warehouse by itself
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Refreshes the current month nightly, and the previous one during the first "
        f"{config.late_data_days} days of a month.",
    )
    def nightly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        moment = context.scheduled_execution_time or datetime.now(ZoneInfo(config.schedule_timezone))
        today = local_date(moment, config.schedule_timezone)
        first, last = refresh_range(today, config.late_data_days)
        return dg.RunRequest(
            run_key=f"nightly-{today.isoformat()}",
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        )

    return nightly_refresh
