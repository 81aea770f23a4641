"""Daily demand forecasts with statsforecast, one long-format frame for every series.

The model depends on how much history a series has: AutoETS with a weekly season from three
weeks of history, a seasonal naive model from two weeks, a naive model below that; a series
with fewer than ``MIN_OBSERVATIONS`` days is not forecast (its intervals would be made up).
"""

from __future__ import annotations

import polars as pl
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, Naive, SeasonalNaive

MIN_OBSERVATIONS = 3
LEVELS = (80, 95)
SEASON = 7


_MODELS = {
    "AutoETS": lambda: AutoETS(season_length=SEASON, alias="AutoETS"),
    "SeasonalNaive": lambda: SeasonalNaive(season_length=SEASON, alias="SeasonalNaive"),
    "Naive": lambda: Naive(alias="Naive"),
}


def _family(n: pl.Expr) -> pl.Expr:
    """The model family for a series of ``n`` days: AutoETS from 3 seasons, then fallbacks."""
    return (
        pl.when(n >= 3 * SEASON)
        .then(pl.lit("AutoETS"))
        .when(n >= 2 * SEASON)
        .then(pl.lit("SeasonalNaive"))
        .otherwise(pl.lit("Naive"))
    )


def forecast(history: pl.DataFrame, h: int, n_jobs: int = 1) -> tuple[pl.DataFrame, list[str]]:
    """Forecast every series in ``history`` (``unique_id, ds, y``) ``h`` days ahead.

    Returns ``(forecasts, skipped)``: forecasts with ``unique_id, ds, model, yhat, lo_80,
    hi_80, lo_95, hi_95`` (bounds clipped at zero: demand is never negative), and the ids of
    series too short to forecast.
    """
    lengths = history.group_by("unique_id").agg(pl.len().alias("n"))
    skipped = sorted(lengths.filter(pl.col("n") < MIN_OBSERVATIONS)["unique_id"].to_list())
    usable = lengths.filter(pl.col("n") >= MIN_OBSERVATIONS)
    frames = []
    # Series of similar length share a model list, so each group is one statsforecast call.
    for (alias,), group in usable.with_columns(_family(pl.col("n")).alias("family")).group_by(
        "family", maintain_order=True
    ):
        ids = group["unique_id"]
        data = history.filter(pl.col("unique_id").is_in(ids.implode())).sort("unique_id", "ds")
        sf = StatsForecast(
            models=[_MODELS[alias]()],
            freq="1d",
            n_jobs=n_jobs,
            fallback_model=Naive(alias=alias),
        )
        fc = sf.forecast(df=data, h=h, level=list(LEVELS))
        frames.append(
            fc.select(
                "unique_id",
                pl.col("ds").cast(pl.Date),
                pl.lit(alias).alias("model"),
                pl.col(alias).clip(lower_bound=0).alias("yhat"),
                *[
                    pl.col(f"{alias}-{side}-{lvl}").clip(lower_bound=0).alias(f"{side}_{lvl}")
                    for lvl in LEVELS
                    for side in ("lo", "hi")
                ],
            )
        )
    empty = pl.DataFrame(
        schema={
            "unique_id": pl.Utf8,
            "ds": pl.Date,
            "model": pl.Utf8,
            "yhat": pl.Float64,
            "lo_80": pl.Float64,
            "hi_80": pl.Float64,
            "lo_95": pl.Float64,
            "hi_95": pl.Float64,
        }
    )
    out = pl.concat(frames) if frames else empty
    return out.select(empty.columns).sort("unique_id", "ds"), skipped
