"""One place for the pandera (polars) schema of every table a Python asset writes.

SQL models under ``dbt_like_sql/`` declare their columns and types in their header instead;
``retail_assets.lib.warehouse.sql_models`` builds their pandera schema from it (same strictness).

Schemas are strict: a column that is not listed is an error, so nothing (PII in particular)
slips into a table by accident. Columns that hold pseudonymous identifiers carry
``metadata={"pii": "pseudonymous_id"}`` so erasure and masking can find them; raw contact data
is marked ``"pii": "direct"`` and only exists in the landing area.

The schemas live in one module per group of tables (``raw``, ``governed``, ``forecasts``,
``activation``, ``ml``) over the shared ``base``; ``registry`` maps table names to them and
``validation`` checks a frame against one. This package re-exports every public name.
"""

from __future__ import annotations

from retail_assets.lib.warehouse.schemas.activation import (
    ALLOCATION_METHODS,
    BINDINGS,
    COMPLIANCE,
    DSP_TARGETS,
    AudienceUploads,
    BudgetAllocation,
    ChannelResponseCurves,
    CreativeLibrary,
    DspDeliveries,
    DspPayloadLineItems,
    SegmentBudgets,
)
from retail_assets.lib.warehouse.schemas.base import (
    AGE_BANDS,
    APP_EVENTS,
    CHANNEL_GROUPS,
    CONSENT,
    HEX64,
    PAID_CHANNELS,
    SIGNAL_SOURCES,
    UUID,
    Lineage,
    UtcTimestamp,
)
from retail_assets.lib.warehouse.schemas.forecasts import (
    FORECAST_LEVELS,
    FORECAST_MODELS,
    SERIES_FREQUENCIES,
    SERIES_KINDS,
    SERIES_SOURCES,
    CensusForecast,
    ForecastAccuracy,
    ForecastCvAccuracy,
    ForecastModels,
    SalesForecasts,
    SeriesForecastAccuracy,
    SeriesForecasts,
)
from retail_assets.lib.warehouse.schemas.governed import (
    ConsentAudit,
    GovernedAppEvents,
    GovernedCustomers,
    GovernedOrders,
    GovernedSessions,
    SourceAudit,
    SourceReconciliation,
)
from retail_assets.lib.warehouse.schemas.ml import (
    ENTITY_TYPES,
    MODEL_NAMES,
    SENTIMENT_CLASSES,
    CustomerSegments,
    EntitySentiment,
    FeatureDrift,
    ModelDecisions,
    PurchasePropensity,
    ReviewSentiment,
    SalesDirection,
    SegmentProfiles,
)
from retail_assets.lib.warehouse.schemas.raw import (
    CensusRetailSales,
    Customers,
    ProductCatalog,
    RawAppEvents,
    RawOrders,
    RawSessions,
    RawSignals,
    RawTransactions,
    RetailCalendar,
    SalesHistory,
    Stores,
)
from retail_assets.lib.warehouse.schemas.registry import (
    SCHEMAS,
    column_descriptions,
    raw_pii_columns,
)
from retail_assets.lib.warehouse.schemas.validation import (
    ValidationReport,
    mask_pii,
    validate,
)

__all__ = [
    "AGE_BANDS",
    "ALLOCATION_METHODS",
    "APP_EVENTS",
    "AudienceUploads",
    "BINDINGS",
    "BudgetAllocation",
    "CHANNEL_GROUPS",
    "COMPLIANCE",
    "CONSENT",
    "CensusForecast",
    "CensusRetailSales",
    "ChannelResponseCurves",
    "ConsentAudit",
    "CreativeLibrary",
    "CustomerSegments",
    "Customers",
    "DSP_TARGETS",
    "DspDeliveries",
    "DspPayloadLineItems",
    "ENTITY_TYPES",
    "EntitySentiment",
    "FORECAST_LEVELS",
    "FORECAST_MODELS",
    "FeatureDrift",
    "ForecastAccuracy",
    "ForecastCvAccuracy",
    "ForecastModels",
    "GovernedAppEvents",
    "GovernedCustomers",
    "GovernedOrders",
    "GovernedSessions",
    "HEX64",
    "Lineage",
    "MODEL_NAMES",
    "ModelDecisions",
    "PAID_CHANNELS",
    "ProductCatalog",
    "PurchasePropensity",
    "RawAppEvents",
    "RawOrders",
    "RawSessions",
    "RawSignals",
    "RawTransactions",
    "RetailCalendar",
    "ReviewSentiment",
    "SCHEMAS",
    "SENTIMENT_CLASSES",
    "SERIES_FREQUENCIES",
    "SERIES_KINDS",
    "SERIES_SOURCES",
    "SIGNAL_SOURCES",
    "SalesDirection",
    "SalesForecasts",
    "SalesHistory",
    "SegmentBudgets",
    "SegmentProfiles",
    "SeriesForecastAccuracy",
    "SeriesForecasts",
    "SourceAudit",
    "SourceReconciliation",
    "Stores",
    "UUID",
    "UtcTimestamp",
    "ValidationReport",
    "column_descriptions",
    "mask_pii",
    "raw_pii_columns",
    "validate",
]
