"""Calendar periods of the grains (day, ISO week, month, quarter, year) and the windows that cover them."""

from __future__ import annotations

from datetime import date, timedelta

EARLIEST = date(1900, 1, 1)  # a window that starts here reaches back to the first data
LATEST = date(2999, 12, 31)  # ... and one that ends here, to the last


def fit_date(as_of: date, cadence: str) -> date:
    """The last cadence boundary on or before `as_of` (docs/metrics.md "Models refitted on a cadence"):
    daily = the as-of date, weekly = the last Sunday, monthly = the last month end."""
    if cadence == "daily":
        return as_of
    if cadence == "weekly":
        return as_of - timedelta(days=as_of.isoweekday() % 7)  # Sunday: 0 days back
    if cadence == "monthly":
        next_day = as_of + timedelta(days=1)
        return as_of if next_day.day == 1 else as_of.replace(day=1) - timedelta(days=1)
    raise ValueError(f"unknown cadence {cadence!r}")


def covering_periods(start: date, end: date, grain: str) -> tuple[date, date]:
    """[start, end) widened to whole periods of `grain`: the periods a change in [start, end) touches."""
    if start <= EARLIEST and end >= LATEST:
        return start, end
    return _period_start(start, grain), _period_end(end - timedelta(days=1), grain)


def _period_start(day: date, grain: str) -> date:
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def _period_end(day: date, grain: str) -> date:
    """Exclusive end of the period holding `day`."""
    if grain == "day":
        return day + timedelta(days=1)
    if grain == "week":
        return _period_start(day, grain) + timedelta(days=7)
    if grain == "month":
        return (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    if grain == "quarter":
        start = _period_start(day, grain)
        month = start.month + 3
        return date(start.year + (month > 12), (month - 1) % 12 + 1, 1)
    return date(day.year + 1, 1, 1)
