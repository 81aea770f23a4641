"""governed/sessions and governed/consent_audit: web events with analytics consent only."""

import datetime as dt

import dagster as dg
import polars as pl

from retail_assets.defs.governance.governing import (
    CONSENT_AUDIT,
    GOVERNED_SESSIONS,
    OWNERS,
    PARTITION,
    _by_partition,
    _chunks,
    _days_text,
    _log_day,
    _no_rows,
    consent_check,
    consent_check_spec,
)
from retail_assets.defs.operations import COMPUTE_POOL, TRANSIENT_RETRY
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.publishing import DayPublisher, publish_days, run_days, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.assets import SESSIONS as RAW_SESSIONS
from retail_assets.lib.governance.consent import (
    COOKIELESS_VOLUMES,
    DROP_REASONS,
    cookieless_volumes,
)
from retail_assets.lib.governance.privacy import govern_sessions
from retail_assets.lib.governance.suppression import load_suppression
from retail_assets.lib.sources import ga4


@dg.multi_asset(
    pool=COMPUTE_POOL,
    retry_policy=TRANSIENT_RETRY,
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
                "denied, unset, a cookieless ping without ids, or an erased person on the "
                "suppression list). Its check fails unless in = kept + dropped. Cookieless "
                "pings also count here as aggregate volumes (events, page views, carts, "
                "purchases, revenue): traffic, never user-level rows."
            ),
            code_version="1",
        ),
    ],
    partitions_def=daily_partitions,
    check_specs=[
        schema_check_spec(GOVERNED_SESSIONS),
        schema_check_spec(CONSENT_AUDIT),
        consent_check_spec(GOVERNED_SESSIONS),
    ],
)
def governed_sessions(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Apply consent and pseudonymization to each day's raw web events."""
    lake = platform.lake()
    days = run_days(context)
    missing = [d for d in days if not lake.partition_files("raw", "sessions", [d], landing=True)]
    if missing:
        raise dg.Failure(
            description=f"no raw sessions for {_days_text(missing)}: materialize raw/sessions "
            "for those days first; nothing was written",
            allow_retries=False,
        )
    pseudonymizer = platform.pseudonymizer(context.log)
    suppressed = load_suppression(lake)
    policy = platform.consent_policy("web_events")
    sessions = DayPublisher(context, lake, GOVERNED_SESSIONS)
    audit = DayPublisher(context, lake, CONSENT_AUDIT)
    totals = dict.fromkeys(
        ["rows_in", "rows_kept", *DROP_REASONS, "kept_without_signal", *COOKIELESS_VOLUMES], 0
    )
    per_day: dict[str, dict[str, int]] = {}
    for chunk_days, chunk in _chunks(lake, "sessions", days):
        # Every step is row by row: a chunk of days is governed at once, then split by day.
        flat = ga4.flatten(chunk, keep=(PARTITION,))
        governed, counts = govern_sessions(
            flat, pseudonymizer, suppressed, by=PARTITION, unset=policy.unset
        )
        parts = _by_partition(governed)
        flats = _by_partition(flat)
        for day in chunk_days:
            volumes = cookieless_volumes(flats.get(day, flat.clear()))
            counts.setdefault(day, _no_rows(DROP_REASONS))
            per_day[day] = counts[day]
            row = pl.DataFrame(
                {
                    "event_date": [dt.date.fromisoformat(day)],
                    **{k: [v] for k, v in counts[day].items()},
                    "unset_policy": [policy.unset],
                    "consent_basis": pl.Series([policy.basis], dtype=pl.Utf8),
                    **{k: [v] for k, v in volumes.items()},
                }
            )
            for k, v in {**counts[day], **volumes}.items():
                totals[k] += v
            if len(days) <= 7:
                _log_day(context, day, counts[day], DROP_REASONS)
            sessions.add(day, parts.get(day, governed.clear()).drop(PARTITION))
            audit.add(day, row)
    context.log.info(
        f"{_days_text(days)}: {totals['rows_in']} rows in, {totals['rows_kept']} kept, "
        f"{ {k: totals[k] for k in DROP_REASONS} }"
    )
    yield from publish_days(
        [sessions, audit],
        {
            GOVERNED_SESSIONS: {
                "rows_in": totals["rows_in"],
                "rows_dropped": totals["rows_in"] - totals["rows_kept"],
            },
            CONSENT_AUDIT: {
                **{f"{k} ({v})": totals[k] for k, v in DROP_REASONS.items()},
                "kept_without_signal": totals["kept_without_signal"],
                "unset_policy": policy.unset,
                **({"consent_basis": policy.basis} if policy.basis else {}),
                **{f"{k} ({v})": totals[k] for k, v in COOKIELESS_VOLUMES.items()},
            },
        },
    )
    yield consent_check(context, GOVERNED_SESSIONS, "web_events", per_day, policy)


#: Both worlds: the web events.
defs = dg.Definitions(assets=[governed_sessions])
