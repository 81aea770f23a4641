"""The suppression list: digests of erased people's pseudonyms, which ingestion drops.

The list (``<lake>/governance/suppression.parquet``: ``pseudonym_sha256, key_id, erased_at,
request_id``) names erased people by the digest of their pseudonyms (:func:`pseudonym_digest`),
never by the pseudonym itself: after an erasure the pseudonym's bytes appear in no file.
Ingestion (``lib/governance/privacy.py``'s ``govern_*``) drops every row whose pseudonym's
digest is on it (:func:`suppressed_rows`), so a late GA4 re-export (up to 3 days) cannot bring
them back. A pseudonym depends on the key: pseudonyms under every key of the key ring are
listed, but a key introduced after the erasure makes new pseudonyms the list does not know.

Erasure itself is :mod:`retail_assets.lib.governance.erasure`; this module imports nothing
else from ``lib/governance``, so both erasure and ingestion can build on it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import polars as pl
from filelock import FileLock

from retail_assets.lib.warehouse.lake import Lake, read_parquet_file

#: Folder under the lake root with the suppression list and the erasure log (no tables).
GOVERNANCE_DIR = "governance"
SUPPRESSION_FILE = "suppression.parquet"
SUPPRESSION_SCHEMA = {
    "pseudonym_sha256": pl.Utf8,
    "key_id": pl.Utf8,
    "erased_at": pl.Datetime("us", "UTC"),
    "request_id": pl.Utf8,
}


def pseudonym_digest(pseudonym: str) -> str:
    """SHA-256 (hex) of a pseudonym: how the suppression list and the erasure log name it.

    The pseudonym itself is stored nowhere after an erasure; its digest cannot be turned back
    into it, yet a pseudonym computed again on re-ingestion is recognized by its digest.
    """
    return hashlib.sha256(pseudonym.encode()).hexdigest()


def suppression_path(lake: Lake) -> Path:
    """Where the suppression list is stored."""
    return lake.lake_root / GOVERNANCE_DIR / SUPPRESSION_FILE


def _governance_lock(lake: Lake) -> FileLock:
    folder = lake.lake_root / GOVERNANCE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ".lock"), timeout=max(lake.lock_timeout_s, 30.0))


def read_suppression(lake: Lake) -> pl.DataFrame:
    """The suppression list (:data:`SUPPRESSION_SCHEMA`); empty when nobody was erased."""
    path = suppression_path(lake)
    if not path.exists():
        return pl.DataFrame(schema=SUPPRESSION_SCHEMA)
    return read_parquet_file(path)


def load_suppression(lake: Lake) -> set[str]:
    """The SHA-256 digests (:func:`pseudonym_digest`) of every suppressed pseudonym.

    Pass this set as ``suppressed`` to ``govern_sessions``, ``govern_customers`` and
    ``govern_app_events``.
    """
    return set(read_suppression(lake)["pseudonym_sha256"].to_list())


def append_suppression(
    lake: Lake,
    pseudonyms: Mapping[str, str],
    request_id: str,
    erased_at: dt.datetime | None = None,
) -> int:
    """Add ``{pseudonym: key_id}`` to the suppression list; return how many were new.

    The list is rewritten atomically under a file lock, so concurrent erasures add both
    their entries and a reader sees the old list or the new one. Pseudonyms already listed
    keep their first entry.
    """
    erased_at = erased_at or dt.datetime.now(dt.UTC)
    with _governance_lock(lake):
        current = read_suppression(lake)
        known = set(current["pseudonym_sha256"].to_list())
        rows = {
            pseudonym_digest(p): k
            for p, k in pseudonyms.items()
            if pseudonym_digest(p) not in known
        }
        if not rows:
            return 0
        new = pl.DataFrame(
            {
                "pseudonym_sha256": list(rows),
                "key_id": list(rows.values()),
                "erased_at": [erased_at] * len(rows),
                "request_id": [request_id] * len(rows),
            },
            schema=SUPPRESSION_SCHEMA,
        )
        merged = pl.concat([current.cast(SUPPRESSION_SCHEMA), new])
        with lake._atomic_target(suppression_path(lake)) as tmp:
            merged.write_parquet(tmp, compression="zstd", statistics=True)
    return len(rows)


def suppressed_rows(
    frame: pl.DataFrame,
    columns: Sequence[str],
    pseudonymize: Callable[[str], str],
    suppressed: set[str] | None,
) -> pl.Expr:
    """An expression, true on the rows of ``frame`` that belong to a suppressed person.

    A row is suppressed when the pseudonym (``pseudonymize``) of the raw identifier in any of
    ``columns`` has its digest in ``suppressed`` (:func:`load_suppression`). Each distinct
    identifier is hashed once; without a suppression list nothing is hashed.
    """
    if not suppressed:
        return pl.lit(False)
    expr = pl.lit(False)
    for column in columns:
        if column not in frame.columns:
            continue
        values = frame[column].drop_nulls().unique().to_list()
        hits = [v for v in values if pseudonym_digest(pseudonymize(v)) in suppressed]
        if hits:
            expr = expr | pl.col(column).is_in(hits).fill_null(False)
    return expr
