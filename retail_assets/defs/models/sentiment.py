"""Sentiment models: ``ml/review_sentiment`` and ``ml/entity_sentiment``.

``ml/review_sentiment`` (with ``ml/entity_sentiment``): 3 classes, TF-IDF stacked with the
VADER lexicon's scores, trained on the reviews' ratings or labels or a labeled file, or the
lexicon alone (no labels, too few, or better on the holdout); every review and mention
scored; the products, brands and stores they name tagged from the catalog.
"""

import time
from pathlib import Path

import dagster as dg
import polars as pl

from retail_assets.defs.models.common import (
    _SPEC,
    CATALOG,
    CODE_VERSION,
    CUSTOMERS,
    ENTITY_SENTIMENT,
    REVIEW_SENTIMENT,
    SEED,
    SENTIMENT,
    SIGNALS,
    _decide,
    _decision_meta,
    _keys,
    _png,
    _publish,
    _training_meta,
    model_registry,
    partition_days,
    single_threaded,
)
from retail_assets.defs.operations import MODELS_POOL
from retail_assets.defs.publishing import schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.ml import sentiment
from retail_assets.lib.warehouse.frames import markdown_table
from retail_assets.lib.warehouse.lake import Lake


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


defs = dg.Definitions(assets=[review_sentiment])
