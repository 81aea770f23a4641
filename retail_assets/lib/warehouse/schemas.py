"""One place for the pandera (polars) schema of every table a Python asset writes.

SQL models under ``dbt_like_sql/`` declare their columns and types in their header instead;
``retail_assets.lib.warehouse.sql_models`` builds their pandera schema from it (same strictness).

Schemas are strict: a column that is not listed is an error, so nothing (PII in particular)
slips into a table by accident. Columns that hold pseudonymous identifiers carry
``metadata={"pii": "pseudonymous_id"}`` so erasure and masking can find them; raw contact data
is marked ``"pii": "direct"`` and only exists in the landing area.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Optional

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaError, SchemaErrors

from retail_assets.lib.sources import ga4

HEX64 = r"^[0-9a-f]{64}$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
CONSENT = ["Yes", "No", "Unset"]
CHANNEL_GROUPS = [
    "Display",
    "CTV",
    "PPC",
    "Email",
    "Organic Search",
    "Social",
    "Direct",
    "Other",
]
APP_EVENTS = ["view", "add_to_cart", "purchase"]
PAID_CHANNELS = ["Display", "CTV", "PPC", "Email"]
SIGNAL_SOURCES = ["review", "search", "social"]
#: Age bands of governed.customers: exact age is a quasi-identifier, so it is not kept.
AGE_BANDS = ["16-24", "25-34", "35-44", "45-54", "55-64", "65+"]
UtcTimestamp = Annotated[pl.Datetime, "us", "UTC"]


class _Strict(pa.DataFrameModel):
    class Config:
        strict = True


class Lineage(_Strict):
    """Columns every table carries: the Dagster run that wrote the row, and when."""

    lineage_id: str = pa.Field(str_matches=UUID, description="Dagster run id that wrote the row.")
    processed_at: UtcTimestamp = pa.Field(description="When the row was written (UTC).")


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


FORECAST_LEVELS = ["total", "category", "store_product"]
FORECAST_MODELS = [
    "AutoETS",
    "AutoTheta",
    "MSTL",
    "AutoARIMA",
    "SeasonalNaive",
    "HistoricAverage",
    "Naive",
    "CrostonOptimized",
    "ADIDA",
    "IMAPA",
    "SARIMA",
    "SARIMA_X",
]
SERIES_KINDS = ["regular", "intermittent", "short", "constant", "zero", "skip"]


class _Intervals(Lineage):
    yhat: float = pa.Field(ge=0, description="Point forecast (revenue).")
    lo_80: float = pa.Field(ge=0, description="Lower bound of the 80 % prediction interval.")
    hi_80: float = pa.Field(ge=0, description="Upper bound of the 80 % prediction interval.")
    lo_95: float = pa.Field(ge=0, description="Lower bound of the 95 % prediction interval.")
    hi_95: float = pa.Field(ge=0, description="Upper bound of the 95 % prediction interval.")

    @pa.dataframe_check
    @classmethod
    def intervals_nest(cls, data) -> pl.LazyFrame:
        """The 80 % interval lies inside the 95 % interval, around the point forecast."""
        return data.lazyframe.select(
            (pl.col("lo_95") <= pl.col("lo_80") + 1e-9)
            & (pl.col("lo_80") <= pl.col("yhat") + 1e-9)
            & (pl.col("yhat") <= pl.col("hi_80") + 1e-9)
            & (pl.col("hi_80") <= pl.col("hi_95") + 1e-9)
        )


class SalesForecasts(_Intervals):
    """Daily revenue forecasts per series of the hierarchy, with 80 and 95 % intervals."""

    forecast_origin: pl.Date = pa.Field(description="Last day of history used.")
    level: str = pa.Field(isin=FORECAST_LEVELS, description="Level of the hierarchy.")
    unique_id: str = pa.Field(description="Series: <level>:<key>, e.g. category:Electronics.")
    ds: pl.Date = pa.Field(description="Forecast day.")
    model: str = pa.Field(isin=FORECAST_MODELS, description="statsforecast model applied.")
    horizon: int = pa.Field(ge=1, description="Days after the origin.")

    @pa.dataframe_check
    @classmethod
    def one_row_per_series_day(cls, data) -> pl.LazyFrame:
        """(unique_id, ds) is unique."""
        return data.lazyframe.select(~pl.struct("unique_id", "ds").is_duplicated())


class ForecastModels(Lineage):
    """The model chosen for every series by rolling-origin cross-validation."""

    level: str = pa.Field(isin=FORECAST_LEVELS, description="Level of the hierarchy.")
    unique_id: str = pa.Field(unique=True, description="Series id.")
    kind: str = pa.Field(isin=SERIES_KINDS, description="Series class; decides the candidates.")
    observations: int = pa.Field(ge=0, description="Days of history the selection saw.")
    model: str = pa.Field(
        nullable=True, isin=FORECAST_MODELS, description="Chosen model; NULL = not forecast."
    )
    cv_mase: float = pa.Field(
        nullable=True, ge=0, description="Cross-validated MASE of the chosen model."
    )
    reason: str = pa.Field(description="Why this model.")
    as_of: pl.Date = pa.Field(description="Last day of history the selection used.")


class ForecastCvAccuracy(Lineage):
    """Every candidate's accuracy per series on the rolling-origin held-out windows."""

    level: str = pa.Field(isin=FORECAST_LEVELS)
    unique_id: str
    model: str = pa.Field(isin=FORECAST_MODELS)
    chosen: bool = pa.Field(description="The model the series uses.")
    mae: float = pa.Field(nullable=True, ge=0)
    rmse: float = pa.Field(nullable=True, ge=0)
    mase: float = pa.Field(nullable=True, ge=0, description="MAE over the seasonal naive MAE.")
    smape: float = pa.Field(nullable=True, ge=0, le=200, description="Symmetric MAPE, %.")
    bias: float = pa.Field(nullable=True, description="Mean of forecast minus actual.")
    coverage_80: float = pa.Field(nullable=True, ge=0, le=1)
    coverage_95: float = pa.Field(nullable=True, ge=0, le=1)
    points: int = pa.Field(ge=0, description="Held-out points scored.")
    as_of: pl.Date


class ForecastAccuracy(Lineage):
    """Realized accuracy: the forecasts made for a day, scored once its actuals arrived."""

    ds: pl.Date = pa.Field(description="The day whose actuals arrived (the partition).")
    level: str = pa.Field(isin=FORECAST_LEVELS)
    unique_id: str
    model: str = pa.Field(isin=FORECAST_MODELS)
    forecasts: int = pa.Field(ge=1, description="Forecasts of this day (one per origin).")
    actual: float = pa.Field(ge=0)
    mae: float = pa.Field(ge=0)
    rmse: float = pa.Field(ge=0)
    mase: float = pa.Field(nullable=True, ge=0)
    smape: float = pa.Field(ge=0, le=200)
    bias: float
    coverage_80: float = pa.Field(ge=0, le=1)
    coverage_95: float = pa.Field(ge=0, le=1)


SERIES_SOURCES = ["sales_history", "orders"]
SERIES_FREQUENCIES = ["daily", "weekly", "monthly"]


class SeriesForecasts(_Intervals):
    """Forecasts of the retailer's own series (sales history, orders) at their frequency."""

    source: str = pa.Field(isin=SERIES_SOURCES, description="Where the series come from.")
    frequency: str = pa.Field(isin=SERIES_FREQUENCIES, description="Period of the series.")
    level: str = pa.Field(description="Level: total, category, store, product, series, ...")
    unique_id: str = pa.Field(description="Series: <level>:<key>, or total.")
    ds: pl.Date = pa.Field(description="First day of the forecast period.")
    horizon: int = pa.Field(ge=1, description="Periods after the last period of history.")
    model: str = pa.Field(isin=FORECAST_MODELS, description="statsforecast model applied.")
    base_yhat: float = pa.Field(ge=0, description="The model's forecast before reconciliation.")
    reconciled: bool = pa.Field(description="Made coherent with the other levels (MinTrace).")

    @pa.dataframe_check
    @classmethod
    def one_row_per_series_and_period(cls, data) -> pl.LazyFrame:
        """No (source, unique_id, ds) appears twice."""
        return data.lazyframe.select(~pl.struct("source", "unique_id", "ds").is_duplicated())


class SeriesForecastAccuracy(Lineage):
    """How each series' forecast did on the held-out last periods (the backtest)."""

    source: str = pa.Field(isin=SERIES_SOURCES)
    frequency: str = pa.Field(isin=SERIES_FREQUENCIES)
    level: str
    unique_id: str
    model: str = pa.Field(isin=FORECAST_MODELS, description="Model chosen on the rest.")
    holdout_periods: int = pa.Field(ge=1)
    mase: float = pa.Field(nullable=True, ge=0, description="MASE of the model's forecast.")
    mase_reconciled: float = pa.Field(nullable=True, ge=0, description="MASE once reconciled.")
    mase_seasonal_naive: float = pa.Field(nullable=True, ge=0)
    coverage_95: float = pa.Field(nullable=True, ge=0, le=1)


class CensusForecast(_Intervals):
    """Monthly Census MRTS sales of one NAICS series, forecast with the selected model."""

    naics_code: str
    month: pl.Date = pa.Field(description="First day of the forecast month.")
    model: str = pa.Field(isin=FORECAST_MODELS)


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


# ---------------------------------------------------------------------------- models
SENTIMENT_CLASSES = ["negative", "neutral", "positive"]
ENTITY_TYPES = ["product", "brand", "store"]
MODEL_NAMES = [
    "review_sentiment",
    "sales_direction",
    "purchase_propensity",
    "customer_segments",
]


class ReviewSentiment(Lineage):
    """Every review and social mention of the training window, scored by the champion."""

    signal_id: str = pa.Field(unique=True)
    signal_date: pl.Date
    category: str
    source: str = pa.Field(isin=["review", "social"])
    label: str = pa.Field(isin=SENTIMENT_CLASSES, description="Most likely class.")
    p_negative: float = pa.Field(ge=0, le=1)
    p_neutral: float = pa.Field(ge=0, le=1)
    p_positive: float = pa.Field(ge=0, le=1)
    score: float = pa.Field(ge=-1, le=1, description="p_positive - p_negative.")
    entities: int = pa.Field(ge=0, description="Catalog entities the text mentions.")
    model_version: int = pa.Field(ge=1, description="Registry version of the scoring model.")


class EntitySentiment(Lineage):
    """Sentiment per product, brand and store named in reviews and mentions (gazetteer)."""

    entity_type: str = pa.Field(isin=ENTITY_TYPES)
    entity: str = pa.Field(description="Product id, brand or store id.")
    mentions: int = pa.Field(ge=1)
    mean_score: float = pa.Field(ge=-1, le=1, description="Mean of p_positive - p_negative.")
    share_positive: float = pa.Field(ge=0, le=1)
    share_negative: float = pa.Field(ge=0, le=1)
    model_version: int = pa.Field(ge=1)


class SalesDirection(Lineage):
    """The champion's up/down calls on the latest complete weeks, from the week before's signals."""

    category: str
    signal_week_start: pl.Date = pa.Field(description="Week of the signals used.")
    week_start: pl.Date = pa.Field(description="Week predicted.")
    probability_up: float = pa.Field(ge=0, le=1)
    direction: str = pa.Field(isin=["up", "down"], description="The model's call.")
    actual: str = pa.Field(isin=["up", "down"], description="What revenue did that week.")
    model_version: int = pa.Field(ge=1)


class PurchasePropensity(Lineage):
    """Probability of a purchase in the 24 hours after the as-of day, per active customer."""

    as_of_date: pl.Date = pa.Field(description="Features use activity up to the end of this day.")
    customer_key: str = pa.Field(str_matches=HEX64, metadata={"pii": "pseudonymous_id"})
    probability: float = pa.Field(ge=0, le=1, description="Calibrated purchase probability.")
    decile: int = pa.Field(ge=1, le=10, description="1 = the most likely tenth.")
    rank: int = pa.Field(ge=1)
    model_version: int = pa.Field(ge=1)


class CustomerSegments(Lineage):
    """Every active customer's segment, named for marketers, stable between runs."""

    as_of_date: pl.Date
    customer_key: str = pa.Field(str_matches=HEX64, metadata={"pii": "pseudonymous_id"})
    segment_id: str = pa.Field(str_matches=r"^[a-z][a-z0-9_]*$")
    segment_name: str
    model_version: int = pa.Field(ge=1)


class SegmentProfiles(Lineage):
    """What each segment looks like: size and mean behaviour."""

    segment_id: str
    segment_name: str
    description: str
    customers: int = pa.Field(ge=0)
    share: float = pa.Field(ge=0, le=1)
    buyer_share: float = pa.Field(ge=0, le=1, nullable=True)
    mean_recency_days: float = pa.Field(nullable=True, description="Days since last purchase.")
    mean_days_since_last_activity: float = pa.Field(nullable=True)
    mean_active_days_30d: float = pa.Field(nullable=True)
    mean_frequency_90d: float = pa.Field(nullable=True, description="Orders in 90 days.")
    mean_monetary_90d: float = pa.Field(nullable=True, description="Revenue in 90 days.")
    mean_order_value: float = pa.Field(nullable=True, description="Buyers only.")
    mean_views_30d: float = pa.Field(nullable=True)
    mean_carts_30d: float = pa.Field(nullable=True)
    mean_purchases_30d: float = pa.Field(nullable=True)
    mean_views_per_purchase: float = pa.Field(nullable=True, description="Buyers only.")
    top_persona: str = pa.Field(nullable=True, description="Simulated persona most common in it.")
    top_persona_share: float = pa.Field(nullable=True, ge=0, le=1)
    model_version: int = pa.Field(ge=1)


class FeatureDrift(Lineage):
    """Population stability of each model input between its training data and the latest."""

    model: str = pa.Field(isin=MODEL_NAMES)
    model_version: int = pa.Field(ge=1)
    feature: str
    psi: float = pa.Field(nullable=True, ge=0)
    status: str = pa.Field(isin=["stable", "moderate", "major", "unknown"])
    train_mean: float = pa.Field(nullable=True)
    latest_mean: float = pa.Field(nullable=True)
    relative_mean_shift: float = pa.Field(nullable=True)
    train_rows: int = pa.Field(ge=0)
    latest_rows: int = pa.Field(ge=0)
    latest_from: pl.Date
    latest_to: pl.Date


class ModelDecisions(Lineage):
    """Every champion/challenger decision, with its reasons."""

    model: str = pa.Field(isin=MODEL_NAMES)
    decided_at: str
    challenger_version: int = pa.Field(ge=1)
    champion_version: int = pa.Field(nullable=True, ge=1)
    promoted: bool
    primary_metric: str
    challenger_value: float = pa.Field(nullable=True)
    champion_value: float = pa.Field(nullable=True)
    holdout_id: str
    reasons: str
    triggers: str = pa.Field(description="Why the retrain was requested ('' when scheduled).")


SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "raw.sessions": RawSessions,
    "raw.app_events": RawAppEvents,
    "raw.customers": Customers,
    "raw.sales_history": SalesHistory,
    "ml.series_forecasts": SeriesForecasts,
    "ml.series_forecast_accuracy": SeriesForecastAccuracy,
    "raw.signals": RawSignals,
    "raw.transactions": RawTransactions,
    "raw.census_retail_sales": CensusRetailSales,
    "raw.product_catalog": ProductCatalog,
    "raw.retail_calendar": RetailCalendar,
    "raw.orders": RawOrders,
    "raw.stores": Stores,
    "governed.orders": GovernedOrders,
    "governed.app_events_audit": SourceAudit,
    "governed.orders_audit": SourceAudit,
    "governed.source_reconciliation": SourceReconciliation,
    "governed.sessions": GovernedSessions,
    "governed.consent_audit": ConsentAudit,
    "governed.customers": GovernedCustomers,
    "governed.app_events": GovernedAppEvents,
    "ml.sales_forecasts": SalesForecasts,
    "ml.forecast_models": ForecastModels,
    "ml.forecast_cv_accuracy": ForecastCvAccuracy,
    "ml.forecast_accuracy": ForecastAccuracy,
    "ml.census_forecast": CensusForecast,
    "activation.channel_response_curves": ChannelResponseCurves,
    "activation.budget_allocation": BudgetAllocation,
    "activation.segment_budgets": SegmentBudgets,
    "activation.creative_library": CreativeLibrary,
    "activation.dsp_payload": DspPayloadLineItems,
    "activation.dsp_delivery": DspDeliveries,
    "activation.audience_uploads": AudienceUploads,
    "ml.review_sentiment": ReviewSentiment,
    "ml.entity_sentiment": EntitySentiment,
    "ml.sales_direction_model": SalesDirection,
    "ml.purchase_propensity": PurchasePropensity,
    "ml.customer_segments": CustomerSegments,
    "ml.segment_profiles": SegmentProfiles,
    "ml.feature_drift": FeatureDrift,
    "ml.model_decisions": ModelDecisions,
}

_PII_PATTERNS = [
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    # Not inside a decimal number (the digits after a point are not a phone number).
    re.compile(r"(?<![\d.])\+?\d[\d ()-]{7,}\d(?![\d.])"),
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"),
]
#: Dates and timestamps, which the phone pattern would otherwise take for numbers: kept.
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


def mask_pii(text: str) -> str:
    """Replace anything that looks like an email, a phone number or an IP with ``***``.

    Dates (``2025-03-01``, with a time or not) and decimal numbers are left as they are, so
    an error message can still show which day or value was wrong.
    """
    dates: list[str] = []

    def keep(match: re.Match) -> str:
        dates.append(match.group(0))
        return f"\x00{len(dates) - 1}\x00"

    text = _DATE.sub(keep, text)
    for pattern in _PII_PATTERNS:
        text = pattern.sub("***", text)
    return re.sub("\x00(\\d+)\x00", lambda m: dates[int(m.group(1))], text)


@dataclass
class ValidationReport:
    """Outcome of validating a frame: per (column, check) failure counts, PII masked."""

    table: str
    rows: int
    failures: list[dict] = field(default_factory=list)
    source: str = ""

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return not self.failures

    @property
    def failed_columns(self) -> list[str]:
        """Columns named by at least one failure, in order of first appearance."""
        return list(dict.fromkeys(f["column"] for f in self.failures))

    def message(self) -> str:
        """One readable sentence per failure, naming the source, table, column and rows."""
        where = f" from {self.source}" if self.source else ""
        lines = [
            f"{self.table}{where}: {len(self.failures)} schema check(s) failed on {self.rows} rows"
        ]
        for f in self.failures:
            rows = f"{f['failed_rows']} of {self.rows} rows" if f["failed_rows"] else "structure"
            examples = f" (e.g. {f['examples']})" if f["examples"] else ""
            lines.append(f"  - column {f['column']!r}: {f['check']} failed ({rows}){examples}")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The failures as a markdown table for the check's metadata."""
        head = "| column | check | failed rows | examples (masked) |\n|---|---|---|---|\n"
        body = "".join(
            f"| {f['column']} | {f['check']} | {f['failed_rows']} | {f['examples']} |\n"
            for f in self.failures
        )
        return head + body


def validate(
    table: str,
    df: pl.DataFrame,
    source: str = "",
    schema: pa.DataFrameSchema | None = None,
) -> ValidationReport:
    """Validate ``df`` against ``schema`` or the one registered for ``table``; never raises.

    SQL models pass the schema built from their header.
    """
    model = schema if schema is not None else SCHEMAS[table]
    report = ValidationReport(table=table, rows=df.height, source=source)
    try:
        model.validate(df, lazy=True)
    except SchemaErrors as exc:
        report.failures = _summarize(model, exc.failure_cases)
    except SchemaError as exc:  # raised for some structural problems even when lazy
        report.failures = [
            {
                "column": "<table>",
                "check": mask_pii(str(exc))[:200],
                "failed_rows": 0,
                "examples": "",
            }
        ]
    return report


def _summarize(
    model: type[pa.DataFrameModel] | pa.DataFrameSchema, cases: pl.DataFrame
) -> list[dict]:
    schema = model if isinstance(model, pa.DataFrameSchema) else model.to_schema()
    pii_columns = {name for name, col in schema.columns.items() if (col.metadata or {}).get("pii")}
    failures = []
    for (column, check), group in cases.group_by(["column", "check"], maintain_order=True):
        structural = group["index"].null_count() == group.height
        if structural and check in ("column_in_schema", "column_in_dataframe"):
            # pandera reports the table as the "column" and the column name as the case.
            for name in group["failure_case"].to_list():
                failures.append(
                    {
                        "column": name,
                        "check": "unexpected column"
                        if check == "column_in_schema"
                        else "missing column",
                        "failed_rows": 0,
                        "examples": "",
                    }
                )
            continue
        examples = ""
        if column not in pii_columns:
            values = group["failure_case"].cast(pl.Utf8).unique(maintain_order=True).head(3)
            examples = ", ".join(mask_pii(str(v))[:40] for v in values.to_list())
        failed_rows = 0 if structural else group["index"].n_unique()
        failures.append(
            {"column": column, "check": check, "failed_rows": failed_rows, "examples": examples}
        )
    return failures


def raw_pii_columns(table: str) -> list[str]:
    """Columns of a registered table that hold raw (not pseudonymized) personal data."""
    return [
        name
        for name, col in SCHEMAS[table].to_schema().columns.items()
        if (col.metadata or {}).get("pii") not in (None, "pseudonymous_id")
    ]


def column_descriptions(table: str) -> dict[str, str]:
    """Descriptions of a registered table's columns, from its schema."""
    return {
        name: col.description
        for name, col in SCHEMAS[table].to_schema().columns.items()
        if col.description
    }


# pandera registers its polars backends on the first validation, which imports hypothesis
# (about 0.25 s). Do it when this module is imported, with the definitions, instead of inside
# the first asset's run.
pa.DataFrameSchema({"warm_up": pa.Column(pl.Int64)}).validate(pl.DataFrame({"warm_up": [1]}))
