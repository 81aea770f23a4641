"""Governing each source: consent filter, keyed pseudonyms, PII dropped or redacted.

One function per raw table (:func:`govern_sessions`, :func:`govern_customers`,
:func:`govern_app_events`, :func:`govern_orders`) turns it into its governed table and the
reconciliation counts, with no Dagster imports. Consent rules and drop reasons are
:mod:`retail_assets.lib.governance.consent`, the pseudonymizer
:mod:`retail_assets.lib.governance.pseudonyms`, redaction
:mod:`retail_assets.lib.governance.redaction`, and erased people are dropped through
:mod:`retail_assets.lib.governance.suppression`.
"""

from __future__ import annotations

import polars as pl

from retail_assets.lib.governance.consent import (
    APP_EVENT_DROP_REASONS,
    CUSTOMER_DROP_REASONS,
    DROP_REASONS,
    ORDER_DROP_REASONS,
    _check_policy,
    _consent_reason,
    _customer_consent,
    _customer_reason,
    _split,
)
from retail_assets.lib.governance.pseudonyms import Pseudonymizer
from retail_assets.lib.governance.redaction import (
    APP_EVENT_FREE_TEXT,
    REDACTED,
    SESSION_FREE_TEXT,
    age_band_expr,
    map_distinct,
    page_path_expr,
    redact_values,
)
from retail_assets.lib.governance.suppression import suppressed_rows


def govern_sessions(
    raw: pl.DataFrame,
    pseudonymizer: Pseudonymizer,
    suppressed: set[str] | None = None,
    by: str | None = None,
    unset: str = "deny",
) -> tuple[pl.DataFrame, dict]:
    """Keep consented rows, pseudonymize identifiers, drop contact data, city and user properties.

    ``unset`` is the policy for rows with no consent signal (analytics_storage NULL or
    'Unset', as in every export of a site without Consent Mode): ``deny`` drops them,
    ``grant`` keeps them (the declared basis is the caller's to record); the counts then
    include ``kept_without_signal``.

    ``raw`` is the flat frame of :func:`retail_assets.lib.sources.ga4.flatten`. Rows of erased
    people (``user_pseudo_id`` or ``user_id`` pseudonymizes to an entry of ``suppressed``, the
    digests of :func:`retail_assets.lib.governance.suppression.load_suppression`) are dropped first.
    Returns the governed frame (without lineage columns) and the reconciliation counts ``rows_in``,
    ``rows_kept`` and one count per reason in :data:`DROP_REASONS`.

    Every step is row by row, so many days can be governed at once: with ``by`` (a column of
    ``raw`` naming each row's partition day) the governed frame keeps that column last and
    the counts are ``{day: counts}``; each day's rows are the same, in the same order, as if
    that day were governed alone.
    """
    consent = pl.col("analytics_storage").fill_null("Unset")
    missing_id = pl.col("user_pseudo_id").is_null() | pl.col("ga_session_id").is_null()
    erased = suppressed_rows(raw, ["user_pseudo_id", "user_id"], pseudonymizer.hash_one, suppressed)
    no_signal = ~consent.is_in(["Yes", "No"])
    reason = (
        pl.when(erased)
        .then(pl.lit("dropped_erased"))
        .when(consent == "No")
        .then(pl.lit("dropped_analytics_denied"))
        .when(no_signal & (pl.lit(_check_policy(unset)) == "deny"))
        .then(pl.lit("dropped_analytics_unset"))
        .when(missing_id)
        .then(pl.lit("dropped_missing_user_pseudo_id"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )
    kept, counts = _split(raw, reason, DROP_REASONS, by, no_signal)
    governed = kept.select(
        pl.col("event_date").str.to_date("%Y%m%d"),
        "event_timestamp",
        "event_name",
        pseudonymizer.hash_series(kept["user_pseudo_id"]).alias("user_key"),
        pseudonymizer.hash_series(kept["user_id"]).alias("customer_key"),
        pl.lit(pseudonymizer.key_id).alias("key_id"),
        "ga_session_id",
        "ga_session_number",
        pl.col("analytics_storage").fill_null("Unset"),
        "ads_storage",
        map_distinct(kept["page_location"], page_path_expr).alias("page_path"),
        "traffic_source",
        "traffic_medium",
        "default_channel_group",
        "channel_group",
        "device_category",
        "geo_country",
        "category",
        "item_id",
        "item_quantity",
        "purchase_revenue",
        "transaction_id",
        *([by] if by else []),
    )
    # A page path stays a path: a redacted one is the site root, as for a path with an '@'.
    governed = governed.with_columns(
        redact_values(governed[c], "/" if c == "page_path" else REDACTED).alias(c)
        for c in SESSION_FREE_TEXT
    )
    return governed, counts


def govern_customers(
    customers: pl.DataFrame,
    pseudonymizer: Pseudonymizer,
    suppressed: set[str] | None = None,
    unset: str = "deny",
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Keep customers with analytics consent and reduce them to a PII-free dimension.

    ``customers`` is raw.customers. Only ``analytics_storage == 'Yes'`` is kept ('No',
    'Unset' and NULL are dropped). ``customer_id`` and ``user_pseudo_id`` become
    ``customer_key`` and ``user_key`` (the same HMACs :func:`govern_sessions` makes, so the
    tables join), exact age becomes an age band, and email, phone, country and city are
    dropped. Erased customers (either id pseudonymizes to an entry of ``suppressed``, see
    :func:`govern_sessions`) are dropped whatever their consent. Returns the frame (without
    lineage columns) and the counts ``rows_in``, ``rows_kept`` and one per reason in
    :data:`CUSTOMER_DROP_REASONS`.
    """
    erased = suppressed_rows(
        customers, ["customer_id", "user_pseudo_id"], pseudonymizer.hash_one, suppressed
    )
    reason = (
        pl.when(erased)
        .then(pl.lit("dropped_erased"))
        .otherwise(_consent_reason(pl.col("analytics_storage"), unset))
    )
    no_signal = ~pl.col("analytics_storage").fill_null("Unset").is_in(["Yes", "No"])
    kept, counts = _split(customers, reason, CUSTOMER_DROP_REASONS, no_signal=no_signal)
    governed = kept.select(
        pseudonymizer.hash_series(kept["customer_id"]).alias("customer_key"),
        pseudonymizer.hash_series(kept["user_pseudo_id"]).alias("user_key"),
        pl.lit(pseudonymizer.key_id).alias("key_id"),
        "persona",
        age_band_expr(pl.col("age")).alias("age_band"),
        "income_band",
        "household_size",
        "home_store",
        "first_seen",
        # A consent nobody recorded is not a consent: NULL reads as 'Unset'.
        *(
            pl.col(c).fill_null("Unset")
            for c in ("ads_storage", "ad_user_data", "ad_personalization")
        ),
    )
    return governed, counts


def govern_app_events(
    events: pl.DataFrame,
    customers: pl.DataFrame,
    pseudonymizer: Pseudonymizer,
    suppressed: set[str] | None = None,
    by: str | None = None,
    unset: str = "deny",
) -> tuple[pl.DataFrame, dict]:
    """Keep the app events of customers with analytics consent, with pseudonymized ids.

    ``unset: grant`` also keeps events with no consent signal: a user not in ``customers``,
    or one whose consent is 'Unset' (counted as ``kept_without_signal``). An
    ``analytics_storage`` column on the events (a consent column of the events file), where
    not NULL, decides before the customer table.

    An event is kept only when its ``user_id`` is a ``customer_id`` of ``customers``
    (raw.customers) whose ``analytics_storage`` is 'Yes'; events of users who are not in the
    customer table (a user's own events file, say) have unknown consent and are dropped.
    ``user_id`` becomes ``customer_key`` (the HMAC that :func:`govern_sessions` and
    :func:`govern_customers` make of the same id) and ``session_id`` becomes ``session_key``.
    Events of erased people (``user_id`` or ``session_id`` pseudonymizes to an entry of
    ``suppressed``, see :func:`govern_sessions`) are dropped first. Returns the frame
    (without lineage columns) and the counts ``rows_in``, ``rows_kept`` and one per reason
    in :data:`APP_EVENT_DROP_REASONS`. ``by`` governs many days at once, as in
    :func:`govern_sessions`.

    Raises:
        ValueError: ``customers`` lists a customer_id twice, so its consent is ambiguous.

    """
    consent = _customer_consent("user_id", customers)
    if "analytics_storage" in events.columns:
        own = pl.col("analytics_storage")
        consent = pl.when(own.is_in(["Yes", "No"])).then(own).otherwise(consent)
    erased = suppressed_rows(events, ["user_id", "session_id"], pseudonymizer.hash_one, suppressed)
    reason = (
        pl.when(erased).then(pl.lit("dropped_erased")).otherwise(_customer_reason(consent, unset))
    )
    no_signal = ~consent.fill_null("Unset").is_in(["Yes", "No"])
    kept, counts = _split(events, reason, APP_EVENT_DROP_REASONS, by, no_signal)
    governed = kept.select(
        "event_id",
        "event_date",
        "event_timestamp",
        pseudonymizer.hash_series(kept["user_id"]).alias("customer_key"),
        pl.lit(pseudonymizer.key_id).alias("key_id"),
        pseudonymizer.hash_series(kept["session_id"]).alias("session_key"),
        "event_type",
        "product_id",
        "category",
        "price",
        *([by] if by else []),
    )
    governed = governed.with_columns(
        redact_values(governed[c]).alias(c) for c in APP_EVENT_FREE_TEXT
    )
    return governed, counts


def govern_orders(
    orders: pl.DataFrame,
    customers: pl.DataFrame,
    pseudonymizer: Pseudonymizer,
    suppressed: set[str] | None = None,
    by: str | None = None,
    unset: str = "deny",
) -> tuple[pl.DataFrame, dict]:
    """Netted sales lines of customers with analytics consent, the customer pseudonymized.

    ``orders`` are ``raw.orders`` lines; only sales (``net_quantity`` > 0) count. A line
    without a customer id is a guest order (``dropped_no_customer``: it stays in the store
    sales); otherwise consent is the customer's in ``customers``, with ``unset`` the policy
    for a customer with no signal or not in the table, as in :func:`govern_app_events`.
    """
    sales = orders.filter(pl.col("net_quantity") > 0)
    consent = _customer_consent("customer_id", customers)
    erased = suppressed_rows(sales, ["customer_id"], pseudonymizer.hash_one, suppressed)
    reason = (
        pl.when(pl.col("customer_id").is_null())
        .then(pl.lit("dropped_no_customer"))
        .when(erased)
        .then(pl.lit("dropped_erased"))
        .otherwise(_customer_reason(consent, unset))
    )
    no_signal = pl.col("customer_id").is_not_null() & ~consent.fill_null("Unset").is_in(
        ["Yes", "No"]
    )
    kept, counts = _split(sales, reason, ORDER_DROP_REASONS, by, no_signal)
    governed = kept.select(
        "order_id",
        "line_id",
        "order_date",
        "order_ts",
        pseudonymizer.hash_series(kept["customer_id"]).alias("customer_key"),
        pl.lit(pseudonymizer.key_id).alias("key_id"),
        "product_id",
        "category",
        "store_id",
        pl.col("net_quantity").alias("quantity"),
        "unit_price",
        "revenue",
        *([by] if by else []),
    )
    return governed, counts
