"""Model monitoring: ``ml/feature_drift`` and ``model_retraining_sensor``.

``ml/feature_drift``: PSI of every champion's inputs, training data against the latest week,
and the propensity champion's live PR-AUC. ``model_retraining_sensor`` reads it and requests
a retrain when drift, data growth or the live metric says so.
"""

import datetime as dt

import dagster as dg
import polars as pl

from retail_assets.defs.models.common import (
    _SPEC,
    DIRECTION,
    FEATURE_DRIFT,
    MONITOR_DAYS,
    PROPENSITY,
    SEED,
    SEGMENTS,
    SENTIMENT,
    TRIGGERS_TAG,
    USER_ACTIVITY,
    USER_FEATURES,
    WEEKLY_DIRECTION,
    _keys,
    _png,
    model_registry,
    partition_days,
    propensity_inputs,
    single_threaded,
)
from retail_assets.defs.models.jobs import model_training_job
from retail_assets.defs.operations import COMPUTE_POOL
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.ml import direction, drift, propensity, segments, sentiment
from retail_assets.lib.ml.evaluation import binary_metrics
from retail_assets.lib.ml.registry.champion import retrain_reasons
from retail_assets.lib.warehouse.frames import markdown_table


def _orders_only_model(context: dg.AssetExecutionContext, champion) -> bool:
    """An orders-only champion: its inputs are not user_features, so not monitored here."""
    extra = champion.metadata.get("extra", {}) if champion is not None else {}
    if extra.get("feature_set") != "orders_only":
        return False
    context.log.info(
        f"{champion.name} v{champion.version} is an orders-only model: no drift measured on "
        "user_features; its next training run re-evaluates it"
    )
    return True


def _drift_rows(
    name: str, version: int, train: pl.DataFrame, latest: pl.DataFrame, features, span
) -> pl.DataFrame:
    d = drift.feature_drift(train, latest, list(features))
    return d.select(
        pl.lit(name).alias("model"),
        pl.lit(version, pl.Int64).alias("model_version"),
        "feature",
        "psi",
        "status",
        "train_mean",
        "latest_mean",
        "relative_mean_shift",
        pl.col("train_rows").cast(pl.Int64),
        pl.col("latest_rows").cast(pl.Int64),
        pl.lit(span[0], pl.Date).alias("latest_from"),
        pl.lit(span[1], pl.Date).alias("latest_to"),
    )


def _sample(frame: pl.DataFrame, n: int = 50_000) -> pl.DataFrame:
    return frame.sample(n, seed=SEED) if frame.height > n else frame


@dg.asset(
    pool=COMPUTE_POOL,
    key=FEATURE_DRIFT,
    deps=[USER_FEATURES, USER_ACTIVITY, WEEKLY_DIRECTION],
    kinds={"scikitlearn", "polars", "parquet"},
    check_specs=[schema_check_spec(FEATURE_DRIFT)],
    **_SPEC,
)
@single_threaded
def feature_drift(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """How far each champion's inputs have moved since it was trained (PSI), and whether to retrain.

    Training data (the champion's window) against the latest 7 days (4 weeks for the weekly
    direction model; the latest day for the segments; for sentiment, the texts' length and the
    champion's predicted class); PSI below 0.1 is stable, 0.1-0.25 moderate, above 0.25
    major. The propensity champion is also scored on the latest days whose outcome is known
    (its live PR-AUC). The metadata lists, per model, why a retrain is due
    (``retrain_reasons``), which ``model_retraining_sensor`` acts on.
    """
    lake = platform.lake()
    registry = model_registry(platform)
    frames, reasons, live = [], {}, {}

    def monitor(
        name, champ, train, latest, features, span, rows_now=None, rows_at_training=None, **live_kw
    ) -> None:
        """PSI of ``features`` between ``train`` and ``latest``, and why a retrain is due.

        ``rows_at_training`` and ``rows_now`` count the same thing (the source table's rows,
        then and now) for the "new data" trigger; by default the champion's training rows,
        and no growth.
        """
        rows = _drift_rows(name, champ.version, train, latest, features, span)
        frames.append(rows)
        if rows_at_training is None:
            rows_at_training = int(champ.metadata.get("trained_on", {}).get("rows", 0))
        reasons[name] = retrain_reasons(
            rows,
            rows_at_training=rows_at_training,
            rows_now=rows_at_training if rows_now is None else rows_now,
            live_metric=live_kw.get("live_metric"),
            champion_metric=live_kw.get("champion_metric"),
            psi_threshold=platform.retrain_psi_threshold,
            growth_share=platform.retrain_growth_share,
            metric_drop=platform.retrain_metric_drop,
        )

    feature_days = partition_days(lake, "features", "user_features")
    champ = registry.champion(PROPENSITY)
    if _orders_only_model(context, champ):
        champ = None
    if champ is not None and feature_days:
        trained = champ.metadata.get("trained_on", {})
        first, last = (dt.date.fromisoformat(trained[k]) for k in ("first", "last"))
        train_days = [d for d in feature_days if first <= d <= last]
        recent = feature_days[-MONITOR_DAYS:]
        # The last MONITOR_DAYS + 1 days: the drift window, and the as-of days whose next
        # day is known for the live metric.
        features, activity, days = propensity_inputs(lake, MONITOR_DAYS + 1)
        train = _sample(lake.read("features", "user_features", _keys(train_days)))
        latest = features.filter(pl.col("as_of_date").is_in(recent))
        live_metric = None
        try:
            data = propensity.build_dataset(
                features, activity, days[0], days[-1], audit_rows=0, seed=SEED
            )
            if data["label"].n_unique() == 2:
                p = registry.load(PROPENSITY, champ.version).model.predict_proba(data)
                live_metric = binary_metrics(data["label"].to_numpy(), p).pr_auc
        except (propensity.PropensityDataError, IndexError) as exc:
            context.log.info(f"no live propensity metric: {exc}")
        live[PROPENSITY] = live_metric
        # New data: user_features rows after the last as-of day the champion's run read,
        # against the rows it read (older champions stored only their training rows).
        seen_last = dt.date.fromisoformat(trained.get("window_last", trained["last"]))
        seen_rows = int(trained.get("window_rows", trained.get("rows", 0)))
        newer = lake.partition_files(
            "features", "user_features", _keys([d for d in feature_days if d > seen_last])
        )
        new_rows = pl.scan_parquet(newer).select(pl.len()).collect().item() if newer else 0
        monitor(
            PROPENSITY,
            champ,
            train,
            latest,
            propensity.SOURCE_FEATURES,
            (recent[0], recent[-1]),
            rows_at_training=seen_rows,
            rows_now=seen_rows + new_rows,
            live_metric=live_metric,
            champion_metric=champ.metrics.get("pr_auc"),
        )
    champ = registry.champion(DIRECTION)
    weekly = lake.read("features", "weekly_sales_direction")
    if champ is not None and not weekly.is_empty():
        last = dt.date.fromisoformat(champ.metadata["trained_on"]["last"])
        weeks = sorted(weekly["week_start"].unique().to_list())[-4:]
        trained = champ.metadata["trained_on"]
        monitor(
            DIRECTION,
            champ,
            weekly.filter(pl.col("week_start") <= last),
            weekly.filter(pl.col("week_start").is_in(weeks)),
            direction.SIGNAL_FEATURES,
            (weeks[0], weeks[-1] + dt.timedelta(days=6)),
            # The weekly table's rows now against its rows when the champion was trained.
            rows_at_training=int(trained.get("table_rows", trained.get("rows", 0))),
            rows_now=weekly.height,
        )
    champ = registry.champion(SEGMENTS)
    if _orders_only_model(context, champ):
        champ = None
    if champ is not None and feature_days:
        trained_day = champ.metadata["trained_on"]["first"]
        train = lake.read("features", "user_features", [trained_day])
        latest = lake.read("features", "user_features", [feature_days[-1].isoformat()])
        if not train.is_empty() and not latest.is_empty():
            monitor(
                SEGMENTS,
                champ,
                segments.behaviour_features(train),
                segments.behaviour_features(latest),
                segments.SEGMENT_FEATURES,
                (feature_days[-1], feature_days[-1]),
            )
    champ = registry.champion(SENTIMENT)
    signal_days = partition_days(lake, "raw", "signals")
    if champ is not None and signal_days:
        # Text has no PSI of its own: its length and the champion's predicted class do.
        trained = champ.metadata.get("trained_on", {})
        first, last = (dt.date.fromisoformat(trained[k]) for k in ("first", "last"))
        recent = signal_days[-MONITOR_DAYS:]
        model = registry.load(SENTIMENT, champ.version).model

        def text_features(days: list[dt.date]) -> pl.DataFrame:
            texts = lake.read("raw", "signals", _keys(days), columns=["source", "text"])
            texts = _sample(texts.filter(pl.col("source") != "search"), 20_000)
            return pl.DataFrame(
                {
                    "words": texts["text"].str.count_matches(r"\S+"),
                    "predicted_class": sentiment.score(model, texts["text"])["label"],
                }
            )

        train = text_features([d for d in signal_days if first <= d <= last])
        latest = text_features(recent)
        if not train.is_empty() and not latest.is_empty():
            monitor(
                SENTIMENT,
                champ,
                train,
                latest,
                ("words", "predicted_class"),
                (recent[0], recent[-1]),
            )
    out = (
        pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame(schema=_DRIFT_SCHEMA)
    ).select([pl.col(c).cast(t) for c, t in _DRIFT_SCHEMA.items()])
    due = {name: r for name, r in reasons.items() if r}
    for name, r in due.items():
        context.log.warning(f"{name}: retrain due: " + "; ".join(r))
    psi = out.filter(pl.col("psi").is_not_null() & ~pl.col("psi").is_nan())
    worst = psi.sort("psi", descending=True).row(0, named=True) if psi.height else None
    headline = f"{len(reasons)} models monitored"
    if worst is not None:
        headline += f", highest PSI {worst['psi']:.3f} ({worst['model']}: {worst['feature']})"
    headline += "; retrain due: " + ", ".join(sorted(due)) if due else "; no retrain due"
    meta = {
        "headline": headline,
        "retrain_reasons": dg.MetadataValue.json(due),
        "live_metrics": dg.MetadataValue.json(live),
        "models_monitored": dg.MetadataValue.json(sorted(reasons)),
        "max_psi": round(float(worst["psi"]), 4) if worst is not None else None,
    }
    if not out.is_empty():
        meta["psi"] = _png(drift.drift_figure(out.filter(pl.col("model") == out["model"][0])))
        meta["worst"] = dg.MetadataValue.md(
            markdown_table(out.sort("psi", descending=True, nulls_last=True).head(8))
        )
    yield from publish_table(context, lake, FEATURE_DRIFT, out, metadata=meta)


_DRIFT_SCHEMA = {
    "model": pl.Utf8,
    "model_version": pl.Int64,
    "feature": pl.Utf8,
    "psi": pl.Float64,
    "status": pl.Utf8,
    "train_mean": pl.Float64,
    "latest_mean": pl.Float64,
    "relative_mean_shift": pl.Float64,
    "train_rows": pl.Int64,
    "latest_rows": pl.Int64,
    "latest_from": pl.Date,
    "latest_to": pl.Date,
}


@dg.sensor(
    job=model_training_job,
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a model_training run when the latest ml/feature_drift says a "
    "champion's inputs drifted, its training data grew or its live metric dropped.",
)
def model_retraining_sensor(context: dg.SensorEvaluationContext):
    """One training run per ``ml/feature_drift`` materialization that found a reason."""
    event = context.instance.get_latest_materialization_event(FEATURE_DRIFT)
    if event is None or event.asset_materialization is None:
        return dg.SkipReason("ml/feature_drift has not been materialized yet")
    meta = event.asset_materialization.metadata
    due = meta.get("retrain_reasons")
    due = due.value if due is not None else {}
    if not due:
        return dg.SkipReason(f"no retrain due as of run {event.run_id}")
    lines = [f"{name}: {reason}" for name, reasons in due.items() for reason in reasons]
    return dg.RunRequest(
        run_key=f"drift-{event.run_id}",
        tags={TRIGGERS_TAG: "\n".join(lines)},
    )


defs = dg.Definitions(assets=[feature_drift], sensors=[model_retraining_sensor])
