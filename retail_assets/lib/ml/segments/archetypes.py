"""Segment archetypes: named directions in the standardized feature space, and naming by them.

Clusters without a predecessor get an archetype's name: the Hungarian algorithm picks the
assignment with the largest total projection of the centroids on the archetypes' directions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from retail_assets.lib.ml.segments.features import SegmentError


@dataclass(frozen=True)
class Archetype:
    """A named segment profile: a direction in the standardized feature space.

    ``direction`` maps features of :data:`SEGMENT_FEATURES` to weights (others are 0); an empty
    direction is the "no strong trait" archetype.
    """

    name: str
    description: str
    direction: Mapping[str, float] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """Stable identifier, e.g. ``brand_loyalist``."""
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")

    def unit_vector(self, features: Sequence[str]) -> np.ndarray:
        """The direction over ``features``, scaled to length 1 (all zeros when empty)."""
        unknown = set(self.direction) - set(features)
        if unknown:
            raise SegmentError(
                f"archetype {self.name!r} uses unknown feature(s) {sorted(unknown)}; "
                f"choose from {list(features)}"
            )
        vec = np.array([self.direction.get(f, 0.0) for f in features], dtype=float)
        norm = np.linalg.norm(vec)
        return vec / norm if norm > 0 else vec


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "Brand Loyalist",
        "Buys often and spends the most, bought recently and is active on many days.",
        {
            "log_orders_90d": 1.0,
            "log_revenue_90d": 1.0,
            "purchase_recency_days": -0.7,
            "active_days_30d": 0.5,
        },
    ),
    Archetype(
        "Big-Ticket Buyer",
        "Few orders but dear ones: the highest order value.",
        {"log_order_value": 1.5, "log_revenue_90d": 0.5, "log_orders_90d": -0.2},
    ),
    Archetype(
        "Value Shopper",
        "Buys, but small baskets after much browsing: price-sensitive.",
        {
            "log_order_value": -1.2,
            "log_orders_90d": 0.5,
            "log_views_30d": 0.5,
            "log_views_per_purchase": 0.3,
        },
    ),
    Archetype(
        "Speed Seeker",
        "Converts quickly: few views per purchase.",
        {"log_views_per_purchase": -1.5, "log_views_30d": -0.3, "log_orders_90d": 0.4},
    ),
    Archetype(
        "Window Shopper",
        "Views and fills carts a lot but rarely buys.",
        {
            "log_views_30d": 1.0,
            "log_carts_30d": 1.0,
            "log_orders_90d": -1.0,
        },
    ),
    Archetype(
        "Lapsing",
        "Has gone quiet: no activity for weeks and no recent purchase. Worth a win-back.",
        {
            "days_since_last_activity": 1.2,
            "active_days_30d": -0.6,
            "purchase_recency_days": 0.4,
        },
    ),
    Archetype(
        "Occasional Visitor",
        "Visits now and then, views little and rarely buys.",
        {
            "active_days_30d": -1.0,
            "log_views_30d": -1.0,
            "log_carts_30d": -0.5,
            "days_since_last_activity": -0.3,
        },
    ),
    Archetype(
        "Everyday Shopper",
        "Close to the average customer on every trait.",
        {},
    ),
)


def _archetype_names(
    centroids: np.ndarray, features: Sequence[str], pool: Sequence[Archetype]
) -> list[Archetype]:
    """One distinct archetype per centroid, maximizing the total projection (Hungarian)."""
    directions = np.stack([a.unit_vector(features) for a in pool])
    cost = -centroids @ directions.T
    _, cols = linear_sum_assignment(cost)  # rows come back as 0..n-1 (n <= len(pool))
    return [pool[c] for c in cols]
