"""Schemas of the forecast tables under ``ml.``: demand, series and Census forecasts, accuracy."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from retail_assets.lib.warehouse.schemas.base import (
    Lineage,
)

FORECAST_LEVELS = ["total", "category", "store_product"]
FORECAST_MODELS = [
    "AutoETS",
    "AutoTheta",
    "MSTL",
    "AutoARIMA",
    "SeasonalNaive",
    "HistoricAverage",
    "Naive",
    "CrostonOptimized",
    "ADIDA",
    "IMAPA",
    "SARIMA",
    "SARIMA_X",
]
SERIES_KINDS = ["regular", "intermittent", "short", "constant", "zero", "skip"]


class _Intervals(Lineage):
    yhat: float = pa.Field(ge=0, description="Point forecast (revenue).")
    lo_80: float = pa.Field(ge=0, description="Lower bound of the 80 % prediction interval.")
    hi_80: float = pa.Field(ge=0, description="Upper bound of the 80 % prediction interval.")
    lo_95: float = pa.Field(ge=0, description="Lower bound of the 95 % prediction interval.")
    hi_95: float = pa.Field(ge=0, description="Upper bound of the 95 % prediction interval.")

    @pa.dataframe_check
    @classmethod
    def intervals_nest(cls, data) -> pl.LazyFrame:
        """The 80 % interval lies inside the 95 % interval, around the point forecast."""
        return data.lazyframe.select(
            (pl.col("lo_95") <= pl.col("lo_80") + 1e-9)
            & (pl.col("lo_80") <= pl.col("yhat") + 1e-9)
            & (pl.col("yhat") <= pl.col("hi_80") + 1e-9)
            & (pl.col("hi_80") <= pl.col("hi_95") + 1e-9)
        )


class SalesForecasts(_Intervals):
    """Daily revenue forecasts per series of the hierarchy, with 80 and 95 % intervals."""

    forecast_origin: pl.Date = pa.Field(description="Last day of history used.")
    level: str = pa.Field(isin=FORECAST_LEVELS, description="Level of the hierarchy.")
    unique_id: str = pa.Field(description="Series: <level>:<key>, e.g. category:Electronics.")
    ds: pl.Date = pa.Field(description="Forecast day.")
    model: str = pa.Field(isin=FORECAST_MODELS, description="statsforecast model applied.")
    horizon: int = pa.Field(ge=1, description="Days after the origin.")

    @pa.dataframe_check
    @classmethod
    def one_row_per_series_day(cls, data) -> pl.LazyFrame:
        """(unique_id, ds) is unique."""
        return data.lazyframe.select(~pl.struct("unique_id", "ds").is_duplicated())


class ForecastModels(Lineage):
    """The model chosen for every series by rolling-origin cross-validation."""

    level: str = pa.Field(isin=FORECAST_LEVELS, description="Level of the hierarchy.")
    unique_id: str = pa.Field(unique=True, description="Series id.")
    kind: str = pa.Field(isin=SERIES_KINDS, description="Series class; decides the candidates.")
    observations: int = pa.Field(ge=0, description="Days of history the selection saw.")
    model: str = pa.Field(
        nullable=True, isin=FORECAST_MODELS, description="Chosen model; NULL = not forecast."
    )
    cv_mase: float = pa.Field(
        nullable=True, ge=0, description="Cross-validated MASE of the chosen model."
    )
    reason: str = pa.Field(description="Why this model.")
    as_of: pl.Date = pa.Field(description="Last day of history the selection used.")


class ForecastCvAccuracy(Lineage):
    """Every candidate's accuracy per series on the rolling-origin held-out windows."""

    level: str = pa.Field(isin=FORECAST_LEVELS)
    unique_id: str
    model: str = pa.Field(isin=FORECAST_MODELS)
    chosen: bool = pa.Field(description="The model the series uses.")
    mae: float = pa.Field(nullable=True, ge=0)
    rmse: float = pa.Field(nullable=True, ge=0)
    mase: float = pa.Field(nullable=True, ge=0, description="MAE over the seasonal naive MAE.")
    smape: float = pa.Field(nullable=True, ge=0, le=200, description="Symmetric MAPE, %.")
    bias: float = pa.Field(nullable=True, description="Mean of forecast minus actual.")
    coverage_80: float = pa.Field(nullable=True, ge=0, le=1)
    coverage_95: float = pa.Field(nullable=True, ge=0, le=1)
    points: int = pa.Field(ge=0, description="Held-out points scored.")
    as_of: pl.Date


class ForecastAccuracy(Lineage):
    """Realized accuracy: the forecasts made for a day, scored once its actuals arrived."""

    ds: pl.Date = pa.Field(description="The day whose actuals arrived (the partition).")
    level: str = pa.Field(isin=FORECAST_LEVELS)
    unique_id: str
    model: str = pa.Field(isin=FORECAST_MODELS)
    forecasts: int = pa.Field(ge=1, description="Forecasts of this day (one per origin).")
    actual: float = pa.Field(ge=0)
    mae: float = pa.Field(ge=0)
    rmse: float = pa.Field(ge=0)
    mase: float = pa.Field(nullable=True, ge=0)
    smape: float = pa.Field(ge=0, le=200)
    bias: float
    coverage_80: float = pa.Field(ge=0, le=1)
    coverage_95: float = pa.Field(ge=0, le=1)


SERIES_SOURCES = ["sales_history", "orders"]
SERIES_FREQUENCIES = ["daily", "weekly", "monthly"]


class SeriesForecasts(_Intervals):
    """Forecasts of the retailer's own series (sales history, orders) at their frequency."""

    source: str = pa.Field(isin=SERIES_SOURCES, description="Where the series come from.")
    frequency: str = pa.Field(isin=SERIES_FREQUENCIES, description="Period of the series.")
    level: str = pa.Field(description="Level: total, category, store, product, series, ...")
    unique_id: str = pa.Field(description="Series: <level>:<key>, or total.")
    ds: pl.Date = pa.Field(description="First day of the forecast period.")
    horizon: int = pa.Field(ge=1, description="Periods after the last period of history.")
    model: str = pa.Field(isin=FORECAST_MODELS, description="statsforecast model applied.")
    base_yhat: float = pa.Field(ge=0, description="The model's forecast before reconciliation.")
    reconciled: bool = pa.Field(description="Made coherent with the other levels (MinTrace).")

    @pa.dataframe_check
    @classmethod
    def one_row_per_series_and_period(cls, data) -> pl.LazyFrame:
        """No (source, unique_id, ds) appears twice."""
        return data.lazyframe.select(~pl.struct("source", "unique_id", "ds").is_duplicated())


class SeriesForecastAccuracy(Lineage):
    """How each series' forecast did on the held-out last periods (the backtest)."""

    source: str = pa.Field(isin=SERIES_SOURCES)
    frequency: str = pa.Field(isin=SERIES_FREQUENCIES)
    level: str
    unique_id: str
    model: str = pa.Field(isin=FORECAST_MODELS, description="Model chosen on the rest.")
    holdout_periods: int = pa.Field(ge=1)
    mase: float = pa.Field(nullable=True, ge=0, description="MASE of the model's forecast.")
    mase_reconciled: float = pa.Field(nullable=True, ge=0, description="MASE once reconciled.")
    mase_seasonal_naive: float = pa.Field(nullable=True, ge=0)
    coverage_95: float = pa.Field(nullable=True, ge=0, le=1)


class CensusForecast(_Intervals):
    """Monthly Census MRTS sales of one NAICS series, forecast with the selected model."""

    naics_code: str
    month: pl.Date = pa.Field(description="First day of the forecast month.")
    model: str = pa.Field(isin=FORECAST_MODELS)
