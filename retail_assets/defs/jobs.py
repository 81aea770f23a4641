"""Jobs and schedules."""

import dagster as dg

from retail_assets.defs.features.assets import WHOLE_TABLE_KEYS
from retail_assets.defs.operations import MODELS_TAG
from retail_assets.defs.partitions import daily_partitions

#: The reference data: unpartitioned tables built from configuration, which daily assets read.
REFERENCE_DATA = dg.AssetSelection.keys(
    "raw/customers", "raw/product_catalog", "raw/retail_calendar", "governed/customers"
)
#: SQL models materialized as a whole table or a view (not by day).
FEATURE_TABLES = dg.AssetSelection.assets(*WHOLE_TABLE_KEYS)
#: The weekly model choice for the daily forecasts (and its cross-validation scores).
FORECAST_SELECTION = dg.AssetSelection.keys("ml/forecast_models", "ml/forecast_cv_accuracy")
UNPARTITIONED = (
    REFERENCE_DATA
    | FEATURE_TABLES
    | FORECAST_SELECTION
    | dg.AssetSelection.keys(
        "raw/census_retail_sales",
        "raw/sales_history",
        "ml/census_forecast",
        "ml/series_forecasts",
        "ml/series_forecast_accuracy",
    )
    # A retailer's stores (retail_assets.defs.sources.retailer; absent in the simulated world).
    | dg.AssetSelection.key_prefixes(["raw", "stores"])
    | dg.AssetSelection.key_prefixes(["governed", "source_reconciliation"])
    | dg.AssetSelection.groups("models")
)

reference_data_job = dg.define_asset_job(
    "reference_data",
    selection=REFERENCE_DATA,
    description="Build the customer base from the personas in simulation.yaml, its governed "
    "(consented, pseudonymized) version, the product catalog and the retail calendar.",
)

all_assets_job = dg.define_asset_job(
    "all_assets",
    # Every daily asset. The unpartitioned ones (reference data, files a user drops in) have
    # their own jobs: `reference_data` and the landing-inbox jobs.
    selection=dg.AssetSelection.all() - UNPARTITIONED,
    partitions_def=daily_partitions,
    description="Materialize every daily asset (and run its checks) for one partition.",
)

feature_tables_job = dg.define_asset_job(
    "feature_tables",
    selection=FEATURE_TABLES,
    description="Rebuild the SQL models that are whole tables or views (weekly direction "
    "labels, persona performance, calendar uplift, correlations, staging views) from every "
    "day materialized so far.",
)

forecast_selection_job = dg.define_asset_job(
    "forecast_model_selection",
    selection=FORECAST_SELECTION,
    tags=MODELS_TAG,
    description="Choose each series' forecasting model by rolling-origin cross-validation "
    "and fit it; the daily forecasts apply the stored models until the next run.",
)

forecasts_job = dg.define_asset_job(
    "forecasts",
    selection=dg.AssetSelection.keys("ml/sales_forecasts", "ml/forecast_accuracy"),
    partitions_def=daily_partitions,
    description="The daily forecasts and their realized accuracy for one partition.",
)

activation_job = dg.define_asset_job(
    "activation",
    selection=dg.AssetSelection.groups("activation"),
    partitions_def=daily_partitions,
    description="Plan the next flight for one partition: response curves, the budget across "
    "channels and segments, the creatives, the payload and its delivery.",
)

daily_refresh = dg.build_schedule_from_partitioned_job(
    all_assets_job,
    name="daily_refresh",
    hour_of_day=2,
    description="Every night at 02:00 UTC, materialize yesterday's partition of every asset.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

feature_tables_refresh = dg.ScheduleDefinition(
    name="feature_tables_refresh",
    job=feature_tables_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    description="Every night at 03:00 UTC, after `daily_refresh`, rebuild the whole-table "
    "SQL models.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

forecast_selection_weekly = dg.ScheduleDefinition(
    name="forecast_model_selection_weekly",
    job=forecast_selection_job,
    cron_schedule="0 4 * * 1",
    execution_timezone="UTC",
    description="Every Monday at 04:00 UTC, after the night's data, re-choose and refit each "
    "series' forecasting model.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(
    jobs=[
        all_assets_job,
        reference_data_job,
        feature_tables_job,
        forecast_selection_job,
        forecasts_job,
        activation_job,
    ],
    schedules=[daily_refresh, feature_tables_refresh, forecast_selection_weekly],
)
