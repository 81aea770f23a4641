"""Rotation of the pseudonymization key: stored pseudonyms moved to the new key, no Dagster.

``retail_assets.defs.governance.rotation`` wraps :func:`rotate` in the ``key_rotation`` job.

**Why.** A pseudonym is the HMAC of a raw identifier under one key
(``lib/governance/pseudonyms.py``). Once the operator sets a new
``RETAIL_PSEUDONYMIZATION_KEY`` and ``RETAIL_KEY_ID``, new partitions carry new pseudonyms, and
old partitions no longer join them. :func:`rotate` translates every stored pseudonym made under
a key of ``RETAIL_PREVIOUS_KEYS`` to the current key, so old and new partitions join again.

**How.** The raw identifiers still in the landing area (``raw/customers``: ``customer_id``,
``user_pseudo_id``; ``raw/sessions``: ``user_id``, ``user_pseudo_id``; ``raw/app_events``:
``user_id``, ``session_id``) give :meth:`KeyRing.rekey_map`: old pseudonym to new pseudonym,
per previous key. Then every Parquet file under the lake root (not the landing area, not the
model registry under ``<lake>/models``, not hidden staged writes) is read, and its pseudonym
columns are translated: ``customer_key``, ``user_key``, ``session_key`` and any other string
column holding an old pseudonym of the map (a SQL model may rename a key). A file that
changes is rewritten atomically (a temporary file renamed into place, checking that no other
writer replaced it meanwhile); every other file is left byte for byte.

* In a table with a ``key_id`` column (the governed tables), a row under a previous key is
  translated only when each of its pseudonyms is in the map under that row's key; it then
  gets the current ``key_id``. A row with a pseudonym that cannot be translated (its raw
  identifier is gone: past raw retention, or erased) keeps its old pseudonyms and its old
  ``key_id``, and is counted in :attr:`TableRotation.untranslated_rows`. Nothing is hidden:
  the job logs these counts as warnings.
* In a table without ``key_id`` (features, SQL models), each old pseudonym in the map is
  replaced by its new one. A 64-hex value of ``customer_key``/``user_key``/``session_key``
  that is in neither the old nor the new pseudonyms of the map cannot be placed under a key
  (its raw identifier is gone) and is counted in :attr:`TableRotation.unknown_pseudonyms`.
* The suppression list (``<lake>/governance/suppression.parquet``) stores digests of
  pseudonyms: for every map entry whose old pseudonym's digest is listed, the digest of the
  new pseudonym is appended (same erasure time and request id), so that erased people stay
  suppressed under the new key. Listed old-key digests found in no map entry are counted as
  untranslated: if such a person's raw rows ever reappear, the new key will not recognize
  them.

Running :func:`rotate` again changes nothing: translated rows carry the current key, and
digests already listed are not appended twice. Stop the daily runs while it runs: a run that
read old partitions before the rotation could write a mix after it.

Keys, pseudonyms and raw identifiers never appear in :class:`RotationReport`: counts only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from retail_assets.lib.governance.erasure import (
    PSEUDONYM_COLUMNS,
    _hidden,
    _stat_key,
    _table_name,
    _walk,
)
from retail_assets.lib.governance.pseudonyms import KeyRing
from retail_assets.lib.governance.suppression import (
    GOVERNANCE_DIR,
    SUPPRESSION_FILE,
    SUPPRESSION_SCHEMA,
    _governance_lock,
    pseudonym_digest,
    read_suppression,
    suppression_path,
)
from retail_assets.lib.warehouse.lake import Lake, read_parquet_file

log = logging.getLogger(__name__)

#: Landing tables and the columns of raw identifiers whose pseudonyms are stored in the lake.
RAW_IDENTIFIER_SOURCES = {
    "customers": ("customer_id", "user_pseudo_id"),
    "sessions": ("user_id", "user_pseudo_id"),
    "app_events": ("user_id", "session_id"),
}
#: Folders directly under the lake root that hold no tables to rotate.
SKIPPED_DIRS = ("models",)
#: Column naming the key of a row's pseudonyms.
KEY_ID_COLUMN = "key_id"
#: How :func:`_table_name` names the suppression list.
SUPPRESSION_TABLE = f"{GOVERNANCE_DIR}/{SUPPRESSION_FILE}"
_HEX64 = r"^[0-9a-f]{64}$"


@dataclass
class TableRotation:
    """What the rotation did to one table (``schema.table``): counts only."""

    table: str
    files_scanned: int = 0
    files_rewritten: int = 0
    #: Rows whose pseudonyms were moved to the current key (suppression: digests appended).
    rows_translated: int = 0
    #: Rows (suppression entries) under a previous key left under it: a raw id is gone.
    untranslated_rows: int = 0
    #: Distinct previous-key pseudonyms of those rows (not in the rekey map).
    untranslated_pseudonyms: int = 0
    #: Distinct pseudonyms of a table without key_id that no key of the map explains.
    unknown_pseudonyms: int = 0


@dataclass
class RotationReport:
    """The outcome of :func:`rotate`: counts only, never a key, pseudonym or raw id."""

    key_id: str
    previous_key_ids: list[str]
    dry_run: bool
    #: Distinct raw identifiers read from the landing area.
    raw_identifiers: int = 0
    #: Rows of the rekey map (previous keys x raw identifiers).
    map_rows: int = 0
    tables: dict[str, TableRotation] = field(default_factory=dict)
    #: Hidden files (staged writes in progress or left by a crash), not rotated.
    skipped_files: int = 0
    catalog_views: dict[str, int] = field(default_factory=dict)

    @property
    def rows_translated(self) -> int:
        """Rows moved to the current key, in every table."""
        return sum(t.rows_translated for t in self.tables.values())

    @property
    def files_rewritten(self) -> int:
        """Files rewritten (or, in a dry run, that would be)."""
        return sum(t.files_rewritten for t in self.tables.values())

    @property
    def untranslated_rows(self) -> int:
        """Rows left under a previous key because a raw identifier is gone."""
        return sum(t.untranslated_rows for t in self.tables.values())

    @property
    def unknown_pseudonyms(self) -> int:
        """Pseudonyms of tables without key_id that no key explains (summed per table)."""
        return sum(t.unknown_pseudonyms for t in self.tables.values())

    def incomplete(self) -> dict[str, dict[str, int]]:
        """Per table with something left untranslated or unknown, its counts."""
        return {
            name: {
                "untranslated_rows": t.untranslated_rows,
                "untranslated_pseudonyms": t.untranslated_pseudonyms,
                "unknown_pseudonyms": t.unknown_pseudonyms,
            }
            for name, t in sorted(self.tables.items())
            if t.untranslated_rows or t.untranslated_pseudonyms or t.unknown_pseudonyms
        }

    def to_record(self) -> dict:
        """The report as JSON-ready counts."""
        return {
            "key_id": self.key_id,
            "previous_key_ids": self.previous_key_ids,
            "dry_run": self.dry_run,
            "raw_identifiers": self.raw_identifiers,
            "map_rows": self.map_rows,
            "rows_translated": self.rows_translated,
            "files_rewritten": self.files_rewritten,
            "untranslated_rows": self.untranslated_rows,
            "unknown_pseudonyms": self.unknown_pseudonyms,
            "skipped_files": self.skipped_files,
            "catalog_views": self.catalog_views,
            "tables": {
                name: {
                    "files_scanned": t.files_scanned,
                    "files_rewritten": t.files_rewritten,
                    "rows_translated": t.rows_translated,
                    "untranslated_rows": t.untranslated_rows,
                    "untranslated_pseudonyms": t.untranslated_pseudonyms,
                    "unknown_pseudonyms": t.unknown_pseudonyms,
                }
                for name, t in sorted(self.tables.items())
            },
        }


def raw_identifiers(lake: Lake) -> pl.Series:
    """Every distinct raw identifier of :data:`RAW_IDENTIFIER_SOURCES` in the landing area."""
    parts: list[pl.Series] = []
    for table, columns in RAW_IDENTIFIER_SOURCES.items():
        if not lake.partition_files("raw", table, landing=True):
            continue
        frame = lake.read("raw", table, None, landing=True, columns=list(columns))
        parts.extend(frame[c].cast(pl.Utf8) for c in columns if c in frame.columns)
    if not parts:
        return pl.Series("identifier", [], dtype=pl.Utf8)
    return pl.concat([p.alias("identifier") for p in parts]).drop_nulls().unique()


@dataclass(frozen=True)
class _Lookup:
    """The rekey map as series for polars' ``replace`` and ``is_in``."""

    old: pl.Series
    new: pl.Series
    old_key_id: pl.Series
    new_set: pl.Series

    @classmethod
    def of(cls, rekey_map: pl.DataFrame) -> _Lookup:
        # HMACs under distinct keys do not collide: one old pseudonym, one row.
        unique = rekey_map.unique("old_pseudonym", keep="first", maintain_order=True)
        return cls(
            old=unique["old_pseudonym"],
            new=unique["new_pseudonym"],
            old_key_id=unique["old_key_id"],
            new_set=rekey_map["new_pseudonym"].unique(),
        )

    def translated(self, column: str) -> pl.Expr:
        """``column`` with each old pseudonym replaced by its new one, others unchanged."""
        return pl.col(column).replace(self.old, self.new)

    def key_of(self, column: str) -> pl.Expr:
        """The previous key id that made ``column``'s pseudonym, or null when not in the map."""
        return pl.col(column).replace_strict(self.old, self.old_key_id, default=None)


def _pseudonym_columns(frame: pl.DataFrame, lookup: _Lookup) -> tuple[list[str], list[str]]:
    """``(known, generic)`` pseudonym columns: by name, and other strings holding old ones."""
    strings = [c for c, t in frame.schema.items() if t == pl.String and c != KEY_ID_COLUMN]
    known = [c for c in PSEUDONYM_COLUMNS if c in strings]
    generic = [c for c in strings if c not in known and bool(frame[c].is_in(lookup.old).any())]
    return known, generic


def rotate_frame(
    frame: pl.DataFrame, lookup: _Lookup, key_id: str, entry: TableRotation
) -> pl.DataFrame | None:
    """``frame`` with its old pseudonyms under ``key_id``, or None when nothing changes.

    Adds the counts to ``entry``; see the module docstring for the rules.
    """
    known, generic = _pseudonym_columns(frame, lookup)
    columns = [*known, *generic]
    if not columns:
        return None
    if frame.schema.get(KEY_ID_COLUMN) == pl.String:
        kid = pl.col(KEY_ID_COLUMN)
        stale = kid.ne_missing(pl.lit(key_id))
        # Each pseudonym must be in the map under the row's own key; other strings of a
        # generic column (not pseudonyms) are left as they are.
        fits = [pl.col(c).is_null() | lookup.key_of(c).eq_missing(kid) for c in known]
        ok = stale & pl.all_horizontal(fits) if fits else stale
        tagged = frame.with_columns(ok.alias("_ok"), stale.alias("_stale"))
        left = tagged.filter(pl.col("_stale") & ~pl.col("_ok"))
        translated = int(tagged["_ok"].sum())
        entry.untranslated_rows += left.height
        if left.height:
            missing: set[str] = set()
            for c in known:
                bad = left.filter(pl.col(c).is_not_null() & lookup.key_of(c).ne_missing(kid))
                missing |= set(bad[c].to_list())
            entry.untranslated_pseudonyms += len(missing)
        if not translated:
            return None
        out = tagged.with_columns(
            *(
                pl.when(pl.col("_ok")).then(lookup.translated(c)).otherwise(pl.col(c)).alias(c)
                for c in columns
            ),
            pl.when(pl.col("_ok")).then(pl.lit(key_id)).otherwise(kid).alias(KEY_ID_COLUMN),
        ).drop("_ok", "_stale")
    else:
        hit = pl.any_horizontal(pl.col(c).is_in(lookup.old).fill_null(False) for c in columns)
        translated = int(frame.select(hit.sum()).item() or 0)
        unknown: set[str] = set()
        for c in known:
            values = frame[c].drop_nulls().unique()
            values = values.filter(
                values.str.contains(_HEX64)
                & ~values.is_in(lookup.old)
                & ~values.is_in(lookup.new_set)
            )
            unknown |= set(values.to_list())
        entry.unknown_pseudonyms += len(unknown)
        if not translated:
            return None
        out = frame.with_columns(lookup.translated(c).alias(c) for c in columns)
    entry.rows_translated += translated
    return out


class _Changed(Exception):
    """The file was replaced by another writer while it was being rotated."""


def _rotate_file(
    lake: Lake, path: Path, lookup: _Lookup, key_id: str, entry: TableRotation, dry_run: bool
) -> None:
    """Rotate one Parquet file, rewriting it only when a pseudonym changes."""
    for _attempt in range(5):
        before = _stat_key(path)
        counts = TableRotation(entry.table)
        rotated = rotate_frame(read_parquet_file(path), lookup, key_id, counts)
        if rotated is not None and not dry_run:
            try:
                with lake._atomic_target(path) as tmp:
                    rotated.write_parquet(tmp, compression="zstd", statistics=True)
                    if _stat_key(path) != before:
                        raise _Changed
            except _Changed:
                continue
        entry.files_rewritten += int(rotated is not None)
        entry.rows_translated += counts.rows_translated
        entry.untranslated_rows += counts.untranslated_rows
        entry.untranslated_pseudonyms += counts.untranslated_pseudonyms
        entry.unknown_pseudonyms += counts.unknown_pseudonyms
        return
    raise OSError(f"{path} kept changing while it was being rotated: stop other runs and retry")


def _rotate_suppression(
    lake: Lake, rekey_map: pl.DataFrame, key_id: str, entry: TableRotation, dry_run: bool
) -> None:
    """Append the digest of the new pseudonym of every listed old one (under the lock)."""
    with _governance_lock(lake):
        current = read_suppression(lake).cast(SUPPRESSION_SCHEMA)
        listed = set(current["pseudonym_sha256"].to_list())
        stale = current.filter(pl.col("key_id").ne_missing(key_id))
        if stale.is_empty():
            return
        digests = rekey_map.select(
            pl.col("old_pseudonym")
            .map_elements(pseudonym_digest, return_dtype=pl.Utf8)
            .alias("pseudonym_sha256"),
            pl.col("new_pseudonym")
            .map_elements(pseudonym_digest, return_dtype=pl.Utf8)
            .alias("_new"),
        ).unique()
        matched = stale.join(digests, on="pseudonym_sha256", how="inner")
        unmatched = stale.filter(~pl.col("pseudonym_sha256").is_in(digests["pseudonym_sha256"]))
        entry.untranslated_rows += unmatched.height
        entry.untranslated_pseudonyms += unmatched["pseudonym_sha256"].n_unique()
        new = (
            matched.filter(~pl.col("_new").is_in(list(listed)))
            .unique("_new", keep="first", maintain_order=True)
            .select(
                pl.col("_new").alias("pseudonym_sha256"),
                pl.lit(key_id).alias("key_id"),
                "erased_at",
                "request_id",
            )
            .cast(SUPPRESSION_SCHEMA)
        )
        entry.rows_translated += new.height
        if new.is_empty():
            return
        entry.files_rewritten += 1
        if not dry_run:
            with lake._atomic_target(suppression_path(lake)) as tmp:
                pl.concat([current, new]).write_parquet(tmp, compression="zstd", statistics=True)


def _files(lake: Lake) -> Iterable[tuple[Path, bool]]:
    """``(path, hidden)`` of every Parquet file of the lake but the skipped folders."""
    root = lake.lake_root
    for path in _walk(root):
        if path.suffix != ".parquet":
            continue
        if path.relative_to(root).parts[0] in SKIPPED_DIRS:
            continue
        yield path, _hidden(path, root)


def rotate(lake: Lake, ring: KeyRing, *, dry_run: bool = False) -> RotationReport:
    """Move every stored pseudonym made under a previous key of ``ring`` to its current key.

    See the module docstring. With ``dry_run`` nothing is written and the report says what
    would change. The catalog views are refreshed when a file was rewritten.

    Returns:
        The counts per table; rows that could not be translated are in
        :meth:`RotationReport.incomplete`.

    """
    report = RotationReport(
        key_id=ring.key_id,
        previous_key_ids=[p.key_id for p in ring.previous],
        dry_run=dry_run,
    )
    if not ring.previous:
        log.info("no previous key in the key ring: nothing to rotate")
        return report
    identifiers = raw_identifiers(lake)
    rekey_map = ring.rekey_map(identifiers)
    report.raw_identifiers = identifiers.len()
    report.map_rows = rekey_map.height
    lookup = _Lookup.of(rekey_map)
    for path, hidden in _files(lake):
        if hidden:
            report.skipped_files += 1
            continue
        name = _table_name(lake.lake_root, path, False)
        entry = report.tables.setdefault(name, TableRotation(name))
        entry.files_scanned += 1
        if name == SUPPRESSION_TABLE:
            _rotate_suppression(lake, rekey_map, ring.key_id, entry, dry_run)
        else:
            _rotate_file(lake, path, lookup, ring.key_id, entry, dry_run)
    if report.files_rewritten and not dry_run:
        for result in lake.refresh_catalog():
            report.catalog_views[result.status] = report.catalog_views.get(result.status, 0) + 1
    verb = "would translate" if dry_run else "translated"
    log.info(
        "key rotation to %s: %s %d row(s) in %d file(s)",
        ring.key_id,
        verb,
        report.rows_translated,
        report.files_rewritten,
    )
    for name, counts in report.incomplete().items():
        log.warning("key rotation: %s left partly under a previous key: %s", name, counts)
    return report
