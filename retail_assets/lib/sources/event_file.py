"""One generic event file read into the canonical app-events columns, every row checked.

:func:`_read_event_file` reads the mapped columns (CSV or Parquet here; the other formats a
retailer may declare through :func:`retail_assets.lib.sources.tabular.read_columns`), parses
timestamps, prices, sessions and consent, and fails the file on a bad row, or, given a
:class:`retail_assets.lib.sources.tabular.Triage`, sets bad rows aside.
:mod:`retail_assets.lib.sources.events` combines the files.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from retail_assets.lib.sources.errors import (
    MAX_FUTURE,
    IngestError,
    _days,
    _fail,
    _fail_long_text,
    _first_line,
    _future_limit,
    _read_csv,
)
from retail_assets.lib.sources.events_mapping import EventsMapping, _timestamp, consent_values
from retail_assets.lib.sources.file_source import FileSource
from retail_assets.lib.sources.tabular import quarantine_frame, read_columns


def _read_table(path: Path, wanted: dict[str, str]) -> tuple[pl.DataFrame, pl.Series]:
    """The ``wanted`` source columns of a CSV (all as text) or Parquet file, and row numbers.

    Other formats a retailer may declare (TSV, NDJSON, gzipped files) are read by
    :func:`retail_assets.lib.sources.tabular.read_columns`.
    """
    name = path.name.lower()
    if not name.endswith((".csv", ".parquet")):
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
