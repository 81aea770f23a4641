"""The governed tables by world: the lists other modules read, and the reconciliation's key.

Each governed table is declared by its own module (``sessions``, ``customers``,
``app_events``, ``orders``, ``reconciliation``, with the shared pieces in ``governing``),
for the worlds it belongs to. This module only lists them: ``features.assets.python_tables``
reads the lists, ``retail_assets.definitions`` the reconciliation's key.
"""

import dagster as dg

from retail_assets.defs.governance import app_events, customers, orders, reconciliation, sessions
from retail_assets.defs.governance.reconciliation import SOURCE_RECONCILIATION

#: Both worlds: web events and customers.
BOTH_WORLDS = [sessions.governed_sessions, customers.governed_customers]
#: The simulated world's app events (no per-day audit table).
SIMULATED_ONLY = [app_events.governed_app_events]


def retailer_only() -> list[dg.AssetsDefinition]:
    """The retailer's world's own governed tables.

    App events with their audit, governance of the orders and the per-source reconciliation
    (the simulator has no orders and loses no rows).
    """
    return [
        app_events._governed_app_events(with_audit=True),
        orders.governed_orders,
        reconciliation.source_reconciliation,
    ]


@dg.definitions
def defs() -> dg.Definitions:
    """Nothing of its own: the modules above declare the governed tables of each world.

    Without a declaration the loader would collect the assets in the lists above (it collects
    module-level lists of assets too), a second time and in both worlds.
    """
    return dg.Definitions()


__all__ = ["BOTH_WORLDS", "SIMULATED_ONLY", "SOURCE_RECONCILIATION", "retailer_only"]
