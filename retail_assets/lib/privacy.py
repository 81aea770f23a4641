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

DROP_REASONS = {
    "dropped_analytics_denied": "analytics_storage is 'No'",
    "dropped_analytics_unset": "analytics_storage is 'Unset' or unknown (treated as denied)",
    "dropped_missing_user_pseudo_id": "no user_pseudo_id or ga_session_id (cookieless ping)",
}


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
