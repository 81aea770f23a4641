"""The daily forecasts and how they did: ``ml/sales_forecasts`` and ``ml/forecast_accuracy``.

- ``ml/sales_forecasts``: daily, a range of days per run. Applies each series' stored model
  to the history up to each day (statsforecast ``forward``: no re-estimation) and forecasts
  the horizon with 80 and 95 % intervals.
- ``ml/forecast_accuracy``: daily, a range of days per run. Scores every forecast made for
  each day against its actual, once it has arrived: a backtest that grows with every
  partition.
"""

import datetime as dt

import dagster as dg
import polars as pl

from retail_assets.defs.forecasting.shared import (
    FORECAST_ACCURACY,
    FORECAST_MODELS,
    SALES_BY_CATEGORY,
    SALES_BY_STORE_PRODUCT,
    SALES_FORECASTS,
    complete_series,
    dask_client,
    forecast_config,
    load_fitted,
    regressor_inputs,
    regressors_from,
    sales_rows,
)
from retail_assets.defs.operations import COMPUTE_POOL, TRANSIENT_RETRY
from retail_assets.defs.partitions import daily_partitions, day_keys, lookback
from retail_assets.defs.publishing import DayPublisher, publish_days, run_days, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib import plots
from retail_assets.lib.forecasting import demand as fc
from retail_assets.lib.warehouse.frames import markdown_figures
from retail_assets.lib.warehouse.lake import Lake, read_parquet_file

#: Days of history the daily refresh reads (the stored models need recent history only; the
#: seasonal ones at least a few seasons).
REFRESH_HISTORY_DAYS = 182
#: Series shown as fan charts in the metadata.
FAN_CHARTS = 3

_md = markdown_figures


def _fan_charts(history: pl.DataFrame, forecasts: pl.DataFrame, origin: dt.date) -> str:
    """Fan charts of the largest series (by revenue) of each level, as markdown."""
    parts = []
    top = (
        history.group_by("level", "unique_id")
        .agg(pl.col("y").sum())
        .sort("y", descending=True)
        .group_by("level", maintain_order=True)
        .head(1)
        .head(FAN_CHARTS)
    )
    for uid in top["unique_id"]:
        f = forecasts.filter(pl.col("unique_id") == uid)
        if f.is_empty():
            continue
        h = history.filter(pl.col("unique_id") == uid).tail(90)
        model = f["model"][0]
        parts.append(
            plots.png_markdown(
                plots.fan_chart(h, f, f"{uid}: revenue, {model}, forecast from {origin}")
            )
        )
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------- daily refresh
@dg.asset(
    pool=COMPUTE_POOL,
    retry_policy=TRANSIENT_RETRY,
    key=SALES_FORECASTS,
    deps=[
        dg.AssetDep(SALES_BY_CATEGORY, partition_mapping=lookback(REFRESH_HISTORY_DAYS - 1)),
        dg.AssetDep(SALES_BY_STORE_PRODUCT, partition_mapping=lookback(REFRESH_HISTORY_DAYS - 1)),
        FORECAST_MODELS,
    ],
    group_name="forecasting",
    partitions_def=daily_partitions,
    kinds={"statsforecast", "polars", "parquet"},
    owners=["team:planning"],
    check_specs=[schema_check_spec(SALES_FORECASTS)],
    code_version="2",
)
def sales_forecasts(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Daily revenue per series for the days after the partition's day, with intervals.

    Each series' model, chosen and fitted by ``ml/forecast_models``, is applied to the last
    26 weeks of history with its stored parameters (no re-estimation). Series the selection has
    not seen yet (or every series, before the first selection) get a seasonal naive forecast.
    A run covers a range of days: the sales (and regressors) of the whole range and its
    26-week lookback are read once, and each day is forecast from its own window, as a run of
    that day alone would.
    """
    days = run_days(context)
    origins = [dt.date.fromisoformat(d) for d in days]
    lake = platform.lake()
    config = forecast_config(platform)
    lookback_days = dt.timedelta(days=REFRESH_HISTORY_DAYS - 1)
    rows = sales_rows(lake, list(platform.forecast_levels), origins[0] - lookback_days, origins[-1])
    empty = [
        d
        for d, origin in zip(days, origins, strict=True)
        if rows.filter(pl.col("ds").is_between(origin - lookback_days, origin)).is_empty()
    ]
    if empty:
        raise dg.Failure(
            description=f"no daily sales up to {_days_text(empty)}: materialize "
            "features/daily_sales_by_category and features/daily_sales_by_store_product first; "
            "nothing was written",
            allow_retries=False,
        )
    fitted = load_fitted(lake)
    if fitted is None:
        context.log.warning(
            "no model selection yet (ml/forecast_models): every series gets a seasonal naive "
            "forecast until it runs"
        )
        fitted = fc.FittedModels(config=config)
    elif fitted.config.h != config.h:
        context.log.warning(
            f"stored models were chosen for h={fitted.config.h}; forecasting h={config.h}"
        )
    inputs = None
    if fc.EXOG_MODEL in fitted.groups:
        inputs = regressor_inputs(lake, config.h, origins[0] - lookback_days, origins[-1])
    selected = fitted.series
    out = DayPublisher(context, lake, SALES_FORECASTS, by_day=True)
    last_history = last_forecasts = None
    stale: list[str] = []
    with dask_client(platform, context.log) as client:
        for day, origin in zip(days, origins, strict=True):
            first = origin - lookback_days
            history = complete_series(rows, first, origin)
            exog = future = None
            if inputs is not None:
                exog = regressors_from(*inputs, config.h, first, origin)
                future = exog.filter(pl.col("ds") > origin) if exog is not None else None
            forecasts = fc.refresh(
                fitted,
                history.drop("level"),
                h=config.h,
                exog=exog,
                future_exog=future,
                client=client,
            )
            out.add(day, _forecast_table(forecasts, history, origin))
            if fitted.fitted_at and (origin - dt.date.fromisoformat(fitted.fitted_at)).days > 14:
                stale.append(day)
            last_history, last_forecasts = history, forecasts
    if stale:
        context.log.warning(
            f"the stored models were chosen on data up to {fitted.fitted_at}, over two weeks "
            f"before {_days_text(stale)}; rerun ml/forecast_models (weekly schedule "
            "forecast_model_selection)"
        )
    last = out.last if out.last is not None else pl.DataFrame(schema={"unique_id": pl.Utf8})
    meta = {
        "days_forecast": len(days),
        "last_origin": days[-1],
        # The last day's figures: each day of a range forecasts the same series, give or take
        # a new one.
        "series_forecast": last["unique_id"].n_unique(),
        "series_with_selected_model": sum(
            1 for uid in last["unique_id"].unique() if uid in selected
        ),
        "models_fitted_on": fitted.fitted_at or "none yet",
        "models": dg.MetadataValue.json(
            dict(
                last.group_by("model").agg(pl.col("unique_id").n_unique()).sort("model").iter_rows()
            )
            if not last.is_empty()
            else {}
        ),
        "horizon_days": config.h,
    }
    if stale:
        meta["days_with_stale_models"] = len(stale)
    # Audit every day first: the charts draw the last day's forecasts, which only a day that
    # passed its schema check is sure to have (no missing bounds).
    out.flush()
    if not out.failures and last_forecasts is not None and not last.is_empty():
        meta["fan_charts"] = dg.MetadataValue.md(
            _fan_charts(last_history, last_forecasts, origins[-1])
        )
    yield from publish_days([out], {SALES_FORECASTS: meta})


def _forecast_table(forecasts: pl.DataFrame, history: pl.DataFrame, origin: dt.date):
    """``refresh``'s forecasts of one origin as rows of ``ml.sales_forecasts``."""
    levels = dict(history.select("unique_id", "level").unique().iter_rows())
    return forecasts.select(
        pl.lit(origin).alias("forecast_origin"),
        pl.col("unique_id").replace_strict(levels).alias("level"),
        "unique_id",
        "ds",
        "model",
        ((pl.col("ds") - pl.lit(origin)).dt.total_days()).cast(pl.Int64).alias("horizon"),
        *fc.FORECAST_COLUMNS[3:],
    )


def _days_text(days: list[str]) -> str:
    if len(days) <= 5:
        return ", ".join(days)
    return f"{len(days)} days ({days[0]}, {days[1]}, ... {days[-1]})"


# ---------------------------------------------------------------------------- realized accuracy
#: Days of actuals before a scored day behind its MASE scale (the seasonal naive error).
ACCURACY_SCALE_DAYS = 56
#: Forecast rows a run of ``ml/forecast_accuracy`` holds at once: a range is scored in chunks
#: of days (a year of 30-day forecasts of a few categories is one chunk; of ~3,000 store x
#: product series, chunks of about three weeks).
ACCURACY_CHUNK_ROWS = 2_000_000
_PAST_SCHEMA = {
    "forecast_origin": pl.Date,
    "level": pl.Utf8,
    "unique_id": pl.Utf8,
    "ds": pl.Date,
    "model": pl.Utf8,
    **{c: pl.Float64 for c in fc.FORECAST_COLUMNS[3:]},
}


@dg.asset(
    pool=COMPUTE_POOL,
    retry_policy=TRANSIENT_RETRY,
    key=FORECAST_ACCURACY,
    deps=[
        dg.AssetDep(SALES_FORECASTS, partition_mapping=lookback(60)),
        SALES_BY_CATEGORY,
        SALES_BY_STORE_PRODUCT,
    ],
    group_name="forecasting",
    partitions_def=daily_partitions,
    kinds={"polars", "parquet"},
    owners=["team:planning"],
    check_specs=[schema_check_spec(FORECAST_ACCURACY)],
    code_version="1",
)
def forecast_accuracy(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """How the forecasts made for the partition's day did, now that its actuals are in.

    Every forecast of the day (one per earlier origin within the horizon) is scored against
    the actual revenue: MAE, RMSE, MASE, sMAPE, bias and whether the 80 and 95 % intervals
    held it. One row per series and model; the table is a backtest that grows with every
    partition, and the metadata summarizes it so far. A run covers a range of days: the
    actuals (with the 8 weeks before, for MASE's scale) and the forecasts made for the range
    are read once (in chunks of days at scale) and each day is scored as a run of that day
    alone would.
    """
    days = run_days(context)
    dates = [dt.date.fromisoformat(d) for d in days]
    lake = platform.lake()
    h = platform.forecast_horizon
    scale_days = dt.timedelta(days=ACCURACY_SCALE_DAYS)
    rows = sales_rows(lake, list(platform.forecast_levels), dates[0] - scale_days, dates[-1])
    series = max(1, rows["unique_id"].n_unique())
    per_chunk = max(1, ACCURACY_CHUNK_ROWS // (series * h))
    out = DayPublisher(context, lake, FORECAST_ACCURACY, by_day=True)
    no_forecasts: list[str] = []
    no_actuals: list[str] = []
    scored_days: list[pl.DataFrame] = []
    for i in range(0, len(dates), per_chunk):
        chunk = dates[i : i + per_chunk]
        past_all = _forecasts_for(lake, chunk[0], chunk[-1], h)
        for day in chunk:
            actuals = complete_series(rows, day - scale_days, day)
            todays = actuals.filter(pl.col("ds") == day)
            past = past_all.filter(pl.col("ds") == day)
            if past.is_empty():
                no_forecasts.append(day.isoformat())
            elif todays.is_empty():
                no_actuals.append(day.isoformat())
            scored = _score_day(day, past, actuals, todays)
            out.add(day.isoformat(), scored)
            scored_days.append(scored)
    if no_forecasts or no_actuals:
        context.log.warning(
            "nothing to score for "
            + "; ".join(
                f"{_days_text(d)}: {why}"
                for d, why in (
                    (no_forecasts, "no forecasts were made for the day"),
                    (no_actuals, "no actuals yet"),
                )
                if d
            )
        )
    run_rows = pl.concat(scored_days, how="vertical_relaxed")
    meta: dict = {
        "series_scored": run_rows.height,
        "days_scored": len(days) - len(no_forecasts) - len(no_actuals),
    }
    if no_forecasts or no_actuals:
        meta["days_with_nothing_to_score"] = len(no_forecasts) + len(no_actuals)
    this_run = set(days)
    so_far = [
        f
        for f in lake.partition_files("ml", "forecast_accuracy")
        if f.parent.name.split("=", 1)[-1] not in this_run
    ]
    history = (
        pl.concat(
            [pl.read_parquet(so_far).drop("lineage_id", "processed_at"), run_rows],
            how="vertical_relaxed",
        )
        if so_far
        else run_rows
    )
    if not history.is_empty():
        summary = (
            history.group_by("level")
            .agg(
                pl.col("ds").n_unique().alias("days"),
                pl.col("forecasts").sum(),
                pl.col("mae").mean(),
                pl.col("mase").mean(),
                pl.col("smape").mean(),
                pl.col("bias").mean(),
                (pl.col("coverage_80") * pl.col("forecasts")).sum() / pl.col("forecasts").sum(),
                (pl.col("coverage_95") * pl.col("forecasts")).sum() / pl.col("forecasts").sum(),
            )
            .sort("level")
        )
        meta["backtest_so_far"] = dg.MetadataValue.md(_md(summary))
    yield from publish_days([out], {FORECAST_ACCURACY: meta})


def _forecasts_for(lake: Lake, first: dt.date, last: dt.date, h: int) -> pl.DataFrame:
    """Every forecast made for the days ``[first, last]`` (origins up to ``h`` days before)."""
    origins = day_keys(first - dt.timedelta(days=h), last - dt.timedelta(days=1))
    frames = [
        read_parquet_file(f, list(_PAST_SCHEMA)).filter(pl.col("ds").is_between(first, last))
        for f in lake.partition_files("ml", "sales_forecasts", origins)
    ]
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return pl.DataFrame(schema=_PAST_SCHEMA)
    return pl.concat(frames, how="diagonal_relaxed")


def _score_day(
    day: dt.date, past: pl.DataFrame, actuals: pl.DataFrame, todays: pl.DataFrame
) -> pl.DataFrame:
    """Rows of ``ml.forecast_accuracy`` for one day: its forecasts against its actuals."""
    if past.is_empty() or todays.is_empty():
        return pl.DataFrame(schema=_ACCURACY_SCHEMA)
    scale = fc.seasonal_scale(actuals.filter(pl.col("ds") < day), fc.SEASON)
    scored = fc.realized_accuracy(past, todays.select("unique_id", "ds", "y"), scale)
    if scored.is_empty():
        return pl.DataFrame(schema=_ACCURACY_SCHEMA)
    levels = dict(past.select("unique_id", "level").unique().iter_rows())
    actual = dict(todays.select("unique_id", "y").iter_rows())
    return scored.select(
        pl.lit(day).alias("ds"),
        pl.col("unique_id").replace_strict(levels).alias("level"),
        "unique_id",
        "model",
        pl.col("points").cast(pl.Int64).alias("forecasts"),
        pl.col("unique_id").replace_strict(actual, return_dtype=pl.Float64).alias("actual"),
        "mae",
        "rmse",
        pl.col("mase").fill_nan(None),
        "smape",
        "bias",
        "coverage_80",
        "coverage_95",
    )


_ACCURACY_SCHEMA = {
    "ds": pl.Date,
    "level": pl.Utf8,
    "unique_id": pl.Utf8,
    "model": pl.Utf8,
    "forecasts": pl.Int64,
    "actual": pl.Float64,
    **{c: pl.Float64 for c in fc.ACCURACY_COLUMNS},
}


defs = dg.Definitions(assets=[sales_forecasts, forecast_accuracy])
