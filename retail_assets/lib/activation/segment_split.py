"""Split each channel's budget across customer segments.

A segment's weight is the revenue it is expected to bring in the flight: the sum of its
customers' 24-hour purchase probabilities (the propensity model) times its mean order value
(the segment profiles), times the forecast growth of the categories it buys (the demand
forecasts for the flight against the categories' recent sales, weighted by the segment's
category mix). Before the propensity model is trained, the profiles' buyer share stands in for
the probabilities; before the segment model is trained, the configured segments share equally.
The flight's forecast revenue is then attributed to segments by the same weights.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import polars as pl

from retail_assets.lib.activation.allocation.money import billable_unit_micros, split_micros

WEIGHT_COLUMNS = [
    "segment_id",
    "segment_name",
    "customers",
    "expected_buyers",
    "mean_order_value",
    "forecast_growth",
    "weight",
    "basis",
]
#: A category's forecast growth is clipped to this range: a short or noisy history must not
#: swing the split more than the propensity and order value do.
GROWTH_RANGE = (0.5, 2.0)


def category_growth(
    forecast: pl.DataFrame, sales: pl.DataFrame, start: dt.date, days: int
) -> dict[str, float]:
    """Forecast revenue per category over the flight against its recent daily revenue.

    Args:
        forecast: ``ml.sales_forecasts`` of the plan date (``level``, ``unique_id`` like
            ``category:Apparel``, ``ds``, ``yhat``).
        sales: ``features.daily_sales_by_category`` of recent days (``category``, ``revenue``,
            one row per category and day).
        start: the flight's first day.
        days: the flight's length.

    Returns:
        category -> (forecast flight revenue) / (mean daily recent revenue x days), clipped to
        :data:`GROWTH_RANGE`; categories without both figures are left out (growth 1).

    """
    if forecast.is_empty() or sales.is_empty():
        return {}
    end = start + dt.timedelta(days=days - 1)
    ahead = (
        forecast.filter((pl.col("level") == "category") & pl.col("ds").is_between(start, end))
        .group_by(category=pl.col("unique_id").str.strip_prefix("category:"))
        .agg(ahead=pl.col("yhat").sum())
    )
    recent = sales.group_by("category").agg(daily=pl.col("revenue").mean())
    joined = ahead.join(recent, on="category").filter(pl.col("daily") > 0)
    lo, hi = GROWTH_RANGE
    return {
        r["category"]: min(max(r["ahead"] / (r["daily"] * days), lo), hi)
        for r in joined.iter_rows(named=True)
    }


def segment_growth(
    segments: pl.DataFrame, purchases: pl.DataFrame, growth: dict[str, float]
) -> dict[str, float]:
    """Each segment's forecast growth: its category mix (by revenue) times category growth.

    ``purchases`` has ``customer_key``, ``category`` and ``revenue``; a segment with no
    purchases, or categories without a forecast, counts as growth 1.
    """
    if segments.is_empty() or purchases.is_empty() or not growth:
        return {}
    mix = (
        purchases.join(segments.select("customer_key", "segment_id"), on="customer_key")
        .group_by("segment_id", "category")
        .agg(pl.col("revenue").sum())
        .filter(pl.col("revenue") > 0)
        .with_columns(
            g=pl.col("category").replace_strict(growth, default=1.0, return_dtype=pl.Float64)
        )
        .group_by("segment_id")
        .agg(growth=(pl.col("revenue") * pl.col("g")).sum() / pl.col("revenue").sum())
    )
    return dict(mix.iter_rows())


def segment_weights(
    segments: pl.DataFrame,
    profiles: pl.DataFrame,
    propensity: pl.DataFrame,
    configured: dict[str, str],
    growth: dict[str, float] | None = None,
) -> pl.DataFrame:
    """One row per segment with its weight (summing to 1) and what the weight rests on.

    Args:
        segments: ``ml.customer_segments`` (customer_key, segment_id, segment_name); may be
            empty when the model has not been trained.
        profiles: ``ml.segment_profiles`` (segment_id, customers, buyer_share,
            mean_order_value); may be empty.
        propensity: ``ml.purchase_propensity`` (customer_key, probability); may be empty.
        configured: segment id -> name, used while there are no segments.
        growth: segment id -> forecast growth of the categories it buys
            (:func:`segment_growth`); 1 where missing.

    """
    if segments.is_empty():
        n = len(configured)
        return pl.DataFrame(
            {
                "segment_id": list(configured),
                "segment_name": list(configured.values()),
                "customers": [0] * n,
                "expected_buyers": [0.0] * n,
                "mean_order_value": [None] * n,
                "forecast_growth": [1.0] * n,
                "weight": [1.0 / n] * n,
                "basis": ["configured"] * n,
            },
            schema_overrides={"mean_order_value": pl.Float64},
        )
    sizes = segments.group_by("segment_id", "segment_name").agg(customers=pl.len())
    if not propensity.is_empty():
        buyers = (
            segments.join(propensity.select("customer_key", "probability"), on="customer_key")
            .group_by("segment_id")
            .agg(expected_buyers=pl.col("probability").sum())
        )
        basis = "propensity"
    else:
        buyers = profiles.select(
            "segment_id",
            expected_buyers=pl.col("customers") * pl.col("buyer_share").fill_null(0.0),
        )
        basis = "buyer_share"
    aov = (
        profiles.select("segment_id", "mean_order_value")
        if not profiles.is_empty()
        else pl.DataFrame(schema={"segment_id": pl.Utf8, "mean_order_value": pl.Float64})
    )
    out = (
        sizes.join(buyers, on="segment_id", how="left")
        .join(aov, on="segment_id", how="left")
        .with_columns(pl.col("expected_buyers").fill_null(0.0).cast(pl.Float64))
        .sort("segment_id")
    )
    # A segment with no buyers yet is valued at the mean order value of the others.
    fallback_aov = out["mean_order_value"].drop_nulls().mean() or 1.0
    out = out.with_columns(
        forecast_growth=pl.col("segment_id").replace_strict(
            growth or {}, default=1.0, return_dtype=pl.Float64
        )
    )
    value = (
        out["expected_buyers"]
        * out["mean_order_value"].fill_null(fallback_aov)
        * out["forecast_growth"]
    )
    if float(value.sum()) <= 0:
        value = out["customers"].cast(pl.Float64)
    return out.with_columns(
        weight=value / value.sum(),
        basis=pl.lit(basis),
        customers=pl.col("customers").cast(pl.Int64),
    ).select(WEIGHT_COLUMNS)


def split_channel_budgets(
    channel_micros: dict[str, int],
    channel_conversions: dict[str, float],
    weights: pl.DataFrame,
    currency: str,
    forecast_revenue: float | None,
) -> pl.DataFrame:
    """Each channel's micros split by segment weight, exactly (largest remainder).

    Expected conversions are attributed by the same weights; ``forecast_revenue`` is the
    segment's share of the flight's forecast revenue (the same in every channel's rows).
    """
    unit = billable_unit_micros(currency)
    w = weights["weight"].to_numpy()
    rows = []
    for channel in sorted(channel_micros):
        parts = split_micros(int(channel_micros[channel]), np.asarray(w, dtype=float), unit)
        for i, seg in enumerate(weights.iter_rows(named=True)):
            rows.append(
                {
                    "channel": channel,
                    **seg,
                    "budget_micros": parts[i],
                    "conversions_p50": float(channel_conversions[channel]) * float(w[i]),
                    "forecast_revenue": (
                        float(forecast_revenue) * float(w[i])
                        if forecast_revenue is not None
                        else None
                    ),
                }
            )
    return pl.DataFrame(
        rows, schema_overrides={"mean_order_value": pl.Float64, "forecast_revenue": pl.Float64}
    )


def segment_ref(advertiser_id: str, segment_id: str) -> str:
    """An opaque audience reference for a segment: no customer identifier ever leaves."""
    digest = hashlib.sha256(f"{advertiser_id}/{segment_id}".encode()).hexdigest()
    return f"seg_{digest[:16]}"
