"""The sales direction model: ``ml/sales_direction_model``.

``ml/sales_direction_model``: weekly up/down per category from last week's signals, with
expanding-window validation against a majority-class and a last-week baseline.
"""

import time

import dagster as dg
import polars as pl

from retail_assets.defs.models.common import (
    _SPEC,
    CODE_VERSION,
    DIRECTION,
    DIRECTION_HOLDOUT_WEEKS,
    DIRECTION_MIN_WEEKS,
    SALES_DIRECTION,
    SEED,
    WEEKLY_DIRECTION,
    _decide,
    _decision_meta,
    _not_trained,
    _png,
    _publish,
    _training_meta,
    model_registry,
    single_threaded,
)
from retail_assets.defs.operations import MODELS_POOL
from retail_assets.defs.publishing import schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.ml import direction
from retail_assets.lib.ml.evaluation import binary_metrics
from retail_assets.lib.warehouse.frames import markdown_table


@dg.asset(
    pool=MODELS_POOL,
    key=SALES_DIRECTION,
    deps=[WEEKLY_DIRECTION],
    kinds={"scikitlearn", "polars", "parquet"},
    check_specs=[schema_check_spec(SALES_DIRECTION)],
    **_SPEC,
)
@single_threaded
def sales_direction_model(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Whether each category's revenue goes up or down next week, from last week's signals.

    Logistic regression (the model) and a random forest (a robustness check) validated on
    expanding windows of weeks, never trained on the future, against the majority class and
    last week's direction. The table holds the champion's calls on the latest held-out weeks
    with what actually happened.
    """
    lake = platform.lake()
    registry = model_registry(platform)
    weekly = lake.read("features", "weekly_sales_direction")
    try:
        dataset = direction.build_dataset(weekly) if not weekly.is_empty() else None
    except direction.DirectionDataError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    weeks = dataset.frame["week_start"].n_unique() if dataset is not None else 0
    if weeks < DIRECTION_MIN_WEEKS:
        yield from _not_trained(
            context,
            lake,
            SALES_DIRECTION,
            f"features.weekly_sales_direction has {weeks} labeled weeks; the direction model "
            f"needs {DIRECTION_MIN_WEEKS} (materialize more days, then feature_tables)",
        )
        return
    started = time.perf_counter()
    evaluation = direction.evaluate(dataset, seed=SEED)
    cut = sorted(dataset.frame["week_start"].unique().to_list())[-DIRECTION_HOLDOUT_WEEKS]
    early = direction.DirectionDataset(
        dataset.frame.filter(pl.col("week_start") < cut), dataset.features
    )
    holdout = dataset.frame.filter(pl.col("week_start") >= cut)
    challenger = direction.fit_final(early)

    def holdout_auc(model) -> dict[str, float]:
        p = direction.predict(model, holdout)["probability_up"].to_numpy()
        return {"roc_auc": binary_metrics(holdout["label"].to_numpy(), p).roc_auc}

    ch_metrics = holdout_auc(challenger)
    oof = evaluation.metrics
    version = registry.register(
        DIRECTION,
        challenger,
        ch_metrics | {f"cv_{m}_roc_auc": oof[m].roc_auc for m in oof},
        holdout_id=f"weeks {cut}..{holdout['week_start'].max()}",
        primary_metric="roc_auc",
        higher_is_better=True,
        trained_on={
            "rows": early.frame.height,
            "first": str(early.frame["week_start"].min()),
            "last": str(early.frame["week_start"].max()),
            # Rows of the weekly table when trained: the monitor's "new data" compares
            # the table's rows now with these, like with like.
            "table_rows": weekly.height,
        },
        code_version=CODE_VERSION,
        extra={"features": list(dataset.features)},
    )
    champion = registry.champion(DIRECTION)
    champ_metrics = (
        holdout_auc(registry.load(DIRECTION, champion.version).model) if champion else None
    )
    decision, best = _decide(context, registry, DIRECTION, version, ch_metrics, champ_metrics)
    trained_in = time.perf_counter() - started
    calls = direction.predict(best.model, holdout)
    out = calls.select(
        "category",
        pl.col("signal_week_start").cast(pl.Date),
        pl.col("week_start").cast(pl.Date),
        "probability_up",
        "direction",
        pl.when(holdout["label"] == 1).then(pl.lit("up")).otherwise(pl.lit("down")).alias("actual"),
        pl.lit(best.version, pl.Int64).alias("model_version"),
    )
    cv_auc = oof[direction.MAIN_MODEL].roc_auc
    baseline_auc = oof[evaluation.best_baseline].roc_auc
    tested = evaluation.predictions["week_start"]
    meta = {
        **_training_meta(
            rows=early.frame.height,
            first=early.frame["week_start"].min(),
            last=early.frame["week_start"].max(),
            weeks=early.frame["week_start"].n_unique(),
            metric="cv_roc_auc",
            value=cv_auc,
            headline=f"ROC-AUC {cv_auc:.3f} out of fold ({evaluation.n_splits}-fold "
            f"expanding window, {tested.n_unique()} test weeks), "
            f"{evaluation.roc_auc_margin:+.3f} over the best baseline "
            f"({evaluation.best_baseline} {baseline_auc:.3f}); holdout "
            f"{ch_metrics['roc_auc']:.3f} on the last {DIRECTION_HOLDOUT_WEEKS} weeks",
            seconds=trained_in,
        ),
        "cv_roc_auc": round(cv_auc, 4),
        "cv_roc_auc_random_forest": round(oof[direction.ROBUSTNESS_MODEL].roc_auc, 4),
        "cv_best_baseline": evaluation.best_baseline,
        "cv_best_baseline_roc_auc": round(baseline_auc, 4),
        "cv_roc_auc_margin_over_best_baseline": round(evaluation.roc_auc_margin, 4),
        "cv_folds": evaluation.n_splits,
        "cv_rows": evaluation.predictions.height,
        "cv_test_first": str(tested.min()),
        "cv_test_last": str(tested.max()),
        "holdout_roc_auc": round(ch_metrics["roc_auc"], 4),
        "holdout_first": str(cut),
        "holdout_last": str(holdout["week_start"].max()),
        "cv_metrics": dg.MetadataValue.md(markdown_table(evaluation.metrics_frame())),
        "roc_pr_curves": _png(evaluation.roc_pr_figure()),
        "weeks": weeks,
        **_decision_meta(decision),
    }
    yield from _publish(context, lake, registry, decision, [(SALES_DIRECTION, out, meta)])


defs = dg.Definitions(assets=[sales_direction_model])
