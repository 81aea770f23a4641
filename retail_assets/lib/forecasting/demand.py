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
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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
from utilsforecast.evaluation import evaluate
from utilsforecast.losses import bias, coverage, mae, mase, rmse, smape

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


# ---------------------------------------------------------------------------- selection
#: The reasons of a choice made by cross-validation; any other reason is a rule's fallback.
CV_BEST_REASON = "lowest cross-validated MASE"
CV_DEFAULT_REASON = "the default candidate: no other beat its cross-validated MASE by the margin"
CV_REASONS = (CV_BEST_REASON, CV_DEFAULT_REASON)


@dataclass
class Selection:
    """What cross-validation found: the choice per series and every candidate's scores."""

    choices: pl.DataFrame  # unique_id, kind, n, model, mase, reason
    metrics: pl.DataFrame  # unique_id, model, mae, rmse, mase, smape, bias, coverage_80/95, points
    cv: pl.DataFrame  # unique_id, ds, cutoff, y, model, yhat, lo_80, hi_80, lo_95, hi_95
    seconds: float = 0.0

    @property
    def champions(self) -> pl.DataFrame:
        """The choices made by cross-validation (a real champion among the candidates)."""
        return self.choices.filter(pl.col("reason").is_in(CV_REASONS))

    @property
    def fallbacks(self) -> pl.DataFrame:
        """The choices made by rule: series too short, constant, all zero or not forecast."""
        return self.choices.filter(~pl.col("reason").is_in(CV_REASONS))

    def fallback_reasons(self) -> dict[str, int]:
        """How many series fell back, by reason (most first)."""
        counts = self.fallbacks.group_by("reason").len().sort(["len", "reason"], descending=True)
        return dict(counts.iter_rows())


def _to_long(cv: pl.DataFrame, models: Sequence[str], levels: Sequence[int]) -> pl.DataFrame:
    """Statsforecast's wide output (a column per model and bound) to one row per model."""
    keys = [c for c in ("unique_id", "ds", "cutoff", "y") if c in cv.columns]
    frames = []
    for m in models:
        cols = [pl.col(m).alias("yhat")]
        for lvl in LEVELS:
            for side in ("lo", "hi"):
                name = f"{m}-{side}-{lvl}"
                cols.append(
                    (pl.col(name) if lvl in levels else pl.lit(None, pl.Float64)).alias(
                        f"{side}_{lvl}"
                    )
                )
        frames.append(cv.select(*keys, pl.lit(m).alias("model"), *cols))
    return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()


def score(
    cv_wide: pl.DataFrame,
    train: pl.DataFrame,
    models: Sequence[str],
    season_length: int,
    levels: Sequence[int] = LEVELS,
) -> pl.DataFrame:
    """Per series and model: MAE, RMSE, MASE, sMAPE (0-200 %), bias and interval coverage.

    ``cv_wide`` is statsforecast's ``cross_validation`` output; ``train`` the history, whose
    seasonal naive in-sample error scales MASE. Computed with ``utilsforecast``, averaged over
    the windows (cutoffs).
    """
    metrics: list[Callable] = [
        mae,
        rmse,
        smape,
        bias,
        functools.partial(mase, seasonality=season_length),
        coverage,
    ]
    evaluated = evaluate(
        cv_wide,
        metrics=metrics,
        models=list(models),
        train_df=train.select("unique_id", "ds", "y"),
        level=list(levels),
    ).with_columns(pl.col("metric").str.replace("coverage_level", "coverage_"))
    # One value per series, metric and window (cutoff): averaged over the windows.
    index = [c for c in ("unique_id", "cutoff", "metric") if c in evaluated.columns]
    long = evaluated.unpivot(index=index, variable_name="model").pivot(
        on="metric", index=["unique_id", "model"], values="value", aggregate_function="mean"
    )
    points = cv_wide.group_by("unique_id").agg(pl.len().alias("points"))
    out = long.join(points, on="unique_id", how="left").with_columns(
        (pl.col("smape") * 200).clip(0.0, 200.0).alias("smape")
    )
    for lvl in LEVELS:
        if f"coverage_{lvl}" not in out.columns:
            out = out.with_columns(pl.lit(None, pl.Float64).alias(f"coverage_{lvl}"))
    return out.select(list(_METRICS_SCHEMA)).sort("unique_id", "model")


def cross_validate(
    history: pl.DataFrame,
    models: Sequence[str],
    config: ForecastConfig,
    exog: pl.DataFrame | None = None,
    client: Any = None,
) -> pl.DataFrame:
    """Statsforecast's rolling-origin cross-validation of ``models`` (wide output, polars).

    Models with stored parameters (a ``forward`` method) are fitted at the first cutoff and
    carried to the later ones with ``forward`` (``refit=False``), as the daily refresh uses
    them; that is a third of the cost of refitting at every cutoff and ranked the candidates
    the same in the benchmark. Models without one (HistoricAverage, the Croston family) are
    refitted per window; they cost milliseconds. With a Dask ``client`` both run through
    statsforecast's distributed backend on the cluster.
    """
    data = history.select("unique_id", "ds", "y")
    if exog is not None:
        data = data.join(exog, on=["unique_id", "ds"], how="left").fill_null(0)
    built = [make_model(m, config) for m in models]
    keys = ["unique_id", "ds", "cutoff"]
    # refit=False fits each model object in place and then calls its forward: on a cluster
    # whose workers share memory (``processes=False``) two threads would fit the same object
    # at once. Workers in their own processes get their own copy of the models.
    shared = client is not None and _in_process(client)
    out: pl.DataFrame | None = None
    for refit in (False, True):
        group = [m for m in built if (hasattr(m, "forward") and not shared) != refit]
        if not group:
            continue
        sf = _StatsForecast(
            models=group,
            freq=config.freq,
            n_jobs=_n_jobs(config, data, group),
            fallback_model=Naive(),
        )
        kwargs = dict(
            h=config.h,
            n_windows=config.n_windows,
            step_size=config.step,
            level=list(config.levels),
            refit=refit,
        )
        if client is None:
            cv = sf.cross_validation(df=data.sort("unique_id", "ds"), **kwargs)
        else:
            cv = _dask_cross_validation(sf, data, client, kwargs)
        cv = cv.with_columns(pl.col("ds").cast(pl.Date), pl.col("cutoff").cast(pl.Date))
        out = cv if out is None else out.join(cv.drop("y"), on=keys, how="inner")
    if out is None:
        raise ForecastError("no models to cross-validate")
    return out.sort("unique_id", "cutoff", "ds")


def _in_process(client: Any) -> bool:
    """Whether the Dask cluster's workers run in this process (they then share objects)."""
    workers = client.scheduler_info().get("workers", {})
    return any(str(address).startswith("inproc://") for address in workers)


def _dask_cross_validation(
    sf: StatsForecast, data: pl.DataFrame, client: Any, kwargs
) -> pl.DataFrame:
    import dask.dataframe as dd

    pdf = data.with_columns(pl.col("ds").cast(pl.Datetime("ns"))).to_pandas()
    ddf = dd.from_pandas(pdf, npartitions=max(1, min(len(client.nthreads()) * 2, 16)))
    out = sf.cross_validation(df=ddf, **kwargs)
    result = out.compute() if hasattr(out, "compute") else out
    # The Fugue backend returns float32 columns; the local path gives float64.
    return (
        pl.from_pandas(result.reset_index(drop=True))
        .with_columns(pl.col(pl.Float32).cast(pl.Float64))
        .sort("unique_id", "cutoff", "ds")
    )


def select_models(
    history: pl.DataFrame,
    config: ForecastConfig,
    exog: pl.DataFrame | None = None,
    client: Any = None,
    log: Callable[[str], None] | None = None,
) -> Selection:
    """Choose a model per series by cross-validated MASE (rules for the rest).

    The first-listed candidate of each kind is the default; another replaces it only with a
    MASE lower by more than ``config.selection_margin``.

    With ``exog`` (``unique_id, ds`` plus regressor columns, covering the history), the series
    it covers also compare a seasonal ARIMA with and without the regressors; the one with them
    joins the candidates.
    """
    began = time.perf_counter()
    kinds = classify(history, config)
    cvs, scores = [], []
    groups = [
        ("regular", list(config.candidates)),
        ("intermittent", list(config.intermittent_candidates)),
    ]
    for kind, models in groups:
        ids = kinds.filter(pl.col("kind") == kind)["unique_id"]
        if ids.is_empty() or not models:
            continue
        data = history.filter(pl.col("unique_id").is_in(ids.implode()))
        if log:
            log(f"cross-validating {ids.len()} {kind} series over {models}")
        cv = cross_validate(data, models, config, client=client)
        cvs.append(_to_long(cv, models, config.levels))
        scores.append(score(cv, data, models, config.season_length, config.levels))
    if exog is not None:
        exog_ids = exog["unique_id"].unique()
        data = history.filter(
            pl.col("unique_id").is_in(exog_ids.implode())
            & pl.col("unique_id").is_in(
                kinds.filter(pl.col("kind") == "regular")["unique_id"].implode()
            )
        )
        if not data.is_empty():
            if log:
                log(
                    f"comparing {EXOG_BASELINE} with and without regressors on "
                    f"{data['unique_id'].n_unique()} series"
                )
            base = cross_validate(data, [EXOG_BASELINE], config, client=client)
            with_x = cross_validate(data, [EXOG_MODEL], config, exog=exog, client=client)
            for cv, m in ((base, EXOG_BASELINE), (with_x, EXOG_MODEL)):
                cvs.append(_to_long(cv, [m], config.levels))
                scores.append(score(cv, data, [m], config.season_length, config.levels))
    metrics = (
        pl.concat(scores, how="vertical_relaxed")
        if scores
        else pl.DataFrame(schema=_METRICS_SCHEMA)
    )
    cv_long = pl.concat(cvs, how="vertical_relaxed") if cvs else pl.DataFrame()
    order = {m: i for i, m in enumerate(KNOWN_MODELS)}
    defaults = [m[0] for _, m in groups if m]
    # The baseline seasonal ARIMA is reported, not chosen: it is only there to show what the
    # regressors add. Each kind's first-listed candidate is its default: another model must
    # beat its MASE by more than the margin.
    handicap = 1.0 / (1.0 - config.selection_margin)
    best = (
        metrics.filter(pl.col("model") != EXOG_BASELINE)
        .with_columns(
            pl.col("mase").fill_nan(None).fill_null(math.inf).alias("_mase"),
            pl.col("model").replace_strict(order, default=99).alias("_order"),
        )
        .with_columns(
            pl.when(pl.col("model").is_in(defaults))
            .then(pl.col("_mase"))
            .otherwise(pl.col("_mase") * handicap)
            .alias("_score")
        )
        .sort("unique_id", "_score", "_order")
        .group_by("unique_id", maintain_order=True)
        .first()
        .select(
            "unique_id",
            "model",
            "mase",
            pl.col("model").is_in(defaults).alias("_default"),
        )
    )
    chosen = kinds.join(best, on="unique_id", how="left")
    rules = [
        _rule_model(kind, n, config) if model is None else model
        for kind, n, model in chosen.select("kind", "n", "model").iter_rows()
    ]
    # Series too short for cross-validation: how long they would have to be, by what they
    # look like (intermittent series need two horizons more, for their conformal intervals).
    intermittent_like = (pl.col("n") / pl.col("nonzero")) > INTERMITTENT_ADI
    need = (
        pl.when(intermittent_like)
        .then(pl.lit(config.min_cv_length(intermittent=True)))
        .otherwise(pl.lit(config.min_cv_length()))
    )
    choices = chosen.with_columns(
        pl.Series("model", rules, dtype=pl.Utf8),
        pl.when(pl.col("model").is_not_null() & pl.col("_default"))
        .then(pl.lit(CV_DEFAULT_REASON))
        .when(pl.col("model").is_not_null())
        .then(pl.lit(CV_BEST_REASON))
        .when(pl.col("kind") == "skip")
        .then(pl.lit(f"fewer than {MIN_OBSERVATIONS} observations: not forecast"))
        .when(pl.col("kind") == "short")
        .then(
            pl.concat_str(
                pl.lit("too short for cross-validation (needs "),
                need.cast(pl.Utf8),
                pl.lit(
                    f" days: {config.n_windows} windows of {config.h} after enough to fit on): "
                ),
                pl.when(pl.col("n") >= 2 * config.season_length)
                .then(pl.lit("seasonal naive"))
                .otherwise(pl.lit("naive")),
            )
        )
        .when(pl.col("kind") == "zero")
        .then(pl.lit("no sales at all: naive (zero)"))
        .when(pl.col("kind") == "constant")
        .then(pl.lit("constant: naive (its future is its past)"))
        .otherwise(pl.concat_str(pl.lit("rule for a "), pl.col("kind"), pl.lit(" series")))
        .alias("reason"),
    ).select("unique_id", "kind", "n", "model", "mase", "reason")
    return Selection(choices, metrics, cv_long, time.perf_counter() - began)


#: The accuracy measures reported for every series and model (CV windows and realized).
ACCURACY_COLUMNS = ("mae", "rmse", "mase", "smape", "bias", "coverage_80", "coverage_95")
_METRICS_SCHEMA = {
    "unique_id": pl.Utf8,
    "model": pl.Utf8,
    **{c: pl.Float64 for c in ACCURACY_COLUMNS},
    "points": pl.UInt32,
}


# ---------------------------------------------------------------------------- fit and refresh
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


# ---------------------------------------------------------------------------- accuracy
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
