"""Who is erased: a data subject's raw identifiers and pseudonyms, found in the landing area.

:func:`resolve_subject` turns the identifiers of an erasure request (customer ids, emails, GA4
client ids or pseudonyms) into every raw identifier of the person and their pseudonyms under
every key; :func:`retail_assets.lib.governance.erasure.erase` then removes their rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from retail_assets.lib.warehouse.lake import Lake

if TYPE_CHECKING:
    from retail_assets.lib.governance.pseudonyms import Pseudonymizer

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def is_pseudonym(value: str) -> bool:
    """True when ``value`` looks like a pseudonym (64 lowercase hex digits)."""
    return bool(_HEX64.match(value))


@dataclass(frozen=True)
class Subject:
    """A data subject as found in the landing area: raw identifiers and pseudonyms.

    ``raw_ids`` (customer ids, GA4 client ids, emails, app session ids) are for deleting raw
    rows and must never be logged; ``pseudonyms`` maps each pseudonym to its key id.
    """

    raw_ids: frozenset[str]
    pseudonyms: dict[str, str] = field(repr=False)
    identifiers_given: int
    customers_found: int
    unmatched: int

    def __repr__(self) -> str:
        """Counts only: a subject's identifiers must not reach a log by accident."""
        return (
            f"Subject(identifiers_given={self.identifiers_given}, "
            f"customers_found={self.customers_found}, raw_ids={len(self.raw_ids)}, "
            f"pseudonyms={len(self.pseudonyms)}, unmatched={self.unmatched})"
        )


def _hashed_matches(
    values: Iterable[str], targets: set[str], pseudonymizers: Sequence[Pseudonymizer]
) -> set[str]:
    """The ``values`` whose pseudonym under some key of ``pseudonymizers`` is in ``targets``."""
    return {v for v in values if any(p.hash_one(v) in targets for p in pseudonymizers)}


def resolve_subject(
    lake: Lake, identifiers: Iterable[str], pseudonymizers: Sequence[Pseudonymizer]
) -> Subject:
    """Find every identifier of the person behind ``identifiers`` in the landing area.

    ``identifiers`` may be customer ids, emails, GA4 client ids (``user_pseudo_id``) or
    pseudonyms of any of them (64 hex digits, recognized by hashing the landing area's ids
    under each key). The person's row in ``raw/customers`` gives their customer id, client id
    and email; ``raw/sessions`` the client ids of every browser they logged in on; and
    ``raw/app_events`` their app session ids. Each raw identifier is then pseudonymized under
    every key of ``pseudonymizers`` (the current key first), so partitions written under a
    previous key are erased too. A pseudonym given but not found stays in the set as given
    (key id ``unknown``): its rows in the lake still go.
    """
    given = {i.strip() for i in identifiers if i and i.strip()}
    given_pseudonyms = {i for i in given if is_pseudonym(i)}
    raw_given = given - given_pseudonyms
    raw = set(raw_given)
    pending = set(given_pseudonyms)
    seen: set[str] = set()

    def absorb(values: Iterable[str]) -> None:
        """Add the raw ids of still-unknown given pseudonyms found among ``values``."""
        nonlocal pending
        if not pending:
            return
        hits = _hashed_matches(values, pending, pseudonymizers)
        raw.update(hits)
        pending -= {p.hash_one(v) for v in hits for p in pseudonymizers}

    def emails(values: Iterable[str]) -> list[str]:
        return [v.strip().lower() for v in values if "@" in v]

    customers_found = 0
    customers = lake.read(
        "raw", "customers", None, landing=True, columns=["customer_id", "user_pseudo_id", "email"]
    )
    if customers.height:
        absorb([*customers["customer_id"].to_list(), *customers["user_pseudo_id"].to_list()])
        found = customers.filter(
            pl.col("customer_id").is_in(list(raw))
            | pl.col("user_pseudo_id").is_in(list(raw))
            | pl.col("email").str.strip_chars().str.to_lowercase().is_in(emails(raw))
        )
        customers_found = found.height
        for column in ("customer_id", "user_pseudo_id", "email"):
            values = set(found[column].drop_nulls().to_list())
            raw |= values
            seen |= values | set(emails(values))

    def landing(table: str, columns: list[str]) -> pl.DataFrame:
        if not lake.partition_files("raw", table, landing=True):
            return pl.DataFrame(schema=dict.fromkeys(columns, pl.Utf8))
        return lake.read("raw", table, None, landing=True, columns=columns)

    sessions = landing("sessions", ["user_id", "user_pseudo_id"])
    absorb(set(sessions["user_id"].drop_nulls()) | set(sessions["user_pseudo_id"].drop_nulls()))
    seen |= raw & (set(sessions["user_id"].drop_nulls()) | set(sessions["user_pseudo_id"]))
    # The browsers the person logged in on are theirs too, unless someone else logged in on
    # one as well: that shared browser's rows are matched by the person's own ids only.
    devices = (
        sessions.filter(pl.col("user_id").is_not_null() & pl.col("user_pseudo_id").is_not_null())
        .group_by("user_pseudo_id")
        .agg(pl.col("user_id").is_in(list(raw)).all().alias("only_theirs"))
        .filter("only_theirs")
    )
    raw |= set(devices["user_pseudo_id"].to_list())

    app_events = landing("app_events", ["user_id", "session_id"])
    absorb(set(app_events["user_id"].drop_nulls()))
    mine = app_events.filter(pl.col("user_id").is_in(list(raw)))
    seen |= set(mine["user_id"].to_list())
    raw |= set(mine["session_id"].drop_nulls().to_list())

    pseudonyms: dict[str, str] = {}
    for value in sorted(raw):
        for p in pseudonymizers:
            pseudonyms.setdefault(p.hash_one(value), p.key_id)
    for pseudonym in sorted(pending):
        pseudonyms.setdefault(pseudonym, "unknown")
    unmatched_raw = {i for i in raw_given if i not in seen and i.lower() not in seen}
    return Subject(
        raw_ids=frozenset(raw),
        pseudonyms=pseudonyms,
        identifiers_given=len(given),
        customers_found=customers_found,
        unmatched=len(pending) + len(unmatched_raw),
    )
