"""What the model assets share: asset keys, constants, registry access, metadata, inputs.

Asset keys and registry names, the champion/challenger decision and publication
(``_decide``, ``_publish``), the metadata blocks and figures, the empty tables of a model
with too little data, and the readers of the inputs more than one model needs. No Dagster
definitions here: each model family's module declares its own.

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
from collections.abc import Iterator

import dagster as dg
import polars as pl
from threadpoolctl import threadpool_limits

from retail_assets.defs.publishing import passes_schema, publish_table
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib import plots
from retail_assets.lib.ml.registry.records import Decision
from retail_assets.lib.ml.registry.store import ModelRegistry
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


# ---------------------------------------------------------------------------- inputs
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
