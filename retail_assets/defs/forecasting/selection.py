"""The weekly model selection: ``ml/forecast_models`` with ``ml/forecast_cv_accuracy``.

Reads up to ``RETAIL_FORECAST_HISTORY_DAYS`` of daily sales of the levels forecast
(``RETAIL_FORECAST_LEVELS``: the categories by default), cross-validates the candidates on
every series long enough, keeps the best by MASE and fits it once; a series too short falls
back to a rule's model, and the metadata counts champions and fallbacks by reason. Also
compares a seasonal ARIMA with and without regressors (festival flag, discount, signals lagged
by the horizon) per category. Six categories take seconds; every store x product series
(~2,850 at 20,000 customers) takes minutes (benchmarks/RESULTS.md).
"""

import datetime as dt
import pickle
import time

import dagster as dg
import polars as pl

from retail_assets.defs.forecasting.shared import (
    CALENDAR,
    CATEGORY_SIGNALS,
    FORECAST_CV_ACCURACY,
    FORECAST_MODELS,
    MODELS_FILE,
    SALES_BY_CATEGORY,
    SALES_BY_STORE_PRODUCT,
    dask_client,
    forecast_config,
    load_history,
    regressors,
)
from retail_assets.defs.operations import MODELS_POOL
from retail_assets.defs.publishing import passes_schema, publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.forecasting import demand as fc
from retail_assets.lib.warehouse.frames import markdown_figures
from retail_assets.lib.warehouse.lake import Lake

_md = markdown_figures


def _last_sales_day(lake: Lake) -> dt.date | None:
    files = lake.partition_files("features", "daily_sales_by_category")
    if not files:
        return None
    return dt.date.fromisoformat(files[-1].parent.name.split("=", 1)[1])


_SELECTION_SPEC = {
    "group_name": "forecasting",
    "kinds": {"statsforecast", "polars", "parquet"},
    "owners": ["team:planning"],
    "code_version": "3",
}


@dg.multi_asset(
    pool=MODELS_POOL,
    specs=[
        dg.AssetSpec(
            FORECAST_MODELS,
            deps=[SALES_BY_CATEGORY, SALES_BY_STORE_PRODUCT, CATEGORY_SIGNALS, CALENDAR],
            description="The forecasting model of every series of the levels forecast "
            "(RETAIL_FORECAST_LEVELS: categories by default; total, store x product on request), "
            "chosen by rolling-origin cross-validation on MASE and fitted once, or by rule for "
            "a series too short to cross-validate (the reason says which); the fitted models "
            "are stored beside the table (models.pkl) for the daily refresh.",
            **_SELECTION_SPEC,
        ),
        dg.AssetSpec(
            FORECAST_CV_ACCURACY,
            deps=[FORECAST_MODELS],
            description="MAE, RMSE, MASE, sMAPE, bias and 80/95 % interval coverage of every "
            "candidate model per series on the cross-validation windows, including a seasonal "
            "ARIMA with and without regressors per category.",
            **_SELECTION_SPEC,
        ),
    ],
    check_specs=[schema_check_spec(FORECAST_MODELS), schema_check_spec(FORECAST_CV_ACCURACY)],
)
def forecast_models(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Cross-validate the candidates on every series and keep each series' best model."""
    lake = platform.lake()
    config = forecast_config(platform)
    last = _last_sales_day(lake)
    if last is None:
        raise dg.Failure(
            description="no daily sales yet: materialize features/daily_sales_by_category "
            "and features/daily_sales_by_store_product first",
            allow_retries=False,
        )
    first = last - dt.timedelta(days=platform.forecast_history_days - 1)
    history = load_history(lake, list(platform.forecast_levels), first, last)
    levels = dict(history.select("unique_id", "level").unique().iter_rows())
    exog = (
        regressors(lake, config.h, first, last) if "category" in platform.forecast_levels else None
    )
    context.log.info(
        f"selecting models for {len(levels)} series, {history['ds'].n_unique()} days up to "
        f"{last}; candidates {list(config.candidates)}, {config.n_windows} windows of "
        f"{config.h} days" + ("; with regressors per category" if exog is not None else "")
    )
    with dask_client(platform, context.log) as client:
        selection = fc.select_models(
            history.drop("level"), config, exog=exog, client=client, log=context.log.info
        )
    began = time.perf_counter()
    fitted = fc.fit_models(history.drop("level"), selection.choices, config, exog=exog)
    fitted.fitted_at = last.isoformat()
    fit_seconds = time.perf_counter() - began
    champions, fallbacks = selection.champions.height, selection.fallbacks.height
    reasons = selection.fallback_reasons()
    context.log.info(
        f"selection took {selection.seconds:.1f} s and the fit {fit_seconds:.1f} s for "
        f"{len(levels)} series: {champions} with a champion chosen by cross-validation, "
        f"{fallbacks} by rule" + (f" ({reasons})" if reasons else "")
    )
    if fallbacks and not champions:
        context.log.warning(
            f"no series has the history cross-validation needs ({history['ds'].n_unique()} "
            f"days up to {last}; {config.min_cv_length()} for a regular series: "
            f"{config.n_windows} windows of {config.h} days after enough to fit on): every "
            "series falls back to a seasonal naive or naive model until there is"
        )

    level_of = pl.col("unique_id").replace_strict(levels, default="category")
    choices = selection.choices.select(
        level_of.alias("level"),
        "unique_id",
        "kind",
        pl.col("n").cast(pl.Int64).alias("observations"),
        "model",
        pl.col("mase").fill_nan(None).alias("cv_mase"),
        "reason",
        pl.lit(last).alias("as_of"),
    )
    metrics = (
        selection.metrics.join(
            selection.choices.select("unique_id", pl.col("model").alias("_chosen")),
            on="unique_id",
            how="left",
        )
        .select(
            level_of.alias("level"),
            "unique_id",
            "model",
            (pl.col("model") == pl.col("_chosen")).fill_null(False).alias("chosen"),
            *[pl.col(c).cast(pl.Float64).fill_nan(None) for c in fc.ACCURACY_COLUMNS],
            pl.col("points").cast(pl.Int64),
            pl.lit(last).alias("as_of"),
        )
        .sort("unique_id", "model")
    )
    by_level = fc.summary_by(metrics, "level")
    chosen_counts = choices.group_by("model").len().sort("len", descending=True)
    meta = {
        "as_of": last.isoformat(),
        "series": len(levels),
        "selection_seconds": round(selection.seconds, 2),
        "selection_seconds_per_series": round(selection.seconds / max(1, len(levels)), 4),
        "fit_seconds": round(fit_seconds, 2),
        "history_days": history["ds"].n_unique(),
        "series_by_level": dg.MetadataValue.json(
            dict(choices.group_by("level").len().sort("level").iter_rows())
        ),
        # A real champion: chosen among the candidates by cross-validation. A fallback: a
        # series too short to cross-validate (or constant, all zero), given a model by rule.
        "series_cv_champion": champions,
        "series_fallback": fallbacks,
        "fallback_reasons": dg.MetadataValue.json(reasons),
        "cv_forecast_rows": selection.cv.height,
        "models_chosen": dg.MetadataValue.json({str(m): n for m, n in chosen_counts.iter_rows()}),
        "series_kinds": dg.MetadataValue.json(
            dict(choices.group_by("kind").len().sort("kind").iter_rows())
        ),
        "accuracy_by_level": dg.MetadataValue.md(_md(by_level)),
    }
    exog_rows = metrics.filter(pl.col("model").is_in([fc.EXOG_BASELINE, fc.EXOG_MODEL]))
    if not exog_rows.is_empty():
        comparison = (
            exog_rows.group_by("model")
            .agg(pl.col("mase").mean(), pl.col("coverage_95").mean(), pl.len().alias("series"))
            .sort("model")
        )
        meta["regressors_comparison"] = dg.MetadataValue.md(
            "Seasonal ARIMA (1,0,1)(0,1,1)7 per category, without (`SARIMA`) and with "
            "(`SARIMA_X`: festival flag, largest discount, sentiment and volume lagged by the "
            "horizon) regressors, on the same windows:\n\n" + _md(comparison)
        )
    tables = [
        (
            FORECAST_MODELS,
            choices,
            {"metadata": meta, "artifacts": {MODELS_FILE: pickle.dumps(fitted)}},
        ),
        (
            FORECAST_CV_ACCURACY,
            metrics,
            {"metadata": {"accuracy_by_level": dg.MetadataValue.md(_md(by_level))}},
        ),
    ]
    # The two tables go together: one that fails its schema is published (that is, rejected)
    # first, so a failure writes neither.
    tables.sort(key=lambda t: passes_schema(context, t[0], t[1]))
    for key, df, kwargs in tables:
        yield from publish_table(context, lake, key, df, **kwargs)


defs = dg.Definitions(assets=[forecast_models])
