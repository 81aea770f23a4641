"""Jobs and schedules."""

import dagster as dg

from retail_assets.defs.partitions import daily_partitions

all_assets_job = dg.define_asset_job(
    "all_assets",
    # Every daily asset; the Census series arrives monthly as a file and has its own job.
    selection=dg.AssetSelection.all() - dg.AssetSelection.keys("raw/census_retail_sales"),
    partitions_def=daily_partitions,
    description="Materialize every daily asset (and run its checks) for one partition.",
)

daily_refresh = dg.build_schedule_from_partitioned_job(
    all_assets_job,
    name="daily_refresh",
    hour_of_day=2,
    description="Every night at 02:00 UTC, materialize yesterday's partition of every asset.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(jobs=[all_assets_job], schedules=[daily_refresh])
