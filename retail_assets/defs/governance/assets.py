"""Governance: only consented rows pass, identifiers are pseudonymized, counts reconcile."""

import datetime as dt

import dagster as dg
import polars as pl

from retail_assets.defs.operations import COMPUTE_POOL, TRANSIENT_RETRY
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.publishing import (
    DayPublisher,
    publish_days,
    publish_table,
    run_days,
    schema_check_spec,
)
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.assets import APP_EVENTS as RAW_APP_EVENTS
from retail_assets.defs.sources.assets import CUSTOMERS as RAW_CUSTOMERS
from retail_assets.defs.sources.assets import SESSIONS as RAW_SESSIONS
from retail_assets.lib import ga4
from retail_assets.lib.erasure import load_suppression
from retail_assets.lib.lake import Lake
from retail_assets.lib.privacy import (
    APP_EVENT_DROP_REASONS,
    COOKIELESS_VOLUMES,
    CUSTOMER_DROP_REASONS,
    DROP_REASONS,
    cookieless_volumes,
    govern_app_events,
    govern_customers,
    govern_sessions,
)

GOVERNED_SESSIONS = dg.AssetKey(["governed", "sessions"])
CONSENT_AUDIT = dg.AssetKey(["governed", "consent_audit"])
GOVERNED_CUSTOMERS = dg.AssetKey(["governed", "customers"])
GOVERNED_APP_EVENTS = dg.AssetKey(["governed", "app_events"])
OWNERS = ["team:privacy"]


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
    check_specs=[schema_check_spec(GOVERNED_SESSIONS), schema_check_spec(CONSENT_AUDIT)],
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
    sessions = DayPublisher(context, lake, GOVERNED_SESSIONS)
    audit = DayPublisher(context, lake, CONSENT_AUDIT)
    totals = dict.fromkeys(["rows_in", "rows_kept", *DROP_REASONS, *COOKIELESS_VOLUMES], 0)
    for chunk_days, chunk in _chunks(lake, "sessions", days):
        # Every step is row by row: a chunk of days is governed at once, then split by day.
        flat = ga4.flatten(chunk, keep=(PARTITION,))
        governed, counts = govern_sessions(flat, pseudonymizer, suppressed, by=PARTITION)
        parts = _by_partition(governed)
        flats = _by_partition(flat)
        for day in chunk_days:
            volumes = cookieless_volumes(flats.get(day, flat.clear()))
            counts.setdefault(day, _no_rows(DROP_REASONS))
            row = pl.DataFrame(
                {
                    "event_date": [dt.date.fromisoformat(day)],
                    **{k: [v] for k, v in counts[day].items()},
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
                **{f"{k} ({v})": totals[k] for k, v in COOKIELESS_VOLUMES.items()},
            },
        },
    )


#: Column naming each raw row's partition day while a chunk of days is governed at once.
PARTITION = "_partition"
#: Raw rows governed at once: days are read until a chunk holds this many (one day at least).
CHUNK_ROWS = 500_000


def _chunks(lake: Lake, table: str, days: list[str]):
    """``(days, rows)``: the raw table's days in chunks of about :data:`CHUNK_ROWS` rows.

    Each row carries its partition day in :data:`PARTITION`.
    """
    held: list[pl.DataFrame] = []
    held_days: list[str] = []
    rows = 0
    for day in days:
        frame = lake.read("raw", table, [day], landing=True)
        held.append(frame.with_columns(pl.lit(day).alias(PARTITION)))
        held_days.append(day)
        rows += frame.height
        if rows >= CHUNK_ROWS:
            yield held_days, pl.concat(held, how="vertical_relaxed")
            held, held_days, rows = [], [], 0
    if held:
        yield held_days, pl.concat(held, how="vertical_relaxed")


def _no_rows(reasons: dict[str, str]) -> dict[str, int]:
    return dict.fromkeys(["rows_in", "rows_kept", *reasons], 0)


def _by_partition(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {
        k[0]: part
        for k, part in frame.partition_by(PARTITION, as_dict=True, maintain_order=True).items()
    }


def _log_day(context, day: str, counts: dict[str, int], reasons: dict[str, str]) -> None:
    """One line per day of a short range: rows in, kept and dropped by reason."""
    dropped = {k: counts[k] for k in reasons}
    context.log.info(f"{day}: {counts['rows_in']} rows in, {counts['rows_kept']} kept, {dropped}")


def _days_text(days: list[str]) -> str:
    if len(days) <= 5:
        return ", ".join(days)
    return f"{len(days)} days ({days[0]}, {days[1]}, ... {days[-1]})"


def _raw_customers(lake: Lake, columns: list[str] | None = None) -> pl.DataFrame:
    customers = lake.read("raw", "customers", None, landing=True, columns=columns)
    if customers.is_empty():
        raise dg.Failure(
            description="no raw customers: materialize raw/customers first (job reference_data)",
            allow_retries=False,
        )
    return customers


def _drop_metadata(counts: dict[str, int], reasons: dict[str, str]) -> dict[str, int]:
    return {
        "rows_in": counts["rows_in"],
        "rows_kept": counts["rows_kept"],
        **{f"{k} ({v})": counts[k] for k, v in reasons.items()},
    }


@dg.asset(
    pool=COMPUTE_POOL,
    retry_policy=TRANSIENT_RETRY,
    key=GOVERNED_CUSTOMERS,
    deps=[RAW_CUSTOMERS],
    group_name="governance",
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    check_specs=[schema_check_spec(GOVERNED_CUSTOMERS)],
    code_version="1",
)
def governed_customers(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Customers who gave analytics consent, without contact data: one row per customer.

    For segmenting and joining behavior to customers without personal data. Customers whose
    analytics consent is 'No' or 'Unset' are left out. Customer and web ids are replaced by
    the same HMAC-SHA256 pseudonyms as in `governed.sessions` (customer_key, user_key, with
    the key's id in key_id), so the tables join; exact age becomes an age band (16-24 ... 65+);
    email, phone, country and city are dropped. Keeps persona, income band, household size,
    home store, first visit and the three ads consents (ads_storage, ad_user_data,
    ad_personalization) that decide whether a customer may be activated.
    """
    lake = platform.lake()
    governed, counts = govern_customers(
        _raw_customers(lake), platform.pseudonymizer(context.log), load_suppression(lake)
    )
    dropped = {k: counts[k] for k in CUSTOMER_DROP_REASONS}
    context.log.info(f"{counts['rows_in']} customers in, {counts['rows_kept']} kept, {dropped}")
    yield from publish_table(
        context,
        lake,
        GOVERNED_CUSTOMERS,
        governed,
        metadata=_drop_metadata(counts, CUSTOMER_DROP_REASONS),
    )


@dg.asset(
    pool=COMPUTE_POOL,
    retry_policy=TRANSIENT_RETRY,
    key=GOVERNED_APP_EVENTS,
    deps=[RAW_APP_EVENTS, RAW_CUSTOMERS],
    group_name="governance",
    partitions_def=daily_partitions,
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    check_specs=[schema_check_spec(GOVERNED_APP_EVENTS)],
    code_version="1",
)
def governed_app_events(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """App view, add-to-cart and purchase events of customers who gave analytics consent.

    One row per event, for purchase-propensity and browsing features. An event is kept only
    when its user is in the customer base (`raw.customers`) with analytics consent 'Yes';
    consent 'No' or 'Unset' drops it, and so does a user who is not in the customer base
    (events from your own events file, say): their consent is unknown, so it counts as
    denied. User and session ids are replaced by HMAC-SHA256 pseudonyms (customer_key, the
    same as in `governed.sessions` and `governed.customers`, and session_key), with the key's
    id in key_id. Rows in, kept and dropped by reason are in the materialization's metadata.
    """
    lake = platform.lake()
    days = run_days(context)
    missing = [d for d in days if not lake.partition_files("raw", "app_events", [d], landing=True)]
    if missing:
        raise dg.Failure(
            description=f"no raw app events for {_days_text(missing)}: materialize "
            "raw/app_events for those days first; nothing was written",
            allow_retries=False,
        )
    customers = _raw_customers(lake, ["customer_id", "analytics_storage"])
    pseudonymizer = platform.pseudonymizer(context.log)
    suppressed = load_suppression(lake)
    out = DayPublisher(context, lake, GOVERNED_APP_EVENTS)
    totals: dict[str, int] = {}
    for chunk_days, chunk in _chunks(lake, "app_events", days):
        try:
            governed, counts = govern_app_events(
                chunk, customers, pseudonymizer, suppressed, by=PARTITION
            )
        except ValueError as exc:
            raise dg.Failure(
                description=f"{_days_text(days)}: {exc}; nothing was written", allow_retries=False
            ) from None
        parts = _by_partition(governed)
        for day in chunk_days:
            counts.setdefault(day, _no_rows(APP_EVENT_DROP_REASONS))
            for k, v in counts[day].items():
                totals[k] = totals.get(k, 0) + v
            if len(days) <= 7:
                _log_day(context, day, counts[day], APP_EVENT_DROP_REASONS)
            out.add(day, parts.get(day, governed.clear()).drop(PARTITION))
    yield from publish_days(
        [out], {GOVERNED_APP_EVENTS: _drop_metadata(totals, APP_EVENT_DROP_REASONS)}
    )


defs = dg.Definitions(assets=[governed_sessions, governed_customers, governed_app_events])
