"""Forecasting vocabulary: the configuration, the candidate models by name, series kinds.

:class:`ForecastConfig` says how series are forecast; :func:`make_model` builds a statsforecast
model by name; :func:`classify` sorts series into regular, intermittent, short, constant, all
zero (or too short to forecast), and ``_rule_model`` gives those chosen by rule their model.
The overview of selection and refresh is in :mod:`retail_assets.lib.forecasting.demand`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from statsforecast import StatsForecast
from statsforecast.models import (
    ADIDA,
    ARIMA,
    IMAPA,
    MSTL,
    AutoARIMA,
    AutoETS,
    AutoTheta,
    CrostonOptimized,
    HistoricAverage,
    Naive,
    SeasonalNaive,
)
from statsforecast.utils import ConformalIntervals

LEVELS = (80, 95)
SEASON = 7
MIN_OBSERVATIONS = 3
#: Average interval between non-zero demands above which a series is intermittent
#: (Syntetos and Boylan's ADI cut-off).
INTERMITTENT_ADI = 1.32

DEFAULT_CANDIDATES = ("AutoETS", "AutoTheta", "MSTL", "SeasonalNaive", "HistoricAverage")
INTERMITTENT_CANDIDATES = ("CrostonOptimized", "ADIDA", "IMAPA")
#: Windows of past errors behind the conformal intervals of intermittent models. Two gave
#: 95 % intervals that held 63 % of held-out days; statsforecast uses fewer on short series.
CONFORMAL_WINDOWS = 10
#: Models that can take exogenous regressors (seasonal ARIMA with fixed orders: cheap).
EXOG_MODEL = "SARIMA_X"
EXOG_BASELINE = "SARIMA"
KNOWN_MODELS = (
    *DEFAULT_CANDIDATES,
    "AutoARIMA",
    "Naive",
    *INTERMITTENT_CANDIDATES,
    EXOG_BASELINE,
    EXOG_MODEL,
)

FORECAST_COLUMNS = ("unique_id", "ds", "model", "yhat", "lo_80", "hi_80", "lo_95", "hi_95")


class ForecastError(ValueError):
    """The input cannot be forecast as given; the message says what to fix."""


@dataclass(frozen=True)
class ForecastConfig:
    """How series are forecast. ``freq`` is a polars interval (``1d``, ``1mo``)."""

    h: int = 30
    season_length: int = SEASON
    freq: str = "1d"
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    intermittent_candidates: tuple[str, ...] = INTERMITTENT_CANDIDATES
    n_windows: int = 3
    step_size: int | None = None
    n_jobs: int = 1
    levels: tuple[int, ...] = LEVELS
    #: Another candidate replaces the first-listed one (per series kind) only when its
    #: cross-validated MASE is lower by more than this share. Three windows are a small
    #: sample: on 300 simulated series, switching on any difference gave a held-out MASE of
    #: 0.736, keeping AutoETS unless beaten by 5 % gave 0.730 (AutoETS everywhere: 0.729).
    selection_margin: float = 0.05

    def __post_init__(self) -> None:
        unknown = [
            m for m in (*self.candidates, *self.intermittent_candidates) if m not in KNOWN_MODELS
        ]
        if unknown:
            raise ForecastError(
                f"unknown forecasting model(s) {unknown}; choose from {list(KNOWN_MODELS)}"
            )
        if self.h < 1 or self.n_windows < 1 or self.season_length < 1:
            raise ForecastError("h, n_windows and season_length must be at least 1")
        if not 0.0 <= self.selection_margin < 1.0:
            raise ForecastError(f"selection_margin must be in [0, 1), got {self.selection_margin}")

    @property
    def step(self) -> int:
        """Days between cross-validation cutoffs (default: the horizon)."""
        return self.step_size or self.h

    def min_cv_length(self, intermittent: bool = False) -> int:
        """Shortest series that gets cross-validation: the windows plus enough to fit on.

        Seasonal candidates need two full seasons before the first cutoff; conformal
        intervals (intermittent models) need two horizons more.
        """
        train = max(2 * self.season_length + 1, 10)
        if intermittent:
            train += 2 * self.h
        return train + (self.n_windows - 1) * self.step + self.h


class _StatsForecast(StatsForecast):
    """``StatsForecast`` whose worker processes (``n_jobs`` > 1) start clean.

    statsforecast's pool forks the calling process. Forked from a process with threads (a
    Dagster run's, polars' pool), a worker can inherit a lock some other thread held and wait
    on it forever: a store x product selection with ``n_jobs=-1`` hung that way, and the
    workers it did finish inherited Dagster's signal handlers (tracebacks at the pool's end).
    Spawned workers import what they need instead (numba compiles there again: seconds). As
    with any spawned pool, a script that sets ``n_jobs`` must guard its entry point
    (``if __name__ == "__main__":``); Dagster's and the CLI's are.
    """

    def _get_pool(self):
        import multiprocessing

        return multiprocessing.get_context("spawn").Pool, {}


#: Fewest series a statsforecast call spreads over ``n_jobs`` processes: starting spawned
#: workers costs seconds (imports, numba compiling), more than a few hundred series take.
PARALLEL_MIN_SERIES = 200
#: Models that cost milliseconds a series: never worth starting processes for.
CHEAP_MODELS = frozenset(
    {"SeasonalNaive", "HistoricAverage", "Naive", "CrostonOptimized", "ADIDA", "IMAPA"}
)


def _n_jobs(config: ForecastConfig, data: pl.DataFrame, models: Sequence[Any]) -> int:
    """``config.n_jobs`` for a costly call; 1 for cheap models or too few series."""
    names = {getattr(m, "alias", str(m)) for m in models}
    if (
        config.n_jobs == 1
        or names <= CHEAP_MODELS
        or data["unique_id"].n_unique() < PARALLEL_MIN_SERIES
    ):
        return 1
    return config.n_jobs


def make_model(name: str, config: ForecastConfig) -> Any:
    """A statsforecast model by name, with the config's season and ``alias=name``."""
    s = config.season_length
    conformal = ConformalIntervals(h=config.h, n_windows=CONFORMAL_WINDOWS)
    factories: dict[str, Callable[[], Any]] = {
        "AutoETS": lambda: AutoETS(season_length=s, alias=name),
        "AutoTheta": lambda: AutoTheta(season_length=s, alias=name),
        "MSTL": lambda: MSTL(season_length=s, alias=name),
        "AutoARIMA": lambda: AutoARIMA(season_length=s, alias=name),
        "SeasonalNaive": lambda: SeasonalNaive(season_length=s, alias=name),
        "HistoricAverage": lambda: HistoricAverage(alias=name),
        "Naive": lambda: Naive(alias=name),
        "CrostonOptimized": lambda: CrostonOptimized(alias=name, prediction_intervals=conformal),
        "ADIDA": lambda: ADIDA(alias=name, prediction_intervals=conformal),
        "IMAPA": lambda: IMAPA(alias=name, prediction_intervals=conformal),
        EXOG_BASELINE: lambda: ARIMA(
            order=(1, 0, 1), season_length=s, seasonal_order=(0, 1, 1), alias=name
        ),
        EXOG_MODEL: lambda: ARIMA(
            order=(1, 0, 1), season_length=s, seasonal_order=(0, 1, 1), alias=name
        ),
    }
    if name not in factories:
        raise ForecastError(f"unknown forecasting model {name!r}; choose from {list(factories)}")
    return factories[name]()


# ---------------------------------------------------------------------------- classification
def classify(history: pl.DataFrame, config: ForecastConfig) -> pl.DataFrame:
    """One row per series: ``unique_id, n, nonzero, kind``.

    ``kind`` is ``zero`` (no demand at all), ``constant``, ``short`` (too short for
    cross-validation), ``intermittent`` (average interval between demands above
    ``INTERMITTENT_ADI``), or ``regular``. Series below ``MIN_OBSERVATIONS`` are ``skip``.
    """
    _check_history(history)
    stats = history.group_by("unique_id", maintain_order=True).agg(
        pl.len().alias("n"),
        (pl.col("y") != 0).sum().alias("nonzero"),
        (pl.col("y").max() - pl.col("y").min()).alias("range"),
    )
    adi = pl.col("n") / pl.col("nonzero")
    return stats.with_columns(
        pl.when(pl.col("n") < MIN_OBSERVATIONS)
        .then(pl.lit("skip"))
        .when(pl.col("nonzero") == 0)
        .then(pl.lit("zero"))
        .when(pl.col("range") == 0)
        .then(pl.lit("constant"))
        .when(adi > INTERMITTENT_ADI)
        .then(
            pl.when(pl.col("n") >= config.min_cv_length(intermittent=True))
            .then(pl.lit("intermittent"))
            .otherwise(pl.lit("short"))
        )
        .when(pl.col("n") >= config.min_cv_length())
        .then(pl.lit("regular"))
        .otherwise(pl.lit("short"))
        .alias("kind")
    ).select("unique_id", "n", "nonzero", "kind")


def _check_history(history: pl.DataFrame) -> None:
    missing = [c for c in ("unique_id", "ds", "y") if c not in history.columns]
    if missing:
        raise ForecastError(f"series frame lacks column(s) {missing}: need unique_id, ds, y")
    nulls = history.select(pl.col("unique_id", "ds", "y").null_count()).row(0)
    if any(nulls):
        raise ForecastError(
            "series frame has nulls: "
            + ", ".join(
                f"{c}: {n} rows" for c, n in zip(("unique_id", "ds", "y"), nulls, strict=True) if n
            )
        )
    dup = history.height - history.select("unique_id", "ds").n_unique()
    if dup:
        raise ForecastError(f"series frame has {dup} duplicate (unique_id, ds) rows")


def _rule_model(kind: str, n: int, config: ForecastConfig) -> str | None:
    """The model a series gets without cross-validation, or None when it is not forecast."""
    if kind == "skip":
        return None
    if kind == "short" and n >= 2 * config.season_length:
        return "SeasonalNaive"
    return "Naive"
