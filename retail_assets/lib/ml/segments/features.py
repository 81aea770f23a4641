"""The behaviour features customers are segmented on, derived from one day of user features.

Counts and money are ``log1p``-compressed; non-buyers have no order value (the model's
imputer fills it). :data:`PROFILE_COLUMNS` are the readable columns profiles report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

DEFAULT_K = 6
DEFAULT_SEED = 42
DEFAULT_N_INIT = 10
#: Rows the k-means fit sees at most (a seeded sample of the sorted rows); every row is assigned.
DEFAULT_FIT_SAMPLE = 200_000
#: Customers the silhouette is computed on at most (a seeded sample): its cost is quadratic.
DEFAULT_SILHOUETTE_SAMPLE = 5_000
#: ``recency_days`` of a customer with no purchase in the 90-day window (the window's end + 1).
NO_PURCHASE_RECENCY = 90

#: Columns of ``features.user_features`` the segment features are derived from.
REQUIRED_COLUMNS = (
    "customer_key",
    "days_since_last_activity",
    "active_days_30d",
    "views_30d",
    "carts_30d",
    "purchases_30d",
    "recency_days",
    "frequency_90d",
    "monetary_90d",
)

#: The clustering inputs, in order (derived by :func:`behaviour_features`).
SEGMENT_FEATURES = (
    "purchase_recency_days",
    "days_since_last_activity",
    "active_days_30d",
    "log_orders_90d",
    "log_revenue_90d",
    "log_order_value",
    "log_views_30d",
    "log_carts_30d",
    "log_views_per_purchase",
)

#: Readable columns whose per-segment means :func:`profiles` reports.
PROFILE_COLUMNS = (
    "recency_days",
    "days_since_last_activity",
    "active_days_30d",
    "frequency_90d",
    "monetary_90d",
    "order_value",
    "views_30d",
    "carts_30d",
    "purchases_30d",
    "views_per_purchase",
)


class SegmentError(ValueError):
    """The input cannot be segmented as given; the message says what to fix."""


def behaviour_features(user_features: pl.DataFrame) -> pl.DataFrame:
    """``customer_key`` and the :data:`SEGMENT_FEATURES` derived from user-feature rows.

    ``log_order_value`` is null for customers without orders (the model's imputer fills it);
    other columns are never null.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in user_features.columns]
    if missing:
        raise SegmentError(
            f"user features lack column(s) {missing}; pass rows of features.user_features"
        )
    orders = pl.col("frequency_90d").fill_null(0).cast(pl.Float64)
    revenue = pl.col("monetary_90d").fill_null(0.0).cast(pl.Float64)
    views = pl.col("views_30d").fill_null(0).cast(pl.Float64)
    purchases = pl.col("purchases_30d").fill_null(0).cast(pl.Float64)
    return user_features.select(
        "customer_key",
        pl.col("recency_days")
        .fill_null(NO_PURCHASE_RECENCY)
        .cast(pl.Float64)
        .alias("purchase_recency_days"),
        pl.col("days_since_last_activity").fill_null(29).cast(pl.Float64),
        pl.col("active_days_30d").fill_null(0).cast(pl.Float64),
        orders.log1p().alias("log_orders_90d"),
        revenue.log1p().alias("log_revenue_90d"),
        pl.when(orders > 0).then((revenue / orders).log1p()).alias("log_order_value"),
        views.log1p().alias("log_views_30d"),
        pl.col("carts_30d").fill_null(0).cast(pl.Float64).log1p().alias("log_carts_30d"),
        pl.when(purchases > 0).then((views / purchases).log1p()).alias("log_views_per_purchase"),
    )


def _matrix(derived: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    return derived.select(features).to_numpy().astype(float)


def _check_one_day(user_features: pl.DataFrame) -> None:
    if "as_of_date" in user_features.columns:
        days = user_features["as_of_date"].n_unique()
        if days > 1:
            raise SegmentError(
                f"user features span {days} as_of_date values; segment one day at a time "
                "(filter to a single as_of_date)"
            )
