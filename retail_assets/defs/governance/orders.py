"""governed/orders and governed/orders_audit: the retailer's order lines with consent."""

import dagster as dg

from retail_assets.defs.governance.governing import (
    GOVERNED_ORDERS,
    ORDERS_AUDIT,
    OWNERS,
    RAW_ORDERS,
    _audit_spec,
    _customer_policy,
    _govern_days,
    consent_check_spec,
)
from retail_assets.defs.operations import COMPUTE_POOL, TRANSIENT_RETRY
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.publishing import run_days, schema_check_spec
from retail_assets.defs.resources import RetailPlatform, current_world
from retail_assets.defs.sources.assets import CUSTOMERS as RAW_CUSTOMERS
from retail_assets.lib.governance.consent import ORDER_DROP_REASONS
from retail_assets.lib.governance.privacy import govern_orders


@dg.multi_asset(
    pool=COMPUTE_POOL,
    retry_policy=TRANSIENT_RETRY,
    specs=[
        dg.AssetSpec(
            GOVERNED_ORDERS,
            deps=[RAW_ORDERS, RAW_CUSTOMERS],
            group_name="governance",
            kinds={"python", "polars", "parquet"},
            owners=OWNERS,
            description=(
                "The retailer's sales lines of customers who gave analytics consent, after "
                "cancellations are netted: one row per line, the customer id replaced by its "
                "HMAC-SHA256 pseudonym (customer_key, joins governed.customers). Guest orders "
                "(no customer id) stay in the store sales (`raw.transactions`) and are counted "
                "here as dropped_no_customer; customers with no consent signal follow the "
                "declared policy. The input of the customers' order history in the user "
                "features (RFM, propensity, segments)."
            ),
            code_version="1",
        ),
        _audit_spec(ORDERS_AUDIT, [RAW_ORDERS], "order lines"),
    ],
    partitions_def=daily_partitions,
    check_specs=[
        schema_check_spec(GOVERNED_ORDERS),
        schema_check_spec(ORDERS_AUDIT),
        consent_check_spec(GOVERNED_ORDERS),
    ],
    can_subset=True,
)
def governed_orders(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Apply consent and pseudonymization to each day's order lines."""
    yield from _govern_days(
        context,
        platform,
        run_days(context),
        table="orders",
        keys=(GOVERNED_ORDERS, ORDERS_AUDIT),
        govern=govern_orders,
        reasons=ORDER_DROP_REASONS,
        policy=_customer_policy(platform),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The governed orders: the retailer's world only (the simulator has no orders)."""
    return dg.Definitions(assets=[governed_orders] if current_world().retailer else [])
