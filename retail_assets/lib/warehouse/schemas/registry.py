"""The schema of every table by name (``SCHEMAS``), and what it says about the table's columns."""

from __future__ import annotations

import pandera.polars as pa

from retail_assets.lib.warehouse.schemas.activation import (
    AudienceUploads,
    BudgetAllocation,
    ChannelResponseCurves,
    CreativeLibrary,
    DspDeliveries,
    DspPayloadLineItems,
    SegmentBudgets,
)
from retail_assets.lib.warehouse.schemas.forecasts import (
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
