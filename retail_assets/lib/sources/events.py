"""Generic event files into ``raw.app_events``: one event once, sessions, event ids, days.

CSV (header row, UTF-8, ``"``-quoting, fields may contain newlines) or Parquet, mapped onto the
canonical columns by ``events_mapping.yaml``
(:class:`retail_assets.lib.sources.events_mapping.EventsMapping`), each file read by
:mod:`retail_assets.lib.sources.event_file`. Rows delivered twice are kept once; the same event
with other content is a conflict. :func:`read_events_day` parses a set of files once and stages
it by day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path

import polars as pl
from filelock import FileLock

from retail_assets.lib.sources.errors import DUPLICATE_ROW, IngestError
from retail_assets.lib.sources.event_file import _parse_timestamps, _read_event_file, _read_table
from retail_assets.lib.sources.events_mapping import EventsMapping
from retail_assets.lib.sources.tabular import Triage, empty_quarantine, quarantine_frame

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
        mapping: How to read them (see
            :func:`~retail_assets.lib.sources.events_mapping.load_events_mapping`).
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

    ``spec`` is the source's declaration
    (:class:`retail_assets.lib.sources.file_source.FileSource`).
    Under ``quarantine``, bad rows and the later rows of an identity conflict (the same timestamp,
    user, event type and product as an earlier row with another price, category or session)
    are quarantined with file, row number and reason, up to ``max_invalid_share`` of a file.
    """

    def make(path):
        return lambda rows, wanted: Triage(source, path, spec, rows, wanted)

    return _read_events(files, mapping, None, make, strict=spec.invalid_rows == "error")


def _set_aside(quarantine, files, rows: pl.DataFrame, column: str, reason: str):
    """``quarantine`` with ``rows`` (tagged ``_file``, ``_row``) added, file by file."""
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
