"""Shared pieces of the governed tables: their keys, the consent_coverage check, the audits.

Also how a range of days is governed in chunks of rows (:func:`_chunks`) and the per-day
governance of a table against the customers' consent (:func:`_govern_days`), which app events
and orders share.
"""

import datetime as dt
import json

import dagster as dg
import polars as pl

from retail_assets.defs.publishing import DayPublisher, publish_days
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.governance.suppression import load_suppression
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
