"""Customer features from the order history alone, as of the end of a day.

A retailer that declares orders but no web or app events (the UCI *Online Retail* shape)
has, per customer and day, only what ``features.user_daily_activity`` takes from
``governed.orders``: order lines (``purchases``), distinct ``orders`` and ``revenue``. This
module turns those days into one row per customer and as-of day, for the orders-only
propensity model (:mod:`~retail_assets.lib.ml.order_propensity`) and the RFM segments
(:mod:`~retail_assets.lib.ml.rfm_segments`).

Every feature of a row with ``as_of_date`` t reads only order days ``<= t`` (and after
``t - history_days``): the row exists for every customer with an order in that window, so a
customer who has gone quiet is still scored (the behavioural ``user_features`` keep only those
active in the last 30 days).

Computed in polars rather than as a SQL feature table: the as-of days the model needs (every
week over a year, and the label horizon after each) are a choice of the model, made at
training time, and a year of lookback per daily partition would rescan the whole history for
every day of a backfill. The SQL model ``user_daily_activity`` stays the one place that reads
the governed orders.

Not available from governed orders: returns and cancellations (netted against the purchases
before governance, ``raw/orders`` counts them), and any browsing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

ACTIVITY_TABLE = "features.user_daily_activity"
#: Days of order history a feature row reads (the window ends at as_of_date).
HISTORY_DAYS = 365
#: Order counts and revenue are summed over these trailing windows (days, ending at as_of_date).
WINDOWS = (30, 90, 365)

#: The feature columns, in order (besides ``as_of_date, customer_key``).
FEATURES = (
    "recency_days",
    "tenure_days",
    "order_days_365d",
    *(f"orders_{w}d" for w in WINDOWS),
    *(f"revenue_{w}d" for w in WINDOWS),
    "lines_30d",
    "avg_order_value",
    "lines_per_order",
    "mean_gap_days",
    "recency_over_gap",
    "weekend_order_share",
    "r_score",
    "f_score",
    "m_score",
)
#: Columns :func:`recount` recomputes to check a row's features end at its as-of day.
RECOUNTED = ("recency_days", "orders_30d", "orders_90d", "revenue_90d")


class OrderFeatureError(ValueError):
    """The activity table cannot be used as given; the message says what to fix."""


def order_days(activity: pl.DataFrame) -> pl.DataFrame:
    """The days with an order: ``day, customer_key, orders, lines, revenue`` (sorted).

    ``activity`` is ``features.user_daily_activity`` (``activity_date, customer_key,
    purchases, orders, revenue``); days without an order (browsing only) are dropped.
    """
    needed = ["activity_date", "customer_key", "purchases", "orders", "revenue"]
    missing = [c for c in needed if c not in activity.columns]
    if missing:
        raise OrderFeatureError(
            f"{ACTIVITY_TABLE} lacks column(s) {missing} ({activity.height} rows); see "
            "dbt_like_sql/staging/user_daily_activity.sql"
        )
    return (
        activity.filter(pl.col("orders") > 0)
        .select(
            pl.col("activity_date").cast(pl.Date).alias("day"),
            pl.col("customer_key").cast(pl.String),
            pl.col("orders").cast(pl.Int64),
            pl.col("purchases").cast(pl.Int64).alias("lines"),
            pl.col("revenue").cast(pl.Float64),
        )
        .sort("day", "customer_key")
    )


def _quintile(column: str, descending: bool = False) -> pl.Expr:
    """1 + floor(5 x percent_rank) within the as-of day, capped at 5 (ties share a score).

    The same scores as ``r_score``/``f_score``/``m_score`` of ``user_features.sql``.
    """
    value = -pl.col(column) if descending else pl.col(column)
    rank = value.rank("min").over("as_of_date")
    n = pl.len().over("as_of_date")
    pct = pl.when(n > 1).then((rank - 1) / (n - 1)).otherwise(0.0)
    return pl.min_horizontal(pl.lit(5), (1 + (5 * pct).floor()).cast(pl.Int32)).cast(pl.Int32)


def features_as_of(
    days: pl.DataFrame, as_of_dates: Sequence[dt.date], *, history_days: int = HISTORY_DAYS
) -> pl.DataFrame:
    """One row per customer with an order in (t - history_days, t], for each as-of day t.

    ``days`` comes from :func:`order_days`. Columns: ``as_of_date, customer_key`` and
    :data:`FEATURES`: days since the last and the first order day in the window, order days,
    orders and revenue over 30/90/365 days, lines in 30 days, average order value, lines per
    order, the mean gap between order days (the window's span over order days - 1; the
    window's length for a single order day), recency over that gap (above 1: later than
    usual), the share of orders placed on a Saturday or Sunday, and RFM quintile scores among
    that day's customers (5 = most recent, most orders, most revenue).
    """
    frames = []
    for t in sorted(set(as_of_dates)):
        window = days.filter(
            (pl.col("day") <= t) & (pl.col("day") > t - dt.timedelta(days=history_days))
        )
        if window.height == 0:
            continue
        age = (pl.lit(t) - pl.col("day")).dt.total_days()
        per = (
            window.with_columns(age.alias("age"))
            .group_by("customer_key")
            .agg(
                pl.col("age").min().alias("recency_days"),
                pl.col("age").max().alias("tenure_days"),
                pl.len().alias("order_days_365d"),
                *(
                    pl.col("orders").filter(pl.col("age") < w).sum().alias(f"orders_{w}d")
                    for w in WINDOWS
                ),
                *(
                    pl.col("revenue").filter(pl.col("age") < w).sum().alias(f"revenue_{w}d")
                    for w in WINDOWS
                ),
                pl.col("lines").filter(pl.col("age") < 30).sum().alias("lines_30d"),
                pl.col("lines").sum().alias("_lines"),
                pl.col("orders").filter(pl.col("day").dt.weekday() >= 6).sum().alias("_weekend"),
            )
        )
        frames.append(per.with_columns(pl.lit(t).alias("as_of_date")))
    if not frames:
        return pl.DataFrame(
            schema={"as_of_date": pl.Date, "customer_key": pl.String}
            | {c: pl.Float64 for c in FEATURES}
        )
    span = (pl.col("tenure_days") - pl.col("recency_days")).cast(pl.Float64)
    gap = (
        pl.when(pl.col("order_days_365d") > 1)
        .then(span / (pl.col("order_days_365d") - 1))
        .otherwise(float(history_days))
    )
    orders = pl.col("orders_365d").cast(pl.Float64)
    return (
        pl.concat(frames)
        .with_columns(
            (pl.col("revenue_365d") / orders).alias("avg_order_value"),
            (pl.col("_lines") / orders).alias("lines_per_order"),
            gap.alias("mean_gap_days"),
            (pl.col("_weekend") / orders).alias("weekend_order_share"),
        )
        .with_columns(
            (pl.col("recency_days") / pl.col("mean_gap_days")).alias("recency_over_gap"),
            _quintile("recency_days", descending=True).alias("r_score"),
            _quintile("orders_365d").alias("f_score"),
            _quintile("revenue_365d").alias("m_score"),
        )
        .select(
            "as_of_date",
            "customer_key",
            *(pl.col(c).cast(pl.Int64) for c in FEATURES[:3]),
            *(pl.col(c).cast(pl.Int64) for c in (f"orders_{w}d" for w in WINDOWS)),
            *(pl.col(c).round(2) for c in (f"revenue_{w}d" for w in WINDOWS)),
            pl.col("lines_30d").cast(pl.Int64),
            *(pl.col(c) for c in FEATURES[10:15]),
            *(pl.col(c).cast(pl.Int32) for c in ("r_score", "f_score", "m_score")),
        )
        .sort("as_of_date", "customer_key")
    )


def recount(rows: pl.DataFrame, days: pl.DataFrame, *, shift_days: int = 0) -> pl.DataFrame:
    """:data:`RECOUNTED` of ``rows`` (``as_of_date, customer_key``) from ``days`` up to t.

    With ``shift_days``, the window ends ``shift_days`` after the as-of day instead (what a
    feature that read the label window would hold). Customers without an order in the window
    get NULL recency and zero counts.
    """
    end = pl.col("as_of_date") + pl.duration(days=shift_days)
    age = (end - pl.col("day")).dt.total_days()
    joined = (
        rows.select("as_of_date", "customer_key")
        .with_row_index("_row")
        .join(days, on="customer_key", how="left")
        .with_columns(age.alias("_age"))
    )
    inside = (pl.col("_age") >= 0) & (pl.col("_age") < HISTORY_DAYS)
    return (
        joined.group_by("_row")
        .agg(
            pl.col("_age").filter(inside).min().alias("recency_days"),
            pl.col("orders").filter(inside & (pl.col("_age") < 30)).sum().alias("orders_30d"),
            pl.col("orders").filter(inside & (pl.col("_age") < 90)).sum().alias("orders_90d"),
            pl.col("revenue")
            .filter(inside & (pl.col("_age") < 90))
            .sum()
            .round(2)
            .alias("revenue_90d"),
        )
        .sort("_row")
        .drop("_row")
    )
