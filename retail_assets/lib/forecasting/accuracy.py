"""Accuracy of forecasts once their days have actuals: errors, MASE's scale, coverage, summaries.

Shared by the daily forecasts (``ml/forecast_accuracy``) and a retailer's own series.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

#: The accuracy measures reported for every series and model (CV windows and realized).
ACCURACY_COLUMNS = ("mae", "rmse", "mase", "smape", "bias", "coverage_80", "coverage_95")


def realized_accuracy(
    forecasts: pl.DataFrame, actuals: pl.DataFrame, season_scale: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Accuracy of past forecasts whose days now have actuals.

    ``forecasts``: ``forecast_origin, unique_id, ds, model, yhat, lo_80, hi_80, lo_95, hi_95``;
    ``actuals``: ``unique_id, ds, y``; ``season_scale``: ``unique_id, scale`` (the in-sample
    seasonal naive MAE) for MASE. One row per series and model.
    """
    joined = forecasts.join(actuals, on=["unique_id", "ds"], how="inner")
    err = pl.col("yhat") - pl.col("y")
    out = joined.group_by("unique_id", "model").agg(
        pl.len().alias("points"),
        pl.col("forecast_origin").n_unique().alias("origins"),
        err.abs().mean().alias("mae"),
        (err**2).mean().sqrt().alias("rmse"),
        (
            pl.when((pl.col("y").abs() + pl.col("yhat").abs()) == 0)
            .then(0.0)
            .otherwise(200 * err.abs() / (pl.col("y").abs() + pl.col("yhat").abs()))
        )
        .mean()
        .clip(0.0, 200.0)  # rounding can put a 200 % error a hair above 200
        .alias("smape"),
        err.mean().alias("bias"),
        pl.col("y").is_between(pl.col("lo_80"), pl.col("hi_80")).mean().alias("coverage_80"),
        pl.col("y").is_between(pl.col("lo_95"), pl.col("hi_95")).mean().alias("coverage_95"),
    )
    if season_scale is not None:
        out = (
            out.join(season_scale, on="unique_id", how="left")
            .with_columns((pl.col("mae") / pl.col("scale")).alias("mase"))
            .drop("scale")
        )
    else:
        out = out.with_columns(pl.lit(None, pl.Float64).alias("mase"))
    return out.sort("unique_id", "model")


def seasonal_scale(history: pl.DataFrame, season_length: int) -> pl.DataFrame:
    """Per series, the mean absolute seasonal difference (MASE's denominator); naive if 0."""
    s = history.sort("unique_id", "ds").with_columns(
        (pl.col("y") - pl.col("y").shift(season_length).over("unique_id")).abs().alias("sd"),
        (pl.col("y") - pl.col("y").shift(1).over("unique_id")).abs().alias("d1"),
    )
    return s.group_by("unique_id").agg(
        pl.when(pl.col("sd").mean() > 0)
        .then(pl.col("sd").mean())
        .otherwise(pl.col("d1").mean())
        .alias("scale")
    )


def coverage_rate(actual: Sequence[float], lo: Sequence[float], hi: Sequence[float]) -> float:
    """Share of actuals inside ``[lo, hi]``."""
    a, low, high = (np.asarray(v, dtype=float) for v in (actual, lo, hi))
    if not len(a):
        return float("nan")
    return float(np.mean((a >= low) & (a <= high)))


def summary_by(metrics: pl.DataFrame, key: str = "level") -> pl.DataFrame:
    """Mean of every accuracy column by ``key`` (e.g. the hierarchy level) and model."""
    cols = [c for c in ACCURACY_COLUMNS if c in metrics.columns]
    return (
        metrics.group_by(key, "model")
        .agg(pl.len().alias("series"), *[pl.col(c).mean() for c in cols])
        .sort(key, "mase")
    )
