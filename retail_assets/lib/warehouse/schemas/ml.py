"""Schemas of the learned models' tables under ``ml.``: sentiment, propensity, segments, drift."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from retail_assets.lib.warehouse.schemas.base import (
    HEX64,
    Lineage,
)

SENTIMENT_CLASSES = ["negative", "neutral", "positive"]
ENTITY_TYPES = ["product", "brand", "store"]
MODEL_NAMES = [
    "review_sentiment",
    "sales_direction",
    "purchase_propensity",
    "customer_segments",
]


class ReviewSentiment(Lineage):
    """Every review and social mention of the training window, scored by the champion."""

    signal_id: str = pa.Field(unique=True)
    signal_date: pl.Date
    category: str
    source: str = pa.Field(isin=["review", "social"])
    label: str = pa.Field(isin=SENTIMENT_CLASSES, description="Most likely class.")
    p_negative: float = pa.Field(ge=0, le=1)
    p_neutral: float = pa.Field(ge=0, le=1)
    p_positive: float = pa.Field(ge=0, le=1)
    score: float = pa.Field(ge=-1, le=1, description="p_positive - p_negative.")
    entities: int = pa.Field(ge=0, description="Catalog entities the text mentions.")
    model_version: int = pa.Field(ge=1, description="Registry version of the scoring model.")


class EntitySentiment(Lineage):
    """Sentiment per product, brand and store named in reviews and mentions (gazetteer)."""

    entity_type: str = pa.Field(isin=ENTITY_TYPES)
    entity: str = pa.Field(description="Product id, brand or store id.")
    mentions: int = pa.Field(ge=1)
    mean_score: float = pa.Field(ge=-1, le=1, description="Mean of p_positive - p_negative.")
    share_positive: float = pa.Field(ge=0, le=1)
    share_negative: float = pa.Field(ge=0, le=1)
    model_version: int = pa.Field(ge=1)


class SalesDirection(Lineage):
    """The champion's up/down calls on the latest complete weeks, from the week before's signals."""

    category: str
    signal_week_start: pl.Date = pa.Field(description="Week of the signals used.")
    week_start: pl.Date = pa.Field(description="Week predicted.")
    probability_up: float = pa.Field(ge=0, le=1)
    direction: str = pa.Field(isin=["up", "down"], description="The model's call.")
    actual: str = pa.Field(isin=["up", "down"], description="What revenue did that week.")
    model_version: int = pa.Field(ge=1)


class PurchasePropensity(Lineage):
    """Probability of a purchase in the 24 hours after the as-of day, per active customer."""

    as_of_date: pl.Date = pa.Field(description="Features use activity up to the end of this day.")
    customer_key: str = pa.Field(str_matches=HEX64, metadata={"pii": "pseudonymous_id"})
    probability: float = pa.Field(ge=0, le=1, description="Calibrated purchase probability.")
    decile: int = pa.Field(ge=1, le=10, description="1 = the most likely tenth.")
    rank: int = pa.Field(ge=1)
    model_version: int = pa.Field(ge=1)


class CustomerSegments(Lineage):
    """Every active customer's segment, named for marketers, stable between runs."""

    as_of_date: pl.Date
    customer_key: str = pa.Field(str_matches=HEX64, metadata={"pii": "pseudonymous_id"})
    segment_id: str = pa.Field(str_matches=r"^[a-z][a-z0-9_]*$")
    segment_name: str
    model_version: int = pa.Field(ge=1)


class SegmentProfiles(Lineage):
    """What each segment looks like: size and mean behaviour."""

    segment_id: str
    segment_name: str
    description: str
    customers: int = pa.Field(ge=0)
    share: float = pa.Field(ge=0, le=1)
    buyer_share: float = pa.Field(ge=0, le=1, nullable=True)
    mean_recency_days: float = pa.Field(nullable=True, description="Days since last purchase.")
    mean_days_since_last_activity: float = pa.Field(nullable=True)
    mean_active_days_30d: float = pa.Field(nullable=True)
    mean_frequency_90d: float = pa.Field(nullable=True, description="Orders in 90 days.")
    mean_monetary_90d: float = pa.Field(nullable=True, description="Revenue in 90 days.")
    mean_order_value: float = pa.Field(nullable=True, description="Buyers only.")
    mean_views_30d: float = pa.Field(nullable=True)
    mean_carts_30d: float = pa.Field(nullable=True)
    mean_purchases_30d: float = pa.Field(nullable=True)
    mean_views_per_purchase: float = pa.Field(nullable=True, description="Buyers only.")
    top_persona: str = pa.Field(nullable=True, description="Simulated persona most common in it.")
    top_persona_share: float = pa.Field(nullable=True, ge=0, le=1)
    model_version: int = pa.Field(ge=1)


class FeatureDrift(Lineage):
    """Population stability of each model input between its training data and the latest."""

    model: str = pa.Field(isin=MODEL_NAMES)
    model_version: int = pa.Field(ge=1)
    feature: str
    psi: float = pa.Field(nullable=True, ge=0)
    status: str = pa.Field(isin=["stable", "moderate", "major", "unknown"])
    train_mean: float = pa.Field(nullable=True)
    latest_mean: float = pa.Field(nullable=True)
    relative_mean_shift: float = pa.Field(nullable=True)
    train_rows: int = pa.Field(ge=0)
    latest_rows: int = pa.Field(ge=0)
    latest_from: pl.Date
    latest_to: pl.Date


class ModelDecisions(Lineage):
    """Every champion/challenger decision, with its reasons."""

    model: str = pa.Field(isin=MODEL_NAMES)
    decided_at: str
    challenger_version: int = pa.Field(ge=1)
    champion_version: int = pa.Field(nullable=True, ge=1)
    promoted: bool
    primary_metric: str
    challenger_value: float = pa.Field(nullable=True)
    champion_value: float = pa.Field(nullable=True)
    holdout_id: str
    reasons: str
    triggers: str = pa.Field(description="Why the retrain was requested ('' when scheduled).")
