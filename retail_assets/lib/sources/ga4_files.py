"""GA4 BigQuery export files: read one file or a day's files into ``raw.sessions``, and write one.

Newline-delimited JSON as BigQuery's export job writes it (``.json``, ``.jsonl`` or
``.ndjson``, each optionally gzipped), or Parquet with the export's nested schema, read into
exactly the columns and dtypes of :data:`retail_assets.lib.sources.ga4.EXPORT_SCHEMA`
(conformed and checked by :mod:`retail_assets.lib.sources.ga4_conform`). Export files are named
``events_YYYYMMDD*``; :func:`read_ga4_day` merges a day's export with its re-exports.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import re
from pathlib import Path

import polars as pl

from retail_assets.lib.sources import ga4
from retail_assets.lib.sources.errors import IngestError, _fail, _fail_non_utf8, _first_line
from retail_assets.lib.sources.ga4_conform import (
    _BIGQUERY_JSON,
    _LENIENT,
    EXPORT_DTYPES,
    _conform,
    _conform_export,
    _diagnose_json_kinds,
)

NDJSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
#: File name endings :func:`read_ga4_export` reads.
GA4_SUFFIXES = (*NDJSON_SUFFIXES, *(f"{s}.gz" for s in NDJSON_SUFFIXES), ".parquet")


_FILE_DATE = re.compile(r"^events_(\d{8})(?=$|[._-])")
_NOT_SET = ["(not set)", ""]


def ga4_file_date(path: Path | str) -> dt.date | None:
    """The day in a GA4 export file name ``events_YYYYMMDD...``, or None for other names.

    ``events_20250301.json.gz`` and ``events_20250301_late.parquet`` both give 2025-03-01.
    """
    match = _FILE_DATE.match(Path(path).name)
    if not match:
        return None
    try:
        return dt.datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None


def read_ga4_export(path: Path) -> pl.DataFrame:
    """Read one GA4 BigQuery export file (NDJSON, optionally gzipped, or Parquet).

    Args:
        path: An ``.json``/``.jsonl``/``.ndjson`` file (optionally ``.gz``) or a ``.parquet``.

    Returns:
        The events with exactly the columns and dtypes of ``ga4.EXPORT_SCHEMA``, in file order.

    Raises:
        IngestError: The file is empty, a line is not a JSON object, a required column
            (``ga4.REQUIRED_COLUMNS``) is missing or NULL, a value has the wrong type or cannot
            be converted (e.g. ``event_timestamp`` ``"abc"``), or ``event_date`` is not YYYYMMDD.

    """
    return _read_export(Path(path))[0]


def _read_export(path: Path) -> tuple[pl.DataFrame, pl.Series]:
    """The conformed events and each event's 1-based row (line) number in the file."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        src, rows = _read_export_parquet(path)
    elif name.removesuffix(".gz").endswith(NDJSON_SUFFIXES):
        src, rows = _read_export_ndjson(path)
    else:
        raise IngestError(
            path,
            "<file>",
            0,
            "is not a GA4 export file: expected .json, .jsonl or .ndjson (optionally .gz) "
            "or .parquet",
        )
    return _conform_export(path, src, rows), rows


def _read_export_parquet(path: Path) -> tuple[pl.DataFrame, pl.Series]:
    try:
        available = pl.read_parquet_schema(path)
        columns = [c for c in EXPORT_DTYPES if c in available]
        src = pl.read_parquet(path, columns=columns) if columns else pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise IngestError(
            path, "<file>", 0, f"cannot be read as Parquet: {_first_line(exc)}"
        ) from exc
    if src.height == 0:
        raise IngestError(path, "<file>", 0, "the file has no events")
    if not columns:
        column = ga4.REQUIRED_COLUMNS[0]
        raise IngestError(path, column, src.height, "required column is missing")
    return src.select(columns), pl.int_range(1, src.height + 1, eager=True)


def _read_export_ndjson(path: Path) -> tuple[pl.DataFrame, pl.Series]:
    raw = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise IngestError(path, "<file>", 0, f"is not a readable gzip file: {exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _fail_non_utf8(path, raw)
        line = raw[: exc.start].count(b"\n") + 1
        raise IngestError(path, "<line>", 1, "is not UTF-8 text", row_numbers=[line]) from exc
    lines = (
        pl.DataFrame({"line": text.split("\n")})
        .with_row_index("row", offset=1)
        .with_columns(pl.col("line").str.strip_chars_end("\r"))
        .filter(pl.col("line").str.strip_chars() != "")
    )
    if lines.is_empty():
        raise IngestError(path, "<file>", 0, "the file has no events")
    line = pl.col("line")
    try:
        decoded = lines.select(line.str.json_decode(_LENIENT).alias("e"))
    except pl.exceptions.PolarsError as exc:
        # Slow path, only for a broken file: find the lines and the column to blame.
        is_object = (
            line.str.strip_chars_start().str.starts_with("{")
            & line.str.json_path_match("$").is_not_null()
        )
        _fail_not_objects(path, lines, ~lines.select(is_object).to_series())
        _diagnose_json_kinds(path, lines)
        raise IngestError(
            path, "<line>", lines.height, f"could not be decoded: {_first_line(exc)}"
        ) from exc
    _fail_not_objects(path, lines, decoded["e"].is_null())  # a line reading just `null`
    return decoded.unnest("e"), lines["row"]


def _fail_not_objects(path: Path, lines: pl.DataFrame, bad: pl.Series) -> None:
    problem = "are not valid JSON objects (truncated or malformed lines)"
    _fail(path, "<line>", bad, problem, lines["row"], lines["line"])


def read_ga4_day(files: list[Path], day: dt.date) -> pl.DataFrame:
    """All export files for one day, merged: the original export plus later re-exports.

    GA4 keeps adding late events to a day's table for up to three days, so a day can arrive
    several times; the files are concatenated and passed through :func:`dedupe_events`, so the
    result does not depend on the order of ``files``.

    Args:
        files: Export files for ``day`` (any format :func:`read_ga4_export` accepts).
        day: The day, compared with each event's ``event_date``.

    Raises:
        IngestError: A file cannot be read, or holds events whose ``event_date`` is not ``day``.

    """
    want = day.strftime("%Y%m%d")
    frames = []
    for path in files:
        df, rows = _read_export(Path(path))
        _fail(
            Path(path),
            "event_date",
            df["event_date"] != want,
            f"are not on {day.isoformat()} (expected event_date {want})",
            rows,
            df["event_date"],
        )
        frames.append(df)
    if not frames:
        return pl.DataFrame(schema=EXPORT_DTYPES)
    return dedupe_events(pl.concat(frames))


def dedupe_events(df: pl.DataFrame) -> pl.DataFrame:
    """Events in the export shape with duplicates removed, in a deterministic order.

    Two rows are the same event when every column is equal (compared through the row's JSON
    encoding, which is exact except that NaN and NULL floats compare equal). Purchases that share a
    ``ecommerce.transaction_id`` (ignoring NULL, ``''`` and ``'(not set)'``) are one purchase:
    the earliest is kept. Rows are sorted by ``event_timestamp`` and then by the row's JSON
    encoding, a total order, so equal inputs give equal frames whatever their row order.
    """
    tid = pl.col("ecommerce").struct.field("transaction_id")
    dedupable = (pl.col("event_name") == "purchase") & tid.is_not_null() & ~tid.is_in(_NOT_SET)
    # Decide on a narrow frame (timestamp, row key, transaction id), then gather the nested
    # rows once: moving nested rows around is what costs.
    order = (
        df.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("index"),
            pl.col("event_timestamp"),
            pl.struct(pl.all()).struct.json_encode().alias("key"),
            pl.when(dedupable).then(tid).alias("transaction_id"),
        )
        .filter(pl.col("key").is_first_distinct())
        .sort("event_timestamp", "key", nulls_last=True)
        .filter(pl.col("transaction_id").is_null() | pl.col("transaction_id").is_first_distinct())
    )
    return df.gather(order["index"])


def write_ga4_ndjson(df: pl.DataFrame, path: Path) -> Path:
    """Write events in the ``ga4.EXPORT_SCHEMA`` shape as BigQuery-style NDJSON.

    INT64 values are written as JSON strings, as BigQuery's export does; NULLs as ``null``. A
    path ending in ``.gz`` is gzipped. :func:`read_ga4_export` reads the file back to an equal
    frame (an empty frame gives an empty file, which the reader rejects).

    Raises:
        ValueError: ``df`` does not have exactly the export columns and dtypes.

    """
    path = Path(path)
    wrong = [
        name
        for name, dtype in EXPORT_DTYPES.items()
        if name not in df.columns or df.schema[name] != dtype
    ]
    if wrong or len(df.columns) != len(EXPORT_DTYPES):
        extra = sorted(set(df.columns) - set(EXPORT_DTYPES))
        raise ValueError(
            f"not in the GA4 export shape: columns {wrong} missing or of the wrong dtype, "
            f"unexpected columns {extra}"
        )
    out = df.select(
        [
            _conform(pl.col(name), dtype, _BIGQUERY_JSON[name], name)[0].alias(name)
            for name, dtype in EXPORT_DTYPES.items()
        ]
    )
    buffer = io.BytesIO()
    out.write_ndjson(buffer)
    data = buffer.getvalue()
    if path.name.lower().endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
