"""Staged writes: partition files written under hidden names, published all together.

Write-audit-publish: a run stages its days while it checks them, and only publishing renames
them into place, so a failed check leaves every earlier partition as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote

import polars as pl

from retail_assets.lib.warehouse.lake.files import (
    DATA_FILE,
    LakeWriteError,
    WriteResult,
    _fsync,
    _make_parent,
    _write_error,
    write_partition_file,
)


class _LakePaths(Protocol):
    """What staging needs of the :class:`~retail_assets.lib.warehouse.lake.store.Lake`."""

    def table_dir(self, schema: str, table: str, landing: bool = False) -> Path: ...

    def partition_path(
        self,
        schema: str,
        table: str,
        partition: str | None,
        landing: bool = False,
        filename: str = DATA_FILE,
    ) -> Path: ...


class StagedWrite:
    """Partition files being written under hidden names, not yet visible to readers.

    The write runs on a background thread while the caller audits the data. A daily table is
    written by polars in one partitioned write (parallel, in Rust) into a hidden staging
    folder inside the table's folder; days without rows get an empty file with the schema.

    A run over a range stages it in batches: :meth:`add` writes the next sub-window's days
    into the same staging folder once the previous batch is on disk, so the caller computes
    a batch while the one before it is written, and at most two batches are in memory. Only
    the row counts are kept of a written batch.

    :meth:`publish` flushes every file to disk at once (``fsync`` waits on the disk, not on a
    core, so they run side by side and the journal commits them together), then renames each
    into place, oldest day first: a reader sees a day's old file or its new one, never half of
    one. A failure before the renames, or :meth:`discard`, leaves every earlier partition as
    it was.
    """

    def __init__(
        self,
        lake: _LakePaths,
        frame: pl.DataFrame,
        schema: str,
        table: str,
        partition_column: str | None,
        days: Sequence[str],
    ) -> None:
        self.lake, self.schema, self.table = lake, schema, table
        self.table_dir = lake.table_dir(schema, table)
        self.column = partition_column
        self.staging = self.table_dir / f".staging-{uuid.uuid4().hex}"
        _make_parent(self.staging)
        self.targets: dict[str | None, Path] = {}
        self.files: dict[str | None, Path] = {}
        self.rows: dict[str | None, int] = {}
        self._batches = 0
        self._discarded = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-stage")
        self._job = None  # the batch being written (a Future), if any
        self.add(frame, days)

    @property
    def days(self) -> list[str | None]:
        """Every day staged so far, in the order added (``[None]`` for a whole table)."""
        return list(self.targets)

    def add(self, frame: pl.DataFrame, days: Sequence[str]) -> None:
        """Stage ``frame`` as the daily partitions ``days`` (none of them staged before).

        Waits until the previous batch is written (raising its :class:`LakeWriteError`, if
        any), then writes this one on the background thread.
        """
        if self._discarded:
            raise RuntimeError(f"{self.schema}.{self.table}: staged write already discarded")
        batch: list[str | None] = list(days) if self.column else [None]
        if self.column is None and self.targets:
            raise ValueError(f"{self.schema}.{self.table}: a whole table is staged once")
        again = [d for d in batch if d in self.targets]
        if again:
            raise ValueError(f"{self.schema}.{self.table}: day(s) {again} staged twice")
        self._finish_batch()
        if self.column is None:
            self.rows[None] = frame.height
        else:
            counts = frame.group_by(self.column).len() if frame.height else None
            by_day = {d.isoformat(): n for d, n in counts.iter_rows()} if counts is not None else {}
            self.rows.update({day: by_day.get(day, 0) for day in batch})
        for day in batch:
            self.targets[day] = self.lake.partition_path(self.schema, self.table, day)
        folder = self.staging / str(self._batches)
        self._batches += 1
        self._job = self._pool.submit(self._write, frame, batch, folder)

    def _write(self, frame: pl.DataFrame, days: list[str | None], folder: Path) -> None:
        try:
            self._write_files(frame, days, folder)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise _write_error(self.table_dir, exc) from exc

    def _write_files(self, frame: pl.DataFrame, days: list[str | None], folder: Path) -> None:
        folder.mkdir(parents=True)
        if self.column is None:
            self.files[None] = folder / DATA_FILE
            frame.write_parquet(self.files[None], compression="zstd", statistics=True)
            return
        if frame.height:
            frame.write_parquet(
                folder, partition_by=self.column, compression="zstd", statistics=True
            )
        # polars names each folder <column>=<value>; a day it wrote as anything but one
        # file, and every day without rows, is written here on its own.
        found: dict[str, list[Path]] = {}
        for path in folder.glob("*/*.parquet"):
            key, _, value = path.parent.name.partition("=")
            if key == self.column:
                found.setdefault(unquote(value), []).append(path)
        for day in days:
            paths = found.get(day, [])
            if len(paths) == 1:
                self.files[day] = paths[0]
                continue
            part = frame.filter(pl.col(self.column) == dt.date.fromisoformat(day))
            self.files[day] = folder / f"{day}.parquet"
            part.write_parquet(self.files[day], compression="zstd", statistics=True)

    def _finish_batch(self) -> None:
        """Wait for the batch being written; raises its error."""
        job, self._job = self._job, None
        if job is not None:
            job.result()

    def _wait(self) -> None:
        try:
            self._finish_batch()
        finally:
            self._pool.shutdown(wait=True)

    def publish(self) -> list[WriteResult]:
        """Wait for the writes, flush them to disk and move every file into place."""
        try:
            self._wait()
            with ThreadPoolExecutor(max_workers=max(1, min(16, len(self.files)))) as pool:
                list(pool.map(_fsync, self.files.values()))
            for day, target in self.targets.items():
                _make_parent(target)
                os.replace(self.files[day], target)
        except LakeWriteError:
            raise
        except OSError as exc:
            raise _write_error(self.table_dir, exc) from exc
        finally:
            self.discard()
        return [
            WriteResult(path=target, rows=self.rows[day], bytes=target.stat().st_size)
            for day, target in self.targets.items()
        ]

    def discard(self) -> None:
        """Delete the staging folder and whatever is left in it (published files stay)."""
        self._discarded = True
        with contextlib.suppress(Exception):
            self._wait()
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> StagedWrite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


class StagedDays:
    """Daily partitions written one by one under hidden names, published all together.

    Write-audit-publish over a range: a run adds each day's audited frame as it goes (so a
    year of days never sits in memory at once), and only :meth:`publish` moves the files into
    place, after every day has passed. Each file goes to a temporary name beside its target
    (``.data.parquet.<uuid>.tmp``, which the nightly scrub removes if a killed run left it);
    :meth:`discard` deletes them all, leaving every earlier partition as it was.
    """

    #: Days written ahead of the caller at most: bounds the frames held by the writer.
    MAX_PENDING = 8

    def __init__(self, lake: _LakePaths, schema: str, table: str, landing: bool = False) -> None:
        self.lake = lake
        self.schema, self.table, self.landing = schema, table, landing
        self.staged: dict[str, tuple[Path, Path, int]] = {}
        # Compressing and writing a day runs in Rust without the GIL: a writer thread does it
        # while the caller computes the next day, so a range uses the second core.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage-days")
        self._pending: list[Future] = []

    def add(self, day: str, df: pl.DataFrame) -> None:
        """Write ``df`` as day ``day``'s partition under a temporary name (not yet visible).

        The write happens on a background thread; an error surfaces at the next ``add`` or at
        :meth:`publish`.
        """
        if day in self.staged:
            raise ValueError(f"{self.schema}.{self.table}: day {day} was staged twice")
        target = self.lake.partition_path(self.schema, self.table, day, self.landing)
        _make_parent(target)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        self.staged[day] = (tmp, target, df.height)
        self._pending.append(self._pool.submit(self._write, df, tmp, target))
        while len(self._pending) > self.MAX_PENDING:
            self._pending.pop(0).result()

    @staticmethod
    def _write(df: pl.DataFrame, tmp: Path, target: Path) -> None:
        try:
            write_partition_file(df, tmp)
        except (OSError, pl.exceptions.PolarsError) as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise _write_error(target, exc) from exc

    def wait(self) -> None:
        """Wait for every write under way; raise the first write error."""
        pending, self._pending = self._pending, []
        errors = []
        for job in pending:
            try:
                job.result()
            except Exception as exc:  # noqa: BLE001 - the first one is raised below
                errors.append(exc)
        if errors:
            raise errors[0]

    def publish(self) -> list[WriteResult]:
        """Flush every staged file to disk, then rename each into place (oldest day first)."""
        try:
            self.wait()
            with ThreadPoolExecutor(max_workers=max(1, min(16, len(self.staged)))) as pool:
                list(pool.map(_fsync, [tmp for tmp, _, _ in self.staged.values()]))
            results = []
            for tmp, target, rows in self.staged.values():
                os.replace(tmp, target)
                results.append(WriteResult(path=target, rows=rows, bytes=target.stat().st_size))
        except LakeWriteError:
            raise
        except OSError as exc:
            raise _write_error(self.lake.table_dir(self.schema, self.table), exc) from exc
        finally:
            self.discard()  # what is left after the renames: nothing, or a failed write's
        return results

    def discard(self) -> None:
        """Delete every staged file not yet published."""
        with contextlib.suppress(Exception):
            self.wait()
        for tmp, _, _ in self.staged.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.staged.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> StagedDays:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
