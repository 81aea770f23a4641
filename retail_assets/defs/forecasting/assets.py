"""Forecasting: demand per series of the sales hierarchy, models chosen by cross-validation.

- ``ml/forecast_models`` (with ``ml/forecast_cv_accuracy``): weekly. Reads up to
  ``RETAIL_FORECAST_HISTORY_DAYS`` of daily sales of the levels forecast
  (``RETAIL_FORECAST_LEVELS``: the categories by default), cross-validates the candidates on
  every series long enough, keeps the best by MASE and fits it once; a series too short
  falls back to a rule's model, and the metadata counts champions and fallbacks by reason.
  Also compares a seasonal ARIMA with and without regressors (festival flag, discount,
  signals lagged by the horizon) per category. Six categories take seconds; every store x
  product series (~2,850 at 20,000 customers) takes minutes (benchmarks/RESULTS.md).
- ``ml/sales_forecasts``: daily, a range of days per run. Applies each series' stored model
  to the history up to each day (statsforecast ``forward``: no re-estimation) and forecasts
  the horizon with 80 and 95 % intervals.
- ``ml/forecast_accuracy``: daily, a range of days per run. Scores every forecast made for
  each day against its actual, once it has arrived: a backtest that grows with every
  partition.
- ``ml/census_forecast``: the Census MRTS series of NAICS 443 (electronics and appliance
  stores), monthly, 24 months held out, against a seasonal naive model, through the path of
  the retailer's own series (:mod:`retail_assets.lib.forecasting.series`).
- ``ml/series_forecasts`` (with ``ml/series_forecast_accuracy``, in ``series.py``): the
  retailer's own series (sales history, the sales of their orders) at their frequency, by
  level, reconciled.
"""

import contextlib
import datetime as dt
import pickle
import time
from collections.abc import Iterator

import dagster as dg
import polars as pl

from retail_assets.defs.operations import COMPUTE_POOL, MODELS_POOL, TRANSIENT_RETRY
from retail_assets.defs.partitions import daily_partitions, day_keys, lookback
from retail_assets.defs.publishing import (
    DayPublisher,
    passes_schema,
    publish_days,
    publish_table,
    run_days,
    schema_check_spec,
)
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.census import CENSUS
from retail_assets.lib import plots
from retail_assets.lib.forecasting import demand as fc
from retail_assets.lib.forecasting import series as sf
from retail_assets.lib.warehouse.frames import markdown_figures
from retail_assets.lib.warehouse.lake import Lake, read_parquet_file

SALES_BY_CATEGORY = dg.AssetKey(["features", "daily_sales_by_category"])
SALES_BY_STORE_PRODUCT = dg.AssetKey(["features", "daily_sales_by_store_product"])
CATEGORY_SIGNALS = dg.AssetKey(["features", "daily_category_signals"])
CALENDAR = dg.AssetKey(["raw", "retail_calendar"])
FORECAST_MODELS = dg.AssetKey(["ml", "forecast_models"])
FORECAST_CV_ACCURACY = dg.AssetKey(["ml", "forecast_cv_accuracy"])
SALES_FORECASTS = dg.AssetKey(["ml", "sales_forecasts"])
FORECAST_ACCURACY = dg.AssetKey(["ml", "forecast_accuracy"])
CENSUS_FORECAST = dg.AssetKey(["ml", "census_forecast"])
MODELS_FILE = "models.pkl"
#: Days of history the daily refresh reads (the stored models need recent history only; the
#: seasonal ones at least a few seasons).
REFRESH_HISTORY_DAYS = 182
CENSUS_NAICS = "443"
CENSUS_HOLDOUT_MONTHS = 24
#: Series shown as fan charts in the metadata.
FAN_CHARTS = 3


# ---------------------------------------------------------------------------- helpers
def forecast_config(platform: RetailPlatform) -> fc.ForecastConfig:
    """The forecasting configuration from the platform's settings."""
    try:
        return fc.ForecastConfig(
            h=platform.forecast_horizon,
            candidates=tuple(platform.forecast_candidates) or fc.DEFAULT_CANDIDATES,
            n_windows=platform.forecast_cv_windows,
            selection_margin=platform.forecast_selection_margin,
            n_jobs=platform.forecast_n_jobs,
        )
    except fc.ForecastError as exc:
        raise dg.Failure(description=f"RETAIL_FORECAST_*: {exc}", allow_retries=False) from exc


@contextlib.contextmanager
def dask_client(platform: RetailPlatform, log) -> Iterator[object | None]:
    """A client of the configured Dask scheduler, or None to forecast locally."""
    if not platform.dask_scheduler:
        yield None
        return
    try:
        from distributed import Client
    except ImportError as exc:
        raise dg.Failure(
            description="RETAIL_DASK_SCHEDULER is set but dask is not installed: "
            'pip install -e ".[dask]"',
            allow_retries=False,
        ) from exc
    log.info(f"forecasting on the Dask cluster at {platform.dask_scheduler}")
    with Client(platform.dask_scheduler, timeout="30s") as client:
        yield client


def load_history(lake: Lake, levels: list[str], first: dt.date, last: dt.date) -> pl.DataFrame:
    """Daily revenue per series, ``unique_id, level, ds, y``, for the days ``[first, last]``.

    A series runs from its first sale to ``last``; days without sales are 0. Series ids are
    ``total``, ``category:<category>`` and ``store_product:<store>/<product>``.
    """
    return complete_series(sales_rows(lake, levels, first, last), first, last)


_HISTORY_SCHEMA = {"unique_id": pl.Utf8, "level": pl.Utf8, "ds": pl.Date, "y": pl.Float64}


def sales_rows(lake: Lake, levels: list[str], first: dt.date, last: dt.date) -> pl.DataFrame:
    """The sales marts' rows of ``[first, last]`` as series points, ``unique_id, level, ds, y``.

    Only the days that sold (no zeros filled in): read once for a whole range of days, then
    cut into each day's window with :func:`complete_series`.
    """
    days = day_keys(first, last)
    frames = []
    if {"total", "category"} & set(levels):
        cat = lake.read(
            "features",
            "daily_sales_by_category",
            days,
            columns=["sales_date", "category", "revenue"],
        )
        if not cat.is_empty():
            if "category" in levels:
                frames.append(
                    cat.select(
                        pl.lit("category").alias("level"),
                        pl.concat_str(pl.lit("category:"), "category").alias("unique_id"),
                        pl.col("sales_date").alias("ds"),
                        pl.col("revenue").alias("y"),
                    )
                )
            if "total" in levels:
                frames.append(
                    cat.group_by("sales_date")
                    .agg(pl.col("revenue").sum().alias("y"))
                    .select(
                        pl.lit("total").alias("level"),
                        pl.lit("total").alias("unique_id"),
                        pl.col("sales_date").alias("ds"),
                        "y",
                    )
                )
    if "store_product" in levels:
        sp = lake.read(
            "features",
            "daily_sales_by_store_product",
            days,
            columns=["sales_date", "store_id", "product_id", "revenue"],
        )
        if not sp.is_empty():
            frames.append(
                sp.select(
                    pl.lit("store_product").alias("level"),
                    pl.concat_str(
                        pl.lit("store_product:"), "store_id", pl.lit("/"), "product_id"
                    ).alias("unique_id"),
                    pl.col("sales_date").alias("ds"),
                    pl.col("revenue").alias("y"),
                )
            )
    if not frames:
        return pl.DataFrame(schema=_HISTORY_SCHEMA)
    return pl.concat(frames, how="vertical_relaxed").select(
        "unique_id", "level", pl.col("ds").cast(pl.Date), pl.col("y").cast(pl.Float64)
    )


def complete_series(rows: pl.DataFrame, first: dt.date, last: dt.date) -> pl.DataFrame:
    """The series of ``rows`` (:func:`sales_rows`) within ``[first, last]``, gaps filled.

    Every series runs from its first row in the window to ``last``, 0 where nothing sold,
    sorted by ``unique_id, ds``: the history of one day's window, whether ``rows`` were read
    for that day alone or for a whole range.
    """
    window = rows.filter(pl.col("ds").is_between(first, last))
    if window.is_empty():
        return pl.DataFrame(schema=_HISTORY_SCHEMA)
    spans = window.group_by("unique_id", "level").agg(pl.col("ds").min().alias("start"))
    grid = spans.with_columns(
        pl.date_ranges("start", pl.lit(last), interval="1d").alias("ds")
    ).explode("ds")
    return (
        grid.join(window.select("unique_id", "ds", "y"), on=["unique_id", "ds"], how="left")
        .select("unique_id", "level", "ds", pl.col("y").fill_null(0.0))
        .sort("unique_id", "ds", maintain_order=True)
    )


def regressors(lake: Lake, h: int, first: dt.date, last: dt.date) -> pl.DataFrame | None:
    """Per category and day: festival flag, largest discount, signals lagged by ``h`` days.

    Covers ``[first, last + h]``: the calendar is known ahead, and a signal lagged by the
    horizon is known for every forecast day. None when the inputs are missing.
    """
    return regressors_from(*regressor_inputs(lake, h, first, last), h, first, last)


def regressor_inputs(
    lake: Lake, h: int, first: dt.date, last: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The retail calendar and the category signals the regressors of ``[first, last]`` need."""
    cal = lake.read("raw", "retail_calendar", columns=["date", "is_festival", "max_discount"])
    signals = lake.read(
        "features",
        "daily_category_signals",
        day_keys(first - dt.timedelta(days=h), last),
        columns=["signal_date", "category", "sentiment_mean", "event_volume"],
    )
    return cal, signals


def regressors_from(
    cal: pl.DataFrame, signals: pl.DataFrame, h: int, first: dt.date, last: dt.date
) -> pl.DataFrame | None:
    """:func:`regressors` from inputs read once (:func:`regressor_inputs`), maybe for more days."""
    if cal.is_empty() or signals.is_empty():
        return None
    signals = signals.filter(pl.col("signal_date").is_between(first - dt.timedelta(days=h), last))
    if signals.is_empty():
        return None
    end = last + dt.timedelta(days=h)
    cal = cal.filter(pl.col("date").is_between(first, end))
    if cal["date"].max() is None or cal["date"].max() < end:
        return None
    lagged = signals.select(
        pl.concat_str(pl.lit("category:"), "category").alias("unique_id"),
        (pl.col("signal_date") + pl.duration(days=h)).alias("ds"),
        pl.col("sentiment_mean").fill_null(0.0).alias("sentiment_lag_h"),
        pl.col("event_volume").cast(pl.Float64).alias("volume_lag_h"),
    )
    ids = lagged.select("unique_id").unique()
    grid = ids.join(
        cal.select(
            pl.col("date").alias("ds"),
            pl.col("is_festival").cast(pl.Float64).alias("festival"),
            pl.col("max_discount").cast(pl.Float64).alias("discount"),
        ),
        how="cross",
    )
    return (
        grid.join(lagged, on=["unique_id", "ds"], how="left")
        .with_columns(pl.col("sentiment_lag_h", "volume_lag_h").fill_null(0.0))
        .select("unique_id", "ds", "festival", "discount", "sentiment_lag_h", "volume_lag_h")
        .sort("unique_id", "ds")
    )


def _last_sales_day(lake: Lake) -> dt.date | None:
    files = lake.partition_files("features", "daily_sales_by_category")
    if not files:
        return None
    return dt.date.fromisoformat(files[-1].parent.name.split("=", 1)[1])


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


# ---------------------------------------------------------------------------- selection
_SELECTION_SPEC = {
    "group_name": "forecasting",
    "kinds": {"statsforecast", "polars", "parquet"},
    "owners": ["team:planning"],
    "code_version": "3",
}


@dg.multi_asset(
    pool=MODELS_POOL,
    specs=[
        dg.AssetSpec(
            FORECAST_MODELS,
            deps=[SALES_BY_CATEGORY, SALES_BY_STORE_PRODUCT, CATEGORY_SIGNALS, CALENDAR],
            description="The forecasting model of every series of the levels forecast "
            "(RETAIL_FORECAST_LEVELS: categories by default; total, store x product on request), "
            "chosen by rolling-origin cross-validation on MASE and fitted once, or by rule for "
            "a series too short to cross-validate (the reason says which); the fitted models "
            "are stored beside the table (models.pkl) for the daily refresh.",
            **_SELECTION_SPEC,
        ),
        dg.AssetSpec(
            FORECAST_CV_ACCURACY,
            deps=[FORECAST_MODELS],
            description="MAE, RMSE, MASE, sMAPE, bias and 80/95 % interval coverage of every "
            "candidate model per series on the cross-validation windows, including a seasonal "
            "ARIMA with and without regressors per category.",
            **_SELECTION_SPEC,
        ),
    ],
    check_specs=[schema_check_spec(FORECAST_MODELS), schema_check_spec(FORECAST_CV_ACCURACY)],
)
def forecast_models(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Cross-validate the candidates on every series and keep each series' best model."""
    lake = platform.lake()
    config = forecast_config(platform)
    last = _last_sales_day(lake)
    if last is None:
        raise dg.Failure(
            description="no daily sales yet: materialize features/daily_sales_by_category "
            "and features/daily_sales_by_store_product first",
            allow_retries=False,
        )
    first = last - dt.timedelta(days=platform.forecast_history_days - 1)
    history = load_history(lake, list(platform.forecast_levels), first, last)
    levels = dict(history.select("unique_id", "level").unique().iter_rows())
    exog = (
        regressors(lake, config.h, first, last) if "category" in platform.forecast_levels else None
    )
    context.log.info(
        f"selecting models for {len(levels)} series, {history['ds'].n_unique()} days up to "
        f"{last}; candidates {list(config.candidates)}, {config.n_windows} windows of "
        f"{config.h} days" + ("; with regressors per category" if exog is not None else "")
    )
    with dask_client(platform, context.log) as client:
        selection = fc.select_models(
            history.drop("level"), config, exog=exog, client=client, log=context.log.info
        )
    began = time.perf_counter()
    fitted = fc.fit_models(history.drop("level"), selection.choices, config, exog=exog)
    fitted.fitted_at = last.isoformat()
    fit_seconds = time.perf_counter() - began
    champions, fallbacks = selection.champions.height, selection.fallbacks.height
    reasons = selection.fallback_reasons()
    context.log.info(
        f"selection took {selection.seconds:.1f} s and the fit {fit_seconds:.1f} s for "
        f"{len(levels)} series: {champions} with a champion chosen by cross-validation, "
        f"{fallbacks} by rule" + (f" ({reasons})" if reasons else "")
    )
    if fallbacks and not champions:
        context.log.warning(
            f"no series has the history cross-validation needs ({history['ds'].n_unique()} "
            f"days up to {last}; {config.min_cv_length()} for a regular series: "
            f"{config.n_windows} windows of {config.h} days after enough to fit on): every "
            "series falls back to a seasonal naive or naive model until there is"
        )

    level_of = pl.col("unique_id").replace_strict(levels, default="category")
    choices = selection.choices.select(
        level_of.alias("level"),
        "unique_id",
        "kind",
        pl.col("n").cast(pl.Int64).alias("observations"),
        "model",
        pl.col("mase").fill_nan(None).alias("cv_mase"),
        "reason",
        pl.lit(last).alias("as_of"),
    )
    metrics = (
        selection.metrics.join(
            selection.choices.select("unique_id", pl.col("model").alias("_chosen")),
            on="unique_id",
            how="left",
        )
        .select(
            level_of.alias("level"),
            "unique_id",
            "model",
            (pl.col("model") == pl.col("_chosen")).fill_null(False).alias("chosen"),
            *[pl.col(c).cast(pl.Float64).fill_nan(None) for c in fc.ACCURACY_COLUMNS],
            pl.col("points").cast(pl.Int64),
            pl.lit(last).alias("as_of"),
        )
        .sort("unique_id", "model")
    )
    by_level = fc.summary_by(metrics, "level")
    chosen_counts = choices.group_by("model").len().sort("len", descending=True)
    meta = {
        "as_of": last.isoformat(),
        "series": len(levels),
        "selection_seconds": round(selection.seconds, 2),
        "selection_seconds_per_series": round(selection.seconds / max(1, len(levels)), 4),
        "fit_seconds": round(fit_seconds, 2),
        "history_days": history["ds"].n_unique(),
        "series_by_level": dg.MetadataValue.json(
            dict(choices.group_by("level").len().sort("level").iter_rows())
        ),
        # A real champion: chosen among the candidates by cross-validation. A fallback: a
        # series too short to cross-validate (or constant, all zero), given a model by rule.
        "series_cv_champion": champions,
        "series_fallback": fallbacks,
        "fallback_reasons": dg.MetadataValue.json(reasons),
        "cv_forecast_rows": selection.cv.height,
        "models_chosen": dg.MetadataValue.json({str(m): n for m, n in chosen_counts.iter_rows()}),
        "series_kinds": dg.MetadataValue.json(
            dict(choices.group_by("kind").len().sort("kind").iter_rows())
        ),
        "accuracy_by_level": dg.MetadataValue.md(_md(by_level)),
    }
    exog_rows = metrics.filter(pl.col("model").is_in([fc.EXOG_BASELINE, fc.EXOG_MODEL]))
    if not exog_rows.is_empty():
        comparison = (
            exog_rows.group_by("model")
            .agg(pl.col("mase").mean(), pl.col("coverage_95").mean(), pl.len().alias("series"))
            .sort("model")
        )
        meta["regressors_comparison"] = dg.MetadataValue.md(
            "Seasonal ARIMA (1,0,1)(0,1,1)7 per category, without (`SARIMA`) and with "
            "(`SARIMA_X`: festival flag, largest discount, sentiment and volume lagged by the "
            "horizon) regressors, on the same windows:\n\n" + _md(comparison)
        )
    tables = [
        (
            FORECAST_MODELS,
            choices,
            {"metadata": meta, "artifacts": {MODELS_FILE: pickle.dumps(fitted)}},
        ),
        (
            FORECAST_CV_ACCURACY,
            metrics,
            {"metadata": {"accuracy_by_level": dg.MetadataValue.md(_md(by_level))}},
        ),
    ]
    # The two tables go together: one that fails its schema is published (that is, rejected)
    # first, so a failure writes neither.
    tables.sort(key=lambda t: passes_schema(context, t[0], t[1]))
    for key, df, kwargs in tables:
        yield from publish_table(context, lake, key, df, **kwargs)


_md = markdown_figures


def load_fitted(lake: Lake) -> fc.FittedModels | None:
    """The models stored by the last ``ml/forecast_models`` run, or None."""
    path = lake.partition_path("ml", "forecast_models", None, filename=MODELS_FILE)
    if not path.exists():
        return None
    with path.open("rb") as fh:
        return pickle.load(fh)  # noqa: S301 - written by this platform, in its own lake


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


# ---------------------------------------------------------------------------- census
def census_series(census: pl.DataFrame, naics: str = CENSUS_NAICS) -> pl.DataFrame:
    """The not-seasonally-adjusted monthly sales of one NAICS code, ``unique_id, ds, y``."""
    return (
        census.filter(
            (pl.col("naics_code") == naics)
            & (pl.col("adjustment") == "NSA")
            & pl.col("sales_musd").is_not_null()
        )
        .select(
            pl.lit(f"naics:{naics}").alias("unique_id"),
            pl.col("month").alias("ds"),
            pl.col("sales_musd").cast(pl.Float64).alias("y"),
        )
        .unique("ds")
        .sort("ds")
    )


#: The Census candidates: the monthly ones of the retailer's series, and the average.
CENSUS_CANDIDATES = (*sf.FREQUENCIES["monthly"].candidates, "HistoricAverage")


def census_backtest(series: pl.DataFrame, holdout: int = CENSUS_HOLDOUT_MONTHS, n_jobs: int = 1):
    """The Census series through the path of the retailer's own series, monthly.

    Models are chosen by cross-validation on all but the last ``holdout`` months, which they
    then forecast (the backtest, scored against a seasonal naive model), and chosen again on
    the whole series to forecast the next ``holdout`` months. Returns the
    :class:`~retail_assets.lib.forecasting.series.SeriesForecast`.
    """
    hier = sf.single(series)
    return sf.forecast_series(
        hier,
        sf.FREQUENCIES["monthly"],
        h=holdout,
        holdout=holdout,
        n_jobs=n_jobs,
        candidates=CENSUS_CANDIDATES,
    )


@dg.asset(
    pool=COMPUTE_POOL,
    key=CENSUS_FORECAST,
    deps=[CENSUS],
    group_name="forecasting",
    kinds={"statsforecast", "polars", "parquet"},
    owners=["team:planning"],
    check_specs=[schema_check_spec(CENSUS_FORECAST)],
    code_version="1",
)
def census_forecast(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """U.S. Census MRTS sales of electronics and appliance stores (NAICS 443), 24 months ahead.

    A real series to check the method on, through the path of your own series
    (``ml/series_forecasts``): the model is chosen by cross-validation on all but the last 24
    months, scored on those 24 months against a seasonal naive model, then chosen again on the
    whole series for the next 24 months.
    """
    lake = platform.lake()
    census = lake.read("raw", "census_retail_sales")
    series = census_series(census) if not census.is_empty() else census
    if series.is_empty() or series.height < 5 * 12:
        raise dg.Failure(
            description=f"raw.census_retail_sales has {series.height} months of NAICS "
            f"{CENSUS_NAICS} (NSA) and the backtest needs 60: drop the Census MRTS workbook "
            "in the census inbox and run census_ingest first",
            allow_retries=False,
        )
    result = census_backtest(series, n_jobs=platform.forecast_n_jobs)
    backtest = result.accuracy.row(0, named=True)
    mase_sel, mase_naive = backtest["mase"], backtest["mase_seasonal_naive"]
    future = result.forecasts
    model = future["model"][0]
    out = future.select(
        pl.lit(CENSUS_NAICS).alias("naics_code"),
        pl.col("ds").alias("month"),
        "model",
        *fc.FORECAST_COLUMNS[3:],
    )
    context.log.info(
        f"NAICS {CENSUS_NAICS}: {model}, MASE {mase_sel:.3f} vs seasonal naive "
        f"{mase_naive:.3f} on the last {CENSUS_HOLDOUT_MONTHS} months"
    )
    fig_hist = series.tail(120)
    meta = {
        "model": model,
        "model_in_backtest": backtest["model"],
        "holdout_months": CENSUS_HOLDOUT_MONTHS,
        "mase_selected": round(mase_sel, 4),
        "mase_seasonal_naive": round(mase_naive, 4),
        "mase_ratio_vs_seasonal_naive": round(mase_sel / mase_naive, 4),
        "coverage_95_backtest": round(backtest["coverage_95"], 4),
        "seconds": round(result.seconds, 2),
        "candidates": dg.MetadataValue.md(
            _md(
                result.selection.metrics.select("model", "mase", "smape", "coverage_95").sort(
                    "mase"
                )
            )
        ),
        "fan_chart": dg.MetadataValue.md(
            plots.png_markdown(
                plots.fan_chart(
                    fig_hist,
                    future,
                    f"NAICS {CENSUS_NAICS} monthly sales (M USD), {model}",
                )
            )
        ),
    }
    yield from publish_table(context, lake, CENSUS_FORECAST, out, metadata=meta)


census_forecast_job = dg.define_asset_job(
    "census_forecast",
    selection=dg.AssetSelection.assets(CENSUS_FORECAST),
    description="Forecast the Census NAICS 443 series (after census_ingest loaded a workbook).",
)

defs = dg.Definitions(
    assets=[
        forecast_models,
        sales_forecasts,
        forecast_accuracy,
        census_forecast,
    ],
    jobs=[census_forecast_job],
)
