"""Model selection: statsforecast's cross-validation, scored per series, a model chosen each.

:func:`select_models` classifies the series, cross-validates the candidates of each kind
(:func:`cross_validate`, locally or on a Dask cluster), scores them (:func:`score`) and keeps
the lowest MASE, or a rule's model for series that cannot be cross-validated
(:class:`Selection`).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from statsforecast import StatsForecast
from statsforecast.models import Naive
from utilsforecast.evaluation import evaluate
from utilsforecast.losses import bias, coverage, mae, mase, rmse, smape

from retail_assets.lib.forecasting.accuracy import ACCURACY_COLUMNS
from retail_assets.lib.forecasting.models import (
    EXOG_BASELINE,
    EXOG_MODEL,
    INTERMITTENT_ADI,
    KNOWN_MODELS,
    LEVELS,
    MIN_OBSERVATIONS,
    ForecastConfig,
    ForecastError,
    _n_jobs,
    _rule_model,
    _StatsForecast,
    classify,
    make_model,
)

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


_METRICS_SCHEMA = {
    "unique_id": pl.Utf8,
    "model": pl.Utf8,
    **{c: pl.Float64 for c in ACCURACY_COLUMNS},
    "points": pl.UInt32,
}
