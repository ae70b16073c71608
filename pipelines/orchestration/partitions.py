"""Monthly partitions, and the date window a run covers."""

from __future__ import annotations

from datetime import date

import dagster as dg

from pipelines.core.config import load_config
from pipelines.core.periods import EARLIEST, LATEST

# who answers for every asset (the Dagster UI shows it, alerts can route by it)
OWNERS = ["team:acquisition-analytics"]
POOL = "warehouse"  # every warehouse-writing step runs in this pool (limit 1 in dagster.yaml)

monthly = dg.MonthlyPartitionsDefinition(
    start_date=load_config().partitions_start.isoformat(),
    end_offset=1,  # end_offset=1: the current month too
)
single_run = dg.BackfillPolicy.single_run()  # a backfill of any range is one run


def run_window(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> tuple[date, date]:
    """[start, end) of the run's partitions. The first partition also covers everything before it and
    the last one everything after, so a full run misses no row, whatever its dates."""
    if not context.has_partition_key and not context.has_partition_key_range:
        return EARLIEST, LATEST
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    keys = monthly.get_partition_keys()
    key_range = context.partition_key_range
    if keys and key_range.start == keys[0]:
        start = EARLIEST
    if keys and key_range.end == keys[-1]:
        end = LATEST
    return start, end
