"""Schemas of the activation tables: response curves, budgets, creatives, DSP payloads."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from retail_assets.lib.warehouse.schemas.base import (
    HEX64,
    PAID_CHANNELS,
    UUID,
    Lineage,
)

ALLOCATION_METHODS = ["optimized", "inverse_cpa", "historical"]
BINDINGS = ["lower", "upper", "none", "locked"]
COMPLIANCE = ["green", "amber", "red"]
DSP_TARGETS = ["canonical", "google_ads", "dv360", "meta", "ttd"]


class ChannelResponseCurves(Lineage):
    """A saturating response curve per paid channel, fitted on its spend history."""

    as_of_date: pl.Date = pa.Field(description="Last day of the history fitted.")
    channel: str = pa.Field(isin=PAID_CHANNELS, unique=True)
    vmax: float = pa.Field(ge=0, description="Conversions per day the channel saturates at.")
    k: float = pa.Field(gt=0, description="Daily spend at which half of vmax is reached.")
    adstock: float = pa.Field(ge=0, lt=1, description="Carry-over rate chosen by time-series CV.")
    regime: str = pa.Field(
        isin=["saturating", "linear"],
        description="'linear' when the history never reached saturation: k is then set to "
        "10x the highest spend (a near-linear curve) and spend is capped near what was seen.",
    )
    vmax_p05: float = pa.Field(ge=0)
    vmax_p95: float = pa.Field(ge=0)
    k_p05: float = pa.Field(gt=0)
    k_p95: float = pa.Field(gt=0)
    r2: float = pa.Field(nullable=True, description="Share of daily variance the curve explains.")
    rmse: float = pa.Field(ge=0)
    days: int = pa.Field(ge=1, description="Days of history fitted.")
    max_daily_spend: float = pa.Field(ge=0)
    recent_daily_spend: float = pa.Field(ge=0, description="Mean daily spend, last flight.")
    spend_28d: float = pa.Field(ge=0)
    conversions_28d: int = pa.Field(ge=0)
    value_per_conversion: float = pa.Field(gt=0)
    source: str = pa.Field(description="'simulated' or the history file's name.")


class BudgetAllocation(Lineage):
    """The next flight's budget per paid channel, optimized and as the two baselines would."""

    allocation_date: pl.Date
    method: str = pa.Field(isin=ALLOCATION_METHODS)
    channel: str = pa.Field(isin=PAID_CHANNELS)
    spend: float = pa.Field(ge=0, description="Flight budget in currency units.")
    budget_micros: int = pa.Field(ge=0, description="Flight budget, 1e-6 currency units.")
    share: float = pa.Field(ge=0, le=1)
    conversions_p05: float = pa.Field(ge=0, description="Expected conversions in the flight.")
    conversions_p50: float = pa.Field(ge=0)
    conversions_p95: float = pa.Field(ge=0)
    revenue_p50: float = pa.Field(ge=0)
    marginal_cpa: float = pa.Field(
        gt=0, nullable=True, description="Cost of one more conversion at this spend."
    )
    marginal_cpa_p05: float = pa.Field(gt=0, nullable=True)
    marginal_cpa_p95: float = pa.Field(gt=0, nullable=True)
    lower_bound: float = pa.Field(ge=0, description="Guardrail floor for the flight.")
    upper_bound: float = pa.Field(ge=0, description="Guardrail ceiling for the flight.")
    binding: str = pa.Field(isin=BINDINGS, description="Which bound the spend sits at.")
    bound_by: str = pa.Field(description="The guardrail that sets the binding bound ('' if none).")


class SegmentBudgets(Lineage):
    """Each channel's optimized budget split across customer segments."""

    allocation_date: pl.Date
    channel: str = pa.Field(isin=PAID_CHANNELS)
    segment_id: str = pa.Field(str_matches=r"^[a-z][a-z0-9_]*$")
    segment_name: str
    customers: int = pa.Field(ge=0)
    expected_buyers: float = pa.Field(ge=0, description="Sum of 24 h purchase probabilities.")
    mean_order_value: float = pa.Field(ge=0, nullable=True)
    forecast_growth: float = pa.Field(
        gt=0,
        description="Forecast revenue of the categories the segment buys over the flight, "
        "against their recent sales (1 = as recently; clipped to 0.5-2).",
    )
    weight: float = pa.Field(ge=0, le=1, description="Share of each channel's budget.")
    basis: str = pa.Field(
        isin=["propensity", "buyer_share", "configured"],
        description="What the weight rests on: propensity scores, the segments' buyer share, "
        "or the configured segments (models not trained yet).",
    )
    budget_micros: int = pa.Field(ge=0)
    conversions_p50: float = pa.Field(ge=0)
    forecast_revenue: float = pa.Field(
        nullable=True,
        description="The segment's share of the flight's forecast revenue (same per channel).",
    )


class CreativeLibrary(Lineage):
    """Ad copy variants per segment and channel, with their compliance traffic light."""

    library_date: pl.Date
    variant_id: str = pa.Field(unique=True)
    segment_id: str = pa.Field(str_matches=r"^[a-z][a-z0-9_]*$")
    channel: str = pa.Field(isin=PAID_CHANNELS)
    headline: str
    body: str
    landing_url: str = pa.Field(str_matches=r"^https://")
    source: str = pa.Field(description="'template' or the plugged-in writer's name.")
    compliance: str = pa.Field(isin=COMPLIANCE, description="red never reaches a payload.")
    score: int = pa.Field(ge=0, le=100)
    reasons: str


class DspPayloadLineItems(Lineage):
    """The line items of the DSP payload, one row each, with the payload's body hash."""

    plan_date: pl.Date
    line_item_ref: str = pa.Field(unique=True)
    channel: str = pa.Field(isin=PAID_CHANNELS)
    segment_id: str
    amount_micros: str = pa.Field(
        str_matches=r"^[0-9]{1,18}$", description="Lifetime budget, integer micros as a string."
    )
    creative_count: int = pa.Field(ge=1)
    conversions_p50: float = pa.Field(ge=0)
    body_sha256: str = pa.Field(
        str_matches=HEX64, description="SHA-256 of the canonical payload body."
    )


class AudienceUploads(Lineage):
    """Segment audiences sent as hashed match keys: counts only, never a key or an id."""

    plan_date: pl.Date
    segment_id: str = pa.Field(str_matches=r"^[a-z][a-z0-9_]*$")
    platform: str = pa.Field(isin=["google", "meta"])
    segment_customers: int = pa.Field(ge=0)
    consented_customers: int = pa.Field(
        ge=0, description="Granted both ad_user_data and ad_personalization."
    )
    uploaded_keys: int = pa.Field(ge=0, description="Customers with at least one match key.")
    destination: str
    status: str = pa.Field(isin=["delivered", "already_delivered", "replaced"])
    content_sha256: str = pa.Field(str_matches=HEX64)


class DspDeliveries(Lineage):
    """What was delivered where: one receipt per target (canonical plan or platform)."""

    plan_date: pl.Date
    target: str = pa.Field(isin=DSP_TARGETS, unique=True)
    idempotency_key: str = pa.Field(str_matches=UUID)
    destination: str
    status: str = pa.Field(
        isin=["delivered", "already_delivered", "replaced"],
        description="'replaced': a folder sink's earlier file of the same plan was rewritten.",
    )
    attempts: int = pa.Field(ge=0)
    bytes: int = pa.Field(ge=1)
    content_sha256: str = pa.Field(str_matches=HEX64)
    body_sha256: str = pa.Field(str_matches=HEX64)
