"""Schemas of the landing and raw tables: GA4 sessions, app events, customers, orders, files.

Raw contact data is marked ``"pii": "direct"`` and only exists in the landing area.
"""

from __future__ import annotations

from typing import Optional

import pandera.polars as pa
import polars as pl

from retail_assets.lib.sources import ga4
from retail_assets.lib.warehouse.schemas.base import (
    APP_EVENTS,
    CONSENT,
    SIGNAL_SOURCES,
    Lineage,
    UtcTimestamp,
)


class RawSessions(Lineage):
    """Web events in the GA4 BigQuery export shape, one row per event (landing only).

    Nested exactly as the export is (``event_params``, ``user_properties``, ``privacy_info``,
    ``device``, ``geo``, ``traffic_source``, ``collected_traffic_source``, ``ecommerce``,
    ``items``), so a user's own export files and the simulator write the same table.
    """

    event_date: str = pa.Field(str_matches=r"^\d{8}$", description="GA4 event_date, YYYYMMDD.")
    event_timestamp: int = pa.Field(gt=0, description="Microseconds since the epoch, UTC.")
    event_name: str = pa.Field(str_matches=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
    event_params: ga4.EXPORT_SCHEMA[event_params] = pa.Field(
        nullable=True, description="key / typed value pairs, e.g. ga_session_id, page_location."
    )
    event_bundle_sequence_id: int = pa.Field(nullable=True)
    user_id: str = pa.Field(
        nullable=True, metadata={"pii": "customer_id"}, description="Logged-in customer id."
    )
    user_pseudo_id: str = pa.Field(
        nullable=True, metadata={"pii": "online_id"}, description="GA4 client id; NULL when denied."
    )
    user_first_touch_timestamp: int = pa.Field(nullable=True)
    user_properties: ga4.EXPORT_SCHEMA[user_properties] = pa.Field(
        nullable=True, metadata={"pii": "direct"}, description="May hold contact data."
    )
    privacy_info: ga4.PRIVACY_INFO = pa.Field(description="analytics_storage / ads_storage.")
    device: ga4.DEVICE = pa.Field(nullable=True)
    geo: ga4.GEO = pa.Field(nullable=True, metadata={"pii": "location"})
    traffic_source: ga4.TRAFFIC_SOURCE = pa.Field(
        nullable=True, description="First-user acquisition source."
    )
    collected_traffic_source: ga4.COLLECTED_TRAFFIC_SOURCE = pa.Field(
        nullable=True, description="The event's own source, medium and campaign."
    )
    platform: str = pa.Field(nullable=True)
    ecommerce: ga4.ECOMMERCE = pa.Field(nullable=True)
    items: ga4.EXPORT_SCHEMA[items] = pa.Field(nullable=True)

    # A column check, so a failure names the column privacy_info and shows the bad values.
    @pa.check("privacy_info", name="consent_values")
    @classmethod
    def consent_values(cls, data) -> pl.LazyFrame:
        """privacy_info.analytics_storage and ads_storage are Yes, No, Unset or NULL."""
        info = pl.col(data.key)
        return data.lazyframe.select(
            info.struct.field("analytics_storage").is_in(CONSENT).fill_null(True)
            & info.struct.field("ads_storage").is_in(CONSENT).fill_null(True)
        )


class RawAppEvents(Lineage):
    """App view / add-to-cart / purchase events, one row per event."""

    event_id: str = pa.Field(unique=True, description="Stable id of the event.")
    event_date: pl.Date
    event_timestamp: UtcTimestamp
    user_id: str = pa.Field(metadata={"pii": "customer_id"}, description="Customer id.")
    session_id: str
    event_type: str = pa.Field(isin=APP_EVENTS)
    product_id: str
    category: str = pa.Field(nullable=True)
    price: float = pa.Field(nullable=True, ge=0)
    analytics_storage: str = pa.Field(
        nullable=True,
        isin=CONSENT,
        description="The event's own analytics consent, when the events file has a consent "
        "column (NULL: the customer's consent decides).",
    )


class Customers(Lineage):
    """The customer base: demographics, contact data and consent (landing only).

    The simulator fills every column; a retailer's CRM export (or customers known only from
    their orders) leaves what it does not have NULL: persona, age, income, household, home
    store and the GA4 client id are the simulator's.
    """

    customer_id: str = pa.Field(unique=True, metadata={"pii": "customer_id"})
    user_pseudo_id: str = pa.Field(nullable=True, metadata={"pii": "online_id"})
    persona: str = pa.Field(nullable=True)
    age: int = pa.Field(nullable=True, ge=16, le=110)
    income_band: str = pa.Field(nullable=True, isin=["low", "middle", "high"])
    household_size: int = pa.Field(nullable=True, ge=1)
    home_store: str = pa.Field(nullable=True)
    email: str = pa.Field(nullable=True, metadata={"pii": "direct"})
    phone: str = pa.Field(nullable=True, metadata={"pii": "direct"})
    country: str = pa.Field(nullable=True)
    city: str = pa.Field(nullable=True, metadata={"pii": "location"})
    first_seen: pl.Date = pa.Field(nullable=True)
    analytics_storage: str = pa.Field(isin=CONSENT)
    ads_storage: str = pa.Field(isin=CONSENT)
    ad_user_data: str = pa.Field(isin=CONSENT, description="Consent to send data to ad platforms.")
    ad_personalization: str = pa.Field(isin=CONSENT, description="Consent to personalized ads.")

    @pa.dataframe_check
    @classmethod
    def one_client_id_each(cls, data) -> pl.LazyFrame:
        """A GA4 client id (user_pseudo_id), where known, belongs to one customer."""
        ids = pl.col("user_pseudo_id")
        return data.lazyframe.select(ids.is_null() | ~ids.is_duplicated())


class ProductCatalog(Lineage):
    """The product catalog: one row per product, with its category, list price and NAICS code."""

    product_id: str = pa.Field(
        unique=True, description="Product id, as in raw.transactions and raw.app_events."
    )
    product_name: str = pa.Field(description="Brand, category and product number.")
    category: str
    list_price: float = pa.Field(gt=0, description="Price before any promotion discount.")
    naics_code: str = pa.Field(
        nullable=True,
        str_matches=r"^\d{2,6}$",
        description="NAICS code of the category in simulation.yaml (Census MRTS series).",
    )


class RetailCalendar(Lineage):
    """The retail calendar: one row per day with weekend, festivals and promotions."""

    date: pl.Date = pa.Field(unique=True)
    day_of_week: int = pa.Field(ge=1, le=7, description="ISO day of the week, 1 = Monday.")
    is_weekend: bool = pa.Field(description="Saturday or Sunday.")
    festival: str = pa.Field(
        nullable=True, description="Festivals whose window covers the day, joined with ', '."
    )
    is_festival: bool = pa.Field(description="At least one festival window covers the day.")
    promotion: str = pa.Field(
        nullable=True, description="Promotions running on the day, joined with ', '."
    )
    max_discount: float = pa.Field(
        ge=0, le=1, description="Largest price discount of any category that day (0 = none)."
    )

    @pa.dataframe_check
    @classmethod
    def flags_agree(cls, data) -> pl.LazyFrame:
        """is_weekend, is_festival and max_discount agree with the day and the names."""
        return data.lazyframe.select(
            (pl.col("is_weekend") == (pl.col("day_of_week") >= 6))
            & (pl.col("is_festival") == pl.col("festival").is_not_null())
            & (pl.col("promotion").is_not_null() | (pl.col("max_discount") == 0))
        )

    @pa.dataframe_check
    @classmethod
    def no_missing_days(cls, data) -> pl.LazyFrame:
        """Every day between the first and the last is present."""
        span = (pl.col("date").max() - pl.col("date").min()).dt.total_days() + 1
        return data.lazyframe.select(span == pl.len())


class SalesHistory(Lineage):
    """A user's own sales history: one value per series and period (day, week or month)."""

    date: pl.Date
    series_id: str
    value: float = pa.Field(ge=0)
    category: Optional[str] = pa.Field(nullable=False, description="The series' category.")  # noqa: UP045
    store_id: Optional[str] = pa.Field(nullable=False, description="The series' store.")  # noqa: UP045
    product_id: Optional[str] = pa.Field(nullable=False, description="The series' product.")  # noqa: UP045

    @pa.dataframe_check
    @classmethod
    def one_value_per_series_and_day(cls, data) -> pl.LazyFrame:
        """No (series_id, date) appears twice."""
        return data.lazyframe.select(~pl.struct("series_id", "date").is_duplicated())


class RawSignals(Lineage):
    """Reviews, search queries and social mentions per category, with sentiment."""

    signal_id: str = pa.Field(unique=True)
    signal_date: pl.Date
    category: str
    source: str = pa.Field(isin=SIGNAL_SOURCES)
    text: str
    rating: int = pa.Field(nullable=True, ge=1, le=5)
    sentiment: float = pa.Field(ge=-1, le=1, description="-1 (negative) to 1 (positive).")
    volume: int = pa.Field(ge=1, description="Searches for a query row; 1 otherwise.")


class RawTransactions(Lineage):
    """Store x product sales lines."""

    transaction_id: str = pa.Field(unique=True, description="One id per sales line.")
    basket_id: str = pa.Field(description="The basket (receipt) the line belongs to.")
    transaction_date: pl.Date
    transaction_ts: UtcTimestamp
    store_id: str
    product_id: str
    category: str
    quantity: int = pa.Field(ge=1)
    unit_price: float = pa.Field(gt=0)
    revenue: float = pa.Field(ge=0)


class RawOrders(Lineage):
    """A retailer's order lines as exported, with what is left of each sale after netting.

    Cancellations and returns are lines with a negative quantity; each is netted against the
    same customer's latest earlier purchases of the product (``net_quantity``). Landing only:
    it holds customer ids.
    """

    order_id: str
    line_id: str = pa.Field(unique=True, description="order id : file : row, one per line.")
    order_date: pl.Date = pa.Field(description="Day of the order in the declared time zone.")
    order_ts: UtcTimestamp
    customer_id: str = pa.Field(
        nullable=True, metadata={"pii": "customer_id"}, description="NULL for a guest order."
    )
    product_id: str
    description: str = pa.Field(nullable=True)
    category: str = pa.Field(nullable=True)
    store_id: str
    country: str = pa.Field(nullable=True)
    quantity: int = pa.Field(description="As exported: negative for a cancellation or return.")
    net_quantity: int = pa.Field(ge=0, description="Units left after netting (0 for returns).")
    unit_price: float = pa.Field(ge=0)
    revenue: float = pa.Field(ge=0, description="net_quantity x unit_price.")
    is_cancellation: bool


class Stores(Lineage):
    """A retailer's stores (or channels)."""

    store_id: str = pa.Field(unique=True)
    store_name: str = pa.Field(nullable=True)
    region: str = pa.Field(nullable=True)


class CensusRetailSales(Lineage):
    """U.S. Census Monthly Retail Trade sales, by month, kind of business and adjustment."""

    month: pl.Date = pa.Field(description="First day of the month.")
    naics_code: str = pa.Field(nullable=True, description="NAICS code; NULL for aggregates.")
    kind_of_business: str
    adjustment: str = pa.Field(isin=["NSA", "SA"], description="Not / seasonally adjusted.")
    sales_musd: float = pa.Field(nullable=True, ge=0, description="Sales, millions of USD.")
    flag: str = pa.Field(
        nullable=True,
        isin=["(S)", "(NA)", "(X)", "(D)"],
        description="(S) suppressed, (NA) not available; NULL = published.",
    )
    preliminary: bool = pa.Field(description="Preliminary estimate, (p) in the workbook.")

    @pa.dataframe_check
    @classmethod
    def value_or_flag(cls, data) -> pl.LazyFrame:
        """Every cell is either a published figure or a flag saying why not."""
        return data.lazyframe.select(pl.col("sales_musd").is_null() == pl.col("flag").is_not_null())
