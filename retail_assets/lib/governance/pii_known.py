"""Known identifiers to look for: their verbatim forms and unkeyed hashes (MD5, SHA-1, SHA-256).

An unkeyed hash of an email is reversible by a dictionary attack, so the PII scan
(:mod:`retail_assets.lib.governance.pii_scan`) looks for the hashes of known identifiers
(customer ids, GA4 client ids, emails, phones) in every platform normalization
(:func:`identifier_forms`), and for the identifiers themselves. :func:`known_identifiers` and
:func:`known_from_frame` build the :class:`KnownIdentifiers` to look for.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import phonenumbers
import polars as pl

#: Known identifiers shorter than this are not looked for verbatim (too many chance matches).
MIN_KNOWN_LENGTH = 6


@dataclass(frozen=True)
class KnownIdentifiers:
    """Identifiers to look for: their unkeyed hashes and the verbatim forms matching needs.

    Attributes:
        hashes: Hex (lowercase) or base64 digest -> what it is of, e.g. ``sha256 of email``.
        values: Lowercased verbatim forms -> their label (``customer_id``, ``email``, ...).

    """

    hashes: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.hashes or self.values)

    def __len__(self) -> int:
        """The number of verbatim forms looked for (about one per identifier)."""
        return len(self.values)


def _label_of(value: str) -> str:
    if "@" in value:
        return "email"
    if _looks_like_phone(value):
        return "phone"
    return "identifier"


def _looks_like_phone(value: str) -> bool:
    return bool(re.fullmatch(r"\+?[\d ().-]{7,}", value)) and 7 <= _digit_count(value) <= 15


def _digit_count(value: str) -> int:
    return sum(ch.isdigit() for ch in value)


def _e164(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def identifier_forms(value: str, label: str, region: str = "US") -> dict[str, str]:
    """The forms platforms hash an identifier in: form -> how it was normalized."""
    raw = value.strip()
    forms: dict[str, str] = {}

    def add(form: str, how: str) -> None:
        forms.setdefault(form, how)

    add(value, "as stored")
    add(raw, "trimmed")
    if label == "email" or "@" in raw:
        email = raw.lower()
        add(email, "normalized")
        local, _, domain = email.partition("@")
        if domain in ("gmail.com", "googlemail.com"):
            add(local.replace(".", "") + "@" + domain, "normalized, gmail dots removed")
    elif label == "phone" or _looks_like_phone(raw):
        digits = re.sub(r"\D", "", raw)
        e164 = _e164(raw, region) or "+" + digits
        add(e164, "E.164")
        add(e164.lstrip("+"), "E.164 digits (Meta)")
        add(digits, "digits")
        add(digits.lstrip("0"), "digits, leading zeros removed")
    forms.pop("", None)
    return forms


def _digests(form: str) -> Iterator[tuple[str, str]]:
    data = form.encode()
    for name in ("sha256", "sha1", "md5"):
        digest = hashlib.new(name, data).digest()
        yield digest.hex(), name
        if name == "sha256":
            yield base64.b64encode(digest).decode(), "sha256 (base64)"
            yield base64.urlsafe_b64encode(digest).decode(), "sha256 (base64url)"
            yield base64.urlsafe_b64encode(digest).decode().rstrip("="), "sha256 (base64url)"


def known_identifiers(
    known: Iterable[str] | Mapping[str, Iterable[str]], region: str = "US"
) -> KnownIdentifiers:
    """Precompute the hashes and verbatim forms of known identifiers.

    Args:
        known: The identifiers, or label -> identifiers (``{"email": [...], "phone": [...]}``);
            a plain iterable is labeled by shape (email, phone or identifier).
        region: Region of phone numbers written without a country code.

    """
    groups = known.items() if isinstance(known, Mapping) else [(None, known)]
    hashes: dict[str, str] = {}
    values: dict[str, str] = {}
    for label, items in groups:
        for value in items:
            if value is None or not str(value).strip():
                continue
            value = str(value)
            kind = label or _label_of(value.strip())
            for form, how in identifier_forms(value, kind, region).items():
                for digest, algorithm in _digests(form):
                    key = digest if "base64" in algorithm else digest.lower()
                    hashes.setdefault(key, f"{algorithm} of {kind} ({how})")
            verbatim = {value.strip(), value.strip().lower()}
            if kind == "phone" or _looks_like_phone(value.strip()):
                e164 = _e164(value, region)
                # Only the "+" form: a bare digit run is too often an amount or a timestamp.
                verbatim = {v for v in verbatim if " " not in v} | ({e164} if e164 else set())
            for form in verbatim:
                # An all-digit form (a phone without "+", a numeric id) would match amounts and
                # timestamps: such identifiers are looked for as hashes only.
                if len(form) >= MIN_KNOWN_LENGTH and not re.search(r"\s", form):
                    if not form.isdigit():
                        values.setdefault(form.lower(), kind)
    return KnownIdentifiers(hashes=hashes, values=values)


def known_from_frame(df: pl.DataFrame, columns: Sequence[str] | None = None) -> KnownIdentifiers:
    """Known identifiers from the string columns of a frame (e.g. raw.customers), by column.

    Args:
        df: The frame, e.g. ``customer_id, user_pseudo_id, email, phone`` of raw.customers.
        columns: The columns to take (default: every string column).

    """
    names = columns or [c for c, t in df.schema.items() if t == pl.Utf8]
    groups = {
        c: df[c].cast(pl.Utf8).drop_nulls().unique().to_list() for c in names if c in df.columns
    }
    labelled = {
        ("email" if "email" in c else "phone" if "phone" in c else c): v for c, v in groups.items()
    }
    return known_identifiers(labelled)
