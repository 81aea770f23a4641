"""Erasure of a data subject (GDPR Art. 17): their rows removed everywhere, and the erasure log.

No Dagster here: ``retail_assets.defs.governance.erasure`` wraps it in the ``erasure`` job.

**What erasure removes.** :func:`erase` reads every Parquet file under the lake root and the
landing root (every table and partition, including a staged write left by a crashed run)
and rewrites each file that holds a row of the person without those rows, atomically (a
temporary file renamed into place, as ``Lake.write_partition`` does); a file without such a
row is not touched, byte for byte. A row is the person's when any of its strings, nested
ones included, contains one of their pseudonyms (64 hex digits, so a substring match cannot
hit another person), or when one of the raw identifier columns (:data:`RAW_ID_COLUMNS`)
equals one of their raw identifiers. Searching every string rather than only the columns
marked ``{"pii": "pseudonymous_id"}`` in ``lib/warehouse/schemas/`` also covers the SQL models,
whose column contracts cannot carry that marker, and pseudonyms renamed by a model
(``session_key AS order_id``).

Every other file (JSON payloads, the model registry's pickles and metadata under
``<lake>/models``, view definitions, the DSP outbox, files users dropped in the landing inbox)
is scanned for the pseudonyms and raw identifiers, as UTF-8, UTF-16 and UTF-32 (the
encodings a pickle or a numpy array may use). Those files hold no identifiers by design (the
registry keeps fitted models and metrics; the scores are the ``ml`` tables, erased above), so
a hit cannot be repaired here: it is reported in :attr:`ErasureReport.unresolved` and the
job fails, for an operator to act on.

The DuckDB catalog holds views only, which read the Parquet files, so it holds none of the
person's data; :func:`erase` checks that it has no base tables and refreshes its views. If
someone created a table in it, the matching rows are deleted and, since DELETE + CHECKPOINT
frees the blocks but leaves their bytes in the file, the catalog is copied to a fresh file
that replaces it.

**The record.** Each erasure appends one JSON line to ``<lake>/governance/erasure_log.jsonl``:
request id, time, the number of pseudonyms and their SHA-256 digests
(:func:`pseudonym_digest`), rows removed and files rewritten per table. Never a raw
identifier, never a pseudonym: after an erasure the pseudonym's bytes appear in no file.

The suppression list is :mod:`retail_assets.lib.governance.suppression`, the search for the
person's identifiers :mod:`retail_assets.lib.governance.subject` and the TTL on raw data
:mod:`retail_assets.lib.governance.retention`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from retail_assets.lib.governance.suppression import (
    GOVERNANCE_DIR,
    _governance_lock,
    pseudonym_digest,
)
from retail_assets.lib.warehouse.lake import DATA_FILE, Lake, read_parquet_file

ERASURE_LOG_FILE = "erasure_log.jsonl"
#: The column of a quarantine table (``<landing>/quarantine/``) holding a row's values as JSON.
QUARANTINE_RECORD = "record"
#: Columns of raw (landing) tables that hold a raw identifier of a person.
RAW_ID_COLUMNS = ("customer_id", "user_id", "user_pseudo_id", "email", "session_id")
#: Pseudonym columns of tables whose values belong to one person only (not a shared device),
#: so the rows they appear in link more of the person's pseudonyms (:func:`linked_pseudonyms`).
LINKED_COLUMNS = ("session_key",)
#: Pseudonym columns by name, for tables whose contract cannot mark them (SQL models).
PSEUDONYM_COLUMNS = ("customer_key", "user_key", "session_key")
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
#: Encodings a string may be stored in by a file that is not Parquet (pickle, numpy, JSON).
_ENCODINGS = ("utf-8", "utf-16-le", "utf-32-le")


@dataclass
class TableErasure:
    """What erasure did to one table (``schema.table``; ``landing:`` for the landing area)."""

    table: str
    files_scanned: int = 0
    files_rewritten: int = 0
    rows_removed: int = 0


@dataclass
class ErasureReport:
    """The outcome of :func:`erase`: counts only, never an identifier or a pseudonym."""

    request_id: str
    erased_at: str
    pseudonym_count: int
    pseudonym_sha256: list[str]
    raw_identifier_count: int
    tables: dict[str, TableErasure]
    artifacts_scanned: int = 0
    #: Files (relative to their root) that still hold an identifier and could not be rewritten.
    unresolved: list[str] = field(default_factory=list)
    catalog_tables: int = 0
    catalog_rows_removed: int = 0
    catalog_views: dict[str, int] = field(default_factory=dict)

    @property
    def rows_removed(self) -> int:
        """Rows removed from every table."""
        return sum(t.rows_removed for t in self.tables.values()) + self.catalog_rows_removed

    @property
    def files_rewritten(self) -> int:
        """Partition files rewritten without the person's rows."""
        return sum(t.files_rewritten for t in self.tables.values())

    def to_record(self) -> dict:
        """The erasure log line (JSON-ready)."""
        return {
            "request_id": self.request_id,
            "erased_at": self.erased_at,
            "pseudonym_count": self.pseudonym_count,
            "pseudonym_sha256": self.pseudonym_sha256,
            "raw_identifier_count": self.raw_identifier_count,
            "rows_removed": self.rows_removed,
            "files_rewritten": self.files_rewritten,
            "tables": {
                name: {
                    "rows_removed": t.rows_removed,
                    "files_rewritten": t.files_rewritten,
                    "files_scanned": t.files_scanned,
                }
                for name, t in sorted(self.tables.items())
            },
            "artifacts_scanned": self.artifacts_scanned,
            "unresolved": self.unresolved,
            "catalog_tables": self.catalog_tables,
            "catalog_rows_removed": self.catalog_rows_removed,
            "catalog_views": self.catalog_views,
        }


def erasure_log_path(lake: Lake) -> Path:
    """Where the append-only erasure log is."""
    return lake.lake_root / GOVERNANCE_DIR / ERASURE_LOG_FILE


def read_erasure_log(lake: Lake) -> list[dict]:
    """Every record of the erasure log, oldest first."""
    path = erasure_log_path(lake)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _contains_any(expr: pl.Expr, dtype: pl.DataType, needles: list[str]) -> pl.Expr | None:
    """True where a string in ``expr`` (of ``dtype``, nested or not) contains a needle."""
    if dtype == pl.String:
        return expr.str.contains_any(needles).fill_null(False)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return expr.cast(pl.String).str.contains_any(needles).fill_null(False)
    if isinstance(dtype, pl.Struct):
        parts = [_contains_any(expr.struct.field(f.name), f.dtype, needles) for f in dtype.fields]
        parts = [p for p in parts if p is not None]
        return pl.any_horizontal(parts).fill_null(False) if parts else None
    if isinstance(dtype, pl.List | pl.Array):
        inner = _contains_any(pl.element(), dtype.inner, needles)
        if inner is None:
            return None
        as_list = expr if isinstance(dtype, pl.List) else expr.cast(pl.List(dtype.inner))
        return as_list.list.eval(inner).list.any().fill_null(False)
    return None


def row_matches(
    schema: Mapping[str, pl.DataType], pseudonyms: Iterable[str], raw_ids: Iterable[str] = ()
) -> pl.Expr:
    """An expression true on the rows of a person: see the module docstring."""
    needles = sorted(set(pseudonyms))
    raw = sorted(set(raw_ids))
    lowered = sorted({r.strip().lower() for r in raw if "@" in r})
    parts: list[pl.Expr] = []
    for name, dtype in schema.items():
        if needles:
            found = _contains_any(pl.col(name), dtype, needles)
            if found is not None:
                parts.append(found)
        if raw and name in RAW_ID_COLUMNS and dtype == pl.String:
            parts.append(pl.col(name).is_in(raw).fill_null(False))
            if lowered:
                normalized = pl.col(name).str.strip_chars().str.to_lowercase()
                parts.append(normalized.is_in(lowered).fill_null(False))
        if raw and name == QUARANTINE_RECORD and dtype == pl.String:
            # A quarantined row keeps the file's values as JSON: an identifier is one of them.
            for value in raw:
                pattern = ":" + re.escape(json.dumps(value)) + "[,}]"
                parts.append(pl.col(name).str.contains(pattern).fill_null(False))
    return pl.any_horizontal(parts) if parts else pl.lit(False)


def _table_name(root: Path, path: Path, landing: bool) -> str:
    parts = [p for p in path.relative_to(root).parent.parts if not _DATE_DIR.match(p)]
    name = ".".join(parts) or path.stem
    if path.name != DATA_FILE:
        name = f"{name}/{path.name}"
    return f"landing:{name}" if landing else name


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _walk(root: Path) -> Iterator[Path]:
    if root.exists():
        for dirpath, _dirs, files in os.walk(root):
            for name in sorted(files):
                yield Path(dirpath) / name


def _stat_key(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


class _Changed(Exception):
    """The file was replaced by another writer while it was being erased."""


def _erase_file(
    lake: Lake, path: Path, pseudonyms: set[str], raw_ids: set[str]
) -> tuple[int, bool]:
    """Remove the person's rows from one Parquet file: ``(rows removed, rewritten)``.

    The file is replaced only when it has such a row, and only if nobody replaced it since it
    was read (otherwise it is read again), so a concurrent writer's newer file is not lost.
    """
    for _attempt in range(5):
        before = _stat_key(path)
        frame = read_parquet_file(path)
        mask = row_matches(frame.schema, pseudonyms, raw_ids)
        hits = int(frame.select(mask.sum()).item() or 0)
        if hits == 0:
            return 0, False
        kept = frame.filter(~mask)
        try:
            with lake._atomic_target(path) as tmp:
                kept.write_parquet(tmp, compression="zstd", statistics=True)
                if _stat_key(path) != before:
                    raise _Changed
        except _Changed:
            continue
        return hits, True
    raise OSError(f"{path} kept changing while it was being erased: stop other runs and retry")


def _needles(values: Iterable[str]) -> list[bytes]:
    return [v.encode(enc) for v in values for enc in _ENCODINGS]


def _scan_bytes(path: Path, needles: list[bytes]) -> bool:
    """True when the file's bytes contain any needle (read in overlapping chunks)."""
    if not needles:
        return False
    overlap = max(len(n) for n in needles)
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            block = tail + chunk
            if any(n in block for n in needles):
                return True
            tail = block[-overlap:]
    return False


def linked_pseudonyms(lake: Lake, pseudonyms: set[str]) -> set[str]:
    """Pseudonyms that only the person's rows carry (:data:`LINKED_COLUMNS`), found in the lake.

    E.g. the ``session_key`` of each of their app sessions, from ``governed.app_events``
    rows with their ``customer_key``: a table that kept the session key but not the customer
    key still holds their data. Shared identifiers (a device's ``user_key``) are not followed.
    """
    found: set[str] = set()
    needles = sorted(pseudonyms)
    for path in _walk(lake.lake_root):
        if path.suffix != ".parquet" or _hidden(path, lake.lake_root):
            continue
        schema = pl.read_parquet_schema(path)
        linked = [c for c in LINKED_COLUMNS if schema.get(c) == pl.String]
        keys = [c for c in PSEUDONYM_COLUMNS if schema.get(c) == pl.String and c not in linked]
        if not linked or not keys:
            continue
        frame = read_parquet_file(path, [*linked, *keys])
        mine = frame.filter(pl.any_horizontal(pl.col(k).is_in(needles) for k in keys))
        for column in linked:
            found |= set(mine[column].drop_nulls().to_list())
    return found - pseudonyms


def _catalog_cleanup(lake: Lake, pseudonyms: set[str], report: ErasureReport) -> None:
    """Delete the person's rows from any base table in the catalog, and rebuild the file.

    The catalog is meant to hold views only; this is the safety net if someone created a
    table in it. Views need nothing: they read the (rewritten) Parquet files. A DELETE and
    CHECKPOINT free the rows' blocks but leave their bytes in the file, so after deleting, the
    catalog is copied into a new file (``COPY FROM DATABASE``) that replaces it.

    Raises:
        OSError: Another process holds the catalog; the erasure can simply be run again.

    """
    if not lake.warehouse_path.exists():
        return
    try:
        with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
            tables = con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal"
            ).fetchall()
    except duckdb.Error as exc:
        raise OSError(
            f"cannot check the catalog {lake.warehouse_path} for tables ({exc}); the lake is "
            "erased already: run the erasure again when no other process holds the catalog"
        ) from None
    report.catalog_tables = len(tables)
    if not tables or not pseudonyms:
        return
    # Pseudonyms are hex digits: safe in a regular expression as they are.
    pattern = "|".join(sorted(pseudonyms))
    fresh = lake.warehouse_path.with_name(f".{lake.warehouse_path.name}.{uuid.uuid4().hex}.tmp")
    with lake._lock():
        with duckdb.connect(str(lake.warehouse_path)) as con:
            for schema, table in tables:
                columns = con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND "
                    "table_name = ? AND data_type = 'VARCHAR'",
                    [schema, table],
                ).fetchall()
                if not columns:
                    continue
                cond = " OR ".join(f"regexp_matches(coalesce(\"{c}\", ''), ?)" for (c,) in columns)
                params = [pattern] * len(columns)
                name = f'"{schema}"."{table}"'
                hits = con.execute(f"SELECT count(*) FROM {name} WHERE {cond}", params).fetchone()
                if hits[0]:
                    con.execute(f"DELETE FROM {name} WHERE {cond}", params)
                    report.catalog_rows_removed += hits[0]
            con.execute("CHECKPOINT")
            if report.catalog_rows_removed:
                current = con.execute("SELECT current_database()").fetchone()[0]
                con.execute(f"ATTACH '{str(fresh).replace(chr(39), chr(39) * 2)}' AS __fresh")
                con.execute(f'COPY FROM DATABASE "{current}" TO __fresh')
                con.execute("DETACH __fresh")
        if report.catalog_rows_removed:
            try:
                with open(fresh, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(fresh, lake.warehouse_path)
            finally:
                for leftover in (fresh, Path(f"{fresh}.wal")):
                    leftover.unlink(missing_ok=True)


def erase(
    lake: Lake,
    pseudonyms: set[str],
    identifiers_raw: set[str],
    *,
    request_id: str | None = None,
    extra_roots: Sequence[str | Path] = (),
    link: bool = True,
    log: bool = True,
) -> ErasureReport:
    """Remove every row of a person from the lake and the landing area, and record it.

    ``pseudonyms`` are the person's pseudonyms under every key (:func:`resolve_subject`);
    ``identifiers_raw`` their raw identifiers, matched in the landing area's identifier
    columns (:data:`RAW_ID_COLUMNS`). With ``link``, the person's session keys found in the
    lake (:func:`linked_pseudonyms`) go too. Files that are not Parquet, under the two roots,
    ``extra_roots`` (the DSP outbox, say) and the catalog file, are scanned:
    any hit is listed in :attr:`ErasureReport.unresolved`. The catalog's views are refreshed
    and, with ``log``, a record is appended to the erasure log. Running it again finds
    nothing more to remove: it is safe to retry.
    """
    pseudonyms = {p for p in pseudonyms if p}
    raw_ids = {r for r in identifiers_raw if r}
    if link and pseudonyms:
        pseudonyms |= linked_pseudonyms(lake, pseudonyms)
    report = ErasureReport(
        request_id=request_id or str(uuid.uuid4()),
        erased_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        pseudonym_count=len(pseudonyms),
        pseudonym_sha256=sorted(pseudonym_digest(p) for p in pseudonyms),
        raw_identifier_count=len(raw_ids),
        tables={},
    )
    byte_needles = _needles([*pseudonyms, *raw_ids])
    roots = [(lake.lake_root, False), (lake.landing_root, True)]
    for root, landing in roots:
        for path in _walk(root):
            if path.suffix != ".parquet":
                report.artifacts_scanned += 1
                if _scan_bytes(path, byte_needles):
                    report.unresolved.append(str(path))
                continue
            if _hidden(path, root):
                # A staged write in progress, or left behind by a crashed run: cleaned if it
                # can be read, reported if not.
                try:
                    _erase_file(lake, path, pseudonyms, raw_ids)
                except (OSError, pl.exceptions.PolarsError):
                    if path.exists():
                        report.unresolved.append(str(path))
                continue
            name = _table_name(root, path, landing)
            entry = report.tables.setdefault(name, TableErasure(name))
            entry.files_scanned += 1
            removed, rewritten = _erase_file(lake, path, pseudonyms, raw_ids)
            entry.rows_removed += removed
            entry.files_rewritten += int(rewritten)
    _catalog_cleanup(lake, pseudonyms, report)
    views: dict[str, int] = {}
    for result in lake.refresh_catalog():
        views[result.status] = views.get(result.status, 0) + 1
    report.catalog_views = views
    for extra in [*extra_roots, lake.warehouse_path, Path(f"{lake.warehouse_path}.wal")]:
        extra = Path(extra)
        for path in [extra] if extra.is_file() else _walk(extra):
            report.artifacts_scanned += 1
            if _scan_bytes(path, byte_needles):
                report.unresolved.append(str(path))
    if log:
        append_erasure_log(lake, report)
    return report


def append_erasure_log(lake: Lake, report: ErasureReport) -> Path:
    """Append the report's record to the erasure log (one JSON line, flushed to disk)."""
    path = erasure_log_path(lake)
    line = json.dumps(report.to_record(), sort_keys=True) + "\n"
    with _governance_lock(lake), open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return path
