"""Forecasting: daily revenue per category, 14 days ahead with 80 and 95 % intervals."""

import datetime as dt

import dagster as dg
import polars as pl

from retail_assets.defs.partitions import daily_partitions, lookback
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib import forecasting, plots

SALES = dg.AssetKey(["features", "daily_sales_by_category"])
SALES_FORECASTS = dg.AssetKey(["ml", "sales_forecasts"])
HISTORY_DAYS = 182


@dg.asset(
    key=SALES_FORECASTS,
    deps=[dg.AssetDep(SALES, partition_mapping=lookback(HISTORY_DAYS - 1))],
    group_name="forecasting",
    partitions_def=daily_partitions,
    kinds={"statsforecast", "polars", "parquet"},
    owners=["team:planning"],
    check_specs=[schema_check_spec(SALES_FORECASTS)],
    code_version="1",
)
def sales_forecasts(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Daily revenue per product category for the days after the partition's day.

    Fitted with statsforecast on up to 26 weeks of history ending on the partition's day:
    AutoETS with a weekly season once a series has three weeks of history, a seasonal naive
    model from two weeks, a naive model below that. Each row is one future day with its point
    forecast and 80 and 95 % prediction intervals.
    """
    origin = dt.date.fromisoformat(context.partition_key)
    first = origin - dt.timedelta(days=HISTORY_DAYS - 1)
    lake = platform.lake()
    days = [(first + dt.timedelta(days=i)).isoformat() for i in range(HISTORY_DAYS)]
    sales = lake.read(
        "features", "daily_sales_by_category", days, columns=["category", "sales_date", "revenue"]
    )
    if sales.is_empty():
        raise dg.Failure(
            description=f"no daily sales up to {origin}: materialize "
            "features/daily_sales_by_category first"
        )
    history = sales.select(
        pl.col("category").alias("unique_id"),
        pl.col("sales_date").alias("ds"),
        pl.col("revenue").alias("y"),
    ).sort("unique_id", "ds")
    fc, skipped = forecasting.forecast(history, h=platform.forecast_horizon)
    if skipped:
        context.log.warning(
            f"{len(skipped)} series have fewer than {forecasting.MIN_OBSERVATIONS} days of "
            f"history up to {origin} and are not forecast yet: {skipped}"
        )
    out = fc.select(pl.lit(origin).alias("forecast_origin"), pl.all())
    meta = {
        "series_forecast": fc["unique_id"].n_unique(),
        "series_skipped": len(skipped),
        "history_days": history["ds"].n_unique(),
        "models": dg.MetadataValue.json(
            dict(fc.group_by("model").agg(pl.col("unique_id").n_unique()).iter_rows())
        ),
    }
    if not fc.is_empty():
        top = history.group_by("unique_id").agg(pl.col("y").sum()).sort("y").row(-1)[0]
        meta["fan_chart"] = dg.MetadataValue.md(
            plots.png_markdown(
                plots.fan_chart(
                    history.filter(pl.col("unique_id") == top),
                    fc.filter(pl.col("unique_id") == top),
                    f"{top}: daily revenue, forecast from {origin}",
                )
            )
        )
    yield from publish_table(context, lake, SALES_FORECASTS, out, metadata=meta)


defs = dg.Definitions(assets=[sales_forecasts])
