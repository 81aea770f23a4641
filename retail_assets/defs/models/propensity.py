"""The purchase propensity model: ``ml/purchase_propensity``, behavioural and orders-only.

``ml/purchase_propensity``: next-24-hour purchase probability per active customer, split by
time and by customer, calibrated, against "carted in the last 24 h" and RFM.

A retailer's world with orders but no web or app events takes the orders-only path
(``_orders_propensity``): an order within ``propensity_horizon_days`` of the as-of day.
"""

import time
from collections.abc import Iterator

import dagster as dg
import polars as pl

from retail_assets.defs.models.common import (
    _EMPTY,
    _SPEC,
    CODE_VERSION,
    PROPENSITY,
    PROPENSITY_MIN_DAYS,
    PROPENSITY_MIN_TEST_BUYERS,
    PURCHASE_PROPENSITY,
    SEED,
    USER_ACTIVITY,
    USER_FEATURES,
    _decide,
    _decision_meta,
    _not_trained,
    _png,
    _publish,
    _training_meta,
    model_registry,
    order_history,
    orders_only,
    propensity_inputs,
    single_threaded,
)
from retail_assets.defs.operations import MODELS_POOL
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.ml import order_features, order_propensity, propensity
from retail_assets.lib.ml.evaluation import binary_metrics
from retail_assets.lib.warehouse.frames import markdown_table


@dg.asset(
    pool=MODELS_POOL,
    key=PURCHASE_PROPENSITY,
    deps=[USER_FEATURES, USER_ACTIVITY],
    kinds={"scikitlearn", "polars", "parquet"},
    check_specs=[schema_check_spec(PURCHASE_PROPENSITY)],
    **_SPEC,
)
@single_threaded
def purchase_propensity(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Each active customer's probability of buying in the 24 hours after the latest day.

    Trained on features strictly before each cutoff, split by time and by customer, calibrated
    (sigmoid); measured by PR-AUC, ROC-AUC, top-decile lift and capture, Brier score and recall
    at the chosen threshold, against "added to cart in the last 24 h" and RFM. Query the scores
    with ``select * from ml.purchase_propensity order by rank``.
    """
    if orders_only(platform):
        yield from _orders_propensity(context, platform)
        return
    lake = platform.lake()
    registry = model_registry(platform)
    features, activity, days = propensity_inputs(lake, platform.model_training_days)
    labeled = [d for d in days if d < days[-1]] if days else []
    if len(labeled) < PROPENSITY_MIN_DAYS:
        yield from _not_trained(
            context,
            lake,
            PURCHASE_PROPENSITY,
            f"features.user_features has {len(labeled)} labeled days; the propensity model "
            f"needs {PROPENSITY_MIN_DAYS}",
        )
        return
    started = time.perf_counter()
    try:
        dataset = propensity.build_dataset(features, activity, days[0], days[-1], seed=SEED)
        # A week of test days, more when a small customer base leaves few test buyers.
        test_days = propensity.choose_test_days(dataset, min_buyers=PROPENSITY_MIN_TEST_BUYERS)
        split = propensity.time_group_split(dataset, test_days=test_days, seed=SEED)
        model = propensity.train(split.train, seed=SEED)
        evaluation = propensity.evaluate(model, split.test)
    except propensity.PropensityDataError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    m = evaluation.metrics
    main = m[propensity.MODEL]
    ch_metrics = {"pr_auc": main.pr_auc, "roc_auc": main.roc_auc}
    holdout = f"as-of {split.test_start}..{days[-2]}, seed {SEED}"
    version = registry.register(
        PROPENSITY,
        model,
        {
            **ch_metrics,
            "top_decile_lift": main.top_decile_lift,
            "brier": main.brier,
            "base_rate": main.base_rate,
        },
        holdout_id=holdout,
        primary_metric="pr_auc",
        higher_is_better=True,
        trained_on={
            "rows": split.train.height,
            "first": str(days[0]),
            "last": str(split.train_end),
            # The user_features rows of every as-of day read (days[0]..window_last): the
            # monitor's "new data" counts the rows since window_last against these.
            "window_rows": features.height,
            "window_last": str(days[-1]),
        },
        code_version=CODE_VERSION,
        extra={"features": list(propensity.SOURCE_FEATURES)},
    )
    champion = registry.champion(PROPENSITY)
    champ_metrics = None
    if champion is not None:
        old = registry.load(PROPENSITY, champion.version).model
        p = old.predict_proba(split.test)
        cm = binary_metrics(split.test["label"].to_numpy(), p)
        champ_metrics = {"pr_auc": cm.pr_auc, "roc_auc": cm.roc_auc}
    decision, best = _decide(context, registry, PROPENSITY, version, ch_metrics, champ_metrics)
    trained_in = time.perf_counter() - started
    latest = features.filter(pl.col("as_of_date") == days[-1])
    out = propensity.score(best.model, latest).with_columns(
        pl.lit(best.version, pl.Int64).alias("model_version")
    )
    best_baseline = max(propensity.BASELINES, key=lambda b: m[b].pr_auc)
    test_buyers = int(split.test["label"].sum())
    test_last = split.test["as_of_date"].max()
    meta = {
        **_training_meta(
            rows=split.train.height,
            first=days[0],
            last=split.train_end,
            days=split.train["as_of_date"].n_unique(),
            metric="pr_auc",
            value=main.pr_auc,
            headline=f"PR-AUC {main.pr_auc:.4f} = {evaluation.pr_auc_over_base_rate:.1f} x the "
            f"base rate {main.base_rate:.4f} (best baseline {best_baseline} "
            f"{m[best_baseline].pr_auc:.4f}), top-decile lift {main.top_decile_lift:.2f}, on "
            f"{test_buyers:,} buyers of {split.test.height:,} held-out rows "
            f"({split.test_start}..{test_last}, customers never "
            "trained on)",
            seconds=trained_in,
        ),
        **_propensity_meta(
            model, evaluation, best_baseline, split.test, split.test_start, test_last
        ),
        "scored_as_of": str(days[-1]),
        "feature_set": "behavioural",
        "horizon_days": 1,
        **_decision_meta(decision),
    }
    yield from _publish(context, lake, registry, decision, [(PURCHASE_PROPENSITY, out, meta)])


def _propensity_meta(model, evaluation, best_baseline: str, test, test_first, test_last) -> dict:
    """What both propensity paths report: test metrics, baseline, periods, tables, figures."""
    main, m = evaluation.metrics[propensity.MODEL], evaluation.metrics
    return {
        "pr_auc": round(main.pr_auc, 4),
        "base_rate": round(main.base_rate, 5),
        "pr_auc_over_base_rate": round(evaluation.pr_auc_over_base_rate, 3),
        "roc_auc": round(main.roc_auc, 4),
        "top_decile_lift": round(main.top_decile_lift, 3),
        "top_decile_capture": round(main.top_decile_capture, 4),
        "brier": round(main.brier, 5) if main.brier is not None else None,
        "threshold": round(model.threshold, 4),
        "recall_at_threshold": round(main.recall_at_threshold, 4),
        "best_baseline": best_baseline,
        "best_baseline_pr_auc": round(m[best_baseline].pr_auc, 4),
        "test_rows": test.height,
        "test_buyers": int(test["label"].sum()),
        "test_first": str(test_first),
        "test_last": str(test_last),
        "calibration_first": str(model.calibration_days[0]),
        "calibration_last": str(model.calibration_days[1]),
        "metrics_vs_baselines": dg.MetadataValue.md(markdown_table(evaluation.metrics_frame())),
        "lift_by_decile": dg.MetadataValue.md(markdown_table(evaluation.lift)),
        "roc_pr_curves": _png(evaluation.roc_pr_figure()),
        "reliability": _png(evaluation.reliability_figure()),
        "cumulative_gains": _png(evaluation.gains_figure()),
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in evaluation.notes) or "-"),
    }


def _orders_propensity(context: dg.AssetExecutionContext, platform: RetailPlatform) -> Iterator:
    """The orders-only path: an order within ``propensity_horizon_days`` of the as-of day."""
    lake = platform.lake()
    registry = model_registry(platform)
    horizon = platform.propensity_horizon_days
    span = (
        order_features.HISTORY_DAYS
        + order_propensity.MAX_AS_OF_DAYS * order_propensity.DEFAULT_STEP_DAYS
        + horizon
    )
    activity, covered = order_history(lake, span)
    path = {"feature_set": "orders_only", "horizon_days": horizon}
    if covered is None:
        yield from _not_trained(
            context, lake, PURCHASE_PROPENSITY, "features.user_daily_activity has no partitions"
        )
        return
    started = time.perf_counter()
    try:
        done = order_propensity.run(activity, covered, horizon_days=horizon, seed=SEED)
    except order_propensity.PropensityDataError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    ready = done.readiness
    if done.evaluation is None:
        why = f"orders only, {horizon}-day horizon: evaluation skipped: {ready.reason}"
        context.log.warning(f"ml/purchase_propensity: not trained: {why}")
        meta = {
            "trained": False,
            "not_trained": why,
            "headline": f"not trained: {why}",
            **path,
            **ready.as_metadata(),
        }
        empty = pl.DataFrame(schema=_EMPTY[PURCHASE_PROPENSITY])
        yield from publish_table(context, lake, PURCHASE_PROPENSITY, empty, metadata=meta)
        return
    model, evaluation, parts = done.model, done.evaluation, done.parts
    m = evaluation.metrics
    main = m[order_propensity.MODEL]
    ch_metrics = {"pr_auc": main.pr_auc, "roc_auc": main.roc_auc}
    test_first, test_last = parts.test["as_of_date"].min(), parts.test["as_of_date"].max()
    version = registry.register(
        PROPENSITY,
        model,
        {
            **ch_metrics,
            "top_decile_lift": main.top_decile_lift,
            "brier": main.brier,
            "base_rate": main.base_rate,
        },
        holdout_id=f"orders-only {horizon}d, as-of {test_first}..{test_last}, seed {SEED}",
        primary_metric="pr_auc",
        higher_is_better=True,
        trained_on={
            "rows": parts.fit.height + parts.calibration.height,
            "first": str(model.fit_days[0]),
            "last": str(model.calibration_days[1]),
        },
        code_version=CODE_VERSION,
        extra={"features": list(order_propensity.MODEL_FEATURES), **path},
    )
    champion = registry.champion(PROPENSITY)
    extra = champion.metadata.get("extra", {}) if champion is not None else {}
    if champion is None or {k: extra.get(k) for k in path} == path:
        champ_metrics = None
        if champion is not None:
            old = registry.load(PROPENSITY, champion.version).model
            cm = binary_metrics(parts.test["label"].to_numpy(), old.predict_proba(parts.test))
            champ_metrics = {"pr_auc": cm.pr_auc, "roc_auc": cm.roc_auc}
        decision, best = _decide(context, registry, PROPENSITY, version, ch_metrics, champ_metrics)
    else:  # the champion learned other features or another horizon: it cannot score these rows
        decision = registry.promote(
            PROPENSITY,
            version,
            f"the champion v{champion.version} was trained on "
            f"{extra.get('feature_set', 'behavioural')} features, horizon "
            f"{extra.get('horizon_days', 1)} days; this world runs {path}",
            record=False,
        )
        best = registry.load(PROPENSITY, version)
    trained_in = time.perf_counter() - started
    latest = order_features.features_as_of(order_features.order_days(activity), [covered])
    out = order_propensity.score(best.model, latest).with_columns(
        pl.lit(best.version, pl.Int64).alias("model_version")
    )
    best_baseline = max(order_propensity.BASELINES, key=lambda b: m[b].pr_auc)
    test_buyers = int(parts.test["label"].sum())
    meta = {
        **_training_meta(
            rows=model.fit_rows,
            first=model.fit_days[0],
            last=model.calibration_days[1],
            days=parts.fit["as_of_date"].n_unique() + parts.calibration["as_of_date"].n_unique(),
            metric="pr_auc",
            value=main.pr_auc,
            headline=f"orders only, order within {horizon} days: PR-AUC {main.pr_auc:.4f} = "
            f"{evaluation.pr_auc_over_base_rate:.1f} x the base rate {main.base_rate:.4f}, "
            f"ROC-AUC {main.roc_auc:.3f} (best baseline {best_baseline} "
            f"{m[best_baseline].pr_auc:.4f}), on {test_buyers:,} buyers of "
            f"{parts.test.height:,} held-out rows ({test_first}..{test_last}, customers never "
            "trained on)",
            seconds=trained_in,
        ),
        **path,
        **ready.as_metadata(),
        **_propensity_meta(model, evaluation, best_baseline, parts.test, test_first, test_last),
        "scored_as_of": str(covered),
        **_decision_meta(decision),
    }
    yield from _publish(context, lake, registry, decision, [(PURCHASE_PROPENSITY, out, meta)])


defs = dg.Definitions(assets=[purchase_propensity])
