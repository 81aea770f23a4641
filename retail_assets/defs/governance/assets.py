"""Governance: only consented rows pass, identifiers are pseudonymized, counts reconcile."""

import datetime as dt

import dagster as dg
import polars as pl

from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.assets import SESSIONS as RAW_SESSIONS
from retail_assets.lib import ga4
from retail_assets.lib.privacy import DROP_REASONS, govern_sessions

GOVERNED_SESSIONS = dg.AssetKey(["governed", "sessions"])
CONSENT_AUDIT = dg.AssetKey(["governed", "consent_audit"])
OWNERS = ["team:privacy"]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            GOVERNED_SESSIONS,
            deps=[RAW_SESSIONS],
            group_name="governance",
            kinds={"python", "polars", "parquet"},
            owners=OWNERS,
            description=(
                "Web events with analytics consent only, one flat row per event: GA4 event "
                "params flattened by key, traffic mapped to GA4's default channel group and "
                "to the planning channel. user_pseudo_id and user_id are replaced by "
                "HMAC-SHA256 pseudonyms (user_key, customer_key) under the configured key, "
                "whose id is kept in key_id; user properties, city and URL query strings are "
                "dropped; every row carries lineage_id and processed_at."
            ),
            code_version="2",
        ),
        dg.AssetSpec(
            CONSENT_AUDIT,
            deps=[RAW_SESSIONS],
            group_name="governance",
            kinds={"python", "polars", "parquet"},
            owners=OWNERS,
            description=(
                "Per day: rows in, rows kept and rows dropped by reason (analytics consent "
                "denied, unset, or a cookieless ping without ids). Its check fails unless "
                "in = kept + dropped."
            ),
            code_version="1",
        ),
    ],
    partitions_def=daily_partitions,
    check_specs=[schema_check_spec(GOVERNED_SESSIONS), schema_check_spec(CONSENT_AUDIT)],
)
def governed_sessions(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Apply consent and pseudonymization to the day's raw web events."""
    lake = platform.lake()
    day = context.partition_key
    raw = lake.read("raw", "sessions", [day], landing=True)
    if raw.is_empty():
        raise dg.Failure(description=f"no raw sessions for {day}: materialize raw/sessions first")
    governed, counts = govern_sessions(ga4.flatten(raw), platform.pseudonymizer(context.log))
    audit = pl.DataFrame(
        {"event_date": [dt.date.fromisoformat(day)], **{k: [v] for k, v in counts.items()}}
    )
    dropped = {k: counts[k] for k in DROP_REASONS}
    context.log.info(f"{day}: {counts['rows_in']} rows in, {counts['rows_kept']} kept, {dropped}")
    yield from publish_table(
        context,
        lake,
        GOVERNED_SESSIONS,
        governed,
        metadata={
            "rows_in": counts["rows_in"],
            "rows_dropped": counts["rows_in"] - counts["rows_kept"],
        },
    )
    yield from publish_table(
        context,
        lake,
        CONSENT_AUDIT,
        audit,
        metadata={f"{k} ({v})": counts[k] for k, v in DROP_REASONS.items()},
    )


defs = dg.Definitions(assets=[governed_sessions])
