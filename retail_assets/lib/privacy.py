"""Consent filtering and keyed pseudonymization (HMAC-SHA256), with no Dagster imports.

Plain SHA-256 of an email or phone number is reversible by a dictionary attack (ENISA 2019,
FTC 2024), so internal join keys are HMAC-SHA256 under a secret key; ``key_id`` is stored
beside every pseudonym so the key can be rotated.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import polars as pl

from retail_assets.lib.schemas import AGE_BANDS

DROP_REASONS = {
    "dropped_analytics_denied": "analytics_storage is 'No'",
    "dropped_analytics_unset": "analytics_storage is 'Unset' or unknown (treated as denied)",
    "dropped_missing_user_pseudo_id": "no user_pseudo_id or ga_session_id (cookieless ping)",
}
#: Why a customer is left out of governed.customers.
CUSTOMER_DROP_REASONS = {
    "dropped_analytics_denied": "analytics_storage is 'No'",
    "dropped_analytics_unset": "analytics_storage is 'Unset' or unknown (treated as denied)",
}
#: Why an app event is left out of governed.app_events.
APP_EVENT_DROP_REASONS = {
    **CUSTOMER_DROP_REASONS,
    "dropped_unknown_customer": "user_id is not in raw.customers: consent unknown (denied)",
}
#: Upper age of each band but the last (``AGE_BANDS`` in lib/schemas.py).
_AGE_BAND_TOPS = [24, 34, 44, 54, 64]


@dataclass(frozen=True)
class Pseudonymizer:
    """HMAC-SHA256 under a secret key; ``key_id`` names the key for rotation."""

    key: str
    key_id: str

    def hash_one(self, value: str) -> str:
        """The pseudonym of one identifier (whitespace trimmed first)."""
        return hmac.new(self.key.encode(), value.strip().encode(), hashlib.sha256).hexdigest()

    def hash_series(self, values: pl.Series) -> pl.Series:
        """Pseudonymize a string column; nulls stay null. Each distinct value is hashed once."""
        distinct = values.drop_nulls().unique().to_list()
        mapping = {v: self.hash_one(v) for v in distinct}
        return values.replace_strict(mapping, default=None, return_dtype=pl.Utf8)


def page_path(url: str) -> str:
    """The path of a URL, without host, query string or fragment (which may carry PII)."""
    return pl.select(page_path_expr(pl.lit(url, pl.Utf8))).item()


def page_path_expr(url: pl.Expr) -> pl.Expr:
    """:func:`page_path` as a polars expression (same rules, no Python per row)."""
    path = url.str.extract(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)?([^?#]*)", 1)
    path = pl.when(path.is_null() | (path == "")).then(pl.lit("/")).otherwise(path)
    path = pl.when(path.str.starts_with("/")).then(path).otherwise(pl.lit("/"))
    return (
        pl.when(url.is_null())
        .then(None)
        .when(path.str.contains("@"))
        .then(pl.lit("/"))
        .otherwise(path)
    )


def govern_sessions(
    raw: pl.DataFrame, pseudonymizer: Pseudonymizer
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Keep consented rows, pseudonymize identifiers, drop contact data, city and user properties.

    ``raw`` is the flat frame of :func:`retail_assets.lib.ga4.flatten`. Returns the governed
    frame (without lineage columns) and the reconciliation counts ``rows_in``, ``rows_kept``
    and one count per reason in :data:`DROP_REASONS`.
    """
    consent = pl.col("analytics_storage").fill_null("Unset")
    missing_id = pl.col("user_pseudo_id").is_null() | pl.col("ga_session_id").is_null()
    reason = (
        pl.when(consent == "No")
        .then(pl.lit("dropped_analytics_denied"))
        .when(consent != "Yes")
        .then(pl.lit("dropped_analytics_unset"))
        .when(missing_id)
        .then(pl.lit("dropped_missing_user_pseudo_id"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )
    tagged = raw.with_columns(reason.alias("_drop_reason"))
    kept = tagged.filter(pl.col("_drop_reason").is_null())
    counts = {"rows_in": raw.height, "rows_kept": kept.height}
    for name in DROP_REASONS:
        counts[name] = int((tagged["_drop_reason"] == name).sum())

    governed = kept.select(
        pl.col("event_date").str.to_date("%Y%m%d"),
        "event_timestamp",
        "event_name",
        pseudonymizer.hash_series(kept["user_pseudo_id"]).alias("user_key"),
        pseudonymizer.hash_series(kept["user_id"]).alias("customer_key"),
        pl.lit(pseudonymizer.key_id).alias("key_id"),
        "ga_session_id",
        "ga_session_number",
        "analytics_storage",
        "ads_storage",
        page_path_expr(pl.col("page_location")).alias("page_path"),
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
    )
    return governed, counts


def _consent_reason(consent: pl.Expr) -> pl.Expr:
    """The drop reason for an analytics_storage value: NULL (kept) only for 'Yes'."""
    consent = consent.fill_null("Unset")
    return (
        pl.when(consent == "No")
        .then(pl.lit("dropped_analytics_denied"))
        .when(consent != "Yes")
        .then(pl.lit("dropped_analytics_unset"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )


def _split(
    df: pl.DataFrame, reason: pl.Expr, reasons: dict[str, str]
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The rows whose ``reason`` is NULL, and the counts ``rows_in``, ``rows_kept``, reasons."""
    tagged = df.with_columns(reason.alias("_drop_reason"))
    kept = tagged.filter(pl.col("_drop_reason").is_null()).drop("_drop_reason")
    counts = {"rows_in": df.height, "rows_kept": kept.height}
    for name in reasons:
        counts[name] = int((tagged["_drop_reason"] == name).sum())
    return kept, counts


def age_band_expr(age: pl.Expr) -> pl.Expr:
    """The band (``AGE_BANDS``) of an age in years; NULL stays NULL."""
    return age.cut(_AGE_BAND_TOPS, labels=AGE_BANDS).cast(pl.Utf8)


def govern_customers(
    customers: pl.DataFrame, pseudonymizer: Pseudonymizer
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Keep customers with analytics consent and reduce them to a PII-free dimension.

    ``customers`` is raw.customers. Only ``analytics_storage == 'Yes'`` is kept ('No',
    'Unset' and NULL are dropped). ``customer_id`` and ``user_pseudo_id`` become
    ``customer_key`` and ``user_key`` (the same HMACs :func:`govern_sessions` makes, so the
    tables join), exact age becomes an age band, and email, phone, country and city are
    dropped. Returns the frame (without lineage columns) and the counts ``rows_in``,
    ``rows_kept`` and one per reason in :data:`CUSTOMER_DROP_REASONS`.
    """
    kept, counts = _split(
        customers, _consent_reason(pl.col("analytics_storage")), CUSTOMER_DROP_REASONS
    )
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
    events: pl.DataFrame, customers: pl.DataFrame, pseudonymizer: Pseudonymizer
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Keep the app events of customers with analytics consent, with pseudonymized ids.

    An event is kept only when its ``user_id`` is a ``customer_id`` of ``customers``
    (raw.customers) whose ``analytics_storage`` is 'Yes'; events of users who are not in the
    customer table (a user's own events file, say) have unknown consent and are dropped.
    ``user_id`` becomes ``customer_key`` (the HMAC that :func:`govern_sessions` and
    :func:`govern_customers` make of the same id) and ``session_id`` becomes ``session_key``.
    Returns the frame (without lineage columns) and the counts ``rows_in``, ``rows_kept`` and
    one per reason in :data:`APP_EVENT_DROP_REASONS`.

    Raises:
        ValueError: ``customers`` lists a customer_id twice, so its consent is ambiguous.

    """
    ids = customers["customer_id"]
    if ids.is_duplicated().any():
        raise ValueError(
            f"raw.customers lists {ids.filter(ids.is_duplicated()).n_unique()} customer_id(s) "
            "more than once: consent is ambiguous"
        )
    consent = pl.col("user_id").replace_strict(
        ids, customers["analytics_storage"].fill_null("Unset"), default=None, return_dtype=pl.Utf8
    )
    reason = (
        pl.when(consent.is_null())
        .then(pl.lit("dropped_unknown_customer"))
        .otherwise(_consent_reason(consent))
    )
    kept, counts = _split(events, reason, APP_EVENT_DROP_REASONS)
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
    )
    return governed, counts
