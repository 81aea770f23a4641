"""Consent filtering and keyed pseudonymization (HMAC-SHA256), with no Dagster imports.

Plain SHA-256 of an email or phone number is reversible by a dictionary attack (ENISA 2019,
FTC 2024), so internal join keys are HMAC-SHA256 under a secret key; ``key_id`` is stored
beside every pseudonym so the key can be rotated (:class:`KeyRing`). Identifiers are
normalized (:func:`normalize_identifier`) before hashing, so the same person written two ways
gets one pseudonym. The plain-SHA-256 match keys ad platforms ask for live in
:mod:`retail_assets.lib.governance.match_keys`, apart from these.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import phonenumbers
import polars as pl

from retail_assets.lib.governance.erasure import suppressed_rows
from retail_assets.lib.warehouse.schemas import AGE_BANDS

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
#: Upper age of each band but the last (``AGE_BANDS`` in lib/warehouse/schemas/base.py).
_AGE_BAND_TOPS = [24, 34, 44, 54, 64]


#: One ``@`` with something on each side and a dot in the domain: enough to tell an email
#: used as an id from a customer number or a GA4 client id, which must keep their case.
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def normalize_email(value: str) -> str:
    """An email address as every platform hashes it: surrounding whitespace trimmed, lowercased.

    No validation is done: a malformed address normalizes to a string that matches nothing,
    which is what it would do anyway.
    """
    return value.strip().lower()


def normalize_phone(value: str, default_region: str = "US", *, strict: bool = False) -> str | None:
    """A phone number in E.164 (``+16505551212``), or None when it is not a phone number.

    Numbers without a ``+`` country code are read as numbers of ``default_region`` (an ISO
    3166 alpha-2 code), so ``(650)555-1212`` and ``650.555.1212`` both give ``+16505551212``;
    a national trunk ``0`` and any extension are dropped. Invalid input returns None rather
    than raising, so one bad row never stops a batch; callers skip the key.

    Args:
        value: The number as typed.
        default_region: Region of numbers written without a country code.
        strict: Also require the number to be in a range the region has assigned. Off by
            default, because those ranges change with every libphonenumber release and the
            fictional ``555`` numbers of test data fail it; a number that is merely the right
            length for its country is kept, and at worst matches nobody.

    """
    if not value or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        return None
    if strict:
        ok = phonenumbers.is_valid_number(number)
    else:
        # IS_POSSIBLE_LOCAL_ONLY (555-1212, no area code) is not enough to reach anyone.
        reason = phonenumbers.is_possible_number_with_reason(number)
        ok = reason == phonenumbers.ValidationResult.IS_POSSIBLE
    if not ok:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


#: An id written like a phone number: a leading '+', or digits with spaces, hyphens or
#: parentheses between them (at least 7 digits).
_PHONE_LIKE = re.compile(r"(?=(?:\D*\d){7})(?:\+[\d ()-]+|\(?\d[\d ()-]*[ ()-][\d ()-]*\d)")


def normalize_identifier(value: str) -> str:
    """A user_id or user_pseudo_id as it is hashed: trimmed; an email-like id as an email.

    A phone-like id (a leading ``+``, or digits with phone separators) is hashed in E.164,
    so ``+1 (650) 555-1212`` and ``+16505551212`` are one person. Other ids keep their case:
    ``C00000001`` and ``c00000001`` may be two customers; bare digit runs and GA4 client ids
    (``123.456``) stay as they are.
    """
    value = value.strip()
    if "@" in value and _EMAIL_LIKE.fullmatch(value):
        return normalize_email(value)
    if _PHONE_LIKE.fullmatch(value):
        return normalize_phone(value) or value
    return value


@dataclass(frozen=True)
class Pseudonymizer:
    """HMAC-SHA256 under a secret key; ``key_id`` names the key for rotation.

    The key is kept out of ``repr`` so that logging the object never prints it.
    """

    key: str = field(repr=False)
    key_id: str

    def hash_one(self, value: str) -> str:
        """The pseudonym of one identifier, after :func:`normalize_identifier`."""
        return self._hmac(normalize_identifier(value))

    @cached_property
    def _keyed(self) -> hmac.HMAC:
        # Copying a keyed HMAC skips the key schedule: about twice as fast per value.
        return hmac.new(self.key.encode(), digestmod=hashlib.sha256)

    def _hmac(self, normalized: str) -> str:
        h = self._keyed.copy()
        h.update(normalized.encode())
        return h.hexdigest()

    @cached_property
    def _memo(self) -> dict[str, str]:
        # Pseudonyms already computed by this object: a run over a range of days meets the
        # same customers every day, and HMAC is most of governance's cost.
        return {}

    def hash_series(self, values: pl.Series) -> pl.Series:
        """Pseudonymize a string column; nulls stay null.

        Each distinct value is hashed once per pseudonymizer (one per step), however many
        days of a range it appears in.
        """
        memo = self._memo
        distinct = values.drop_nulls().unique().to_list()
        for v in distinct:
            if v not in memo:
                memo[v] = self.hash_one(v)
        mapping = {v: memo[v] for v in distinct}
        return values.replace_strict(mapping, default=None, return_dtype=pl.Utf8)


#: Columns of :meth:`KeyRing.rekey_map`.
REKEY_COLUMNS = ("old_key_id", "old_pseudonym", "new_pseudonym")


@dataclass(frozen=True)
class KeyRing:
    """The current pseudonymization key and the keys being rotated out.

    Pseudonyms made under a previous key are translated to the current key with
    :meth:`rekey_map` (which needs the raw identifiers, from the landing area) and
    :meth:`rewrite`, so that old partitions join new ones. Keys never appear in ``repr``.
    """

    current: Pseudonymizer
    previous: tuple[Pseudonymizer, ...] = ()

    def __post_init__(self) -> None:
        """Reject a ring where one key_id or one key appears twice."""
        ids = [self.current.key_id, *(p.key_id for p in self.previous)]
        if len(set(ids)) != len(ids):
            raise ValueError(f"key ids must be distinct, got {ids}")
        # Two ids for the same secret would make a "rotation" that changes nothing.
        if len({self.current.key, *(p.key for p in self.previous)}) != len(ids):
            raise ValueError("the keys of a key ring must be distinct")

    @classmethod
    def of(cls, key_id: str, key: str, previous: Mapping[str, str] | None = None) -> KeyRing:
        """A ring from the current ``key_id`` and ``key`` and ``{key_id: key}`` of older keys."""
        return cls(
            Pseudonymizer(key=key, key_id=key_id),
            tuple(Pseudonymizer(key=k, key_id=i) for i, k in (previous or {}).items()),
        )

    @property
    def key_id(self) -> str:
        """The id of the current key, stored with every new pseudonym."""
        return self.current.key_id

    def pseudonymizer(self, key_id: str | None = None) -> Pseudonymizer:
        """The pseudonymizer of ``key_id`` (default: the current key).

        Raises:
            KeyError: No key of the ring has that id.

        """
        if key_id is None or key_id == self.current.key_id:
            return self.current
        for p in self.previous:
            if p.key_id == key_id:
                return p
        raise KeyError(f"no key with id {key_id!r} in the key ring ({self._ids()})")

    def _ids(self) -> str:
        return ", ".join([self.current.key_id, *(p.key_id for p in self.previous)])

    def rekey_map(self, identifiers: pl.Series) -> pl.DataFrame:
        """The translation of previous-key pseudonyms of ``identifiers`` to the current key.

        ``identifiers`` are raw ids (customer_id, user_pseudo_id, session ids, ... mixed is
        fine: HMACs of different ids do not collide). Returns one row per previous key and
        distinct normalized identifier, with columns ``old_key_id``, ``old_pseudonym``
        and ``new_pseudonym`` (under :attr:`key_id`). A pseudonym whose raw identifier is gone
        (an erased user) cannot be translated, by design.
        """
        normalized = sorted({normalize_identifier(v) for v in identifiers.drop_nulls()})
        new = [self.current._hmac(v) for v in normalized]
        frames = [
            pl.DataFrame(
                {
                    "old_key_id": [p.key_id] * len(normalized),
                    "old_pseudonym": [p._hmac(v) for v in normalized],
                    "new_pseudonym": new,
                },
                schema=dict.fromkeys(REKEY_COLUMNS, pl.Utf8),
            )
            for p in self.previous
        ]
        if not frames:
            return pl.DataFrame(schema=dict.fromkeys(REKEY_COLUMNS, pl.Utf8))
        return pl.concat(frames)

    def rewrite(
        self,
        frame: pl.DataFrame,
        rekey_map: pl.DataFrame,
        columns: Iterable[str],
        key_id_column: str = "key_id",
    ) -> pl.DataFrame:
        """``frame`` with the pseudonym ``columns`` of previous-key rows moved to the current key.

        Rows already under the current key are left as they are; the rest get new pseudonyms
        from ``rekey_map`` and ``key_id_column`` set to :attr:`key_id`. Nulls stay null.

        Raises:
            ValueError: A row's key_id is not in the ring, or one of its pseudonyms is not in
                ``rekey_map`` (its raw identifier was not given): leaving it would silently
                break joins.

        """
        columns = list(columns)
        unknown = set(frame[key_id_column].unique().drop_nulls()) - {
            self.current.key_id,
            *(p.key_id for p in self.previous),
        }
        if unknown or frame[key_id_column].null_count():
            raise ValueError(
                f"{key_id_column} has values outside the key ring ({self._ids()}): "
                f"{sorted(unknown) or [None]}"
            )
        lookup = rekey_map.select(
            pl.col("old_key_id").alias("_kid"), "old_pseudonym", "new_pseudonym"
        ).unique()
        stale = pl.col(key_id_column) != self.current.key_id
        out = frame.with_columns(pl.col(key_id_column).alias("_kid"))
        for column in columns:
            joined = out.join(
                lookup.rename({"old_pseudonym": column, "new_pseudonym": "_new"}),
                on=["_kid", column],
                how="left",
                maintain_order="left",
            )
            missing = joined.filter(stale & pl.col(column).is_not_null() & pl.col("_new").is_null())
            if missing.height:
                raise ValueError(
                    f"{missing.height} row(s) of {column!r} have pseudonyms not in the rekey "
                    "map: pass the raw identifiers of every stored pseudonym to rekey_map"
                )
            out = joined.with_columns(
                pl.when(stale).then(pl.col("_new")).otherwise(pl.col(column)).alias(column)
            ).drop("_new")
        return out.drop("_kid").with_columns(pl.lit(self.current.key_id).alias(key_id_column))


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


def map_distinct(values: pl.Series, expr: Callable[[pl.Expr], pl.Expr]) -> pl.Series:
    """``expr`` computed once per distinct value of ``values`` and joined back to every row.

    For a costly expression (a regex) on a column with few distinct values: a year of a
    site's events has millions of rows but hundreds of pages, and the page-path regex per row
    was most of governing them (2 s per 360,000 rows, 25 ms over their 471 URLs).
    """
    lut = values.unique().to_frame("v").with_columns(expr(pl.col("v")).alias("out"))
    rows = values.to_frame("v").join(
        lut, on="v", how="left", nulls_equal=True, maintain_order="left"
    )
    return rows["out"].alias(values.name)


REDACTED = "(redacted)"


def redact_values(values: pl.Series, replacement: str = REDACTED) -> pl.Series:
    """``values`` with every value that holds personal data replaced by ``replacement``.

    For fields copied from raw events (UTM source and medium, page path, device, country,
    item and transaction ids, categories): they should never hold an email, a phone number or
    an IP address, but a tagging mistake or a hostile value can put one there. The test is the
    PII scanner's own, so what passes here also passes the ``pii_scan`` job. Each distinct
    value is checked once.
    """
    from retail_assets.lib.governance.pii_scan import scan_text

    distinct = values.drop_nulls().unique().to_list()
    mapping = {v: (replacement if scan_text(v) else v) for v in distinct}
    return values.replace_strict(mapping, default=None, return_dtype=values.dtype)


def redact_text(values: pl.Series) -> pl.Series:
    """Free text (reviews, mentions) with emails, phone numbers and IPs masked as ``***``."""
    from retail_assets.lib.warehouse.schemas import mask_pii

    distinct = values.drop_nulls().unique().to_list()
    mapping = {v: mask_pii(v) for v in distinct}
    return values.replace_strict(mapping, default=None, return_dtype=values.dtype)


#: Columns of governed.sessions copied from raw events, redacted by :func:`redact_values`.
SESSION_FREE_TEXT = (
    "page_path",
    "traffic_source",
    "traffic_medium",
    "device_category",
    "geo_country",
    "category",
    "item_id",
    "transaction_id",
)
#: Likewise for governed.app_events.
APP_EVENT_FREE_TEXT = ("product_id", "category")


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
    digests of :func:`retail_assets.lib.governance.erasure.load_suppression`) are dropped first.
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


def age_band_expr(age: pl.Expr) -> pl.Expr:
    """The band (``AGE_BANDS``) of an age in years; NULL stays NULL."""
    return age.cut(_AGE_BAND_TOPS, labels=AGE_BANDS).cast(pl.Utf8)


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
