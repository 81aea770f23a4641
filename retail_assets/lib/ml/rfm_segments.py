"""RFM segments from orders alone: quintile scores and the standard named segments.

For a world that declares orders but no web or app events, the behavioural k-means of
:mod:`~retail_assets.lib.ml.segments` has nothing to separate customers on but three order
measures, and its archetypes (Window Shopper, Speed Seeker...) describe browsing that is not
there. The standard RFM grid is what marketers expect from an order history instead: each
customer with an order in the last year (as of the latest day) gets quintile scores (1-5,
:func:`~retail_assets.lib.ml.order_features.features_as_of`: R on recency, 5 = most recent;
F on orders in 365 days; M on revenue) and a segment from R and F (:data:`SEGMENTS`, the map
of the usual RFM segment tables; M is reported in the profiles, not used to name).

Deterministic: the same orders give the same segments, and the names need no matching from one
run to the next (a customer moves when their scores do). Output in the shape of
``ml.customer_segments`` and ``ml.segment_profiles`` so activation reads it unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from retail_assets.lib.ml import order_features as of


@dataclass(frozen=True)
class RfmSegment:
    """A named cell range of the R x F grid."""

    name: str
    description: str
    r: tuple[int, int]
    f: tuple[int, int]

    @property
    def slug(self) -> str:
        """Stable identifier, e.g. ``at_risk``."""
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")


#: The R x F map (R and F from 1 to 5, both bounds inclusive); every cell has one segment.
SEGMENTS: tuple[RfmSegment, ...] = (
    RfmSegment("Champions", "Bought recently, buy often: reward them.", (5, 5), (4, 5)),
    RfmSegment("Loyal Customers", "Buy often and fairly recently.", (3, 4), (4, 5)),
    RfmSegment("Potential Loyalists", "Recent, a few orders: offer a membership.", (4, 5), (2, 3)),
    RfmSegment("New Customers", "Bought very recently, once.", (5, 5), (1, 1)),
    RfmSegment("Promising", "Recent first order, not yet back.", (4, 4), (1, 1)),
    RfmSegment("Need Attention", "Average recency and frequency.", (3, 3), (3, 3)),
    RfmSegment("About to Sleep", "Below-average recency and frequency.", (3, 3), (1, 2)),
    RfmSegment("At Risk", "Bought often, but long ago: win them back.", (1, 2), (3, 4)),
    RfmSegment("Cannot Lose Them", "Were the most frequent buyers, gone quiet.", (1, 2), (5, 5)),
    RfmSegment("Hibernating", "Last order long ago, few orders.", (1, 2), (1, 2)),
)

#: ``ml.segment_profiles`` means an orders-only world can fill (the others are NULL: no events).
PROFILE_FROM_ORDERS = {
    "mean_recency_days": "recency_days",
    "mean_days_since_last_activity": "recency_days",
    "mean_frequency_90d": "orders_90d",
    "mean_monetary_90d": "revenue_90d",
    "mean_purchases_30d": "lines_30d",
}
PROFILE_NULL = ("mean_active_days_30d", "mean_views_30d", "mean_carts_30d",
                "mean_views_per_purchase")  # fmt: skip


def segment_of(r: int, f: int) -> RfmSegment:
    """The segment of one R, F cell."""
    for s in SEGMENTS:
        if s.r[0] <= r <= s.r[1] and s.f[0] <= f <= s.f[1]:
            return s
    raise ValueError(f"no RFM segment for R={r}, F={f}")


def _grid() -> pl.DataFrame:
    cells = [(r, f, segment_of(r, f)) for r in range(1, 6) for f in range(1, 6)]
    return pl.DataFrame(
        {
            "r_score": [c[0] for c in cells],
            "f_score": [c[1] for c in cells],
            "segment_id": [c[2].slug for c in cells],
            "segment_name": [c[2].name for c in cells],
        },
        schema_overrides={"r_score": pl.Int32, "f_score": pl.Int32},
    )


def assign(features: pl.DataFrame) -> pl.DataFrame:
    """``as_of_date, customer_key, r_score, f_score, m_score, segment_id, segment_name``.

    ``features`` are rows of one as-of day from ``order_features.features_as_of``.
    """
    if features["as_of_date"].n_unique() > 1:
        raise ValueError("segment one as-of day at a time")
    return (
        features.select(
            "as_of_date",
            "customer_key",
            pl.col("r_score").cast(pl.Int32),
            pl.col("f_score").cast(pl.Int32),
            pl.col("m_score").cast(pl.Int32),
        )
        .join(_grid(), on=["r_score", "f_score"], how="left")
        .sort("customer_key")
    )


def profiles(features: pl.DataFrame, assigned: pl.DataFrame) -> pl.DataFrame:
    """One row per segment of :data:`SEGMENTS`, empty ones with 0 customers.

    In the columns of ``ml.segment_profiles`` (without ``model_version``). ``buyer_share`` is
    the share that ordered in the last 30 days; ``mean_order_value`` the revenue per order
    over a year; the behaviour means an orders-only world lacks are NULL.
    """
    frame = features.join(assigned.select("customer_key", "segment_id"), on="customer_key")
    stats = frame.group_by("segment_id").agg(
        pl.len().alias("customers"),
        (pl.col("orders_30d") > 0).mean().alias("buyer_share"),
        *(
            pl.col(src).cast(pl.Float64).mean().alias(dst)
            for dst, src in PROFILE_FROM_ORDERS.items()
        ),
        pl.col("avg_order_value").mean().alias("mean_order_value"),
    )
    order = pl.DataFrame(
        {
            "segment_id": [s.slug for s in SEGMENTS],
            "segment_name": [s.name for s in SEGMENTS],
            "description": [s.description for s in SEGMENTS],
        }
    )
    out = (
        order.join(stats, on="segment_id", how="left")
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64))
        .with_columns((pl.col("customers") / max(frame.height, 1)).alias("share"))
        .with_columns(pl.lit(None, pl.Float64).alias(c) for c in PROFILE_NULL)
        .with_columns(
            pl.lit(None, pl.String).alias("top_persona"),
            pl.lit(None, pl.Float64).alias("top_persona_share"),
        )
    )
    return out.select(
        "segment_id",
        "segment_name",
        "description",
        "customers",
        "share",
        "buyer_share",
        "mean_recency_days",
        "mean_days_since_last_activity",
        "mean_active_days_30d",
        "mean_frequency_90d",
        "mean_monetary_90d",
        "mean_order_value",
        "mean_views_30d",
        "mean_carts_30d",
        "mean_purchases_30d",
        "mean_views_per_purchase",
        "top_persona",
        "top_persona_share",
    )


@dataclass(frozen=True)
class RfmSegmenter:
    """What the registry stores for an RFM segmentation: the map and the day it scored."""

    as_of: str
    customers: int
    segments: tuple[RfmSegment, ...] = SEGMENTS
    history_days: int = of.HISTORY_DAYS
    feature_set: str = "orders_only"
