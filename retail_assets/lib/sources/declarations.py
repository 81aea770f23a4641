"""The models of ``sources.yaml``: each source's declaration, :class:`Sources` and :class:`World`.

Every source names its files (a glob under ``<landing>/inbox/``, or an absolute one), their
format (CSV, TSV, Parquet or NDJSON, each optionally gzipped; ``auto`` reads it from the file
name), the source column of each canonical column, the time zone of timestamps without an
offset, what to do with invalid rows and, for sources about people, the consent policy. The
fields every source shares are :class:`retail_assets.lib.sources.file_source.FileSource`'s; the file
is loaded by :func:`retail_assets.lib.sources.world.load_world`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from retail_assets.lib.sources.events_mapping import EventsMapping, EventTypes
from retail_assets.lib.sources.file_source import FileSource, _Strict

#: The shortest written basis a ``grant`` policy accepts: a reason, not a placeholder.
MIN_BASIS_CHARS = 20


class ConsentPolicy(_Strict):
    """What happens to rows that carry no consent signal (GA4 'Unset' or NULL, no column).

    ``deny`` (the default) drops them, counted as unset. ``grant`` keeps them, and needs a
    written ``basis`` (the lawful basis, e.g. a legitimate interest assessment, or the reason
    the site has no consent banner); it is stored with every day's audit row.
    """

    unset: Literal["deny", "grant"] = "deny"
    basis: str | None = None

    @model_validator(mode="after")
    def _basis(self) -> ConsentPolicy:
        if self.unset == "grant" and len((self.basis or "").strip()) < MIN_BASIS_CHARS:
            raise ValueError(
                f"unset: grant needs a written basis of at least {MIN_BASIS_CHARS} characters "
                "(why rows without a consent signal may be processed); it is kept in "
                "governed.consent_audit"
            )
        return self


class WebEventColumns(_Strict):
    """Source columns of a site's own event log (``web_events`` with ``format: events``)."""

    timestamp: str
    event_name: str
    user: str  # the browser/device id: becomes user_pseudo_id
    customer: str | None = None  # a logged-in customer id: becomes user_id
    session: str | None = None
    page: str | None = None
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    device: str | None = None
    country: str | None = None
    product: str | None = None
    category: str | None = None
    price: str | None = None
    quantity: str | None = None
    revenue: str | None = None
    transaction: str | None = None
    consent: str | None = None


class WebEvents(FileSource):
    """Web events: GA4 BigQuery export files, or (``format: events``) a site's own event log.

    GA4 exports are read as exported and a file that cannot be read fails whole. A site's own
    log is mapped by ``columns`` into the export's shape, its event names translated by
    ``event_names`` (GA4 name -> the log's values; others are kept when they are valid GA4
    names), sessions derived at gaps of ``session_gap_minutes`` when it has no session column,
    and invalid rows follow ``invalid_rows``.
    """

    files: str = "ga4/events_*"
    format: Literal["ga4", "events"] = "ga4"  # type: ignore[assignment]
    file_format: Literal["auto", "csv", "tsv", "parquet", "ndjson"] = "auto"
    columns: WebEventColumns | None = None
    event_names: dict[str, list[str]] = Field(default_factory=dict)
    session_gap_minutes: int = Field(default=30, ge=1, le=1440)
    consent: ConsentPolicy = ConsentPolicy()

    @model_validator(mode="after")
    def _mapped(self) -> WebEvents:
        if self.format == "events" and self.columns is None:
            raise ValueError("format: events needs columns (timestamp, event_name, user, ...)")
        if self.format == "ga4" and self.columns is not None:
            raise ValueError("a GA4 export is read as exported: columns are for format: events")
        return self

    def reading(self) -> FileSource:
        """The declaration as the file readers take it (format = the file format)."""
        return self.model_copy(update={"format": self.file_format})


class EventColumns(_Strict):
    """Source column of each canonical event column (timestamp, user, type, product required)."""

    timestamp: str
    user: str
    event_type: str
    product: str
    category: str | None = None
    price: str | None = None
    session: str | None = None
    #: A column holding the user's analytics consent on the event (Yes/No, true/false, 1/0...).
    consent: str | None = None


class AppEvents(FileSource):
    """A generic events file: one row per view, add-to-cart or purchase."""

    columns: EventColumns
    event_types: EventTypes
    unknown_event_types: Literal["error", "drop"] = "error"
    session_gap_minutes: int = Field(default=30, ge=1, le=1440)
    consent: ConsentPolicy = ConsentPolicy()

    def mapping(self) -> EventsMapping:
        """The events mapping :func:`retail_assets.lib.sources.events.read_events` reads with."""
        columns = self.columns.model_dump(exclude={"consent"})
        return EventsMapping(
            columns=columns,
            timestamp_format=self.timestamp_format,
            timezone=self.timezone,
            event_types=self.event_types,
            unknown_event_types=self.unknown_event_types,
            session_gap_minutes=self.session_gap_minutes,
        )


class CustomerColumns(_Strict):
    """Source column of each customer column; only customer_id is required."""

    customer_id: str
    email: str | None = None
    phone: str | None = None
    first_seen: str | None = None
    country: str | None = None
    city: str | None = None
    analytics_consent: str | None = None
    ads_consent: str | None = None
    ad_user_data: str | None = None
    ad_personalization: str | None = None


class Customers(FileSource):
    """A CRM export: one row per customer, with contact data and consent."""

    columns: CustomerColumns
    consent: ConsentPolicy = ConsentPolicy()


class OrderColumns(_Strict):
    """Source column of each order-line column; customer, store and the rest are optional."""

    order_id: str
    product_id: str
    quantity: str
    unit_price: str
    timestamp: str
    customer_id: str | None = None
    store: str | None = None
    description: str | None = None
    category: str | None = None
    country: str | None = None


FrequencyName = Literal["auto", "daily", "weekly", "monthly"]


class SeriesForecasts(_Strict):
    """How the sales the orders make are forecast (``ml/series_forecasts``)."""

    #: ``auto``: the data's own frequency (daily, for orders).
    frequency: FrequencyName = "auto"
    #: Levels of the hierarchy forecast and reconciled; those the data lack are left out.
    #: A product level means a series per product: opt in where there are few products.
    levels: list[Literal["total", "category", "store", "product"]] = Field(
        default_factory=lambda: ["total", "category", "store"], min_length=1
    )
    #: Periods ahead (and held out in the backtest); default by frequency: 28 days, 13 weeks,
    #: 12 months.
    horizon: int | None = Field(default=None, ge=1, le=366)


class Orders(FileSource):
    """Order lines; cancellations and returns are lines with a negative quantity."""

    forecast: SeriesForecasts = SeriesForecasts()

    columns: OrderColumns
    #: Orders whose id starts with this are cancellations (UCI Online Retail: "C").
    cancellation_prefix: str | None = None
    #: The store of orders with no store column (an online shop: "online").
    default_store: str = "online"
    #: Consent of customers known only from orders (no customers source declared).
    consent: ConsentPolicy = ConsentPolicy()


class ProductColumns(_Strict):
    """Source column of each product column; only product_id is required."""

    product_id: str
    name: str | None = None
    category: str | None = None
    price: str | None = None
    naics_code: str | None = None


class Products(FileSource):
    """A product file: id, name, category, list price, NAICS code."""

    columns: ProductColumns


class StoreColumns(_Strict):
    """Source column of each store column."""

    store_id: str
    name: str | None = None
    region: str | None = None


class Stores(FileSource):
    """A store (or channel) file."""

    columns: StoreColumns


class ReviewColumns(_Strict):
    """Source column of each review column: text and date required; a rating or a label.

    With neither, the reviews are unlabeled: the VADER lexicon estimates their sentiment and
    scores them (``ml/review_sentiment``).
    """

    text: str
    date: str
    rating: str | None = None
    label: str | None = None
    product: str | None = None
    category: str | None = None


class Reviews(FileSource):
    """Reviews: text, date, product or category; a 1-5 rating, a label (or 0/1) or neither."""

    columns: ReviewColumns

    @model_validator(mode="after")
    def _scored(self) -> Reviews:
        if self.columns.product is None and self.columns.category is None:
            raise ValueError("map product or category: a review must say what it is about")
        return self


class SignalColumns(_Strict):
    """Source column of each signal column: date, category, volume; kind and query optional."""

    date: str
    category: str
    volume: str
    kind: str | None = None
    query: str | None = None


class Signals(FileSource):
    """Search and social volumes per day and category (``kind``: search or social)."""

    columns: SignalColumns
    #: The kind of every row when there is no kind column.
    kind: Literal["search", "social"] | None = None


class PlainFiles(FileSource):
    """A file in a shape the platform already reads (sales history, media history)."""


class SalesHistoryFiles(PlainFiles):
    """Sales history: ``date,series_id,value`` (or ``ds,unique_id,y``) per period.

    Optional ``category``, ``store_id`` and ``product_id`` columns place each series in the
    hierarchy.
    """

    #: ``auto``: read from the dates; a coarser declared frequency sums the periods.
    frequency: FrequencyName = "auto"
    #: Periods ahead (and held out in the backtest); default by frequency.
    horizon: int | None = Field(default=None, ge=1, le=366)


class MediaHistory(PlainFiles):
    """Media history, long (attributed conversions per channel) or aggregate (an outcome).

    Long: one row per day and channel. Aggregate: one row per week or day with an outcome,
    spend per channel and controls, fitted by the media mix model
    (:mod:`retail_assets.lib.activation.mmm`). ``spend`` maps each channel of ``channels.yaml`` to
    its spend column; ``other_spend`` names media that are modelled (so their effect is not
    credited to the others) but not planned; ``controls`` are numeric columns or categorical ones
    (e.g. ``events``), which become one 0/1 column per value other than the most frequent.
    """

    shape: Literal["long", "aggregate"] = "long"
    date: str = "date"
    outcome: str | None = None
    outcome_kind: Literal["revenue", "conversions"] = "revenue"
    spend: dict[str, str] = {}
    other_spend: dict[str, str] = {}
    controls: list[str] = []

    @model_validator(mode="after")
    def _shape(self) -> MediaHistory:
        if self.shape == "aggregate":
            if not self.outcome or not self.spend:
                raise ValueError(
                    "shape: aggregate needs outcome (the outcome column) and spend (channel: "
                    "spend column, one per channel of channels.yaml)"
                )
            if self.format not in ("auto", "csv"):
                raise ValueError(f"shape: aggregate reads csv files, not {self.format}")
            both = sorted(set(self.spend) & set(self.other_spend))
            if both:
                raise ValueError(f"{both} are in both spend and other_spend")
        elif self.outcome or self.spend or self.other_spend or self.controls:
            raise ValueError(
                "outcome, spend, other_spend and controls describe shape: aggregate; a long "
                "media history has the columns date,channel,spend,conversions[,revenue]"
            )
        return self


class Sources(_Strict):
    """Every source a retailer can declare; an undeclared one is None."""

    web_events: WebEvents | None = None
    app_events: AppEvents | None = None
    customers: Customers | None = None
    orders: Orders | None = None
    products: Products | None = None
    stores: Stores | None = None
    reviews: Reviews | None = None
    signals: Signals | None = None
    sales_history: SalesHistoryFiles | None = None
    media_history: MediaHistory | None = None

    def declared(self) -> list[str]:
        """Names of the declared sources."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


class World(_Strict):
    """The whole declaration: the world, and in the retailer's world its sources."""

    world: Literal["simulated", "retailer"] = "simulated"
    sources: Sources = Sources()

    @model_validator(mode="after")
    def _something(self) -> World:
        if self.world == "retailer" and not self.sources.declared():
            raise ValueError("world: retailer declares no source under sources")
        if self.world == "simulated" and self.sources.declared():
            raise ValueError(
                "sources are read in world: retailer only; set world: retailer (the simulated "
                "world would ignore them)"
            )
        return self

    @property
    def retailer(self) -> bool:
        """True in the retailer's world."""
        return self.world == "retailer"
