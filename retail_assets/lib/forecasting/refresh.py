"""Fit and refresh: each series' chosen model fitted once, then applied to new history daily.

:func:`fit_models` fits every series' chosen model on its whole history (:class:`FittedModels`,
which the ``ml/forecast_models`` asset pickles); :func:`refresh` applies the stored models to
the new history with their parameters (locally or on a Dask cluster) and assembles the
forecasts with nested, non-negative 80/95 % bounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from statsforecast import StatsForecast
from statsforecast.models import Naive

from retail_assets.lib.forecasting.models import (
    EXOG_MODEL,
    FORECAST_COLUMNS,
    LEVELS,
    MIN_OBSERVATIONS,
    ForecastConfig,
    ForecastError,
    _check_history,
    _n_jobs,
    _StatsForecast,
    make_model,
)


@dataclass
class FittedModels:
    """The chosen model of every series, fitted once on its history (picklable).

    ``groups`` maps a model name to a fitted ``StatsForecast`` over the series that chose it;
    ``exog_columns`` names the regressors ``SARIMA_X`` was fitted with.
    """

    config: ForecastConfig
    groups: dict[str, StatsForecast] = field(default_factory=dict)
    exog_columns: tuple[str, ...] = ()
    fitted_at: str = ""

    @property
    def series(self) -> dict[str, str]:
        """Model name by series id."""
        return {uid: name for name, sf in self.groups.items() for uid in _uids(sf)}


def _uids(sf: StatsForecast) -> list[str]:
    uids = sf.uids
    return [str(u) for u in (uids.to_list() if hasattr(uids, "to_list") else list(uids))]


def fit_models(
    history: pl.DataFrame,
    choices: pl.DataFrame,
    config: ForecastConfig,
    exog: pl.DataFrame | None = None,
) -> FittedModels:
    """Fit each series' chosen model on its whole history, once."""
    fitted = FittedModels(config=config)
    if exog is not None:
        fitted.exog_columns = tuple(c for c in exog.columns if c not in ("unique_id", "ds"))
    for (name,), group in choices.filter(pl.col("model").is_not_null()).group_by(
        "model", maintain_order=True
    ):
        ids = group["unique_id"].implode()
        data = history.filter(pl.col("unique_id").is_in(ids)).select("unique_id", "ds", "y")
        if name == EXOG_MODEL and exog is not None:
            data = data.join(exog, on=["unique_id", "ds"], how="left").fill_null(0)
        model = make_model(name, config)
        sf = _StatsForecast(
            models=[model],
            freq=config.freq,
            n_jobs=_n_jobs(config, data, [model]),
            fallback_model=Naive(),
        )
        sf.fit(df=data.sort("unique_id", "ds"))
        fitted.groups[name] = sf
    return fitted


def _forward_one(
    name: str, model: Any, y: np.ndarray, h: int, levels: list[int], X=None, X_future=None
) -> tuple[str, dict]:
    """``(model name, forecast)``: the stored model applied to ``y`` with its parameters.

    Models without stored parameters to reuse (HistoricAverage, Croston, ADIDA, IMAPA have no
    ``forward``) forecast afresh, which for them is as cheap. A model that fails on the new
    history (e.g. a multiplicative one on zeros), or leaves days without a value (a seasonal
    naive model on less than a season, as when a backfill reaches a range's first days after
    a selection), gives way to a naive forecast, named so.
    """
    try:
        if not hasattr(model, "forward"):
            out = model.forecast(y=y, h=h, X=X, X_future=X_future, level=levels)
        else:
            out = model.forward(y=y, h=h, X=X, X_future=X_future, level=levels)
    except Exception:
        out = None
    if out is not None and np.isfinite(np.asarray(out["mean"], dtype=float)).all():
        return name, out
    return "Naive", Naive().forecast(y=y, h=h, level=levels)


def _forward_chunk(
    jobs: Sequence[tuple[str, str, Any, np.ndarray, Any, Any]], h: int, levels: list[int]
) -> list[tuple[str, str, dict]]:
    """Apply stored models to new histories: ``(uid, name, model, y, X, X_future)`` each."""
    return [
        (uid, *_forward_one(name, model, y, h, levels, X, Xf))
        for uid, name, model, y, X, Xf in jobs
    ]


def refresh(
    fitted: FittedModels,
    history: pl.DataFrame,
    h: int | None = None,
    exog: pl.DataFrame | None = None,
    future_exog: pl.DataFrame | None = None,
    client: Any = None,
) -> pl.DataFrame:
    """Forecast every series of ``history`` ``h`` steps past its last point.

    Series with a stored model get it applied to their new history with its fitted
    parameters (``forward``); others get a seasonal naive (two seasons of history) or naive
    forecast. Returns ``unique_id, ds, model, yhat, lo_80, hi_80, lo_95, hi_95``, bounds clipped
    at zero (demand is never negative). With a Dask ``client`` chunks of series run on the
    cluster.
    """
    _check_history(history)
    config = fitted.config
    h = h or config.h
    levels = list(config.levels)
    by_uid: dict[str, tuple[str, Any]] = {}
    for name, sf in fitted.groups.items():
        for i, uid in enumerate(_uids(sf)):
            by_uid[uid] = (name, sf.fitted_[i, 0])
    ordered = history.sort("unique_id", "ds")
    ids = ordered["unique_id"].to_numpy()
    ys = ordered["y"].cast(pl.Float64).to_numpy()
    bounds = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1], True])
    last_ds = ordered.group_by("unique_id", maintain_order=True).agg(pl.col("ds").last())
    x_cols = list(fitted.exog_columns)
    jobs = []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        uid = str(ids[start])
        y = ys[start:end]
        if len(y) < MIN_OBSERVATIONS:
            continue
        name, model = by_uid.get(uid, (None, None))
        X = Xf = None
        if name == EXOG_MODEL:
            if exog is None or future_exog is None:
                name, model = None, None
            else:
                X, Xf = _exog_arrays(uid, ordered[start:end], exog, future_exog, x_cols, h)
        if model is None:
            name = "SeasonalNaive" if len(y) >= 2 * config.season_length else "Naive"
            model = make_model(name, config)
        jobs.append((uid, name, model, y, X, Xf))
    if client is None:
        results = _forward_chunk(jobs, h, levels)
    else:
        size = max(1, math.ceil(len(jobs) / max(1, 4 * len(client.nthreads()))))
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        futures = client.map(_forward_chunk, chunks, h=h, levels=levels, pure=False)
        results = [r for part in client.gather(futures) for r in part]
    return _assemble(results, last_ds, h, config.freq)


def _exog_arrays(uid, rows, exog, future_exog, cols, h):
    hist = rows.select("ds").join(
        exog.filter(pl.col("unique_id") == uid).drop("unique_id"), on="ds", how="left"
    )
    fut = future_exog.filter(pl.col("unique_id") == uid).sort("ds").head(h)
    if fut.height < h:
        raise ForecastError(
            f"future regressors for {uid} cover {fut.height} of the {h} days forecast"
        )
    return (
        hist.select(cols).fill_null(0).to_numpy().astype(float),
        fut.select(cols).fill_null(0).to_numpy().astype(float),
    )


def _assemble(
    results: Sequence[tuple[str, str, dict]], last_ds: pl.DataFrame, h: int, freq: str
) -> pl.DataFrame:
    if not results:
        return pl.DataFrame(schema=_FORECAST_SCHEMA)
    last = dict(last_ds.iter_rows())
    uids, names, steps, cols = [], [], [], {c: [] for c in FORECAST_COLUMNS[3:]}
    for uid, name, res in results:
        mean = np.asarray(res["mean"], dtype=float)
        uids += [uid] * h
        names += [name] * h
        steps += list(range(1, h + 1))
        cols["yhat"].append(mean)
        for lvl in LEVELS:
            for side in ("lo", "hi"):
                key = f"{side}-{lvl}"
                cols[f"{side}_{lvl}"].append(
                    np.asarray(res[key], dtype=float) if key in res else mean
                )
    frame = pl.DataFrame(
        {
            "unique_id": uids,
            "last": [last[u] for u in uids],
            "step": steps,
            "model": names,
            **{c: np.concatenate(v) for c, v in cols.items()},
        }
    )
    if not freq.startswith("1"):
        raise ForecastError(f"freq must be one unit, e.g. 1d or 1mo; got {freq!r}")
    step = pl.concat_str(pl.col("step").cast(pl.Utf8), pl.lit(freq[1:]))
    ds = pl.col("last").dt.offset_by(step)
    value_cols = list(FORECAST_COLUMNS[3:])
    return (
        frame.with_columns(ds.cast(pl.Date).alias("ds"))
        .with_columns(
            [pl.col(c).fill_nan(None) for c in value_cols],
        )
        .with_columns(
            # Nested and non-negative: 95 outside 80 outside the point forecast, all >= 0.
            pl.col("yhat").clip(lower_bound=0),
            pl.min_horizontal("lo_95", "lo_80", "yhat").clip(lower_bound=0).alias("lo_95"),
            pl.min_horizontal("lo_80", "yhat").clip(lower_bound=0).alias("lo_80"),
            pl.max_horizontal("hi_80", "yhat").clip(lower_bound=0).alias("hi_80"),
            pl.max_horizontal("hi_95", "hi_80", "yhat").clip(lower_bound=0).alias("hi_95"),
        )
        .select(FORECAST_COLUMNS)
        .sort("unique_id", "ds")
    )


_FORECAST_SCHEMA = {
    "unique_id": pl.Utf8,
    "ds": pl.Date,
    "model": pl.Utf8,
    **{c: pl.Float64 for c in FORECAST_COLUMNS[3:]},
}
