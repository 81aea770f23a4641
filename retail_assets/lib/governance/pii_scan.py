"""Find personal data where it must not be: catalog tables, JSON artifacts and run logs.

The landing area holds raw contact data by design and is never scanned. Everything a user can
query or a platform receives is: every table of the lake (each one has, or is about to get, a
catalog view), stored SQL views, views of the DuckDB catalog that read outside the lake, JSON
and text artifacts beside the tables (``activation/dsp_payload/*/payload.json``), the delivery
outbox and run logs.

The scan reads Parquet files as tables (:mod:`retail_assets.lib.governance.pii_frames`), JSON
value by value and anything else line by line, each string checked by
:mod:`retail_assets.lib.governance.pii_patterns` against the patterns and the known identifiers
of :mod:`retail_assets.lib.governance.pii_known`.

Entry points: :func:`scan_file` / :func:`scan_files` (Parquet, JSON, text, logs, pickles),
:func:`scan_records` (parsed JSON), :func:`scan_log` (text line by line) and :func:`scan_lake`
(everything but the landing area).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import duckdb
import polars as pl

from retail_assets.lib.governance.pii_frames import scan_frame
from retail_assets.lib.governance.pii_known import KnownIdentifiers, known_identifiers
from retail_assets.lib.governance.pii_patterns import Hit, ScanReport, _aggregate, scan_text
from retail_assets.lib.warehouse.lake import Lake, read_parquet_file

#: Where the scan job writes its reports, under the lake root (skipped by the scan itself).
REPORT_DIR = ("governance", "pii_scan")
#: Files scanned as text beside the tables and in extra folders.
TEXT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".txt", ".md", ".html", ".yaml", ".yml")
LOG_SUFFIXES = (".log", ".out", ".err", ".txt")
#: Binary artifacts (pickled models, whose vocabularies and fitted data may hold text): their
#: printable runs are scanned, as ``strings`` shows them.
BINARY_SUFFIXES = (".pkl", ".pickle", ".joblib")


# ---------------------------------------------------------------------------- files
def _walk_json(value: object, pointer: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            yield child, str(key)
            yield from _walk_json(item, child)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_json(item, f"{pointer}/{i}")
    elif isinstance(value, str):
        yield pointer, value


def scan_records(
    records: Iterable[tuple[str, object]], known: KnownIdentifiers | None = None, path: str = ""
) -> list[Hit]:
    """Scan ``(location, value)`` pairs whose values are parsed JSON (dicts, lists, strings).

    Every string and every key is scanned; a hit's column is the JSON pointer
    (``/line_items/0/creatives/0/landing_url``). One hit per location, pointer and kind.
    """
    found = []
    for location, value in records:
        for pointer, text in _walk_json(value):
            for hit in scan_text(text, known):
                found.append(
                    Hit(**{**asdict(hit), "location": location, "column": pointer, "path": path})
                )
    return _aggregate(found)


def scan_log(
    location: str, text: str, known: KnownIdentifiers | None = None, path: str = ""
) -> tuple[list[Hit], int]:
    """Scan a log (or any text) line by line: hits with their first line, and the line count."""
    found = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        for hit in scan_text(line, known):
            found.append(Hit(**{**asdict(hit), "location": location, "row": number, "path": path}))
    return _aggregate(found), len(lines)


def scan_file(path: str | Path, known: KnownIdentifiers | None = None) -> ScanReport:
    """Scan one file: Parquet as a table, JSON value by value, anything else line by line."""
    path = Path(path)
    report = ScanReport(scanned=[str(path)], known=len(known or ()))
    if path.suffix == ".parquet":
        df = read_parquet_file(path)
        report.rows = df.height
        report.hits = scan_frame(df, path.parent.name, known, location=str(path), path=str(path))
        return report
    if path.suffix in BINARY_SUFFIXES:
        runs = re.findall(rb"[\x20-\x7e]{6,}", path.read_bytes())
        report.hits, report.rows = scan_log(
            str(path), "\n".join(r.decode("ascii") for r in runs), known, path=str(path)
        )
        return report
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".json":
        try:
            parsed = json.loads(text)
        except ValueError:
            pass
        else:
            report.rows = 1
            report.hits = scan_records([(str(path), parsed)], known, path=str(path))
            return report
    report.hits, report.rows = scan_log(str(path), text, known, path=str(path))
    return report


def _files_under(root: Path, suffixes: Sequence[str], skip: Sequence[Path] = ()) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if any(part.startswith(".") for part in rel) or not path.is_file():
            continue
        if any(s == path or s in path.parents for s in skip):
            continue
        if path.suffix.lower() in suffixes:
            out.append(path)
    return out


def scan_files(
    paths: Iterable[str | Path],
    known: KnownIdentifiers | None = None,
    suffixes: Sequence[str] = TEXT_SUFFIXES + LOG_SUFFIXES + BINARY_SUFFIXES + (".parquet",),
) -> ScanReport:
    """Scan files and folders (recursively; hidden files skipped), e.g. run logs or an outbox."""
    report = ScanReport(known=len(known or ()))
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else _files_under(root, suffixes)
        for path in files:
            try:
                report.extend(scan_file(path, known))
            except (OSError, pl.exceptions.PolarsError) as exc:
                report.warnings.append(f"could not read {path}: {exc.__class__.__name__}")
    return report


# ---------------------------------------------------------------------------- the lake
def lake_tables(lake: Lake) -> list[tuple[str, str]]:
    """Every ``(schema, table)`` of the lake with data files or a stored view."""
    tables = []
    if not lake.lake_root.exists():
        return tables
    for schema_dir in sorted(p for p in lake.lake_root.iterdir() if p.is_dir()):
        for table_dir in sorted(p for p in schema_dir.iterdir() if p.is_dir()):
            if re.fullmatch(r"[a-z][a-z0-9_]*", schema_dir.name) and re.fullmatch(
                r"[a-z][a-z0-9_]*", table_dir.name
            ):
                if lake.has_data(schema_dir.name, table_dir.name):
                    tables.append((schema_dir.name, table_dir.name))
    return tables


def scan_lake(
    lake: Lake,
    known: KnownIdentifiers | Iterable[str] | None = None,
    include_payloads: bool = True,
    extra_paths: Iterable[str | Path] = (),
    use_catalog: bool = True,
) -> ScanReport:
    """Scan what users and platforms can see: never the landing area.

    - every partition file of every lake table (each has or will get a catalog view);
    - every stored SQL view (through an in-memory connection, never the catalog file);
    - with ``use_catalog``, every catalog view whose data is not in the lake (a view someone
      pointed at the landing area, say), through a read-only connection;
    - with ``include_payloads``, every JSON, text or pickled artifact under the lake
      (``activation/dsp_payload/*/payload.json``, the model registry), except the scan
      reports themselves;
    - ``extra_paths``: files or folders, e.g. the delivery outbox.

    Args:
        lake: The lake.
        known: Identifiers to look for (see :func:`known_identifiers`).
        include_payloads: Scan JSON and text artifacts beside the tables.
        extra_paths: More files or folders to scan.
        use_catalog: Also scan catalog views that read outside the lake.

    """
    if known is not None and not isinstance(known, KnownIdentifiers):
        known = known_identifiers(known)
    report = ScanReport(known=len(known or ()))
    tables = lake_tables(lake)
    for schema, table in tables:
        name = f"{schema}.{table}"
        files = lake.partition_files(schema, table)
        for path in files:
            try:
                df = read_parquet_file(path)
            except (OSError, pl.exceptions.PolarsError) as exc:
                report.warnings.append(f"could not read {path}: {exc.__class__.__name__}")
                continue
            part = path.parent.name if path.parent.name.startswith("date=") else ""
            location = f"{name} {part}".strip()
            report.scanned.append(location)
            report.rows += df.height
            report.hits += scan_frame(df, name, known, location=location, path=str(path))
        if not files and lake.view_definition(schema, table) is not None:
            try:
                with lake.compute_connection([(schema, table)]) as con:
                    df = con.execute(f'SELECT * FROM "{schema}"."{table}"').pl()
            except (LookupError, duckdb.Error) as exc:
                report.warnings.append(f"view {name} could not be read: {exc}")
                continue
            report.scanned.append(f"{name} (view)")
            report.rows += df.height
            report.hits += scan_frame(df, name, known, location=f"{name} (view)")
    if use_catalog:
        _scan_foreign_catalog_views(lake, {f"{s}.{t}" for s, t in tables}, known, report)
    if include_payloads:
        skip = [lake.lake_root.joinpath(*REPORT_DIR)]
        # Stored views' view.json too: a literal in a view's SQL is published with it.
        artifacts = _files_under(lake.lake_root, TEXT_SUFFIXES + BINARY_SUFFIXES, skip)
        report.extend(scan_files(artifacts, known))
    if extra_paths:
        report.extend(scan_files(extra_paths, known))
    return report


def _scan_foreign_catalog_views(
    lake: Lake, in_lake: set[str], known: KnownIdentifiers | None, report: ScanReport
) -> None:
    """Catalog views whose table is not in the lake: read them through the catalog itself."""
    try:
        views = lake.catalog_views()
    except duckdb.Error as exc:
        report.warnings.append(
            f"catalog {lake.warehouse_path} could not be opened read-only "
            f"({exc.__class__.__name__}); its views over lake tables were scanned as files"
        )
        return
    foreign = sorted(views - in_lake)
    if not foreign:
        return
    try:
        with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
            for name in foreign:
                schema, table = name.split(".", 1)
                try:
                    df = con.execute(f'SELECT * FROM "{schema}"."{table}"').pl()
                except duckdb.Error as exc:
                    report.warnings.append(f"catalog view {name} could not be read: {exc}")
                    continue
                location = f"{name} (catalog view outside the lake)"
                report.scanned.append(location)
                report.rows += df.height
                report.hits += scan_frame(df, name, known, location=location)
    except duckdb.Error as exc:
        report.warnings.append(f"catalog views outside the lake not scanned: {exc}")
