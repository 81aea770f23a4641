"""Keyed pseudonymization (HMAC-SHA256): normalized identifiers, Pseudonymizer and KeyRing.

Plain SHA-256 of an email or phone number is reversible by a dictionary attack (ENISA 2019,
FTC 2024), so internal join keys are HMAC-SHA256 under a secret key; ``key_id`` is stored
beside every pseudonym so the key can be rotated (:class:`KeyRing`). Identifiers are
normalized (:func:`normalize_identifier`) before hashing, so the same person written two ways
gets one pseudonym. The plain-SHA-256 match keys ad platforms ask for live in
:mod:`retail_assets.lib.governance.match_keys`, apart from these. Consent filtering and the
governed tables built with these pseudonyms are :mod:`retail_assets.lib.governance.privacy`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import phonenumbers
import polars as pl

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
