"""Schemas of the governed tables: consented, pseudonymized events, customers, orders, audits.

Columns that hold pseudonymous identifiers carry ``metadata={"pii": "pseudonymous_id"}`` so
erasure and masking can find them.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from retail_assets.lib.warehouse.schemas.base import (
    AGE_BANDS,
    APP_EVENTS,
    CHANNEL_GROUPS,
    CONSENT,
    HEX64,
    Lineage,
    UtcTimestamp,
)


class GovernedSessions(Lineage):
    """Consented events only, flattened; identifiers pseudonymized, contact data dropped."""

    event_date: pl.Date
    event_timestamp: int = pa.Field(gt=0)
    event_name: str
    user_key: str = pa.Field(
        str_matches=HEX64,
        metadata={"pii": "pseudonymous_id"},
        description="HMAC-SHA256 of user_pseudo_id under the key named by key_id.",
    )
    customer_key: str = pa.Field(
        nullable=True, str_matches=HEX64, metadata={"pii": "pseudonymous_id"}
    )
    key_id: str = pa.Field(description="Name of the pseudonymization key.")
    ga_session_id: int
    ga_session_number: int = pa.Field(nullable=True)
    analytics_storage: str = pa.Field(
        isin=["Yes", "Unset"],
        description="'Yes', or 'Unset' for a row kept by a declared unset: grant policy.",
    )
    ads_storage: str = pa.Field(nullable=True, description="GA4 ads consent: Yes/No/Unset.")
    page_path: str = pa.Field(
        nullable=True,
        str_matches=r"^/[^?#@]*$",
        description="URL path; host, query and fragment dropped.",
    )
    traffic_source: str = pa.Field(nullable=True)
    traffic_medium: str = pa.Field(nullable=True)
    default_channel_group: str = pa.Field(description="GA4 default channel group.")
    channel_group: str = pa.Field(isin=CHANNEL_GROUPS, description="Planning channel.")
    device_category: str = pa.Field(nullable=True)
    geo_country: str = pa.Field(nullable=True)
    category: str = pa.Field(nullable=True, description="Category of the event's first item.")
    item_id: str = pa.Field(nullable=True)
    item_quantity: int = pa.Field(nullable=True, ge=0)
    purchase_revenue: float = pa.Field(nullable=True, ge=0)
    transaction_id: str = pa.Field(nullable=True)


class ConsentAudit(Lineage):
    """Per partition: rows in = rows kept + rows dropped, by reason."""

    event_date: pl.Date = pa.Field(unique=True)
    rows_in: int = pa.Field(ge=0)
    rows_kept: int = pa.Field(ge=0)
    dropped_analytics_denied: int = pa.Field(ge=0)
    dropped_analytics_unset: int = pa.Field(ge=0)
    dropped_missing_user_pseudo_id: int = pa.Field(ge=0)
    dropped_erased: int = pa.Field(ge=0)
    kept_without_signal: int = pa.Field(
        ge=0,
        description="Rows kept with no consent signal (NULL or 'Unset'), under unset: grant.",
    )
    unset_policy: str = pa.Field(
        isin=["deny", "grant"], description="The policy for rows without a consent signal."
    )
    consent_basis: str = pa.Field(
        nullable=True, description="The written basis of a grant policy (sources.yaml)."
    )
    cookieless_events: int = pa.Field(
        ge=0, description="Pings without any identifier (denied users): volume only."
    )
    cookieless_page_views: int = pa.Field(ge=0)
    cookieless_add_to_carts: int = pa.Field(ge=0)
    cookieless_purchases: int = pa.Field(ge=0)
    cookieless_revenue: float = pa.Field(ge=0)

    @pa.dataframe_check
    @classmethod
    def reconciles(cls, data) -> pl.LazyFrame:
        """Every row that came in is either kept or dropped for a named reason."""
        return data.lazyframe.select(
            pl.col("rows_in")
            == pl.col("rows_kept")
            + pl.col("dropped_analytics_denied")
            + pl.col("dropped_analytics_unset")
            + pl.col("dropped_missing_user_pseudo_id")
            + pl.col("dropped_erased")
        )


class GovernedCustomers(Lineage):
    """Customers with analytics consent only: pseudonymized keys, no contact data or exact age."""

    customer_key: str = pa.Field(
        unique=True,
        str_matches=HEX64,
        metadata={"pii": "pseudonymous_id"},
        description="HMAC-SHA256 of customer_id; joins governed.sessions.customer_key.",
    )
    user_key: str = pa.Field(
        nullable=True,
        str_matches=HEX64,
        metadata={"pii": "pseudonymous_id"},
        description="HMAC-SHA256 of user_pseudo_id; joins governed.sessions.user_key (NULL "
        "when the customer file has no GA4 client id).",
    )
    key_id: str = pa.Field(description="Name of the pseudonymization key.")
    persona: str = pa.Field(nullable=True)
    age_band: str = pa.Field(
        nullable=True, isin=AGE_BANDS, description="Age band; exact age is not kept."
    )
    income_band: str = pa.Field(nullable=True, isin=["low", "middle", "high"])
    household_size: int = pa.Field(nullable=True, ge=1)
    home_store: str = pa.Field(nullable=True)
    first_seen: pl.Date = pa.Field(nullable=True)
    ads_storage: str = pa.Field(isin=CONSENT, description="Consent to ads cookies.")
    ad_user_data: str = pa.Field(isin=CONSENT, description="Consent to send data to ad platforms.")
    ad_personalization: str = pa.Field(isin=CONSENT, description="Consent to personalized ads.")


class GovernedAppEvents(Lineage):
    """App events of customers with analytics consent; user and session ids pseudonymized."""

    event_id: str = pa.Field(unique=True, description="Stable id of the event.")
    event_date: pl.Date
    event_timestamp: UtcTimestamp
    customer_key: str = pa.Field(
        str_matches=HEX64,
        metadata={"pii": "pseudonymous_id"},
        description="HMAC-SHA256 of user_id; joins governed.customers and governed.sessions.",
    )
    key_id: str = pa.Field(description="Name of the pseudonymization key.")
    session_key: str = pa.Field(
        str_matches=HEX64,
        metadata={"pii": "pseudonymous_id"},
        description="HMAC-SHA256 of session_id (which may embed the customer id).",
    )
    event_type: str = pa.Field(isin=APP_EVENTS)
    product_id: str
    category: str = pa.Field(nullable=True)
    price: float = pa.Field(nullable=True, ge=0)


class GovernedOrders(Lineage):
    """Sales lines of customers with analytics consent, after netting; customer pseudonymized."""

    order_id: str
    line_id: str = pa.Field(unique=True)
    order_date: pl.Date
    order_ts: UtcTimestamp
    customer_key: str = pa.Field(
        str_matches=HEX64,
        metadata={"pii": "pseudonymous_id"},
        description="HMAC-SHA256 of customer_id; joins governed.customers.",
    )
    key_id: str = pa.Field(description="Name of the pseudonymization key.")
    product_id: str
    category: str = pa.Field(nullable=True)
    store_id: str
    quantity: int = pa.Field(ge=1, description="Units after netting cancellations.")
    unit_price: float = pa.Field(ge=0)
    revenue: float = pa.Field(ge=0)


class SourceAudit(Lineage):
    """Per day of a source: rows in = kept + dropped by reason, and the consent policy."""

    source: str
    event_date: pl.Date = pa.Field(unique=True)
    rows_in: int = pa.Field(ge=0)
    rows_kept: int = pa.Field(ge=0)
    dropped: int = pa.Field(ge=0)
    dropped_by_reason: str = pa.Field(description="JSON: reason -> rows.")
    kept_without_signal: int = pa.Field(ge=0)
    unset_policy: str = pa.Field(isin=["deny", "grant"])
    consent_basis: str = pa.Field(nullable=True)

    @pa.dataframe_check
    @classmethod
    def reconciles(cls, data) -> pl.LazyFrame:
        """Every row that came in is kept or dropped for a named reason."""
        return data.lazyframe.select(pl.col("rows_in") == pl.col("rows_kept") + pl.col("dropped"))


class SourceReconciliation(Lineage):
    """Per declared source: rows in files = loaded + set aside; governed = kept + dropped."""

    source: str = pa.Field(unique=True)
    rows_in_files: int = pa.Field(nullable=True, ge=0, description="NULL for GA4 files.")
    rows_loaded: int = pa.Field(ge=0)
    rows_quarantined: int = pa.Field(ge=0, description="Invalid rows and exact repeats.")
    netted_out: int = pa.Field(
        nullable=True,
        ge=0,
        description="Order lines with nothing to govern: cancellations "
        "and sales fully cancelled by them.",
    )
    not_yet_governed: int = pa.Field(
        nullable=True, ge=0, description="Loaded rows on days not materialized yet."
    )
    governed_in: int = pa.Field(nullable=True, ge=0, description="Rows consent was applied to.")
    kept: int = pa.Field(nullable=True, ge=0)
    dropped: int = pa.Field(nullable=True, ge=0)
    dropped_by_reason: str = pa.Field(nullable=True, description="JSON: reason -> rows.")
    kept_without_signal: int = pa.Field(nullable=True, ge=0)
    unset_policy: str = pa.Field(nullable=True, isin=["deny", "grant"])
    consent_basis: str = pa.Field(nullable=True)

    @pa.dataframe_check
    @classmethod
    def reconciles(cls, data) -> pl.LazyFrame:
        """Files, loaded and governed rows all add up.

        In files = loaded + quarantined; loaded = governed + netted out + not yet governed;
        governed = kept + dropped.
        """
        files = pl.col("rows_in_files").is_null() | (
            pl.col("rows_in_files") == pl.col("rows_loaded") + pl.col("rows_quarantined")
        )
        governed = pl.col("governed_in").is_null() | (
            (pl.col("governed_in") == pl.col("kept") + pl.col("dropped"))
            & (
                pl.col("rows_loaded")
                == pl.col("governed_in") + pl.col("netted_out") + pl.col("not_yet_governed")
            )
        )
        return data.lazyframe.select(files & governed)
