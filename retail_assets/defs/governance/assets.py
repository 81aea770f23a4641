"""Governance: only consented rows pass, identifiers are pseudonymized, counts reconcile."""

import datetime as dt
import json

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
from retail_assets.defs.resources import RetailPlatform, current_world
from retail_assets.defs.sources.assets import APP_EVENTS as RAW_APP_EVENTS
from retail_assets.defs.sources.assets import CUSTOMERS as RAW_CUSTOMERS
from retail_assets.defs.sources.assets import SESSIONS as RAW_SESSIONS
from retail_assets.lib.governance.consent import (
    APP_EVENT_DROP_REASONS,
    COOKIELESS_VOLUMES,
    CUSTOMER_DROP_REASONS,
    DROP_REASONS,
    ORDER_DROP_REASONS,
    cookieless_volumes,
)
from retail_assets.lib.governance.privacy import (
    govern_app_events,
    govern_customers,
    govern_orders,
    govern_sessions,
)
from retail_assets.lib.governance.suppression import load_suppression
from retail_assets.lib.sources import ga4
from retail_assets.lib.sources.declarations import ConsentPolicy
from retail_assets.lib.warehouse.lake import Lake

GOVERNED_SESSIONS = dg.AssetKey(["governed", "sessions"])
CONSENT_AUDIT = dg.AssetKey(["governed", "consent_audit"])
GOVERNED_CUSTOMERS = dg.AssetKey(["governed", "customers"])
GOVERNED_APP_EVENTS = dg.AssetKey(["governed", "app_events"])
APP_EVENTS_AUDIT = dg.AssetKey(["governed", "app_events_audit"])
GOVERNED_ORDERS = dg.AssetKey(["governed", "orders"])
ORDERS_AUDIT = dg.AssetKey(["governed", "orders_audit"])
RAW_ORDERS = dg.AssetKey(["raw", "orders"])
OWNERS = ["team:privacy"]
#: The non-blocking check that warns when a consent rule drops (nearly) all of a day's rows.
CONSENT_CHECK = "consent_coverage"
#: Share of a day's rows one consent rule must drop for the check to warn.
CONSENT_WARN_SHARE = 0.99
#: Drop reasons that are consent rules (not erasure, guest orders or cookieless pings).
CONSENT_RULES = {
    "dropped_analytics_denied": "analytics consent 'No'",
    "dropped_analytics_unset": "no consent signal (NULL or 'Unset') under unset: deny",
    "dropped_unknown_customer": "user not in the customer table (consent unknown) under "
    "unset: deny",
}


#: Drop reasons that are not about consent (left out of the rows a consent rule judged).
NOT_CONSENT = ("dropped_no_customer", "dropped_erased", "dropped_missing_user_pseudo_id")


def consent_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    """The non-blocking consent_coverage check of a governed table."""
    return dg.AssetCheckSpec(
        CONSENT_CHECK,
        asset=key,
        blocking=False,
        description=f"Warns (WARN severity) on a day where one consent rule drops at least "
        f"{CONSENT_WARN_SHARE:.0%} of the rows: a silent empty table is usually a missing "
        "consent policy (sources.yaml: consent: {unset: grant, basis: ...}), not a site where "
        "nobody consented.",
    )


def consent_check(
    context,
    key: dg.AssetKey,
    source: str,
    per_day: dict[str, dict[str, int]],
    policy: ConsentPolicy,
) -> dg.AssetCheckResult:
    """The consent_coverage result over the run's days, and a log line saying what to do."""
    flagged = []
    for day, counts in sorted(per_day.items()):
        # The rows consent was judged on: guests, erased people and cookieless pings are
        # dropped for other reasons, and would hide a rule that dropped every customer.
        rows = counts.get("rows_in", 0) - sum(counts.get(r, 0) for r in NOT_CONSENT)
        for rule in CONSENT_RULES:
            dropped = counts.get(rule, 0)
            if rows and dropped >= CONSENT_WARN_SHARE * rows:
                flagged.append({"day": day, "rule": rule, "dropped": dropped, "rows_in": rows})
    meta = {"unset_policy": policy.unset, "days_checked": len(per_day)}
    if not flagged:
        return dg.AssetCheckResult(
            check_name=CONSENT_CHECK, asset_key=key, passed=True, metadata=meta
        )
    worst = max(flagged, key=lambda f: f["dropped"])
    share = worst["dropped"] / worst["rows_in"]
    text = (
        f"{source}: on {len(flagged)} day(s) one consent rule dropped >= "
        f"{CONSENT_WARN_SHARE:.0%} of the rows; e.g. {worst['day']}: {worst['rule']} "
        f"({CONSENT_RULES[worst['rule']]}) dropped {worst['dropped']} of {worst['rows_in']} "
        f"rows ({share:.0%}) whose consent it decided (guests, erased people and cookieless "
        "pings aside)"
    )
    if worst["rule"] != "dropped_analytics_denied":
        text += (
            f". If these rows may be processed without a consent signal, declare it in "
            f'sources.yaml under sources.{source}: consent: {{unset: grant, basis: "<your '
            'lawful basis>"}}; the basis is kept in the audit'
        )
    context.log.warning(text)
    return dg.AssetCheckResult(
        check_name=CONSENT_CHECK,
        asset_key=key,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=text,
        metadata={**meta, "days_flagged": dg.MetadataValue.json(flagged[:50])},
    )


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
    return dict.fromkeys(["rows_in", "rows_kept", *reasons, "kept_without_signal"], 0)


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


def _customer_policy(platform: RetailPlatform) -> ConsentPolicy:
    """The policy of the customers source, or of orders when customers come from orders."""
    sources = platform.world().sources
    if sources.customers is None and sources.orders is not None:
        return sources.orders.consent
    return platform.consent_policy("customers")


@dg.asset(
    pool=COMPUTE_POOL,
    retry_policy=TRANSIENT_RETRY,
    key=GOVERNED_CUSTOMERS,
    deps=[RAW_CUSTOMERS],
    group_name="governance",
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    check_specs=[schema_check_spec(GOVERNED_CUSTOMERS), consent_check_spec(GOVERNED_CUSTOMERS)],
    code_version="2",
)
def governed_customers(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Customers who gave analytics consent, without contact data: one row per customer.

    For segmenting and joining behavior to customers without personal data. Customers whose
    analytics consent is 'No' are left out, and so are those with no signal ('Unset') unless
    the source's consent policy is `unset: grant`. Customer and web ids are replaced by
    the same HMAC-SHA256 pseudonyms as in `governed.sessions` (customer_key, user_key, with
    the key's id in key_id), so the tables join; exact age becomes an age band (16-24 ... 65+);
    email, phone, country and city are dropped. Keeps persona, income band, household size,
    home store, first visit and the three ads consents (ads_storage, ad_user_data,
    ad_personalization) that decide whether a customer may be activated. A retailer's own
    customer file has no persona or demographics: those columns are NULL.
    """
    lake = platform.lake()
    policy = _customer_policy(platform)
    governed, counts = govern_customers(
        _raw_customers(lake),
        platform.pseudonymizer(context.log),
        load_suppression(lake),
        unset=policy.unset,
    )
    dropped = {k: counts[k] for k in CUSTOMER_DROP_REASONS}
    context.log.info(f"{counts['rows_in']} customers in, {counts['rows_kept']} kept, {dropped}")
    yield from publish_table(
        context,
        lake,
        GOVERNED_CUSTOMERS,
        governed,
        metadata={
            **_drop_metadata(counts, CUSTOMER_DROP_REASONS),
            "kept_without_signal": counts["kept_without_signal"],
            "unset_policy": policy.unset,
            **({"consent_basis": policy.basis} if policy.basis else {}),
        },
    )
    yield consent_check(context, GOVERNED_CUSTOMERS, "customers", {"all": counts}, policy)


def _audit_row(source: str, day: str, counts: dict[str, int], reasons, policy) -> pl.DataFrame:
    dropped = {k: int(counts.get(k, 0)) for k in reasons}
    return pl.DataFrame(
        {
            "source": [source],
            "event_date": [dt.date.fromisoformat(day)],
            "rows_in": [int(counts.get("rows_in", 0))],
            "rows_kept": [int(counts.get("rows_kept", 0))],
            "dropped": [sum(dropped.values())],
            "dropped_by_reason": [json.dumps(dropped, sort_keys=True)],
            "kept_without_signal": [int(counts.get("kept_without_signal", 0))],
            "unset_policy": [policy.unset],
            "consent_basis": pl.Series([policy.basis], dtype=pl.Utf8),
        }
    )


def _audit_spec(key: dg.AssetKey, deps: list[dg.AssetKey], what: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        deps=deps,
        group_name="governance",
        kinds={"python", "polars", "parquet"},
        owners=OWNERS,
        description=f"Per day: {what} in, kept and dropped by reason (JSON), the rows kept "
        "without a consent signal, and the consent policy with its written basis. Its check "
        "fails unless in = kept + dropped.",
        code_version="1",
    )


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


def _govern_days(context, platform, days, *, table, keys, govern, reasons, policy):
    """Govern the run's days of ``raw.<table>`` against the customers' consent.

    Publishes the governed table, its per-day audit and the consent_coverage check (of the
    assets the run selected).
    """
    lake = platform.lake()
    governed_key, audit_key = keys
    customers = _customers_or_none(lake, platform)
    pseudonymizer = platform.pseudonymizer(context.log)
    suppressed = load_suppression(lake)
    out = DayPublisher(context, lake, governed_key)
    audit = DayPublisher(context, lake, audit_key)
    totals: dict[str, int] = dict.fromkeys(["rows_in", "rows_kept", *reasons], 0)
    per_day: dict[str, dict[str, int]] = {}
    for chunk_days, chunk in _chunks(lake, table, days):
        try:
            governed, counts = govern(
                chunk, customers, pseudonymizer, suppressed, by=PARTITION, unset=policy.unset
            )
        except ValueError as exc:
            raise dg.Failure(
                description=f"{_days_text(days)}: {exc}; nothing was written", allow_retries=False
            ) from None
        parts = _by_partition(governed)
        for day in chunk_days:
            counts.setdefault(day, _no_rows(reasons))
            per_day[day] = counts[day]
            for k, v in counts[day].items():
                totals[k] = totals.get(k, 0) + v
            if len(days) <= 7:
                _log_day(context, day, counts[day], reasons)
            out.add(day, parts.get(day, governed.clear()).drop(PARTITION))
            audit.add(day, _audit_row(table, day, counts[day], reasons, policy))
    yield from publish_days(
        _selected(context, [out, audit]),
        {
            governed_key: {
                **_drop_metadata(totals, reasons),
                "kept_without_signal": totals.get("kept_without_signal", 0),
                "unset_policy": policy.unset,
            },
            audit_key: {"unset_policy": policy.unset},
        },
    )
    if governed_key in context.selected_asset_keys:
        yield consent_check(context, governed_key, table, per_day, policy)


def _selected(context, publishers: list[DayPublisher]) -> list[DayPublisher]:
    """The publishers of the assets this run selected (a subset may leave the audit out)."""
    chosen = [p for p in publishers if p.key in context.selected_asset_keys]
    for p in publishers:
        if p not in chosen:
            p.staged.discard()
    return chosen


def _customers_or_none(lake: Lake, platform: RetailPlatform) -> pl.DataFrame:
    """raw.customers' ids and consent.

    In a retailer world that declares neither customers nor orders there is no customer
    table: every user's consent is unknown, and the events' own consent or the policy decides
    (an empty table). Otherwise a missing raw.customers is an error.
    """
    columns = ["customer_id", "analytics_storage"]
    sources = platform.world().sources
    if platform.world().retailer and sources.customers is None and sources.orders is None:
        return pl.DataFrame(schema={c: pl.Utf8 for c in columns})
    return _raw_customers(lake, columns)


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


SOURCE_RECONCILIATION = dg.AssetKey(["governed", "source_reconciliation"])
#: The tables each source is governed into: (audit table, its day column is irrelevant).
_AUDITS = {
    "web_events": ("consent_audit", DROP_REASONS),
    "app_events": ("app_events_audit", APP_EVENT_DROP_REASONS),
    "orders": ("orders_audit", ORDER_DROP_REASONS),
}
_LOADED = {"web_events": "sessions", "app_events": "app_events", "orders": "orders"}


@dg.asset(
    key=SOURCE_RECONCILIATION,
    deps=[
        CONSENT_AUDIT,
        APP_EVENTS_AUDIT,
        ORDERS_AUDIT,
        GOVERNED_CUSTOMERS,
        RAW_SESSIONS,
        RAW_APP_EVENTS,
        RAW_ORDERS,
    ],
    group_name="governance",
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    check_specs=[schema_check_spec(SOURCE_RECONCILIATION)],
    code_version="1",
)
def source_reconciliation(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Per declared source, nothing lost: files = loaded + set aside, governed = kept + dropped.

    The rows of a source's files = rows loaded + rows set aside (quarantined: invalid rows and
    exact repeats), and the rows consent was applied to = kept + dropped by reason, with the
    consent policy and its written basis. Its check fails when either does not add up. The
    retailer's world only; run by the `feature_tables` job, after the history.
    """
    from retail_assets.defs.sources import retailer

    lake = platform.lake()
    sources = platform.world().sources
    rows = []
    for name in sources.declared():
        if name in ("sales_history", "media_history"):
            continue
        row: dict = {"source": name}
        if name == "web_events" and sources.web_events.format == "ga4":
            row |= {"rows_in_files": None, "rows_quarantined": 0}
            row["rows_loaded"] = _rows(lake, "raw", "sessions", landing=True)
        else:
            got = retailer.source_frames(platform, sources, name)
            frame = next(
                v for k, v in got.items() if k not in ("quarantine", "files", "counts", "_files")
            )
            row |= {
                "rows_in_files": int(got["files"]["rows"].sum()),
                "rows_loaded": frame.height,
                "rows_quarantined": got["quarantine"].height,
            }
        audit_table, reasons = _AUDITS.get(name, (None, None))
        if audit_table and lake.partition_files("governed", audit_table):
            audit = lake.read("governed", audit_table, None)
            dropped = {r: int(audit[r].sum()) for r in reasons} if name == "web_events" else {}
            if name != "web_events":
                for text in audit["dropped_by_reason"].to_list():
                    for r, v in json.loads(text).items():
                        dropped[r] = dropped.get(r, 0) + v
            policy = (
                _customer_policy(platform) if name == "orders" else platform.consent_policy(name)
            )
            row |= {
                # Order lines with nothing to govern: cancellations and fully cancelled sales.
                "netted_out": int(frame.filter(pl.col("net_quantity") == 0).height)
                if name == "orders"
                else 0,
                "governed_in": int(audit["rows_in"].sum()),
                "kept": int(audit["rows_kept"].sum()),
                "dropped": sum(dropped.values()),
                "dropped_by_reason": json.dumps(dropped, sort_keys=True),
                "kept_without_signal": int(audit["kept_without_signal"].sum()),
                "unset_policy": policy.unset,
                "consent_basis": policy.basis,
            }
        if row.get("governed_in") is not None:
            # Loaded rows on days not materialized yet: counted, so every row is accounted for.
            row["not_yet_governed"] = row["rows_loaded"] - row["netted_out"] - row["governed_in"]
        rows.append(row)
    schema = {
        "source": pl.Utf8,
        "rows_in_files": pl.Int64,
        "rows_loaded": pl.Int64,
        "rows_quarantined": pl.Int64,
        "netted_out": pl.Int64,
        "not_yet_governed": pl.Int64,
        "governed_in": pl.Int64,
        "kept": pl.Int64,
        "dropped": pl.Int64,
        "dropped_by_reason": pl.Utf8,
        "kept_without_signal": pl.Int64,
        "unset_policy": pl.Utf8,
        "consent_basis": pl.Utf8,
    }
    df = pl.DataFrame(rows, schema=schema)
    yield from publish_table(
        context,
        lake,
        SOURCE_RECONCILIATION,
        df,
        metadata={"sources": df.height, "rows_quarantined": int(df["rows_quarantined"].sum())},
    )


def _rows(lake: Lake, schema: str, table: str, landing: bool = False) -> int:
    """Rows of a table, from its Parquet footers."""
    files = lake.partition_files(schema, table, landing=landing)
    return int(pl.scan_parquet(files).select(pl.len()).collect().item()) if files else 0


#: Both worlds: web events and customers.
BOTH_WORLDS = [governed_sessions, governed_customers]
#: The simulated world's app events (no per-day audit table).
SIMULATED_ONLY = [governed_app_events]


def retailer_only() -> list[dg.AssetsDefinition]:
    """The retailer's world's own governed tables.

    App events with their audit, governance of the orders and the per-source reconciliation
    (the simulator has no orders and loses no rows).
    """
    return [_governed_app_events(with_audit=True), governed_orders, source_reconciliation]


@dg.definitions
def defs() -> dg.Definitions:
    """The governed tables of the declared world."""
    own = retailer_only() if current_world().retailer else SIMULATED_ONLY
    return dg.Definitions(assets=[*BOTH_WORLDS, *own])
