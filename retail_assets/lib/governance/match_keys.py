"""Plain-SHA-256 match keys for ad platforms: built only at activation, never stored.

Ad platforms match customer lists on unkeyed SHA-256 of a normalized email or phone number.
Such hashes are reversible by a dictionary attack (ENISA 2019, FTC 2024), so they are personal
data, not pseudonyms: they are produced here, at activation, only for customers who granted
both ``ad_user_data`` and ``ad_personalization``, handed to the delivery, and never written to
the lake, the warehouse or any analytics table. Internal joins use the keyed HMACs of
:mod:`retail_assets.lib.governance.pseudonyms` instead.

Each platform normalizes differently (see DOMAIN.md, "PII and consent"):

- Google Customer Match (Google Ads, DV360): email trimmed and lowercased; phone in E.164
  *with* the ``+`` (``+16505551212``).
- Meta Conversions API: ``em`` trimmed and lowercased; ``ph`` digits only with the country
  code, no ``+`` and no leading zeros (``16505551212``).

CM360 enhanced conversions also drop dots before ``@gmail.com``; that rule belongs to that
API only and is not applied here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from retail_assets.lib.governance.pseudonyms import normalize_email, normalize_phone

#: Consent values that mean granted: the ``Yes`` of raw.customers (GA4 style) and the
#: ``GRANTED`` of Google's consent API. Anything else, NULL included, is denied.
GRANTED = frozenset({"yes", "granted"})
#: Both must be granted before any match key is made (DOMAIN.md, rule 2).
AD_CONSENT_COLUMNS = ("ad_user_data", "ad_personalization")


def sha256_hex(value: str) -> str:
    """Lowercase hex SHA-256 of ``value`` as UTF-8."""
    return hashlib.sha256(value.encode()).hexdigest()


def _email_key(email: str | None) -> str | None:
    email = normalize_email(email) if email else None
    return sha256_hex(email) if email else None


def _google_phone(e164: str) -> str:
    return e164


def _meta_phone(e164: str) -> str:
    # E.164 country codes never start with 0, so dropping the '+' leaves Meta's form.
    return e164.removeprefix("+")


def _phone_key(phone: str | None, form: Callable[[str], str], default_region: str) -> str | None:
    e164 = normalize_phone(phone, default_region) if phone else None
    return sha256_hex(form(e164)) if e164 else None


@dataclass(frozen=True)
class _Platform:
    email_column: str
    phone_column: str
    phone_form: Callable[[str], str]

    def keys(self, email: str | None, phone: str | None, default_region: str) -> dict[str, str]:
        pairs = (
            (self.email_column, _email_key(email)),
            (self.phone_column, _phone_key(phone, self.phone_form, default_region)),
        )
        return {name: value for name, value in pairs if value}


_GOOGLE = _Platform("hashed_email", "hashed_phone_number", _google_phone)
_META = _Platform("em", "ph", _meta_phone)
#: Platforms :func:`match_keys_for` knows; google_ads and dv360 are the DSP targets
#: (lib/settings.py) that upload Customer Match lists.
PLATFORMS = {"google": _GOOGLE, "google_ads": _GOOGLE, "dv360": _GOOGLE, "meta": _META}


def google_customer_match(
    email: str | None = None, phone: str | None = None, default_region: str = "US"
) -> dict[str, str]:
    """Google Customer Match identifiers: ``hashed_email`` and ``hashed_phone_number``.

    A key is left out when its input is missing, blank or (phone) not a phone number; a
    phone without a ``+`` country code is read as a number of ``default_region``.
    """
    return _GOOGLE.keys(email, phone, default_region)


def meta_capi(
    email: str | None = None, phone: str | None = None, default_region: str = "US"
) -> dict[str, str]:
    """Meta Conversions API ``user_data`` fields: ``em`` and ``ph``.

    A key is left out when its input is missing, blank or (phone) not a phone number; a
    phone without a ``+`` country code is read as a number of ``default_region``.
    """
    return _META.keys(email, phone, default_region)


def ad_consent_granted(customers: pl.DataFrame) -> pl.Expr:
    """True where both ad consents are granted; raises if ``customers`` lacks them.

    Raises:
        ValueError: ``ad_user_data`` or ``ad_personalization`` is not a column: with no
            record of consent nothing may be sent.

    """
    missing = [c for c in AD_CONSENT_COLUMNS if c not in customers.columns]
    if missing:
        raise ValueError(
            f"no consent column(s) {missing}: match keys are made only for customers who "
            "granted ad_user_data and ad_personalization"
        )
    granted = [
        pl.col(c).cast(pl.Utf8).str.strip_chars().str.to_lowercase().is_in(list(GRANTED))
        for c in AD_CONSENT_COLUMNS
    ]
    # is_in gives NULL for a NULL consent; fill_null makes "not recorded" a denial.
    return pl.all_horizontal(g.fill_null(False) for g in granted)


def match_keys_for(
    customers: pl.DataFrame,
    platform: str,
    *,
    keep: Sequence[str] = ("customer_id",),
    default_region: str = "US",
) -> pl.DataFrame:
    """Match keys of the customers who granted both ad consents, for one platform.

    ``customers`` has raw.customers' ``email``, ``phone``, ``ad_user_data`` and
    ``ad_personalization`` (either contact column may be absent). Rows whose consents are not
    both granted (``Yes``/``Granted``, any case) are left out, as are rows with neither key.
    Returns the ``keep`` columns that ``customers`` has, then the platform's two key columns,
    ``hashed_email`` and ``hashed_phone_number`` (Google) or ``em`` and ``ph`` (Meta), NULL
    where that input is missing or invalid. Hand the result to the delivery; never write it
    to the lake or the warehouse.

    Raises:
        ValueError: ``platform`` is unknown, or ``customers`` has no consent columns.

    """
    if platform not in PLATFORMS:
        raise ValueError(f"no match keys for platform {platform!r}; known: {sorted(PLATFORMS)}")
    spec = PLATFORMS[platform]
    consented = customers.filter(ad_consent_granted(customers))
    out = consented.select(c for c in keep if c in consented.columns)
    # Each distinct value is hashed once: libphonenumber is the slow part.
    sources = (
        ("email", spec.email_column, _email_key),
        ("phone", spec.phone_column, lambda v: _phone_key(v, spec.phone_form, default_region)),
    )
    for source, column, key in sources:
        if source in consented.columns:
            values = consented[source].cast(pl.Utf8)
            mapping = {v: key(v) for v in values.drop_nulls().unique().to_list()}
            hashed = values.replace_strict(mapping, default=None, return_dtype=pl.Utf8)
        else:
            hashed = pl.Series(values=[None] * consented.height, dtype=pl.Utf8)
        out = out.with_columns(hashed.alias(column))
    return out.filter(
        pl.col(spec.email_column).is_not_null() | pl.col(spec.phone_column).is_not_null()
    )
