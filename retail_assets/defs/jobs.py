"""Jobs and schedules."""

import dagster as dg

from retail_assets.defs.partitions import daily_partitions

UNPARTITIONED = dg.AssetSelection.keys(
    "raw/census_retail_sales", "raw/customers", "raw/sales_history"
)

reference_data_job = dg.define_asset_job(
    "reference_data",
    selection=dg.AssetSelection.keys("raw/customers"),
    description="Build the customer base from the personas in simulation.yaml.",
)

all_assets_job = dg.define_asset_job(
    "all_assets",
    # Every daily asset. The unpartitioned ones (customers, files a user drops in) have
    # their own jobs: `reference_data` and the landing-inbox jobs.
    selection=dg.AssetSelection.all() - UNPARTITIONED,
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

defs = dg.Definitions(jobs=[all_assets_job, reference_data_job], schedules=[daily_refresh])
