"""The daily partitions every dated asset shares."""

import datetime as dt
import warnings

import dagster as dg

from retail_assets.lib.settings import Settings

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=Settings.from_env().start_date.isoformat()
)


def day_keys(first: dt.date, last: dt.date) -> list[str]:
    """The partition keys of the days ``[first, last]``, oldest first."""
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def lookback(days: int) -> dg.TimeWindowPartitionMapping | None:
    """Partition mapping for an asset that reads ``days`` days before its own partition."""
    if days <= 0:
        return None
    with warnings.catch_warnings():
        # The first partitions have no upstream days before the start date; that is expected.
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(
            start_offset=-days, allow_nonexistent_upstream_partitions=True
        )
