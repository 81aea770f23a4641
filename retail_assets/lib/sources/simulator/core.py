"""The Simulator: one retailer, assembled from the parts of this package.

See the package docstring (:mod:`retail_assets.lib.sources.simulator`) for what drives what.
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_assets.lib.sources.simulator.app import AppEvents
from retail_assets.lib.sources.simulator.signals import Signals
from retail_assets.lib.sources.simulator.stores import StoreSales
from retail_assets.lib.sources.simulator.web import WebEvents


@dataclass(frozen=True)
class Simulator(WebEvents, AppEvents, Signals, StoreSales):
    """Simulates one retailer from a validated configuration and a customer count.

    The fields (``config``, ``seed``, ``customers``) are :class:`Retailer`'s; each base adds
    what one part of the retailer makes: :class:`WebEvents` (web sessions),
    :class:`AppEvents` (app events), :class:`Signals` (reviews, searches, social) and
    :class:`StoreSales` (baskets and transactions), over :class:`Visits`, :class:`Calendar`
    and :class:`Retailer` (customers, catalog).
    """
