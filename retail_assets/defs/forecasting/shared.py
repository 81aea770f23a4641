"""What the forecasting assets share: asset keys, configuration, the history they read.

The daily revenue per series of the sales marts (:func:`load_history`, :func:`sales_rows`,
:func:`complete_series`), the regressors per category, the forecasting configuration and Dask
client from the platform's settings, and the models ``ml/forecast_models`` stores for the daily
refresh (:func:`load_fitted`). No Dagster definitions: the assets are in ``selection.py``,
``daily.py``, ``census.py`` and ``series.py``.
"""

import contextlib
import datetime as dt
import pickle
from collections.abc import Iterator

import dagster as dg
import polars as pl

from retail_assets.defs.partitions import day_keys
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.forecasting import demand as fc
from retail_assets.lib.warehouse.lake import Lake

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


#: Where the classes of models stored by earlier versions live now (old module -> new).
MOVED_MODULES = {"retail_assets.lib.forecasting": "retail_assets.lib.forecasting.demand"}


class _Unpickler(pickle.Unpickler):
    """Reads models stored before ``lib/forecasting.py`` became a package."""

    def find_class(self, module: str, name: str):  # noqa: D102
        return super().find_class(MOVED_MODULES.get(module, module), name)


def load_fitted(lake: Lake) -> fc.FittedModels | None:
    """The models stored by the last ``ml/forecast_models`` run, or None."""
    path = lake.partition_path("ml", "forecast_models", None, filename=MODELS_FILE)
    if not path.exists():
        return None
    with path.open("rb") as fh:
        return _Unpickler(fh).load()  # written by this platform, in its own lake
