"""Read landing files into the raw tables: GA4 exports, generic event files, sales history.

Accepted formats:

* **GA4 BigQuery export** (``raw.sessions``): newline-delimited JSON as BigQuery's export job
  writes it (``.json``, ``.jsonl`` or ``.ndjson``, each optionally gzipped as ``.gz``; INT64
  values may be JSON strings, as BigQuery writes them, or numbers; NULL fields may be omitted),
  or Parquet (``.parquet``) with the export's nested schema. The result has exactly the
  columns and dtypes of :data:`retail_assets.lib.sources.ga4.EXPORT_SCHEMA`: columns and struct
  fields the schema does not keep are ignored, missing optional ones are NULL. Export files are
  named ``events_YYYYMMDD*``; :func:`read_ga4_day` merges a day's export with its re-exports.
* **Generic event files** (``raw.app_events``): CSV (header row, UTF-8, ``"``-quoting, fields
  may contain newlines) or Parquet, mapped onto the canonical columns by ``events_mapping.yaml``
  (:class:`EventsMapping`).
* **Sales history** (``raw.sales_history``): CSV with the header ``date,series_id,value`` or
  statsforecast's ``ds,unique_id,y``.

Rules every format shares, beyond its own: a file must be UTF-8 text (NDJSON, CSV); a CSV row
may not have more fields than the header, and a header may not name a column it uses twice;
a text field may hold at most :data:`MAX_TEXT_BYTES` (64 KiB) of UTF-8; an event may not lie
more than :data:`MAX_FUTURE` (one day) after the time the file is read, nor a sales-history
day after tomorrow; revenue and prices may not be negative. Text is data: a value such as
``'; DROP TABLE x; --`` is stored as the literal string (no reader or writer builds SQL from
values), so it round-trips unchanged.

Every problem raises :class:`IngestError`, naming the file, the column and the number of rows,
with up to three example row numbers (1-based: the line number for NDJSON, the data row after
the header for CSV, the row for Parquet) and masked example values. Nothing is silently set to
NULL: every conversion compares the non-NULL values before and after it. The lineage columns
(``lineage_id``, ``processed_at``) are not added here.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import os
import re
import shutil
import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import polars as pl
from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from retail_assets.lib.config import _load
from retail_assets.lib.sources import ga4
from retail_assets.lib.warehouse.schemas import APP_EVENTS, mask_pii

EXPORT_DTYPES: dict[str, pl.DataType] = dict(pl.Schema(ga4.EXPORT_SCHEMA))
NDJSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
#: File name endings :func:`read_ga4_export` reads.
GA4_SUFFIXES = (*NDJSON_SUFFIXES, *(f"{s}.gz" for s in NDJSON_SUFFIXES), ".parquet")
#: File name endings :func:`read_events` reads.
EVENT_SUFFIXES = (".csv", ".parquet")
APP_EVENT_COLUMNS: dict[str, pl.DataType] = {
    "event_id": pl.Utf8(),
    "event_date": pl.Date(),
    "event_timestamp": pl.Datetime("us", "UTC"),
    "user_id": pl.Utf8(),
    "session_id": pl.Utf8(),
    "event_type": pl.Utf8(),
    "product_id": pl.Utf8(),
    "category": pl.Utf8(),
    "price": pl.Float64(),
    "analytics_storage": pl.Utf8(),
}
SALES_COLUMNS: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "series_id": pl.Utf8(),
    "value": pl.Float64(),
}
_STATSFORECAST_HEADER = {"ds": "date", "unique_id": "series_id", "y": "value"}
#: Optional columns of a sales history: where each series sits in the hierarchy.
SALES_HIERARCHY_COLUMNS = ("category", "store_id", "product_id")
_FILE_DATE = re.compile(r"^events_(\d{8})(?=$|[._-])")
_NOT_SET = ["(not set)", ""]
#: The most UTF-8 bytes one text field may hold (64 KiB). Real values (ids, page URLs, product
#: and category names) are far shorter; a longer one is a corrupted or hostile file.
MAX_TEXT_BYTES = 65_536
#: How far after the moment a file is read an event may lie (clock skew, time zones). A later
#: timestamp is a unit or clock error (e.g. epoch milliseconds read as seconds), not an event.
MAX_FUTURE = dt.timedelta(days=1)
_DUPLICATED = re.compile(r"^(.*)_duplicated_\d+$")
#: The reason of a quarantined exact repeat of an earlier row (counted apart from invalid rows).
DUPLICATE_ROW = "exact duplicate of an earlier row (a line delivered twice)"


class IngestError(ValueError):
    """A landing file cannot be ingested.

    The message always names the file, the column and the number of offending rows, e.g.
    ``events.csv: column 'price': 3 of 120 rows are not numbers (rows 4, 7, 9; e.g. 'abc')``.
    Example values are passed through :func:`~retail_assets.lib.warehouse.schemas.mask_pii`.

    Attributes:
        file: The file that failed.
        column: The offending column: a dotted path for a nested field
            (``event_params.value.int_value``), ``<line>`` for a line that is not JSON,
            ``<file>`` for a problem with the whole file.
        rows: How many rows are affected.
        row_numbers: Up to three 1-based row numbers of affected rows.

    """

    def __init__(
        self,
        file: Path,
        column: str,
        rows: int,
        problem: str,
        *,
        total: int | None = None,
        row_numbers: Sequence[int] = (),
        examples: Sequence[object] = (),
    ):
        self.file = Path(file)
        self.column = column
        self.rows = int(rows)
        self.row_numbers = [int(r) for r in row_numbers][:3]
        body = (
            f"{rows} of {total} rows {problem}" if total is not None else f"{problem} ({rows} rows)"
        )
        details = []
        if self.row_numbers:
            label = "row" if len(self.row_numbers) == 1 else "rows"
            details.append(f"{label} {', '.join(map(str, self.row_numbers))}")
        shown = [_show(v) for v in list(examples)[:3]]
        if shown:
            details.append(f"e.g. {', '.join(shown)}")
        suffix = f" ({'; '.join(details)})" if details else ""
        super().__init__(f"{self.file.name}: column {column!r}: {body}{suffix}")


def _show(value: object) -> str:
    text = mask_pii(str(value))
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _fail(
    path: Path,
    column: str,
    bad: pl.Series,
    problem: str,
    rows: pl.Series,
    values: pl.Series | None = None,
) -> None:
    """Raise :class:`IngestError` if any of ``bad`` is true (NULL counts as not bad)."""
    bad = bad.fill_null(False)
    count = int(bad.sum())
    if not count:
        return
    first = bad.arg_true().head(3)
    examples = []
    if values is not None:
        examples = values.gather(first).drop_nulls().unique(maintain_order=True).to_list()
    raise IngestError(
        path,
        column,
        count,
        problem,
        total=len(bad),
        row_numbers=rows.gather(first).to_list(),
        examples=examples,
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _future_limit() -> dt.datetime:
    """The latest event time a file may hold: now plus :data:`MAX_FUTURE`, to the second."""
    return (dt.datetime.now(dt.UTC) + MAX_FUTURE).replace(microsecond=0)


def non_utf8_lines(raw: bytes) -> tuple[list[int], int]:
    """The 1-based numbers of the lines of ``raw`` that are not UTF-8, and the line count."""
    lines = raw.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the newline that ends the last line
    bad = []
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(number)
    return bad, len(lines)


def _fail_non_utf8(path: Path, raw: bytes) -> None:
    """Raise naming every line of ``raw`` that is not UTF-8 (1-based line numbers)."""
    bad, total = non_utf8_lines(raw)
    if bad:
        raise IngestError(
            path,
            "<line>",
            len(bad),
            "are not UTF-8 text (save the file as UTF-8)",
            total=total,
            row_numbers=bad,
        )


def _read_csv(path: Path) -> pl.DataFrame:
    """A CSV file with every column as text, or :class:`IngestError` saying what is wrong.

    An empty file, bytes that are not UTF-8 (the lines are named), a row with more fields than
    the header (the rows are named) and a header naming a column twice are errors.
    """
    try:
        df = pl.read_csv(path, infer_schema=False, encoding="utf8")
    except pl.exceptions.NoDataError as exc:
        raise IngestError(path, "<file>", 0, "the file is empty") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        if isinstance(exc, pl.exceptions.PolarsError):
            _diagnose_csv(path)  # slow path, only for a broken file: name the lines
        raise IngestError(path, "<file>", 0, f"cannot be read as CSV: {_first_line(exc)}") from exc
    for column in df.columns:
        match = _DUPLICATED.match(column)
        if match and match.group(1) in df.columns:
            raise IngestError(
                path,
                match.group(1),
                df.height,
                "appears more than once in the header, so which one is meant is ambiguous",
            )
    return df


def _diagnose_csv(path: Path) -> None:
    raw = path.read_bytes()
    _fail_non_utf8(path, raw)
    records = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    if not records:
        return
    width = len(records[0])
    long = [i for i, record in enumerate(records[1:], start=1) if len(record) > width]
    if long:
        raise IngestError(
            path,
            "<row>",
            len(long),
            f"have more fields than the header's {width} columns (an extra, unnamed column)",
            total=len(records) - 1,
            row_numbers=long,
        )


def _text_lengths(expr: pl.Expr, dtype: pl.DataType, path: str) -> list[tuple[str, pl.Expr]]:
    """(column path, per-row longest text in UTF-8 bytes) for every text leaf of ``dtype``."""
    if isinstance(dtype, pl.Struct):
        out = []
        for f in dtype.fields:
            out += _text_lengths(expr.struct.field(f.name), f.dtype, f"{path}.{f.name}")
        return out
    if isinstance(dtype, pl.List):
        inner = _text_lengths(pl.element(), dtype.inner, path)
        return [(p, expr.list.eval(e).list.max()) for p, e in inner]
    if dtype == pl.Utf8:
        return [(path, expr.str.len_bytes())]
    return []


def _fail_long_text(path: Path, df: pl.DataFrame, rows: pl.Series, names=None) -> None:
    """Raise if a text field of ``df`` is longer than :data:`MAX_TEXT_BYTES`.

    ``names`` maps a column of ``df`` to the name the user knows (the source column).
    """
    names = names or {}
    checks = [
        check
        for name, dtype in df.schema.items()
        for check in _text_lengths(pl.col(name), dtype, names.get(name, name))
    ]
    if not checks:
        return
    lengths = df.select([e.alias(str(i)) for i, (_, e) in enumerate(checks)])
    for i, (column, _) in enumerate(checks):
        size = lengths[str(i)]
        _fail(
            path,
            column,
            size > MAX_TEXT_BYTES,
            f"hold text longer than the limit of {MAX_TEXT_BYTES:,} bytes per field",
            rows,
            size.cast(pl.Utf8) + " bytes",
        )


# ------------------------------------------------------------------ conforming nested data


class _KindMismatch(Exception):
    def __init__(self, path: str, found: pl.DataType, expected: pl.DataType):
        super().__init__(path)
        self.path, self.found, self.expected = path, found, expected


# (column path, problem, per-row count of lost values, per-row example of a lost value)
_Check = tuple[str, str, pl.Expr, pl.Expr]


def _cast_leaf(expr: pl.Expr, src: pl.DataType, tgt: pl.DataType) -> pl.Expr:
    if src == tgt:
        return expr
    if tgt == pl.Utf8 and src == pl.Date:
        return expr.dt.strftime("%Y%m%d")  # GA4 writes dates as YYYYMMDD
    if tgt.is_integer() and src.is_float():
        return pl.when(expr == expr.round()).then(expr).cast(tgt, strict=False)
    return expr.cast(tgt, strict=False)


def _problem(tgt: pl.DataType) -> str:
    if tgt.is_integer():
        return "are not whole numbers"
    if tgt.is_float():
        return "are not numbers"
    return f"cannot be read as {tgt}"


def _conform(
    expr: pl.Expr, src: pl.DataType, tgt: pl.DataType, path: str
) -> tuple[pl.Expr, list[_Check]]:
    """``expr`` (of dtype ``src``) conformed to ``tgt`` field by field, with loss checks.

    Struct fields are matched by name (extra fields dropped, missing ones NULL), lists element by
    element, leaves cast with ``strict=False``; each check counts, per row, the values that were
    not NULL before the cast and are NULL after it.
    """
    if src == tgt or src == pl.Null:
        return (expr if src == tgt else expr.cast(tgt)), []
    if isinstance(tgt, pl.Struct):
        if not isinstance(src, pl.Struct):
            raise _KindMismatch(path, src, tgt)
        have = {f.name: f.dtype for f in src.fields}
        fields, checks = [], []
        for f in tgt.fields:
            if f.name in have:
                sub, sub_checks = _conform(
                    expr.struct.field(f.name), have[f.name], f.dtype, f"{path}.{f.name}"
                )
                checks += sub_checks
            else:
                sub = pl.lit(None, dtype=f.dtype)
            fields.append(sub.alias(f.name))
        out = pl.when(expr.is_null()).then(pl.lit(None, dtype=tgt)).otherwise(pl.struct(fields))
        return out, checks
    if isinstance(tgt, pl.List):
        if isinstance(src, pl.Array):
            expr, src = expr.arr.to_list(), pl.List(src.inner)
        if not isinstance(src, pl.List):
            raise _KindMismatch(path, src, tgt)
        inner, inner_checks = _conform(pl.element(), src.inner, tgt.inner, path)
        checks = [
            (
                p,
                problem,
                expr.list.eval(count).list.sum(),
                expr.list.eval(example).list.drop_nulls().list.first(),
            )
            for p, problem, count, example in inner_checks
        ]
        return expr.list.eval(inner), checks
    if src.is_nested():
        raise _KindMismatch(path, src, tgt)
    out = _cast_leaf(expr, src, tgt)
    lost = expr.is_not_null() & out.is_null()
    return out, [
        (path, _problem(tgt), lost.cast(pl.UInt32), pl.when(lost).then(expr.cast(pl.Utf8)))
    ]


def _map_leaves(dtype: pl.DataType, fn) -> pl.DataType:
    if isinstance(dtype, pl.Struct):
        return pl.Struct([pl.Field(f.name, _map_leaves(f.dtype, fn)) for f in dtype.fields])
    if isinstance(dtype, pl.List):
        return pl.List(_map_leaves(dtype.inner, fn))
    return fn(dtype)


# Every leaf read as text first: BigQuery writes INT64 as JSON strings, floats as numbers.
_LENIENT = pl.Struct(
    {
        name: _map_leaves(dtype, lambda d: pl.Utf8() if d.is_numeric() else d)
        for name, dtype in EXPORT_DTYPES.items()
    }
)
# What write_ga4_ndjson writes: INT64 as strings, like BigQuery.
_BIGQUERY_JSON = {
    name: _map_leaves(dtype, lambda d: pl.Utf8() if d.is_integer() else d)
    for name, dtype in EXPORT_DTYPES.items()
}


# ------------------------------------------------------------------ GA4 export


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


def _json_kind_checks(
    parent: pl.Expr, name: str, dtype: pl.DataType, path: str, elements: pl.Expr | None = None
) -> list[tuple[str, str, pl.Expr, pl.Expr]]:
    """(path, expected kind, per-row bad flag, example) for field ``name`` of JSON text ``parent``.

    ``json_path_match`` returns strings unquoted and containers as JSON; ``$.name.*`` matches
    only when the value is a non-empty object or array, which tells a string apart from both;
    empty ones are recognised in the text (``"name": {}``).
    ``elements`` holds a list column's elements as text (objects as JSON).
    """
    value = parent.str.json_path_match(f"$.{name}")
    members = parent.str.json_path_match(f"$.{name}.*").is_not_null()
    key = rf'"{re.escape(name)}"\s*:\s*'
    empty_object = parent.str.contains(key + r"\{\s*\}")
    empty_array = parent.str.contains(key + r"\[\s*\]")
    if isinstance(dtype, pl.Struct):
        bad = value.is_not_null() & ~((value.str.starts_with("{") & members) | empty_object)
        checks = [(path, "JSON objects", bad, value)]
        for f in dtype.fields:
            checks += _json_kind_checks(value, f.name, f.dtype, f"{path}.{f.name}")
        return checks
    if isinstance(dtype, pl.List):
        bad = value.is_not_null() & ~((value.str.starts_with("[") & members) | empty_array)
        checks = [(path, "JSON arrays", bad, value)]
        if elements is not None and isinstance(dtype.inner, pl.Struct):
            el = pl.element()
            whole = el.str.starts_with("{") & (
                el.str.json_path_match("$.*").is_not_null() | (el == "{}")
            )
            inner = [(path, "arrays of JSON objects", el.is_not_null() & ~whole, el)]
            for f in dtype.inner.fields:
                inner += _json_kind_checks(el, f.name, f.dtype, f"{path}.{f.name}")
            checks += [
                (
                    p,
                    kind,
                    elements.list.eval(b).list.any(),
                    elements.list.eval(pl.when(b).then(v)).list.drop_nulls().list.first(),
                )
                for p, kind, b, v in inner
            ]
        return checks
    container = members | empty_object | empty_array
    return [(path, "single values (found an object or array)", container, value)]


def _diagnose_json_kinds(path: Path, lines: pl.DataFrame) -> None:
    """Find the column and rows where a JSON value has the wrong kind (runs only on failure)."""
    list_columns = {n: d for n, d in EXPORT_DTYPES.items() if isinstance(d, pl.List)}
    elements = pl.read_ndjson(
        io.BytesIO("\n".join(lines["line"].to_list()).encode("utf-8")),
        schema={n: pl.List(pl.Utf8) for n in list_columns},
        ignore_errors=True,
    )
    frame = lines
    if elements.height == lines.height:
        frame = lines.with_columns(elements.rename(lambda c: f"__el_{c}").get_columns())
    checks = []
    for name, dtype in EXPORT_DTYPES.items():
        have = f"__el_{name}" in frame.columns
        checks += _json_kind_checks(
            pl.col("line"), name, dtype, name, pl.col(f"__el_{name}") if have else None
        )
    flags = frame.select([b.alias(str(i)) for i, (_, _, b, _) in enumerate(checks)])
    for i, (column, kind, _, example) in enumerate(checks):
        if flags[str(i)].any():
            values = frame.select(example).to_series()
            _fail(path, column, flags[str(i)], f"are not {kind}", lines["row"], values)


def _conform_export(path: Path, src: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    exprs, checks = [], []
    for name, tgt in EXPORT_DTYPES.items():
        if name not in src.columns:
            if name in ga4.REQUIRED_COLUMNS:
                raise IngestError(path, name, src.height, "required column is missing")
            exprs.append(pl.lit(None, dtype=tgt).alias(name))
            continue
        try:
            expr, col_checks = _conform(pl.col(name), src.schema[name], tgt, name)
        except _KindMismatch as exc:
            _fail(
                path,
                exc.path,
                src[name].is_not_null(),
                f"have type {exc.found}, expected {exc.expected}",
                rows,
            )
            expr, col_checks = pl.lit(None, dtype=tgt), []  # the column is all NULL anyway
        exprs.append(expr.alias(name))
        checks += col_checks
    if checks:
        lost = src.select(
            [c.fill_null(0).gt(0).alias(str(i)) for i, (_, _, c, _) in enumerate(checks)]
        )
        for i, (column, problem, _, example) in enumerate(checks):
            if lost[str(i)].any():
                _fail(path, column, lost[str(i)], problem, rows, src.select(example).to_series())
    out = src.select(exprs)
    for name in ga4.REQUIRED_COLUMNS:
        _fail(path, name, out[name].is_null(), "have no value (required column)", rows)
    date = pl.col("event_date")
    bad_date = ~date.str.contains(r"^\d{8}$") | date.str.to_date("%Y%m%d", strict=False).is_null()
    _fail(
        path,
        "event_date",
        out.select(bad_date).to_series(),
        "are not dates in the form YYYYMMDD",
        rows,
        out["event_date"],
    )
    _fail_long_text(path, out, rows)
    limit = _future_limit()
    stamp = out["event_timestamp"]
    _fail(
        path,
        "event_timestamp",
        stamp > int(limit.timestamp()) * 1_000_000,
        f"are more than {_days(MAX_FUTURE)} in the future (after {limit:%Y-%m-%dT%H:%M:%SZ})",
        rows,
        pl.from_epoch(stamp, time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    ecommerce, items = pl.col("ecommerce"), pl.col("items")
    money = {
        "ecommerce.purchase_revenue": ecommerce.struct.field("purchase_revenue"),
        "ecommerce.purchase_revenue_in_usd": ecommerce.struct.field("purchase_revenue_in_usd"),
        "items.price": items.list.eval(pl.element().struct.field("price")).list.min(),
        "items.item_revenue": items.list.eval(pl.element().struct.field("item_revenue")).list.min(),
    }
    amounts = out.select([e.alias(c) for c, e in money.items()])
    for column in money:
        _fail(path, column, amounts[column] < 0, "are negative amounts", rows, amounts[column])
    return out


def _days(delta: dt.timedelta) -> str:
    return "1 day" if delta == dt.timedelta(days=1) else f"{delta.days} days"


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


# ------------------------------------------------------------------ generic event files


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventColumns(_Strict):
    """The source column for each canonical column; optional ones may be left out."""

    timestamp: str = Field(min_length=1)
    user: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    product: str = Field(min_length=1)
    category: str | None = None
    price: str | None = None
    session: str | None = None
    #: The user's analytics consent on the event (yes/no, true/false, 1/0, granted/denied).
    consent: str | None = None


#: Consent spellings a file may use (case-insensitive), by canonical value.
_CONSENT_WORDS = {
    "Yes": ("yes", "y", "true", "t", "1", "granted", "opt-in", "opt_in", "optin"),
    "No": ("no", "n", "false", "f", "0", "denied", "opt-out", "opt_out", "optout"),
    "Unset": ("unset", "unknown", "not set", "(not set)"),
}
_CONSENT = {word: value for value, words in _CONSENT_WORDS.items() for word in words}


def consent_values(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """``(Yes/No/Unset, unreadable)``: a consent column normalized; NULL and '' are Unset."""
    low = values.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    mapped = low.replace_strict(_CONSENT, default=None, return_dtype=pl.Utf8)
    empty = low.is_null() | (low == "")
    out = pl.select(pl.when(empty).then(pl.lit("Unset")).otherwise(mapped)).to_series()
    return out.alias(values.name), out.is_null()


class EventTypes(_Strict):
    """The source values that mean each canonical event type (compared as exact strings)."""

    view: list[str] = Field(default_factory=list)
    add_to_cart: list[str] = Field(default_factory=list)
    purchase: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> EventTypes:
        values = self.view + self.add_to_cart + self.purchase
        if not values:
            raise ValueError("list the source values of at least one event type")
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"source values listed more than once: {repeated}")
        return self

    def lookup(self) -> dict[str, str]:
        """Source value -> canonical event type."""
        return {v: kind for kind in APP_EVENTS for v in getattr(self, kind)}


class EventsMapping(_Strict):
    """How to read a generic events file into the canonical app-events columns.

    Attributes:
        columns: Canonical column -> source column name.
        timestamp_format: ``epoch_s``, ``epoch_ms``, ``epoch_us``, ``iso`` (ISO 8601, with or
            without an offset) or a strftime pattern (e.g. ``%d/%m/%Y %H:%M``).
        timezone: IANA zone for timestamps without an offset; ``event_date`` (and so the daily
            partition) is the calendar day in this zone.
        event_types: Source values for view, add_to_cart and purchase.
        unknown_event_types: ``error`` (default) fails on other values, ``drop`` skips them.
        session_gap_minutes: Without a session column, a user's next event more than this many
            minutes after the previous one starts a new session.

    """

    columns: EventColumns
    timestamp_format: str = "iso"
    timezone: str = "UTC"
    event_types: EventTypes
    unknown_event_types: Literal["error", "drop"] = "error"
    session_gap_minutes: int = Field(default=30, ge=1, le=1440)

    @field_validator("timestamp_format")
    @classmethod
    def _format(cls, v: str) -> str:
        return check_timestamp_format(v)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return check_timezone(v)


def check_timestamp_format(v: str) -> str:
    """``v`` if it is a timestamp format the readers know, else a ValueError saying which."""
    if v in ("epoch_s", "epoch_ms", "epoch_us", "iso") or "%" in v:
        return v
    raise ValueError("must be epoch_s, epoch_ms, epoch_us, iso or a strftime pattern")


def check_timezone(v: str) -> str:
    """``v`` if it is an IANA time zone, else a ValueError naming it."""
    try:
        zoneinfo.ZoneInfo(v)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {v!r}") from exc
    return v


def load_events_mapping(folder: Path | None = None) -> EventsMapping:
    """The validated ``events_mapping.yaml`` from ``folder`` or ``config.config_dir()``.

    Raises:
        ConfigError: The file is missing or invalid; the message names the file and field.

    """
    return _load(EventsMapping, "events_mapping.yaml", folder)  # type: ignore[arg-type,return-value]


_EPOCH_FACTOR = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}
_ISO_AWARE = ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"]
_ISO_NAIVE = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]


def _localize(naive: pl.Expr, zone: str) -> pl.Expr:
    # Ambiguous wall times (DST fall-back) take the earlier instant; non-existent ones fail.
    return naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")


def _timestamp(col: pl.Expr, src: pl.DataType, mapping: EventsMapping) -> pl.Expr:
    """``col`` parsed to Datetime(us, UTC) per the mapping; unparseable values become NULL."""
    zone, fmt = mapping.timezone, mapping.timestamp_format
    if isinstance(src, pl.Datetime):
        aware = col if src.time_zone else _localize(col, zone)
        return aware.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if src == pl.Date:
        return _localize(col.cast(pl.Datetime("us")), zone).dt.convert_time_zone("UTC")
    if fmt in _EPOCH_FACTOR:
        factor = _EPOCH_FACTOR[fmt]
        if src.is_integer():
            micros = col.cast(pl.Int64) * factor
        else:
            text = col.cast(pl.Utf8).str.strip_chars()
            whole = text.cast(pl.Int64, strict=False) * factor
            fraction = text.cast(pl.Float64, strict=False) * factor
            fraction = (
                pl.when(fraction.is_finite()).then(fraction.round()).cast(pl.Int64, strict=False)
            )
            micros = pl.coalesce(whole, fraction)
        return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    text = col.cast(pl.Utf8).str.strip_chars()
    if fmt == "iso":
        text = text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T").str.replace(r"Z$", "+00:00")
        aware = [text.str.to_datetime(f, strict=False, time_unit="us") for f in _ISO_AWARE]
        naive = [text.str.to_datetime(f, strict=False, time_unit="us") for f in _ISO_NAIVE]
    elif re.search(r"%[#:]*z|%Z", fmt):
        aware, naive = [text.str.to_datetime(fmt, strict=False, time_unit="us")], []
    else:
        aware, naive = [], [text.str.to_datetime(fmt, strict=False, time_unit="us")]
    candidates = [a.dt.convert_time_zone("UTC") for a in aware]
    candidates += [_localize(n, zone).dt.convert_time_zone("UTC") for n in naive]
    return pl.coalesce(candidates)


def _read_table(path: Path, wanted: dict[str, str]) -> tuple[pl.DataFrame, pl.Series]:
    """The ``wanted`` source columns of a CSV (all as text) or Parquet file, and row numbers.

    Other formats a retailer may declare (TSV, NDJSON, gzipped files) are read by
    :func:`retail_assets.lib.sources.tabular.read_columns`.
    """
    name = path.name.lower()
    if not name.endswith((".csv", ".parquet")):
        from retail_assets.lib.sources.tabular import read_columns
        from retail_assets.lib.sources.world import FileSource

        columns = list(dict.fromkeys(wanted.values()))
        df, rows = read_columns(path, FileSource(files=str(path)), {c: c for c in columns})
        return df, rows.cast(pl.Int64)
    try:
        if name.endswith(".csv"):
            df = _read_csv(path)
        elif name.endswith(".parquet"):
            available = pl.read_parquet_schema(path)
            present = [c for c in dict.fromkeys(wanted.values()) if c in available]
            df = pl.read_parquet(path, columns=present) if present else pl.read_parquet(path)
        else:
            raise IngestError(path, "<file>", 0, "is not a .csv or .parquet file")
    except pl.exceptions.NoDataError as exc:
        raise IngestError(path, "<file>", 0, "the file is empty") from exc
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise IngestError(path, "<file>", 0, f"cannot be read: {_first_line(exc)}") from exc
    for canonical, column in wanted.items():
        if column not in df.columns:
            raise IngestError(
                path, column, df.height, f"mapped as {canonical}, is missing from the file"
            )
    return df, pl.int_range(1, df.height + 1, eager=True)


def _parse_timestamps(
    path: Path, df: pl.DataFrame, rows: pl.Series, mapping: EventsMapping, flag=None
) -> pl.Series:
    column = mapping.columns.timestamp
    raw = df[column]
    ts = df.select(_timestamp(pl.col(column), raw.dtype, mapping)).to_series()
    flag = flag or (lambda c, bad, problem, values=None: _fail(path, c, bad, problem, rows, values))
    flag(column, raw.is_null(), "have no timestamp")
    flag(
        column,
        raw.is_not_null() & ts.is_null(),
        f"are not timestamps in the format {mapping.timestamp_format!r}",
        raw,
    )
    limit = _future_limit()
    flag(
        column,
        ts > limit,
        f"are more than {_days(MAX_FUTURE)} in the future (after {limit:%Y-%m-%dT%H:%M:%SZ})",
        raw,
    )
    return ts.alias("event_timestamp")


def _read_event_file(
    path: Path, mapping: EventsMapping, make_triage=None
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """One events file in the canonical columns (plus ``_row``), and its quarantine.

    Without ``make_triage`` any bad row fails the file; with it (rows -> a
    :class:`retail_assets.lib.sources.tabular.Triage`) bad rows are flagged there, left out and
    returned as quarantine rows.
    """
    cols = mapping.columns
    wanted = {k: v for k, v in cols.model_dump().items() if v is not None}
    df, rows = _read_table(path, wanted)
    triage = make_triage(rows, wanted) if make_triage else None

    def flag(column, bad, problem, values=None):
        if triage is None:
            _fail(path, column, bad, problem, rows, values)
        else:
            triage.flag(column, bad, problem, values)

    ts = _parse_timestamps(path, df, rows, mapping, flag)
    text = {k: df[v].cast(pl.Utf8) for k, v in wanted.items() if k != "timestamp"}
    _fail_long_text(path, pl.DataFrame(text), rows, {k: wanted[k] for k in text})
    for key, label in [("user", "user"), ("product", "product"), ("event_type", "event type")]:
        flag(wanted[key], text[key].is_null(), f"have no {label}")
    lookup = mapping.event_types.lookup()
    kind = text["event_type"].replace_strict(lookup, default=None, return_dtype=pl.Utf8)
    unknown = kind.is_null() & text["event_type"].is_not_null()
    if mapping.unknown_event_types == "error":
        flag(
            cols.event_type,
            unknown,
            f"have an event type not listed in event_types ({sorted(lookup)})",
            text["event_type"],
        )
    price = pl.Series("price", [None] * df.height, dtype=pl.Float64)
    if cols.price:
        raw = df[cols.price]
        price = (
            raw.cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)
            if raw.dtype == pl.Utf8
            else raw.cast(pl.Float64, strict=False)
        )
        invalid = price.is_null() | ~price.is_finite()
        flag(cols.price, raw.is_not_null() & invalid, "are not numbers", raw)
        flag(cols.price, price < 0, "are negative prices", raw)
    session = pl.Series("session_id", [None] * df.height, dtype=pl.Utf8)
    if cols.session:
        session = text["session"]
        flag(cols.session, session.is_null(), "have no session")
    consent = pl.Series("analytics_storage", [None] * df.height, dtype=pl.Utf8)
    if cols.consent:
        consent, unreadable = consent_values(text["consent"])
        flag(
            cols.consent,
            unreadable,
            "are not consent values (yes/no, true/false, 1/0)",
            text["consent"],
        )
    category = text["category"] if cols.category else pl.Series([None] * df.height, dtype=pl.Utf8)
    out = pl.DataFrame(
        {
            "event_timestamp": ts,
            "user_id": text["user"],
            "session_id": session,
            "event_type": kind,
            "product_id": text["product"],
            "category": category,
            "price": price,
            "analytics_storage": consent.alias("analytics_storage"),
            "_row": rows,
        }
    )
    keep = kind.is_not_null() | text["event_type"].is_null()
    if triage is None:
        return out.filter(keep), None
    raw_rows = df.select(list(dict.fromkeys(wanted.values())))
    quarantine = triage.split(out, raw_rows)[1]
    dropped = unknown & ~triage.bad
    if dropped.any():  # unknown_event_types: drop sets them aside, counted, not as invalid
        from retail_assets.lib.sources.tabular import quarantine_frame

        quarantine = pl.concat(
            [
                quarantine,
                quarantine_frame(
                    triage.source,
                    path,
                    rows.filter(dropped),
                    cols.event_type,
                    "have an event type not listed in event_types (unknown_event_types: drop)",
                    raw_rows.filter(dropped),
                ),
            ]
        )
    return out.filter(keep & ~triage.bad), quarantine


def _conflicts(tagged: pl.DataFrame, identity: list[str], columns: list[str]) -> pl.DataFrame:
    """Rows of ``tagged`` that share an event identity with an earlier row but differ."""
    distinct = tagged.unique(subset=columns, keep="first", maintain_order=True)
    return distinct.filter(pl.struct(identity).is_duplicated())


def _fail_conflicting_events(
    files: list[Path],
    tagged: pl.DataFrame,
    identity: list[str],
    columns: list[str],
    mapping: EventsMapping,
) -> None:
    """Raise if two rows are the same event (so the same ``event_id``) with different content.

    A row repeated exactly (a file delivered twice) is a duplicate and is dropped; the same
    timestamp, user, event type and product with another price, category or session is a
    conflict nothing can resolve. The error names the later file and its rows.
    """
    conflicting = _conflicts(tagged, identity, columns)
    if conflicting.is_empty():
        return
    later = conflicting.filter(pl.col("_file") == pl.col("_file").max())
    first = Path(files[int(conflicting["_file"].min())]).name
    raise IngestError(
        Path(files[int(later["_file"][0])]),
        _identity_columns(mapping),
        later.height,
        f"share an event_id with another row (in {first}: same timestamp, user, event type "
        f"and product) but differ in {_differ(conflicting, identity, mapping)}",
        row_numbers=later["_row"].to_list(),
        examples=[
            f"{r['user_id']} {r['event_type']} {r['product_id']} at {r['event_timestamp']}"
            for r in later.head(3).to_dicts()
        ],
    )


def _identity_columns(mapping: EventsMapping) -> str:
    c = mapping.columns
    return f"{c.timestamp}, {c.user}, {c.event_type}, {c.product}"


def _differ(conflicting: pl.DataFrame, identity: list[str], mapping: EventsMapping) -> str:
    c = mapping.columns
    varies = conflicting.group_by(identity).agg(
        pl.col("price", "category", "session_id").n_unique() > 1
    )
    optional = {"price": c.price, "category": c.category, "session_id": c.session}
    differ = [name for name, source in optional.items() if source and varies[name].any()]
    return " or ".join(differ) or "content"


def _event_ids(df: pl.DataFrame) -> pl.Series:
    """sha1 hex of ``<epoch µs>|<event_type>|<len>:<user_id>|<len>:<product_id>`` per row.

    Lengths are in UTF-8 bytes, so the string is unambiguous; it is built from plain string
    operations and hashed with :mod:`hashlib`, so ids are stable across polars versions.
    """
    user, product = pl.col("user_id"), pl.col("product_id")
    identity = df.select(
        pl.concat_str(
            pl.col("event_timestamp").dt.epoch("us").cast(pl.Utf8),
            pl.lit("|"),
            pl.col("event_type"),
            pl.lit("|"),
            user.str.len_bytes().cast(pl.Utf8),
            pl.lit(":"),
            user,
            pl.lit("|"),
            product.str.len_bytes().cast(pl.Utf8),
            pl.lit(":"),
            product,
        )
    ).to_series()
    ids = [hashlib.sha1(s.encode("utf-8")).hexdigest() for s in identity.to_list()]
    return pl.Series("event_id", ids, dtype=pl.Utf8)


def read_events(
    files: list[Path], mapping: EventsMapping, day: dt.date | None = None
) -> pl.DataFrame:
    """Generic event files (CSV or Parquet) in the canonical app-events columns.

    Columns are those of ``schemas.RawAppEvents`` without the lineage columns: ``event_id``,
    ``event_date``, ``event_timestamp`` (µs, UTC), ``user_id``, ``session_id``, ``event_type``
    (view / add_to_cart / purchase), ``product_id``, ``category``, ``price``.

    An event is identified by (timestamp, user, event type, product): rows delivered twice, in
    one file or several, appear once (the first after sorting by all columns). ``event_id`` is
    the sha1 hex of that identity (see ``_event_ids``), stable across runs and library versions.
    Without a session column, a user's events are split into sessions at gaps of more than
    ``session_gap_minutes``; ``session_id`` is ``<user_id>-<session start, epoch seconds>``
    (GA4's ``ga_session_id`` convention), computed over all rows read before the ``day`` filter,
    so it does not change with the day asked for. Rows are sorted by timestamp, user, event
    type and product.

    Args:
        files: CSV or Parquet files.
        mapping: How to read them (see :func:`load_events_mapping`).
        day: Keep only events whose ``event_date`` (in ``mapping.timezone``) is this day.

    Raises:
        IngestError: A mapped column is missing; a timestamp or price cannot be parsed; a
            timestamp, user, product, event type or session is NULL; a price is negative; or
            an event type is not listed (when ``unknown_event_types`` is ``error``).

    """
    return _read_events(files, mapping, day)[0]


def read_events_quarantined(
    files: list[Path], mapping: EventsMapping, spec, source: str = "app_events"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`read_events` under a declared ``invalid_rows`` policy: ``(events, quarantine)``.

    ``spec`` is the source's declaration (:class:`retail_assets.lib.sources.world.FileSource`).
    Under ``quarantine``, bad rows and the later rows of an identity conflict (the same timestamp,
    user, event type and product as an earlier row with another price, category or session)
    are quarantined with file, row number and reason, up to ``max_invalid_share`` of a file.
    """
    from retail_assets.lib.sources.tabular import Triage

    def make(path):
        return lambda rows, wanted: Triage(source, path, spec, rows, wanted)

    return _read_events(files, mapping, None, make, strict=spec.invalid_rows == "error")


def _set_aside(quarantine, files, rows: pl.DataFrame, column: str, reason: str):
    """``quarantine`` with ``rows`` (tagged ``_file``, ``_row``) added, file by file."""
    from retail_assets.lib.sources.tabular import quarantine_frame

    parts = [
        quarantine_frame(
            "app_events",
            Path(files[int(i)]),
            part["_row"],
            column,
            reason,
            part.select(pl.exclude("_file", "_row")),
        )
        for (i,), part in rows.partition_by("_file", as_dict=True).items()
    ]
    return pl.concat([quarantine, *parts]) if parts else quarantine


def _read_events(files, mapping, day=None, make=None, strict=False):
    from retail_assets.lib.sources.tabular import empty_quarantine

    frames, quarantined = [], [empty_quarantine()] if make else []
    for i, f in enumerate(files):
        out, bad = _read_event_file(Path(f), mapping, make(Path(f)) if make else None)
        frames.append(out.with_columns(pl.lit(i).alias("_file")))
        if bad is not None:
            quarantined.append(bad)
    columns = [c for c in APP_EVENT_COLUMNS if c not in ("event_id", "event_date")]
    quarantine = pl.concat(quarantined) if quarantined else None
    if not frames:
        return pl.DataFrame(schema=APP_EVENT_COLUMNS), quarantine
    identity = ["event_timestamp", "user_id", "event_type", "product_id"]
    tagged = pl.concat(frames).sort([*columns, "_file", "_row"], nulls_last=True)
    if make is None or strict:
        _fail_conflicting_events(files, tagged, identity, columns, mapping)
    else:
        conflicting = _conflicts(tagged, identity, columns)
        # The first row of an identity (in file and row order) stays; later ones go aside.
        first = conflicting.sort("_file", "_row").unique(
            subset=identity, keep="first", maintain_order=True
        )
        later = conflicting.join(first.select("_file", "_row"), on=["_file", "_row"], how="anti")
        if later.height:
            reason = (
                f"share an event_id with an earlier row (same timestamp, user, event type and "
                f"product) but differ in {_differ(conflicting, identity, mapping)}"
            )
            quarantine = _set_aside(quarantine, files, later, _identity_columns(mapping), reason)
            tagged = tagged.join(later.select("_file", "_row"), on=["_file", "_row"], how="anti")
        # Rows delivered twice (every column equal) are kept once; the repeats are counted.
        repeats = tagged.filter(~pl.struct(identity).is_first_distinct())
        quarantine = _set_aside(quarantine, files, repeats, "<row>", DUPLICATE_ROW)
    df = tagged.drop("_file", "_row").unique(subset=identity, keep="first", maintain_order=True)
    if mapping.columns.session is None:
        ts = pl.col("event_timestamp")
        gap = ts.diff().over("user_id")
        new = gap.is_null() | (gap > pl.duration(minutes=mapping.session_gap_minutes))
        start = pl.when(new).then(ts).forward_fill().over("user_id")
        df = df.sort("user_id", "event_timestamp").with_columns(
            pl.concat_str(pl.col("user_id"), pl.lit("-"), start.dt.epoch("s").cast(pl.Utf8)).alias(
                "session_id"
            )
        )
    df = df.with_columns(
        pl.col("event_timestamp")
        .dt.convert_time_zone(mapping.timezone)
        .dt.date()
        .alias("event_date")
    )
    if day is not None:
        df = df.filter(pl.col("event_date") == day)
    df = df.sort(identity)
    return df.with_columns(_event_ids(df)).select(list(APP_EVENT_COLUMNS)), quarantine


def dates_in_events(files: list[Path], mapping: EventsMapping) -> set[dt.date]:
    """The days (in ``mapping.timezone``) the events in ``files`` fall on.

    Reads only the timestamp column, so a sensor can cheaply ask for the partitions to run.

    Raises:
        IngestError: The timestamp column is missing, NULL or unparseable.

    """
    days: set[dt.date] = set()
    for f in files:
        path = Path(f)
        df, rows = _read_table(path, {"timestamp": mapping.columns.timestamp})
        ts = _parse_timestamps(path, df, rows, mapping)
        days |= set(ts.dt.convert_time_zone(mapping.timezone).dt.date().unique().to_list())
    return days


def read_events_day(
    files: list[Path], mapping: EventsMapping, day: dt.date, staging: Path
) -> pl.DataFrame:
    """:func:`read_events` for one day, parsing the files once per version of them.

    A backfill asks for every day of a file in turn; parsing a large file for each day would
    repeat the same work. The first call for a set of files (names, sizes, modification
    times) and mapping parses them all, with every check of :func:`read_events`, and writes
    one Parquet file per day under ``staging/<fingerprint>/``; later calls read their day
    from there. Staging is done under a file lock, each file is written to a temporary name
    and moved into place, and stale fingerprints are removed, so concurrent runs and changed
    files are safe.
    """
    folder = Path(staging) / _fingerprint(files, mapping)
    done = folder / "_COMPLETE"
    if not done.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            if not done.exists():
                _stage(read_events(files, mapping), folder)
                done.write_text("")
            for old in folder.parent.iterdir():
                if old.is_dir() and old != folder:
                    shutil.rmtree(old, ignore_errors=True)
    path = folder / f"date={day.isoformat()}.parquet"
    if not path.exists():
        return pl.DataFrame(schema=APP_EVENT_COLUMNS)
    return pl.read_parquet(path)


def _fingerprint(files: list[Path], mapping: EventsMapping) -> str:
    parts = [mapping.model_dump_json()]
    for f in sorted(Path(x).resolve() for x in files):
        stat = f.stat()
        parts.append(f"{f}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def _stage(events: pl.DataFrame, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for (day,), part in events.partition_by("event_date", as_dict=True).items():
        tmp = folder / f".date={day.isoformat()}.parquet.tmp"
        part.write_parquet(tmp)
        os.replace(tmp, folder / f"date={day.isoformat()}.parquet")


# ------------------------------------------------------------------ sales history


def read_sales_histories(files: list[Path]) -> pl.DataFrame:
    """Several sales history CSVs as one table (see :func:`read_sales_history`).

    A (series_id, date) pair in two files is an error naming the later file, not an
    overwrite.
    """
    tagged = pl.concat(
        [read_sales_history(f).with_columns(pl.lit(i).alias("_file")) for i, f in enumerate(files)],
        how="diagonal",
    )
    for column in SALES_HIERARCHY_COLUMNS:
        if column in tagged.columns and tagged[column].null_count():
            lacking = tagged.filter(pl.col(column).is_null())
            raise IngestError(
                files[int(lacking["_file"][0])],
                column,
                lacking.height,
                "is missing here but another file has it: every file of a sales history "
                "has the same hierarchy columns",
            )
    repeated = tagged.filter(pl.struct("series_id", "date").is_duplicated())
    if repeated.height:
        later = repeated.filter(pl.col("_file") == pl.col("_file").max())
        first = Path(files[int(repeated["_file"].min())]).name
        raise IngestError(
            files[int(later["_file"][0])],
            "series_id, date",
            later.height,
            f"repeat a series and day {first} already has",
            examples=[f"{r['series_id']} {r['date']}" for r in later.head(3).to_dicts()],
        )
    return tagged.drop("_file").sort("series_id", "date")


def read_sales_history(path: Path) -> pl.DataFrame:
    """A user's sales history CSV: one value per series and period (a day, week or month).

    The header is ``date,series_id,value`` or statsforecast's ``ds,unique_id,y``, optionally
    with where each series sits in the hierarchy: ``category``, ``store_id``, ``product_id``
    (other columns are ignored). Dates are ``YYYY-MM-DD`` (a midnight time, as statsforecast
    writes ``ds``, is accepted); a weekly or monthly history dates each period once.

    Returns:
        Columns ``date`` (Date), ``series_id`` (Utf8), ``value`` (Float64) and the hierarchy
        columns the file has, sorted by ``series_id`` then ``date``.

    Raises:
        IngestError: A column is missing; a value is NULL, not a date, not a finite number or
            negative; or a (series_id, date) pair appears more than once.

    """
    path = Path(path)
    df = _read_csv(path)
    if not set(SALES_COLUMNS) <= set(df.columns) and set(_STATSFORECAST_HEADER) <= set(df.columns):
        df = df.select(list(_STATSFORECAST_HEADER)).rename(_STATSFORECAST_HEADER)
    for column in SALES_COLUMNS:
        if column not in df.columns:
            raise IngestError(
                path,
                column,
                df.height,
                "is missing: the header must be date,series_id,value or ds,unique_id,y",
            )
    hierarchy = [c for c in SALES_HIERARCHY_COLUMNS if c in df.columns]
    df = df.select(*SALES_COLUMNS, *hierarchy)
    if df.is_empty():
        raise IngestError(path, "<file>", 0, "the file has a header but no rows")
    rows = pl.int_range(1, df.height + 1, eager=True)
    for column in SALES_COLUMNS:
        _fail(path, column, df[column].is_null(), "have no value", rows)
    text = pl.col("date").str.strip_chars()
    midnight = text.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False)
    date = pl.coalesce(
        text.str.to_date("%Y-%m-%d", strict=False),
        pl.when(midnight.dt.time() == dt.time(0)).then(midnight.dt.date()),
    )
    value = pl.col("value").str.strip_chars().cast(pl.Float64, strict=False)
    out = df.select(
        date.alias("date"),
        pl.col("series_id"),
        value.alias("value"),
        *[pl.col(c).str.strip_chars() for c in hierarchy],
    )
    for column in hierarchy:
        _fail(path, column, out[column].is_null() | (out[column] == ""), "are empty", rows)
        # A series sits in one place of the hierarchy: one category, store and product.
        places = out.group_by("series_id").agg(pl.col(column).n_unique().alias("n"))
        split = out["series_id"].is_in(places.filter(pl.col("n") > 1)["series_id"].implode())
        _fail(path, column, split, f"give a series more than one {column}", rows, out["series_id"])
    _fail(path, "date", out["date"].is_null(), "are not dates (YYYY-MM-DD)", rows, df["date"])
    bad_value = out["value"].is_null() | ~out["value"].is_finite()
    _fail(path, "value", bad_value, "are not numbers", rows, df["value"])
    _fail(path, "value", out["value"] < 0, "are negative", rows, df["value"])
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    _fail(
        path,
        "date",
        out["date"] > tomorrow,
        f"are in the future (after {tomorrow}): a sales history holds days that happened",
        rows,
        df["date"],
    )
    _fail_long_text(path, out.select("series_id"), rows)
    duplicated = out.select(pl.struct("series_id", "date").is_duplicated()).to_series()
    _fail(
        path,
        "series_id, date",
        duplicated,
        "repeat a (series_id, date) pair",
        rows,
        out.select(pl.format("{} {}", "series_id", "date")).to_series(),
    )
    return out.sort("series_id", "date")
