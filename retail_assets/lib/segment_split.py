"""Split each channel's budget across customer segments.

A segment's weight is the revenue it is expected to bring: the sum of its customers' 24-hour
purchase probabilities (the propensity model) times its mean order value (the segment
profiles). Before the propensity model is trained, the profiles' buyer share stands in for the
probabilities; before the segment model is trained, the configured segments share equally.
The flight's forecast revenue is then attributed to segments by the same weights.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from retail_assets.lib.allocation import billable_unit_micros, split_micros

WEIGHT_COLUMNS = [
    "segment_id",
    "segment_name",
    "customers",
    "expected_buyers",
    "mean_order_value",
    "weight",
    "basis",
]


def segment_weights(
    segments: pl.DataFrame,
    profiles: pl.DataFrame,
    propensity: pl.DataFrame,
    configured: dict[str, str],
) -> pl.DataFrame:
    """One row per segment with its weight (summing to 1) and what the weight rests on.

    Args:
        segments: ``ml.customer_segments`` (customer_key, segment_id, segment_name); may be
            empty when the model has not been trained.
        profiles: ``ml.segment_profiles`` (segment_id, customers, buyer_share,
            mean_order_value); may be empty.
        propensity: ``ml.purchase_propensity`` (customer_key, probability); may be empty.
        configured: segment id -> name, used while there are no segments.

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
    value = out["expected_buyers"] * out["mean_order_value"].fill_null(fallback_aov)
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
