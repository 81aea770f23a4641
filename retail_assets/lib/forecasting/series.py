"""A retailer's own series: frequency, hierarchy, forecasts and coherent levels.

The daily forecasts of :mod:`retail_assets.defs.forecasting` follow the sales marts day by
day. A retailer's own sales history arrives as a file, weekly or monthly as often as daily,
and their orders make series at every level of the hierarchy they have. This module takes
such series from rows to forecasts with the same machinery
(:func:`retail_assets.lib.forecasting.selection.select_models`, ``fit_models`` and
``refresh``):

1. **Frequency** (:func:`detect_frequency`): daily, weekly or monthly, read from the gaps
   between the dates (or declared). A declared frequency coarser than the data's sums the
   data into periods (:func:`to_frequency`); a period the data only partly cover (the first
   or last week of a daily history) is left out and counted, so a half week never looks like
   a slump. The season length, horizon and cross-validation windows follow the frequency
   (:data:`FREQUENCIES`): 7 days, 52 weeks or 12 months.
2. **Hierarchy** (:func:`hierarchy`): the levels the rows have, of ``total``, ``category``,
   ``store`` and ``product``, built with hierarchicalforecast's ``aggregate``; series ids are
   ``total``, ``category:<c>``, ``store:<s>``, ``product:<p>`` and, below a store, e.g.
   ``store_product:<s>/<p>``. A flat history (``series_id`` only) is a total over its series.
3. **Forecasts** (:func:`forecast_series`): a backtest first (the last ``h`` periods held out:
   models chosen by cross-validation on the rest, forecast, scored with MASE against the
   seasonal naive forecast), then the same on the whole history for the next ``h`` periods,
   with 80 and 95 % intervals.
4. **Coherent levels** (:func:`reconcile`): where several levels are forecast, the forecasts
   are reconciled with hierarchicalforecast's ``MinTrace`` (``wls_struct``: weights from the
   structure, no in-sample residuals needed; non-negative), so every level adds up to the one
   above; the intervals are reconciled under normality. The backtest reports the MASE of the
   base and the reconciled forecasts on the same held-out periods.

This module defines the forecasts (:func:`backtest`, :func:`forecast_series`) and re-exports the
names of :mod:`~retail_assets.lib.forecasting.frequency` (step 1) and
:mod:`~retail_assets.lib.forecasting.hierarchy` (steps 2 and 4), so callers write
``sf.hierarchy``; those modules never import this one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from retail_assets.lib.forecasting.accuracy import seasonal_scale
from retail_assets.lib.forecasting.frequency import (
    FREQUENCIES,
    Frequency,
    Periods,
    SeriesError,
    complete,
    detect_frequency,
    frequency,
    resolve_frequency,
    to_frequency,
)
from retail_assets.lib.forecasting.hierarchy import (
    DIMENSIONS,
    LEVEL_NAMES,
    RECONCILER,
    Hierarchy,
    flat,
    hierarchy,
    incoherence,
    reconcile,
    single,
)
from retail_assets.lib.forecasting.models import FORECAST_COLUMNS, ForecastConfig
from retail_assets.lib.forecasting.refresh import FittedModels, fit_models, refresh
from retail_assets.lib.forecasting.selection import Selection, select_models

__all__ = [
    "DIMENSIONS",
    "FREQUENCIES",
    "Frequency",
    "Hierarchy",
    "LEVEL_NAMES",
    "Periods",
    "RECONCILER",
    "SERIES_FORECAST_COLUMNS",
    "SeriesError",
    "SeriesForecast",
    "backtest",
    "complete",
    "detect_frequency",
    "flat",
    "forecast_series",
    "frequency",
    "hierarchy",
    "incoherence",
    "reconcile",
    "resolve_frequency",
    "single",
    "to_frequency",
]

SERIES_FORECAST_COLUMNS = (
    "level",
    "unique_id",
    "ds",
    "horizon",
    "model",
    "yhat",
    "lo_80",
    "hi_80",
    "lo_95",
    "hi_95",
    "base_yhat",
)


@dataclass
class SeriesForecast:
    """What :func:`forecast_series` found: the backtest, then the forecasts of the future."""

    frequency: Frequency
    config: ForecastConfig
    forecasts: pl.DataFrame  # SERIES_FORECAST_COLUMNS
    accuracy: pl.DataFrame  # per series: level, unique_id, model, mase, mase_reconciled, ...
    selection: Selection
    reconciled: bool
    incoherence_base: float
    incoherence_reconciled: float
    seconds: float
    backtest_seconds: float

    def summary(self) -> pl.DataFrame:
        """Mean MASE by level: the selected model, reconciled, the seasonal naive model."""
        return (
            self.accuracy.group_by("level")
            .agg(
                pl.len().alias("series"),
                pl.col("mase").mean().alias("mase_selected"),
                pl.col("mase_reconciled").mean(),
                pl.col("mase_seasonal_naive").mean(),
                pl.col("coverage_95").mean(),
            )
            .sort("level")
        )


def _mase(
    forecasts: pl.DataFrame, actual: pl.DataFrame, scale: pl.DataFrame, column: str
) -> pl.DataFrame:
    j = forecasts.join(actual, on=["unique_id", "ds"]).join(scale, on="unique_id", how="left")
    return j.group_by("unique_id").agg(
        pl.when(pl.col("scale").first() > 0)
        .then((pl.col(column) - pl.col("y")).abs().mean() / pl.col("scale").first())
        .alias(column)
    )


def _select_fit_forecast(
    Y: pl.DataFrame, config: ForecastConfig, h: int, log=None
) -> tuple[Selection, pl.DataFrame]:
    selection = select_models(Y, config, log=log)
    fitted = fit_models(Y, selection.choices, config)
    return selection, refresh(fitted, Y, h=h)


def backtest(
    hier: Hierarchy, config: ForecastConfig, holdout: int, log=None
) -> tuple[pl.DataFrame, Selection]:
    """Choose on all but the last ``holdout`` periods, forecast them and score every series.

    Columns: ``level, unique_id, model, mase, mase_reconciled, mase_seasonal_naive,
    coverage_95`` (MASE scaled by the training part's seasonal naive error).
    """
    Y = hier.Y
    cut = Y["ds"].unique().sort()
    if cut.len() <= holdout:
        raise SeriesError(f"{cut.len()} periods; the backtest holds out {holdout}")
    end = cut[-holdout - 1]
    train = Y.filter(pl.col("ds") <= end).drop("level")
    test = Y.filter(pl.col("ds") > end).select("unique_id", "ds", "y")
    selection, base = _select_fit_forecast(train, config, holdout, log)
    rec = reconcile(hier, base)
    naive_cfg = FittedModels(config=config)  # no stored models: seasonal naive or naive
    naive = refresh(naive_cfg, train, h=holdout)
    scale = seasonal_scale(train, config.season_length)
    cover = (
        rec.join(test, on=["unique_id", "ds"])
        .group_by("unique_id")
        .agg(
            ((pl.col("y") >= pl.col("lo_95")) & (pl.col("y") <= pl.col("hi_95")))
            .mean()
            .alias("coverage_95")
        )
    )
    levels = hier.Y.select("unique_id", "level").unique()
    acc = (
        levels.join(base.group_by("unique_id").agg(pl.col("model").first()), on="unique_id")
        .join(_mase(base, test, scale, "yhat").rename({"yhat": "mase"}), on="unique_id", how="left")
        .join(
            _mase(rec, test, scale, "yhat").rename({"yhat": "mase_reconciled"}),
            on="unique_id",
            how="left",
        )
        .join(
            _mase(naive, test, scale, "yhat").rename({"yhat": "mase_seasonal_naive"}),
            on="unique_id",
            how="left",
        )
        .join(cover, on="unique_id", how="left")
        .select(
            "level",
            "unique_id",
            "model",
            *[
                pl.col(c).cast(pl.Float64).fill_nan(None)
                for c in ("mase", "mase_reconciled", "mase_seasonal_naive", "coverage_95")
            ],
        )
        .sort("level", "unique_id")
    )
    return acc, selection


def forecast_series(
    hier: Hierarchy,
    freq: Frequency,
    h: int | None = None,
    holdout: int | None = None,
    n_jobs: int = 1,
    candidates: Sequence[str] | None = None,
    log=None,
) -> SeriesForecast:
    """Backtest on the last ``holdout`` periods, then forecast ``h`` periods past the end.

    ``h`` and ``holdout`` default to the frequency's horizon. Series are completed with
    zeros between their first period and the latest period of all.
    """
    began = time.perf_counter()
    h = h or freq.horizon
    holdout = holdout or h
    config = freq.config(h=h, n_jobs=n_jobs, candidates=candidates)
    Y = complete(hier.Y, freq)
    hier = Hierarchy(Y, hier.S, hier.tags, hier.levels)
    accuracy, _ = backtest(
        hier, freq.config(h=holdout, n_jobs=n_jobs, candidates=candidates), holdout, log
    )
    backtest_seconds = time.perf_counter() - began
    selection, base = _select_fit_forecast(Y.drop("level"), config, h, log)
    rec = reconcile(hier, base)
    levels = dict(Y.select("unique_id", "level").unique().iter_rows())
    forecasts = rec.select(
        pl.col("unique_id").replace_strict(levels).alias("level"),
        "unique_id",
        pl.col("ds").cast(pl.Date),
        pl.col("ds").rank("dense").over("unique_id").cast(pl.Int64).alias("horizon"),
        "model",
        *FORECAST_COLUMNS[3:],
        "base_yhat",
    ).sort("level", "unique_id", "ds")
    return SeriesForecast(
        frequency=freq,
        config=config,
        forecasts=forecasts,
        accuracy=accuracy,
        selection=selection,
        reconciled=hier.coherent and not forecasts["base_yhat"].equals(forecasts["yhat"]),
        incoherence_base=incoherence(hier, forecasts, "base_yhat"),
        incoherence_reconciled=incoherence(hier, forecasts, "yhat"),
        seconds=time.perf_counter() - began,
        backtest_seconds=backtest_seconds,
    )
