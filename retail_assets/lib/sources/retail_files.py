"""A retailer's own files into raw tables, in one place: customers, orders, products, signals.

The readers live in ``retail_orders`` (customers and order lines), ``retail_catalog``
(products, stores and the catalog), ``retail_signals`` (reviews, search and social volumes)
and ``retail_web_events`` (a site's own event log), what they share in ``retail_common`` (all
in :mod:`retail_assets.lib.sources`). This module only re-exports their public names, for
callers that use them as ``rf.<name>``; new code imports from the defining module.
"""

from __future__ import annotations

from retail_assets.lib.sources.retail_catalog import catalog, read_products, read_stores
from retail_assets.lib.sources.retail_common import (
    DUPLICATE,
    UNCATEGORIZED,
    clean_id,
    fingerprint,
    staged,
)
from retail_assets.lib.sources.retail_orders import (
    ORDER_COLUMNS,
    customers_frame,
    customers_from_orders,
    net_cancellations,
    read_customers,
    read_orders,
    transactions_from_orders,
)
from retail_assets.lib.sources.retail_signals import SIGNAL_COLUMNS, read_reviews, read_signals
from retail_assets.lib.sources.retail_web_events import read_web_events

__all__ = [
    "DUPLICATE",
    "ORDER_COLUMNS",
    "SIGNAL_COLUMNS",
    "UNCATEGORIZED",
    "catalog",
    "clean_id",
    "customers_frame",
    "customers_from_orders",
    "fingerprint",
    "net_cancellations",
    "read_customers",
    "read_orders",
    "read_products",
    "read_reviews",
    "read_signals",
    "read_stores",
    "read_web_events",
    "staged",
    "transactions_from_orders",
]
