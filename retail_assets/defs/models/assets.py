"""Models: the questions a retail marketer asks every week, answered with scikit-learn.

Every model lives in the registry in the lake (``<lake>/models/<name>/v0001/...``, see
``lib/ml/registry/``). A training run fits a *challenger*, measures it on a holdout, measures
the current *champion* on the same holdout, and promotes the challenger only when it is better;
the decision and its reasons are recorded (``ml/model_decisions``). The tables each asset
writes come from the champion, whichever that is after the decision.

- ``ml/review_sentiment`` (with ``ml/entity_sentiment``): 3 classes, TF-IDF stacked with the
  VADER lexicon's scores, trained on the reviews' ratings or labels or a labeled file, or the
  lexicon alone (no labels, too few, or better on the holdout); every review and mention
  scored; the products, brands and stores they name tagged from the catalog.
- ``ml/sales_direction_model``: weekly up/down per category from last week's signals, with
  expanding-window validation against a majority-class and a last-week baseline.
- ``ml/purchase_propensity``: next-24-hour purchase probability per active customer, split by
  time and by customer, calibrated, against "carted in the last 24 h" and RFM.
- ``ml/customer_segments`` (with ``ml/segment_profiles``): k-means on RFM and behaviour, named
  for marketers, names carried over from the last run.
- ``ml/feature_drift``: PSI of every champion's inputs, training data against the latest week,
  and the propensity champion's live PR-AUC. ``model_retraining_sensor`` reads it and requests
  a retrain when drift, data growth or the live metric says so.

Training runs weekly (``model_training``, Mondays 05:00 UTC), monitoring daily. Each model
trains on what its design asks for, not on the whole history: sentiment on the reviews of the
last ``RETAIL_MODEL_TRAINING_DAYS`` (56) days, propensity on the user features of those days,
segments on the latest day, direction on every labeled week (a year is ~50 rows per
category). At 20,000 customers and 365 days the four train in about 10 s of CPU
(benchmarks/RESULTS.md).

**Metadata every model materialization carries** (``ml/review_sentiment``,
``ml/sales_direction_model``, ``ml/purchase_propensity``, ``ml/customer_segments``), for a
summary to print any model alike:

- ``trained``: True, or False when there was too little data; then ``not_trained`` says why
  and the table is empty.
- ``training_rows``, ``training_first``, ``training_last`` (ISO dates), ``training_days``
  (``training_weeks`` for direction): what the served model was fitted on.
- ``headline_metric``, ``headline_value``: sentiment ``macro_f1``; direction ``cv_roc_auc``
  (with ``cv_best_baseline``, ``cv_best_baseline_roc_auc`` and
  ``cv_roc_auc_margin_over_best_baseline``); propensity ``pr_auc`` (with ``base_rate`` and
  ``pr_auc_over_base_rate``); segments ``silhouette`` (with ``k``, ``segment_names`` and
  ``name_stability``).
- ``headline``: the same in one sentence; ``training_seconds``: fit, validation and the
  champion comparison.

``ml/feature_drift`` and ``ml/model_decisions`` carry a ``headline`` too.
"""

import datetime as dt
import functools
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
from threadpoolctl import threadpool_limits

from retail_assets.defs.operations import COMPUTE_POOL, MODELS_POOL, MODELS_TAG
from retail_assets.defs.publishing import passes_schema, publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib import plots
from retail_assets.lib.ml import (
    direction,
    drift,
    order_features,
    order_propensity,
    propensity,
    rfm_segments,
    segments,
    sentiment,
)
from retail_assets.lib.ml.evaluation import binary_metrics
from retail_assets.lib.ml.registry.champion import retrain_reasons
from retail_assets.lib.ml.registry.records import Decision
from retail_assets.lib.ml.registry.store import ModelRegistry
from retail_assets.lib.warehouse.frames import markdown_table
from retail_assets.lib.warehouse.lake import Lake

SIGNALS = dg.AssetKey(["raw", "signals"])
CATALOG = dg.AssetKey(["raw", "product_catalog"])
CUSTOMERS = dg.AssetKey(["governed", "customers"])
USER_FEATURES = dg.AssetKey(["features", "user_features"])
USER_ACTIVITY = dg.AssetKey(["features", "user_daily_activity"])
WEEKLY_DIRECTION = dg.AssetKey(["features", "weekly_sales_direction"])

REVIEW_SENTIMENT = dg.AssetKey(["ml", "review_sentiment"])
ENTITY_SENTIMENT = dg.AssetKey(["ml", "entity_sentiment"])
SALES_DIRECTION = dg.AssetKey(["ml", "sales_direction_model"])
PURCHASE_PROPENSITY = dg.AssetKey(["ml", "purchase_propensity"])
CUSTOMER_SEGMENTS = dg.AssetKey(["ml", "customer_segments"])
SEGMENT_PROFILES = dg.AssetKey(["ml", "segment_profiles"])
FEATURE_DRIFT = dg.AssetKey(["ml", "feature_drift"])
MODEL_DECISIONS = dg.AssetKey(["ml", "model_decisions"])
TRAINING_KEYS = [
    REVIEW_SENTIMENT,
    ENTITY_SENTIMENT,
    SALES_DIRECTION,
    PURCHASE_PROPENSITY,
    CUSTOMER_SEGMENTS,
    SEGMENT_PROFILES,
    MODEL_DECISIONS,
]

#: Registry names of the models.
SENTIMENT, DIRECTION, PROPENSITY, SEGMENTS = (
    "review_sentiment",
    "sales_direction",
    "purchase_propensity",
    "customer_segments",
)
MODELS = (SENTIMENT, DIRECTION, PROPENSITY, SEGMENTS)
#: Bump when a model's training code changes; stored with every version.
CODE_VERSION = "1"
#: Run tag carrying why a retrain was requested (set by ``model_retraining_sensor``).
TRIGGERS_TAG = "retail_assets/retrain_reasons"
SEED = 42
#: Weeks at the end of the weekly table held out to compare challenger and champion.
DIRECTION_HOLDOUT_WEEKS = 8
#: Weeks the direction model needs: the expanding-window validation's first training span
#: plus its folds, and the holdout.
DIRECTION_MIN_WEEKS = 12 + 5 + DIRECTION_HOLDOUT_WEEKS
#: As-of days the propensity model needs: fitting, calibration (7) and test (7) days, gaps.
PROPENSITY_MIN_DAYS = 22
#: Buyers the propensity test rows should hold: below, the test period grows by whole weeks
#: (up to 3) while the window leaves 4 weeks to train and calibrate on.
PROPENSITY_MIN_TEST_BUYERS = 100
#: Days of the latest data the drift and live metric look at.
MONITOR_DAYS = 7
#: On a first segmentation, name stability is measured against a fit this many days before.
SEGMENT_STABILITY_DAYS = 7

_SPEC = {
    "group_name": "models",
    "owners": ["team:data-science"],
    "code_version": CODE_VERSION,
}


# ---------------------------------------------------------------------------- helpers
def single_threaded(fn):
    """Run a model asset with one BLAS / OpenMP thread (scikit-learn's k-means, lbfgs, ...).

    The models here are small (thousands to a few hundred thousand rows): a second thread
    gains little, while on a busy 2-core machine OpenMP and OpenBLAS threads that spin-wait
    for a core they do not get made k-means 15-30 times slower (12 s instead of 0.4-0.7 s at
    20,000 customers, measured). Polars and DuckDB keep their own thread pools.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1):
            yield from fn(*args, **kwargs)

    return wrapper


def model_registry(platform: RetailPlatform) -> ModelRegistry:
    """The registry inside the platform's lake."""
    return ModelRegistry(platform.lake().lake_root)


def partition_days(lake: Lake, schema: str, table: str) -> list[dt.date]:
    """The days a daily table has data for, oldest first."""
    return [
        dt.date.fromisoformat(f.parent.name.split("=", 1)[1])
        for f in lake.partition_files(schema, table)
        if f.parent.name.startswith("date=")
    ]


def _keys(days: list[dt.date]) -> list[str]:
    return [d.isoformat() for d in days]


def _triggers(context: dg.AssetExecutionContext) -> list[str]:
    raw = context.run.tags.get(TRIGGERS_TAG, "") if context.run else ""
    return [r for r in raw.split("\n") if r.strip()]


def _decide(
    context: dg.AssetExecutionContext,
    registry: ModelRegistry,
    name: str,
    version: int,
    challenger: dict[str, float],
    champion: dict[str, float] | None,
):
    """Decide champion or challenger on the same holdout: ``(decision, serving model)``.

    Nothing is recorded yet: :func:`_publish` records the decision only once the tables the
    serving model produced have passed their checks, so a failed run leaves the registry's
    champion as it was.
    """
    decision = registry.decide(name, version, challenger, champion, triggers=_triggers(context))
    serving = decision.challenger_version if decision.promoted else decision.champion_version
    return decision, registry.load(name, serving)


def _publish(
    context: dg.AssetExecutionContext,
    lake: Lake,
    registry: ModelRegistry,
    decision: Decision | None,
    tables: list[tuple[dg.AssetKey, pl.DataFrame, dict]],
) -> Iterator:
    """Validate every table, record the decision, then publish (a failure writes nothing)."""
    failing = [t for t in tables if not passes_schema(context, t[0], t[1])]
    for key, df, meta in failing:
        yield from publish_table(context, lake, key, df, metadata=meta)  # raises
    if decision is not None:
        registry.record(decision)
        verdict = "promoted" if decision.promoted else f"kept v{decision.champion_version}"
        context.log.info(
            f"{decision.name} v{decision.challenger_version}: {verdict}: "
            + "; ".join(decision.reasons)
        )
    for key, df, meta in tables:
        yield from publish_table(context, lake, key, df, metadata=meta)


def _decision_meta(decision: Decision) -> dict:
    return {
        "challenger_version": decision.challenger_version,
        "champion_version": (
            decision.challenger_version if decision.promoted else decision.champion_version
        ),
        "promoted": decision.promoted,
        "decision": dg.MetadataValue.md(
            "\n".join(f"- {r}" for r in [*decision.reasons, *decision.triggers])
        ),
    }


def _png(fig) -> dg.MetadataValue:
    return dg.MetadataValue.md(plots.png_markdown(fig))


def _training_meta(
    *,
    rows: int,
    first,
    last,
    metric: str,
    value: float | None,
    headline: str,
    seconds: float,
    days: int | None = None,
    weeks: int | None = None,
) -> dict:
    """The keys every trained model's materialization carries (``trained`` is True).

    ``training_rows`` (rows the model was fitted on), ``training_first``/``training_last``
    (ISO dates of the data it was fitted on, None for a labeled file), ``training_days`` or
    ``training_weeks``, ``headline_metric``/``headline_value`` (its main validation figure),
    ``headline`` (one line for a person) and ``training_seconds``. A summary can print every
    model from these alone; the model-specific keys stay next to them.
    """
    meta = {
        "trained": True,
        "training_rows": int(rows),
        "training_first": str(first) if first is not None else None,
        "training_last": str(last) if last is not None else None,
    }
    if days is not None:
        meta["training_days"] = int(days)
    if weeks is not None:
        meta["training_weeks"] = int(weeks)
    return meta | {
        "headline_metric": metric,
        "headline_value": round(float(value), 4) if value is not None else None,
        "headline": headline,
        "training_seconds": round(seconds, 2),
    }


#: Column types of the tables that may be published empty (not enough data to train yet).
_EMPTY = {
    SALES_DIRECTION: {
        "category": pl.Utf8,
        "signal_week_start": pl.Date,
        "week_start": pl.Date,
        "probability_up": pl.Float64,
        "direction": pl.Utf8,
        "actual": pl.Utf8,
        "model_version": pl.Int64,
    },
    PURCHASE_PROPENSITY: {
        "as_of_date": pl.Date,
        "customer_key": pl.Utf8,
        "probability": pl.Float64,
        "decile": pl.Int64,
        "rank": pl.Int64,
        "model_version": pl.Int64,
    },
}


def _not_trained(
    context: dg.AssetExecutionContext, lake: Lake, key: dg.AssetKey, why: str
) -> Iterator:
    """Too little data to train yet: publish the table empty and say why, in log and metadata.

    Downstream assets still run; the registry and its champion are left as they were.
    """
    context.log.warning(f"{key.to_user_string()}: not trained: {why}")
    empty = pl.DataFrame(schema=_EMPTY[key])
    meta = {"trained": False, "not_trained": why, "headline": f"not trained: {why}"}
    yield from publish_table(context, lake, key, empty, metadata=meta)


# ---------------------------------------------------------------------------- sentiment
def sentiment_training_data(
    platform: RetailPlatform, signals: pl.DataFrame
) -> tuple[pl.DataFrame | None, str]:
    """``(text, label frame or None, source)`` to fit the sentiment model on.

    The labeled file when configured, else the reviews' ratings or labels; None when the
    retailer's reviews have neither (the lexicon then scores them).
    """
    if platform.sentiment_labels:
        try:
            frame = sentiment.load_labeled(
                Path(platform.sentiment_labels),
                platform.sentiment_text_column,
                label_column=platform.sentiment_label_column or None,
                rating_column=platform.sentiment_rating_column or None,
            )
        except (sentiment.SentimentDataError, OSError) as exc:
            raise dg.Failure(
                description=f"RETAIL_SENTIMENT_LABELS: {exc}", allow_retries=False
            ) from exc
        return frame, platform.sentiment_labels
    reviews = platform.world().sources.reviews
    if reviews is not None and reviews.columns.rating is None and reviews.columns.label is None:
        # Their raw sentiment is the lexicon's own estimate: nothing to learn from.
        return None, "raw.signals (reviews without ratings or labels)"
    return sentiment.training_data_from_signals(signals), "raw.signals (review ratings)"


def _stores(lake: Lake) -> list[str]:
    """Store ids for the gazetteer: the customers' home stores (a retailer's file may have none)."""
    homes = lake.read("governed", "customers", columns=["home_store"])
    return sorted(homes["home_store"].drop_nulls().unique().to_list()) if homes.height else []


@dg.multi_asset(
    pool=MODELS_POOL,
    specs=[
        dg.AssetSpec(
            REVIEW_SENTIMENT,
            deps=[SIGNALS],
            description="Every review and social mention of the training window, scored "
            "negative / neutral / positive by the champion model: TF-IDF stacked with the VADER "
            "lexicon (and sentence embeddings, with the embeddings extra), trained on review "
            "ratings or labels (or the labeled file in RETAIL_SENTIMENT_LABELS), or the lexicon "
            "alone when labels are missing, too few, or no better.",
            kinds={"scikitlearn", "polars", "parquet"},
            **_SPEC,
        ),
        dg.AssetSpec(
            ENTITY_SENTIMENT,
            deps=[REVIEW_SENTIMENT, CATALOG, CUSTOMERS],
            description="Sentiment per product, brand and store named in the reviews and "
            "mentions (tagged with a gazetteer built from the catalog).",
            kinds={"polars", "parquet"},
            **_SPEC,
        ),
    ],
    check_specs=[schema_check_spec(REVIEW_SENTIMENT), schema_check_spec(ENTITY_SENTIMENT)],
)
@single_threaded
def review_sentiment(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Fit a sentiment challenger, keep the better model, score every text with it.

    With labels (the simulated reviews' ratings, the retailer's rated or labeled reviews, or
    the file in RETAIL_SENTIMENT_LABELS) the challenger is TF-IDF stacked with the VADER
    lexicon's scores, and for real reviews (the retailer's, or a labeled file) with sentence
    embeddings too (RETAIL_SENTIMENT_EMBEDDINGS), unless the lexicon alone does better on the
    held-out rows; too few labels
    to train on give the lexicon, measured on all of them, and say so (log and
    ``model_reason``); reviews without ratings or labels are scored by the lexicon. Metadata:
    ``model_kind``, ``model_reason``, and the lexicon's accuracy and macro-F1 on the same
    held-out rows next to the model's.
    """
    lake = platform.lake()
    registry = model_registry(platform)
    days = _keys(partition_days(lake, "raw", "signals")[-platform.model_training_days :])
    if not days:
        raise dg.Failure(
            description="raw.signals has no partitions: materialize raw/signals",
            allow_retries=False,
        )
    signals = lake.read("raw", "signals", days)
    frame, source = sentiment_training_data(platform, signals)
    labeled = 0 if frame is None else frame.height
    context.log.info(f"sentiment: {labeled} labeled texts from {source}")
    started = time.perf_counter()
    try:
        # Embeddings for real reviews (yours, or a labeled file), not the simulator's templates.
        own_texts = platform.world().retailer or bool(platform.sentiment_labels)
        kind = sentiment.default_kind(platform.sentiment_embeddings, own_texts=own_texts)
        context.log.info(
            f"sentiment: backend {sentiment.sentiment_backend(platform.sentiment_embeddings)}"
        )
        model = sentiment.fit_or_lexicon(frame, seed=SEED, kind=kind)
    except sentiment.SentimentDataError as exc:
        raise dg.Failure(description=f"{source}: {exc}", allow_retries=False) from exc
    # Labels given but not used (too few, or the lexicon did better) deserve a warning.
    say = context.log.warning if model.kind == "lexicon" and labeled else context.log.info
    say(f"sentiment: {model.kind} model: {model.reason}")
    # The lexicon on every labeled row (too few to split) is measured on another holdout than
    # a split; with no labels at all there is no holdout.
    whole = model.kind == "lexicon" and model.train_rows == 0 and model.test_rows == labeled
    holdout = (
        f"{source}:{days[0]}..{days[-1]}:" + ("all-rows" if whole else f"seed{SEED}")
        if model.test_rows
        else f"{source}:no-labels"
    )
    metrics = {"macro_f1": model.macro_f1, "accuracy": model.accuracy}
    version = registry.register(
        SENTIMENT,
        model.pipeline,
        metrics | {k: v for k, v in model.metrics().items() if k not in metrics},
        holdout_id=holdout,
        primary_metric="macro_f1",
        higher_is_better=True,
        trained_on={"source": source, "rows": labeled, "first": days[0], "last": days[-1]},
        code_version=CODE_VERSION,
        extra={"model_kind": model.kind, "model_reason": model.reason},
    )
    champion = registry.champion(SENTIMENT)
    champion_metrics = (
        sentiment.evaluate(registry.load(SENTIMENT, champion.version).model, model.test)
        if champion is not None and model.test_rows
        else None
    )
    decision, best = _decide(context, registry, SENTIMENT, version, metrics, champion_metrics)
    trained_in = time.perf_counter() - started

    texts = signals.filter(pl.col("source").is_in(["review", "social"]))
    scored = sentiment.score(best.model, texts["text"])
    catalog = lake.read("raw", "product_catalog")
    gazetteer = sentiment.Gazetteer.build(catalog, _stores(lake))
    tags = gazetteer.tag(texts["text"])
    mentions = tags.group_by("text_index").agg(pl.len().alias("entities"))
    out = (
        texts.select("signal_id", "signal_date", "category", "source")
        .with_row_index("text_index")
        .hstack(scored)
        .join(mentions, on="text_index", how="left")
        .with_columns(
            pl.col("entities").fill_null(0).cast(pl.Int64),
            pl.lit(best.version, pl.Int64).alias("model_version"),
        )
        .drop("text_index")
    )
    by_entity = sentiment.sentiment_by_entity(scored, tags).with_columns(
        pl.col("mentions").cast(pl.Int64), pl.lit(best.version, pl.Int64).alias("model_version")
    )
    # The simulated reviews span the signal days read; a labeled file has no dates.
    from_signals = not platform.sentiment_labels
    measured = model.test_rows > 0
    lexicon = model.candidates.get("lexicon", {})
    if not measured:
        headline = "the VADER lexicon scores every text (no labeled reviews to measure it on)"
    elif model.kind == "lexicon":
        headline = (
            f"the VADER lexicon: macro-F1 {model.macro_f1:.3f}, accuracy {model.accuracy:.3f} "
            f"on {model.test_rows:,} labeled texts (too few or no better to train on)"
        )
    else:
        headline = (
            f"macro-F1 {model.macro_f1:.3f}, accuracy {model.accuracy:.3f} on "
            f"{model.test_rows:,} held-out texts ({model.train_rows:,} trained on; the lexicon "
            f"alone: accuracy {lexicon['accuracy']:.3f})"
        )
    meta = {
        **_training_meta(
            rows=model.train_rows,
            first=days[0] if from_signals else None,
            last=days[-1] if from_signals else None,
            days=len(days) if from_signals else None,
            metric="macro_f1",
            value=model.macro_f1 if measured else None,
            headline=headline,
            seconds=trained_in,
        ),
        "model_kind": model.kind,
        "model_reason": model.reason,
        "macro_f1": round(model.macro_f1, 4) if measured else None,
        "accuracy": round(model.accuracy, 4) if measured else None,
        "lexicon_accuracy": round(lexicon["accuracy"], 4) if lexicon else None,
        "lexicon_macro_f1": round(lexicon["macro_f1"], 4) if lexicon else None,
        "held_out_candidates": dg.MetadataValue.json(
            {k: {m: round(v, 4) for m, v in f.items()} for k, f in model.candidates.items()}
        ),
        "test_rows": model.test_rows,
        "labeled_rows": labeled,
        "training_source": source,
        "label_counts": dg.MetadataValue.json(
            dict(frame["label"].value_counts().sort("label").iter_rows())
            if frame is not None
            else {}
        ),
        **_decision_meta(decision),
    }
    if measured:
        meta["per_class"] = dg.MetadataValue.md(markdown_table(model.per_class))
        meta["confusion_matrix"] = _png(sentiment.confusion_matrix_figure(model))
    top = by_entity.sort("mentions", descending=True).head(10)
    entity_meta = {"most_mentioned": dg.MetadataValue.md(markdown_table(top))}
    yield from _publish(
        context,
        lake,
        registry,
        decision,
        [(REVIEW_SENTIMENT, out, meta), (ENTITY_SENTIMENT, by_entity, entity_meta)],
    )


# ---------------------------------------------------------------------------- direction
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


# ---------------------------------------------------------------------------- propensity
def propensity_inputs(lake: Lake, days: int) -> tuple[pl.DataFrame, pl.DataFrame, list[dt.date]]:
    """The last ``days`` days of user features and the activity through the day after."""
    feature_days = partition_days(lake, "features", "user_features")[-days:]
    if not feature_days:
        return pl.DataFrame(), pl.DataFrame(), []
    # The recount of the point-in-time check needs the 30 days before the first as-of day.
    first = feature_days[0] - dt.timedelta(days=30)
    span = (feature_days[-1] - first).days + 2
    activity_keys = _keys([first + dt.timedelta(days=i) for i in range(span)])
    features = lake.read("features", "user_features", _keys(feature_days))
    activity = lake.read("features", "user_daily_activity", activity_keys)
    return features, activity, feature_days


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


def orders_only(platform: RetailPlatform) -> bool:
    """The retailer's world declares orders but no web or app events: the orders-only path."""
    world = platform.world()
    declared = set(world.sources.declared())
    return world.retailer and not ({"web_events", "app_events"} & declared)


def order_history(lake: Lake, days: int) -> tuple[pl.DataFrame, dt.date | None]:
    """The last ``days`` days of ``features.user_daily_activity`` and the last day it covers."""
    covered = partition_days(lake, "features", "user_daily_activity")
    if not covered:
        return pl.DataFrame(), None
    return lake.read("features", "user_daily_activity", _keys(covered[-days:])), covered[-1]


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


# ---------------------------------------------------------------------------- segments
@dg.multi_asset(
    pool=MODELS_POOL,
    specs=[
        dg.AssetSpec(
            CUSTOMER_SEGMENTS,
            deps=[USER_FEATURES, USER_ACTIVITY, CUSTOMERS],
            description="Every customer active in the last 30 days in a segment named for "
            "marketers (Brand Loyalist, Value Shopper, Speed Seeker, ...), from RFM and "
            "behaviour; names carry over from the last run. A world with orders but no web "
            "or app events gets the standard RFM segments of every customer with an order "
            "in the last year (Champions, Loyal Customers, At Risk, Hibernating, ...).",
            kinds={"scikitlearn", "polars", "parquet"},
            **_SPEC,
        ),
        dg.AssetSpec(
            SEGMENT_PROFILES,
            deps=[CUSTOMER_SEGMENTS],
            description="Size and mean behaviour of each segment, and the simulated persona "
            "most common in it.",
            kinds={"polars", "parquet"},
            **_SPEC,
        ),
    ],
    check_specs=[schema_check_spec(CUSTOMER_SEGMENTS), schema_check_spec(SEGMENT_PROFILES)],
)
@single_threaded
def customer_segments(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Refit the segments on the latest day; keep each name on its nearest cluster."""
    if orders_only(platform):
        yield from _rfm_segments(context, platform)
        return
    lake = platform.lake()
    registry = model_registry(platform)
    days = partition_days(lake, "features", "user_features")
    if not days:
        raise dg.Failure(
            description="features.user_features has no partitions yet", allow_retries=False
        )
    latest = lake.read("features", "user_features", [days[-1].isoformat()])
    champion = registry.champion(SEGMENTS)
    previous = registry.load(SEGMENTS, champion.version).model if champion else None
    started = time.perf_counter()
    try:
        model = segments.fit_segments(latest, k=platform.segments, seed=SEED, previous=previous)
    except segments.SegmentError as exc:
        raise dg.Failure(
            description=f"features.user_features {days[-1]}: {exc}", allow_retries=False
        ) from exc
    # How stable the names are: today's customers named by the last segmentation (the
    # champion; on a first run, a fit on the day a week before) and by this one.
    reference, reference_label = previous, None
    if champion is not None:
        fitted_on = champion.metadata.get("trained_on", {}).get("first", "?")
        reference_label = f"champion v{champion.version} ({fitted_on})"
    elif (week_before := days[-1] - dt.timedelta(days=SEGMENT_STABILITY_DAYS)) in days:
        before = lake.read("features", "user_features", [week_before.isoformat()])
        try:
            reference = segments.fit_segments(before, k=platform.segments, seed=SEED)
            reference_label = f"a fit on {week_before}"
        except segments.SegmentError as exc:  # a measure only: the segments stand without it
            context.log.info(f"no name stability against {week_before}: {exc}")
    silhouette = segments.silhouette(model, latest, seed=SEED)
    stability = segments.name_agreement(reference, model, latest) if reference is not None else None
    trained_in = time.perf_counter() - started
    inertia = float(model.kmeans.inertia_) / max(model.fitted_rows, 1)
    version = registry.register(
        SEGMENTS,
        model,
        {"inertia_per_customer": inertia}
        | ({"silhouette": silhouette} if silhouette is not None else {}),
        holdout_id=f"as-of {days[-1]}",
        primary_metric="inertia_per_customer",
        higher_is_better=False,
        trained_on={"rows": latest.height, "first": str(days[-1]), "last": str(days[-1])},
        code_version=CODE_VERSION,
    )
    # Segments describe today's customers: each refit replaces the last, names carried over.
    decision = registry.promote(
        SEGMENTS,
        version,
        "segments are refitted on the latest day every run; names matched to the last run's"
        if previous is not None
        else "first segmentation",
        record=False,
    )
    customers = lake.read("governed", "customers", columns=["customer_key", "persona"])
    assigned = segments.assign(model, latest).with_columns(
        pl.col("as_of_date").cast(pl.Date), pl.lit(version, pl.Int64).alias("model_version")
    )
    profile = segments.profiles(model, latest, customers if not customers.is_empty() else None)
    for col in ("top_persona", "top_persona_share"):
        if col not in profile.columns:
            profile = profile.with_columns(
                pl.lit(None, pl.Utf8 if col == "top_persona" else pl.Float64).alias(col)
            )
    profile = profile.select(
        "segment_id",
        "segment_name",
        "description",
        "customers",
        "share",
        "buyer_share",
        *[f"mean_{c}" for c in segments.PROFILE_COLUMNS],
        "top_persona",
        "top_persona_share",
    ).with_columns(pl.lit(version, pl.Int64).alias("model_version"))
    shares = ", ".join(
        f"{name} {share:.0%}" for name, share in profile.select("segment_name", "share").rows()
    )
    headline = f"{model.k} segments"
    headline += f", silhouette {silhouette:.3f}" if silhouette is not None else ""
    headline += f": {shares}"
    if stability is not None:
        headline += f"; {stability:.0%} of customers keep their name vs {reference_label}"
    meta = {
        **_training_meta(
            rows=latest.height,
            first=days[-1],
            last=days[-1],
            days=1,
            metric="silhouette",
            value=silhouette,
            headline=headline,
            seconds=trained_in,
        ),
        "k": model.k,
        "segment_names": dg.MetadataValue.json(list(profile["segment_name"])),
        "silhouette": round(silhouette, 4) if silhouette is not None else None,
        "name_stability": round(stability, 4) if stability is not None else None,
        "name_stability_reference": reference_label,
        "segments": dg.MetadataValue.json(
            dict(profile.select("segment_name", "customers").iter_rows())
        ),
        "profiles": _png(segments.profile_figure(model)),
        "as_of": str(days[-1]),
        "decision": dg.MetadataValue.md(f"- {decision.reasons[0]}"),
    }
    profile_meta = {"profiles_table": dg.MetadataValue.md(markdown_table(profile))}
    yield from _publish(
        context,
        lake,
        registry,
        decision,
        [(CUSTOMER_SEGMENTS, assigned, meta), (SEGMENT_PROFILES, profile, profile_meta)],
    )


def _rfm_segments(context: dg.AssetExecutionContext, platform: RetailPlatform) -> Iterator:
    """The orders-only path: RFM quintile scores and the standard named segments."""
    lake = platform.lake()
    registry = model_registry(platform)
    activity, covered = order_history(lake, order_features.HISTORY_DAYS)
    days = order_features.order_days(activity) if covered is not None else pl.DataFrame()
    if covered is None or days.height == 0:
        raise dg.Failure(
            description="features.user_daily_activity has no order with a customer yet "
            "(orders-only segments need one)",
            allow_retries=False,
        )
    started = time.perf_counter()
    latest = order_features.features_as_of(days, [covered])
    assigned = rfm_segments.assign(latest)
    profile = rfm_segments.profiles(latest, assigned)
    segmenter = rfm_segments.RfmSegmenter(as_of=str(covered), customers=latest.height)
    champions_share = float((assigned["segment_id"] == "champions").mean())
    version = registry.register(
        SEGMENTS,
        segmenter,
        {"customers": latest.height, "champions_share": champions_share},
        holdout_id=f"as-of {covered}",
        primary_metric="customers",
        higher_is_better=True,
        trained_on={"rows": latest.height, "first": str(covered), "last": str(covered)},
        code_version=CODE_VERSION,
        extra={"feature_set": "orders_only", "method": "rfm_grid"},
    )
    decision = registry.promote(
        SEGMENTS, version, "RFM segments are rescored on the latest day every run", record=False
    )
    out = assigned.select(
        pl.col("as_of_date").cast(pl.Date),
        "customer_key",
        "segment_id",
        "segment_name",
        pl.lit(version, pl.Int64).alias("model_version"),
    )
    profile = profile.with_columns(pl.lit(version, pl.Int64).alias("model_version"))
    used = profile.filter(pl.col("customers") > 0)
    shares = ", ".join(f"{n} {s:.0%}" for n, s in used.select("segment_name", "share").rows())
    meta = {
        **_training_meta(
            rows=latest.height,
            first=covered,
            last=covered,
            days=1,
            metric="customers",
            value=latest.height,
            headline=f"RFM segments (orders only) of {latest.height:,} customers with an order "
            f"in the {order_features.HISTORY_DAYS} days to {covered}: {shares}",
            seconds=time.perf_counter() - started,
        ),
        "feature_set": "orders_only",
        "method": "RFM quintiles (R recency, F orders, M revenue over 365 days); the segment "
        "from R and F",
        "segment_names": dg.MetadataValue.json(list(used["segment_name"])),
        "segments": dg.MetadataValue.json(dict(used.select("segment_name", "customers").rows())),
        "rfm_cells": dg.MetadataValue.md(
            markdown_table(
                assigned.group_by("r_score", "f_score", "segment_name")
                .agg(pl.len().alias("customers"))
                .sort("r_score", "f_score", descending=True)
            )
        ),
        "as_of": str(covered),
        "decision": dg.MetadataValue.md(f"- {decision.reasons[0]}"),
    }
    profile_meta = {
        "profiles_table": dg.MetadataValue.md(markdown_table(profile)),
        "feature_set": "orders_only",
    }
    yield from _publish(
        context,
        lake,
        registry,
        decision,
        [(CUSTOMER_SEGMENTS, out, meta), (SEGMENT_PROFILES, profile, profile_meta)],
    )


# ---------------------------------------------------------------------------- decisions
@dg.asset(
    pool=MODELS_POOL,
    key=MODEL_DECISIONS,
    deps=[REVIEW_SENTIMENT, SALES_DIRECTION, PURCHASE_PROPENSITY, CUSTOMER_SEGMENTS],
    kinds={"polars", "parquet"},
    check_specs=[schema_check_spec(MODEL_DECISIONS)],
    **_SPEC,
)
def model_decisions(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Every champion/challenger decision of every model, with its reasons and triggers."""
    registry = model_registry(platform)
    frames = []
    for name in MODELS:
        d = registry.decisions(name)
        if d.is_empty():
            continue
        frames.append(
            d.select(
                pl.lit(name).alias("model"),
                pl.col("decided_at").cast(pl.Utf8),
                pl.col("challenger_version").cast(pl.Int64),
                pl.col("champion_version").cast(pl.Int64),
                pl.col("promoted").cast(pl.Boolean),
                pl.col("primary_metric").cast(pl.Utf8),
                pl.col("challenger_value").cast(pl.Float64),
                pl.col("champion_value").cast(pl.Float64),
                pl.col("holdout_id").cast(pl.Utf8),
                pl.col("reasons").list.join("; ").alias("reasons"),
                pl.col("triggers").list.join("; ").alias("triggers"),
            )
        )
    out = (
        pl.concat(frames).sort("decided_at")
        if frames
        else pl.DataFrame(
            schema={
                "model": pl.Utf8,
                "decided_at": pl.Utf8,
                "challenger_version": pl.Int64,
                "champion_version": pl.Int64,
                "promoted": pl.Boolean,
                "primary_metric": pl.Utf8,
                "challenger_value": pl.Float64,
                "champion_value": pl.Float64,
                "holdout_id": pl.Utf8,
                "reasons": pl.Utf8,
                "triggers": pl.Utf8,
            }
        )
    )
    champions = {name: registry.champion_version(name) for name in MODELS}
    missing = [name for name, version in champions.items() if version is None]
    headline = ", ".join(f"{name} v{v}" for name, v in champions.items() if v is not None)
    headline = f"champions: {headline or 'none'}" + (
        f"; no champion yet: {', '.join(missing)}" if missing else ""
    )
    yield from publish_table(
        context,
        lake := platform.lake(),
        MODEL_DECISIONS,
        out,
        metadata={
            "headline": headline,
            "champions": dg.MetadataValue.json(champions),
            "registry": dg.MetadataValue.path(str(lake.lake_root / "models")),
            "latest": dg.MetadataValue.md(markdown_table(out.tail(8))),
        },
    )


# ---------------------------------------------------------------------------- monitoring
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


# ---------------------------------------------------------------------------- jobs
model_training_job = dg.define_asset_job(
    "model_training",
    selection=dg.AssetSelection.assets(*TRAINING_KEYS),
    tags=MODELS_TAG,
    description="Train a challenger of every model, keep it only when it beats the champion "
    "on the same holdout, and rewrite the scores, segments and decisions.",
)
model_monitoring_job = dg.define_asset_job(
    "model_monitoring",
    selection=dg.AssetSelection.assets(FEATURE_DRIFT),
    description="Measure each champion's input drift and live metric; the retraining sensor "
    "acts on the result.",
)
model_training_weekly = dg.ScheduleDefinition(
    name="model_training_weekly",
    job=model_training_job,
    cron_schedule="0 5 * * 1",
    execution_timezone="UTC",
    description="Every Monday at 05:00 UTC, retrain every model (champion/challenger).",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
model_monitoring_daily = dg.ScheduleDefinition(
    name="model_monitoring_daily",
    job=model_monitoring_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    description="Every night at 03:30 UTC, after the daily refresh and the feature tables, "
    "measure drift and the live metrics.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


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


defs = dg.Definitions(
    assets=[
        review_sentiment,
        sales_direction_model,
        purchase_propensity,
        customer_segments,
        model_decisions,
        feature_drift,
    ],
    jobs=[model_training_job, model_monitoring_job],
    schedules=[model_training_weekly, model_monitoring_daily],
    sensors=[model_retraining_sensor],
)
