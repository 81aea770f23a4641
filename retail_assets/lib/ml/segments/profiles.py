"""What the segments look like: per-segment profiles, personas, centroids and a heat map.

The simulator's personas are only reported against the segments (:func:`persona_crosstab`),
never an input to them.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from retail_assets.lib.ml.segments.features import PROFILE_COLUMNS, SegmentError
from retail_assets.lib.ml.segments.model import SegmentModel, assign


def _with_segments(model: SegmentModel, user_features: pl.DataFrame) -> pl.DataFrame:
    views = pl.col("views_30d").cast(pl.Float64)
    purchases = pl.col("purchases_30d").cast(pl.Float64)
    frame = user_features.with_columns(
        pl.when(pl.col("frequency_90d") > 0)
        .then(pl.col("monetary_90d") / pl.col("frequency_90d"))
        .alias("order_value"),
        pl.when(purchases > 0).then(views / purchases).alias("views_per_purchase"),
    )
    labels = assign(model, user_features).select("segment_id", "segment_name")
    return pl.concat([frame, labels], how="horizontal")


def _segment_order(model: SegmentModel) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "segment_id": list(model.slugs),
            "segment_name": list(model.names),
            "description": list(model.descriptions),
        }
    )


def profiles(
    model: SegmentModel,
    user_features: pl.DataFrame,
    customers: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per segment: size, share, mean of each :data:`PROFILE_COLUMNS`, buyer share.

    ``order_value`` is averaged over buyers only (it does not exist for the others). With
    ``customers`` (``customer_key, persona``: ``governed.customers``) two more columns say which
    persona is most common in the segment and its share there, a check on what the segment
    found, never an input to it. Segments without customers are listed with zero customers.
    """
    frame = _with_segments(model, user_features)
    aggs = [
        pl.len().alias("customers"),
        *[pl.col(c).cast(pl.Float64).mean().alias(f"mean_{c}") for c in PROFILE_COLUMNS],
        (pl.col("frequency_90d") > 0).mean().alias("buyer_share"),
    ]
    stats = frame.group_by("segment_id").agg(aggs)
    out = (
        _segment_order(model)
        .join(stats, on="segment_id", how="left")
        .with_columns(pl.col("customers").fill_null(0).cast(pl.Int64))
        .with_columns(
            (pl.col("customers") / max(frame.height, 1)).alias("share"),
        )
    )
    if customers is not None:
        top = (
            persona_crosstab(model, user_features, customers)
            .sort(["segment_id", "share", "persona"], descending=[False, True, False])
            .group_by("segment_id", maintain_order=True)
            .first()
            .select(
                "segment_id",
                pl.col("persona").alias("top_persona"),
                pl.col("share").alias("top_persona_share"),
            )
        )
        out = out.join(top, on="segment_id", how="left")
    ordered = ["segment_id", "segment_name", "description", "customers", "share"]
    return out.select(*ordered, pl.exclude(ordered)).sort("customers", descending=True)


def persona_crosstab(
    model: SegmentModel, user_features: pl.DataFrame, customers: pl.DataFrame
) -> pl.DataFrame:
    """Segments against personas, long: ``segment_id, segment_name, persona, customers, share``.

    ``share`` is within the segment. Customers without a persona count as ``unknown``.
    """
    if not {"customer_key", "persona"} <= set(customers.columns):
        raise SegmentError("customers must have customer_key and persona (governed.customers)")
    labels = assign(model, user_features).join(
        customers.select("customer_key", "persona").unique("customer_key"),
        on="customer_key",
        how="left",
    )
    return (
        labels.with_columns(pl.col("persona").fill_null("unknown"))
        .group_by("segment_id", "segment_name", "persona")
        .agg(pl.len().alias("customers"))
        .with_columns(
            (pl.col("customers") / pl.col("customers").sum().over("segment_id")).alias("share")
        )
        .sort("segment_id", "persona")
    )


def centroid_frame(model: SegmentModel) -> pl.DataFrame:
    """Centroids, long: ``segment_id, segment_name, feature, value, standardized``."""
    raw, scaled = model.centroids_raw(), model.centroids_scaled()
    rows = [
        (model.slugs[i], model.names[i], f, float(raw[i, j]), float(scaled[i, j]))
        for i in range(model.k)
        for j, f in enumerate(model.features)
    ]
    return pl.DataFrame(
        rows,
        schema=["segment_id", "segment_name", "feature", "value", "standardized"],
        orient="row",
    )


def profile_figure(model: SegmentModel, title: str = "Segment profiles (standardized)") -> Figure:
    """Heat map of the standardized centroids: one row per segment, one column per feature.

    A plain matplotlib ``Figure`` (no pyplot state): pass it to ``plots.png_markdown``.
    """
    scaled = model.centroids_scaled()
    limit = max(float(np.abs(scaled).max()), 1e-9)
    fig = Figure(figsize=(1.0 + 0.9 * len(model.features), 0.9 + 0.5 * model.k))
    ax = fig.subplots()
    image = ax.imshow(scaled, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(model.features)), labels=list(model.features), rotation=40, ha="right")
    ax.set_yticks(range(model.k), labels=list(model.names))
    for i in range(model.k):
        for j in range(len(model.features)):
            ax.text(j, i, f"{scaled[i, j]:+.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="standard deviations from the mean")
    ax.set_title(title)
    fig.tight_layout()
    return fig
