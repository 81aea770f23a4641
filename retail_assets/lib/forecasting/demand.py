"""Demand forecasts with statsforecast: models chosen by cross-validation, refreshed cheaply.

Two steps, on two clocks:

- **Selection** (weekly, or whenever asked): every series is classified (regular,
  intermittent, short, constant, all zero). Regular and intermittent series run statsforecast's
  own rolling-origin ``cross_validation`` over a candidate list; each candidate is scored on
  the held-out windows (MAE, RMSE, MASE, sMAPE, bias, 80/95 % interval coverage, with
  ``utilsforecast``) and the series keeps the one with the lowest MASE (the first-listed
  candidate unless another beats it by ``selection_margin``). The chosen model is then
  fitted once on the whole history and kept (:class:`FittedModels`).
- **Refresh** (daily): each series' kept model is applied to the new history with its stored
  parameters, via the statsforecast model's ``forward``; nothing is re-estimated. A series the
  selection never saw gets a seasonal naive (or naive) forecast until the next selection.

Short series fall back by rule (seasonal naive from two seasons, naive below; fewer than
``MIN_OBSERVATIONS`` points are not forecast), constant and all-zero series get a naive model
(their future is their past), and intermittent series choose among Croston, ADIDA and IMAPA,
whose intervals are conformal (statsforecast's ``ConformalIntervals``).

Every choice says why (``reason``): :attr:`Selection.champions` were chosen by
cross-validation, :attr:`Selection.fallbacks` by rule, counted by reason with
:meth:`Selection.fallback_reasons` (a series too short names the days it would need).

Cost: at 365 days a regular series costs about 0.24 s of AutoETS, 0.08 s of AutoTheta and
0.04 s of MSTL to cross-validate on one core; the naive, average and intermittent models a
few milliseconds each. A few category series take seconds, thousands of store x product
series minutes (benchmarks/RESULTS.md, "selection budget").

The engine is local (``n_jobs`` processes, spawned, for calls on at least
``PARALLEL_MIN_SERIES`` series) unless a Dask client is given: cross-validation then runs
through statsforecast's distributed (Fugue) backend on the cluster, and the refresh maps
chunks of series over the cluster's workers.

This module is the demand API in one place: it defines nothing and re-exports the names of
:mod:`~retail_assets.lib.forecasting.models` (configuration, candidates, classification),
:mod:`~retail_assets.lib.forecasting.selection` (cross-validation, scores, choices),
:mod:`~retail_assets.lib.forecasting.refresh` (fit and refresh) and
:mod:`~retail_assets.lib.forecasting.accuracy` (realized accuracy), so callers write
``fc.select_models``. ``_StatsForecast`` is here too: pickles of :class:`FittedModels` written
before the split name it (and the class) by this module. Modules of this package import from
the defining modules, never from here.
"""

from retail_assets.lib.forecasting.accuracy import (
    ACCURACY_COLUMNS,
    coverage_rate,
    realized_accuracy,
    seasonal_scale,
    summary_by,
)
from retail_assets.lib.forecasting.models import (
    CHEAP_MODELS,
    CONFORMAL_WINDOWS,
    DEFAULT_CANDIDATES,
    EXOG_BASELINE,
    EXOG_MODEL,
    FORECAST_COLUMNS,
    INTERMITTENT_ADI,
    INTERMITTENT_CANDIDATES,
    KNOWN_MODELS,
    LEVELS,
    MIN_OBSERVATIONS,
    PARALLEL_MIN_SERIES,
    SEASON,
    ForecastConfig,
    ForecastError,
    _StatsForecast,
    classify,
    make_model,
)
from retail_assets.lib.forecasting.refresh import (
    FittedModels,
    fit_models,
    refresh,
)
from retail_assets.lib.forecasting.selection import (
    CV_BEST_REASON,
    CV_DEFAULT_REASON,
    CV_REASONS,
    Selection,
    cross_validate,
    score,
    select_models,
)

__all__ = [
    "ACCURACY_COLUMNS",
    "CHEAP_MODELS",
    "CONFORMAL_WINDOWS",
    "CV_BEST_REASON",
    "CV_DEFAULT_REASON",
    "CV_REASONS",
    "DEFAULT_CANDIDATES",
    "EXOG_BASELINE",
    "EXOG_MODEL",
    "FORECAST_COLUMNS",
    "FittedModels",
    "ForecastConfig",
    "ForecastError",
    "INTERMITTENT_ADI",
    "INTERMITTENT_CANDIDATES",
    "KNOWN_MODELS",
    "LEVELS",
    "MIN_OBSERVATIONS",
    "PARALLEL_MIN_SERIES",
    "SEASON",
    "Selection",
    "_StatsForecast",
    "classify",
    "coverage_rate",
    "cross_validate",
    "fit_models",
    "make_model",
    "realized_accuracy",
    "refresh",
    "score",
    "seasonal_scale",
    "select_models",
    "summary_by",
]
