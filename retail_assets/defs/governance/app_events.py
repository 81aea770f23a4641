"""governed/app_events: app events with consent; in the retailer's world with their audit."""

import dagster as dg

from retail_assets.defs.governance.governing import (
    APP_EVENTS_AUDIT,
    GOVERNED_APP_EVENTS,
    OWNERS,
    _audit_spec,
    _days_text,
    _govern_days,
    consent_check_spec,
)
from retail_assets.defs.operations import COMPUTE_POOL, TRANSIENT_RETRY
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.publishing import run_days, schema_check_spec
from retail_assets.defs.resources import RetailPlatform, current_world
from retail_assets.defs.sources.assets import APP_EVENTS as RAW_APP_EVENTS
from retail_assets.defs.sources.assets import CUSTOMERS as RAW_CUSTOMERS
from retail_assets.lib.governance.consent import APP_EVENT_DROP_REASONS
from retail_assets.lib.governance.privacy import govern_app_events


def _governed_app_events(with_audit: bool) -> dg.AssetsDefinition:
    """governed/app_events; in the retailer's world with its per-day audit beside it.

    The simulated world's events are governed by the simulated customers' consent, and the
    counts are in the materialization's metadata: a second table of 365 partitions a year
    would cost the demo's history run about 7 s for nothing it needs.
    """
    audit = [_audit_spec(APP_EVENTS_AUDIT, [RAW_APP_EVENTS], "app events")] if with_audit else []

    @dg.multi_asset(
        name="governed_app_events",
        pool=COMPUTE_POOL,
        retry_policy=TRANSIENT_RETRY,
        specs=[
            dg.AssetSpec(
                GOVERNED_APP_EVENTS,
                deps=[RAW_APP_EVENTS, RAW_CUSTOMERS],
                group_name="governance",
                kinds={"python", "polars", "parquet"},
                owners=OWNERS,
                description=(
                    "App view, add-to-cart and purchase events of customers who gave analytics "
                    "consent. One row per event, for purchase-propensity and browsing "
                    "features. An event is kept when its own consent column says 'Yes', or "
                    "else its user is in the customer base (`raw.customers`) with analytics "
                    "consent 'Yes'. Consent 'No' drops it; no signal (consent 'Unset', or a "
                    "user not in the customer base) drops it too, unless the source declares "
                    "`unset: grant` with a basis. User and session ids are replaced by "
                    "HMAC-SHA256 pseudonyms (customer_key, the same as in `governed.sessions` "
                    "and `governed.customers`, and session_key), with the key's id in key_id."
                ),
                code_version="2",
            ),
            *audit,
        ],
        partitions_def=daily_partitions,
        check_specs=[
            schema_check_spec(GOVERNED_APP_EVENTS),
            *([schema_check_spec(APP_EVENTS_AUDIT)] if with_audit else []),
            consent_check_spec(GOVERNED_APP_EVENTS),
        ],
        # Selecting governed/app_events alone (as older jobs and tests do) skips its audit.
        can_subset=with_audit,
    )
    def governed_app_events(context: dg.AssetExecutionContext, platform: RetailPlatform):
        """Apply consent and pseudonymization to each day's raw app events."""
        lake = platform.lake()
        days = run_days(context)
        missing = [
            d for d in days if not lake.partition_files("raw", "app_events", [d], landing=True)
        ]
        if missing:
            raise dg.Failure(
                description=f"no raw app events for {_days_text(missing)}: materialize "
                "raw/app_events for those days first; nothing was written",
                allow_retries=False,
            )
        yield from _govern_days(
            context,
            platform,
            days,
            table="app_events",
            keys=(GOVERNED_APP_EVENTS, APP_EVENTS_AUDIT),
            govern=govern_app_events,
            reasons=APP_EVENT_DROP_REASONS,
            policy=platform.consent_policy("app_events"),
        )

    return governed_app_events


governed_app_events = _governed_app_events(with_audit=False)


@dg.definitions
def defs() -> dg.Definitions:
    """governed/app_events of the declared world: with its audit in the retailer's world."""
    if current_world().retailer:
        return dg.Definitions(assets=[_governed_app_events(with_audit=True)])
    return dg.Definitions(assets=[governed_app_events])
