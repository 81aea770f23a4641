"""Consent filtering: drop reasons, the policy for rows without a signal, and their counts.

Every ``govern_*`` function of :mod:`retail_assets.lib.governance.privacy` tags each row with
the reason it is dropped (NULL: kept), keeps the untagged rows and counts the rest per reason
(:func:`_split`); the reconciliation counts and the consent audit's cookieless volumes
(:func:`cookieless_volumes`) are built here.
"""

from __future__ import annotations

import polars as pl

DROP_REASONS = {
    "dropped_analytics_denied": "analytics_storage is 'No'",
    "dropped_analytics_unset": "analytics_storage is 'Unset' or unknown (treated as denied)",
    "dropped_missing_user_pseudo_id": "no user_pseudo_id or ga_session_id (cookieless ping)",
    "dropped_erased": "the person was erased: their pseudonym is on the suppression list",
}
#: Why a customer is left out of governed.customers.
CUSTOMER_DROP_REASONS = {
    "dropped_analytics_denied": "analytics_storage is 'No'",
    "dropped_analytics_unset": "analytics_storage is 'Unset' or unknown (treated as denied)",
    "dropped_erased": "the person was erased: their pseudonym is on the suppression list",
}
#: Why an app event is left out of governed.app_events.
APP_EVENT_DROP_REASONS = {
    **CUSTOMER_DROP_REASONS,
    "dropped_unknown_customer": "user_id is not in raw.customers: consent unknown (denied)",
}
#: Why an order line is left out of governed.orders (it stays in the store sales).
ORDER_DROP_REASONS = {
    **APP_EVENT_DROP_REASONS,
    "dropped_no_customer": "the line has no customer id (a guest order): sales, not a customer",
}
#: What a consent policy (``unset`` in sources.yaml) does with rows that carry no signal.
UNSET_POLICIES = ("deny", "grant")


#: Aggregate volumes of cookieless pings (NULL user_pseudo_id) kept in the consent audit.
COOKIELESS_VOLUMES = {
    "cookieless_events": "events without any identifier (Advanced Consent Mode pings)",
    "cookieless_page_views": "page_view events among them",
    "cookieless_add_to_carts": "add_to_cart events among them",
    "cookieless_purchases": "purchase events among them",
    "cookieless_revenue": "their purchase revenue",
}


def cookieless_volumes(raw: pl.DataFrame) -> dict[str, float]:
    """Counts of the day's cookieless pings, which carry no identifier.

    Under Advanced Consent Mode a visitor who denied analytics still sends pings, without
    ``user_pseudo_id``. They never reach a user-level table, but they are traffic: these
    aggregate volumes (no identifier, no row-level data) keep site totals honest.
    ``raw`` is the flat frame of :func:`retail_assets.lib.sources.ga4.flatten`.
    """
    pings = raw.filter(pl.col("user_pseudo_id").is_null())
    name = pings["event_name"]
    return {
        "cookieless_events": pings.height,
        "cookieless_page_views": int((name == "page_view").sum()),
        "cookieless_add_to_carts": int((name == "add_to_cart").sum()),
        "cookieless_purchases": int((name == "purchase").sum()),
        "cookieless_revenue": round(
            float(pings.filter(name == "purchase")["purchase_revenue"].fill_null(0).sum()), 2
        ),
    }


def _check_policy(unset: str) -> str:
    if unset not in UNSET_POLICIES:
        raise ValueError(f"unset policy must be one of {UNSET_POLICIES}, got {unset!r}")
    return unset


def _consent_reason(consent: pl.Expr, unset: str = "deny") -> pl.Expr:
    """The drop reason for an analytics_storage value; NULL means kept.

    'Yes' is kept, and so is no signal ('Unset', NULL) when the policy is ``grant``.
    """
    consent = consent.fill_null("Unset")
    return (
        pl.when(consent == "No")
        .then(pl.lit("dropped_analytics_denied"))
        .when((consent != "Yes") & (pl.lit(_check_policy(unset)) == "deny"))
        .then(pl.lit("dropped_analytics_unset"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )


def _split(
    df: pl.DataFrame,
    reason: pl.Expr,
    reasons: dict[str, str],
    by: str | None = None,
    no_signal: pl.Expr | None = None,
) -> tuple[pl.DataFrame, dict]:
    """The rows whose ``reason`` is NULL, and the counts ``rows_in``, ``rows_kept``, reasons.

    With ``by`` (a column of ``df``, such as the partition day of each row), the counts are
    ``{value: counts}`` for each value of that column. With ``no_signal`` (rows that carry no
    consent signal) the counts add ``kept_without_signal``: kept rows a grant policy let in.
    """
    tagged = df.with_columns(
        reason.alias("_drop_reason"),
        (no_signal if no_signal is not None else pl.lit(False)).alias("_no_signal"),
    )
    kept = tagged.filter(pl.col("_drop_reason").is_null()).drop("_drop_reason", "_no_signal")
    if by is not None:
        return kept, _counts_by(tagged, by, reasons)
    counts = {"rows_in": df.height, "rows_kept": kept.height}
    for name in reasons:
        counts[name] = int((tagged["_drop_reason"] == name).sum())
    counts["kept_without_signal"] = int(
        (tagged["_drop_reason"].is_null() & tagged["_no_signal"]).sum()
    )
    return kept, counts


def _counts_by(tagged: pl.DataFrame, by: str, reasons: dict[str, str]) -> dict:
    """``{value of by: {rows_in, rows_kept, reason: rows, kept_without_signal}}``."""
    reason = pl.col("_drop_reason")
    per = tagged.group_by(by, maintain_order=True).agg(
        pl.len().alias("rows_in"),
        reason.is_null().sum().alias("rows_kept"),
        *[(reason == name).sum().alias(name) for name in reasons],
        (reason.is_null() & pl.col("_no_signal")).sum().alias("kept_without_signal"),
    )
    return {
        row[by]: {k: int(v) for k, v in row.items() if k != by} for row in per.iter_rows(named=True)
    }


def _customer_consent(column: str, customers: pl.DataFrame) -> pl.Expr:
    """The analytics consent of the customer ``column`` names (NULL: not a customer).

    Raises:
        ValueError: ``customers`` lists a customer_id twice, so its consent is ambiguous.

    """
    ids = customers["customer_id"]
    if ids.is_duplicated().any():
        raise ValueError(
            f"raw.customers lists {ids.filter(ids.is_duplicated()).n_unique()} customer_id(s) "
            "more than once: consent is ambiguous"
        )
    return pl.col(column).replace_strict(
        ids, customers["analytics_storage"].fill_null("Unset"), default=None, return_dtype=pl.Utf8
    )


def _customer_reason(consent: pl.Expr, unset: str) -> pl.Expr:
    """The drop reason for a customer's consent; not a customer counts as no signal."""
    grant = _check_policy(unset) == "grant"
    return (
        pl.when(consent.is_null() & pl.lit(not grant))
        .then(pl.lit("dropped_unknown_customer"))
        .otherwise(_consent_reason(consent, unset))
    )
