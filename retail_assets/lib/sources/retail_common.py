"""What the readers of a retailer's own files share: reading every file, ids, repeats, staging.

Each reader takes the files and the source's declaration
(:mod:`retail_assets.lib.sources.declarations`) and returns the table's rows and the quarantine
rows (:mod:`retail_assets.lib.sources.tabular`): rows that cannot be read are set aside with their
file, row number and reason, or fail the file, as the declaration says. Nothing here knows about
Dagster.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
from filelock import FileLock

from retail_assets.lib.sources.errors import DUPLICATE_ROW
from retail_assets.lib.sources.events_mapping import _timestamp
from retail_assets.lib.sources.file_source import FileSource
from retail_assets.lib.sources.tabular import (
    Triage,
    empty_quarantine,
    quarantine_frame,
    read_columns,
)

UNCATEGORIZED = "Uncategorized"
#: The reason of an exact repeat of an earlier row (counted apart from invalid rows).
DUPLICATE = DUPLICATE_ROW


def clean_id(values: pl.Series) -> pl.Series:
    """An id as text: stripped, '' as NULL, and ``17850.0`` (a spreadsheet's float) as 17850."""
    s = values.cast(pl.Utf8).str.strip_chars().str.replace(r"^(\d+)\.0+$", "$1")
    return pl.select(pl.when(s == "").then(None).otherwise(s)).to_series().alias(values.name)


def _timestamps(df: pl.DataFrame, column: str, spec: FileSource) -> pl.Series:
    return df.select(_timestamp(pl.col(column), df.schema[column], spec)).to_series()


def _local_date(ts: pl.Series, zone: str) -> pl.Series:
    return ts.dt.convert_time_zone(zone).dt.date()


def _read_all(
    source: str,
    files: list[Path],
    spec: FileSource,
    wanted: dict[str, str],
    parse: Callable[[pl.DataFrame, Triage], pl.DataFrame],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every file read with ``parse`` (which flags bad rows), split into clean and quarantine."""
    frames, quarantined = [], [empty_quarantine()]
    for i, path in enumerate(files):
        raw, rows = read_columns(path, spec, wanted)
        triage = Triage(source, path, spec, rows, wanted)
        parsed = parse(raw, triage).with_columns(
            pl.lit(i, dtype=pl.Int64).alias("_file"), rows.alias("_row")
        )
        clean, bad = triage.split(parsed, raw)
        frames.append(clean)
        quarantined.append(bad)
    out = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    return out, pl.concat(quarantined)


def _drop_repeats(
    source: str, files: list[Path], df: pl.DataFrame, columns: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows equal on ``columns`` to an earlier row (file order) once, the repeats quarantined."""
    repeat = df.select(pl.struct(columns).is_first_distinct().not_()).to_series()
    if not repeat.any():
        return df, empty_quarantine()
    dups = df.filter(repeat)
    parts = [
        quarantine_frame(
            source, files[int(i)], part["_row"], "<row>", DUPLICATE, part.select(columns)
        )
        for (i,), part in dups.partition_by("_file", as_dict=True, maintain_order=True).items()
    ]
    return df.filter(~repeat), pl.concat(parts)


def _nulls(n: int) -> pl.Series:
    return pl.Series([None] * n, dtype=pl.Utf8)


def fingerprint(files: list[Path], *parts: str) -> str:
    """A key for a set of files (paths, sizes, modification times) and a declaration."""
    text_parts = list(parts)
    for f in sorted(Path(x).resolve() for x in files):
        stat = f.stat()
        text_parts.append(f"{f}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(text_parts).encode()).hexdigest()[:20]


def staged(staging: Path, key: str, build: Callable[[], dict[str, pl.DataFrame]]) -> Path:
    """The folder of frames ``build`` returns (name -> frame), built once per ``key``.

    A history of files is parsed once, not once per day of a range: the first caller builds
    and writes every frame (``<name>.parquet``) under ``staging/<key>/``, later callers read
    them. Built under a file lock and moved into place; other keys' folders are removed.
    """
    folder = Path(staging) / key
    done = folder / "_COMPLETE"
    if not done.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            if not done.exists():
                folder.mkdir(parents=True, exist_ok=True)
                for name, frame in build().items():
                    tmp = folder / f".{name}.parquet.tmp"
                    frame.write_parquet(tmp)
                    os.replace(tmp, folder / f"{name}.parquet")
                done.write_text(dt.datetime.now(dt.UTC).isoformat())
            for old in folder.parent.iterdir():
                if old.is_dir() and old != folder:
                    shutil.rmtree(old, ignore_errors=True)
    return folder
