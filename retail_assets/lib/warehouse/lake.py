"""The one module that reads and writes the lake and keeps the DuckDB catalog.

Layout (see ARCHITECTURE.md):

- ``<lake_root>/<schema>/<table>/date=YYYY-MM-DD/data.parquet``: one file per daily partition;
  ``<lake_root>/<schema>/<table>/data.parquet`` for an unpartitioned table.
- ``<lake_root>/<schema>/<table>/view.json``: a view over other tables (a ``view`` SQL model):
  its SQL and the tables it reads. It gets a catalog view like any table.
- ``<landing_root>/...``: the same layout for raw data that carries PII; it never gets a view.
- ``<warehouse_path>``: a DuckDB file holding only views (``<schema>.<table>``) over the Parquet
  files. Views re-read the files on every query, so a view is created once, when a table first
  appears, and a replaced partition is visible at once to every reader.

Files are written to a temporary name in the target folder and moved into place with
``os.replace``, so a reader sees the old partition or the new one, never half of either.

DuckDB lets one process open a database file for writing only while no other process has it
open at all. Runs therefore never hold the catalog: they compute in their own in-memory
connections and touch the catalog only to create a missing view, under a file lock, in a copy
of the catalog that is renamed over it. A reader opens the old catalog or the new one and is
never locked out; one that holds the old file keeps seeing its views (over the same Parquet
files) until it reconnects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import graphlib
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import duckdb
import polars as pl
from filelock import FileLock, Timeout

SCHEMAS = ("raw", "governed", "features", "ml", "activation")
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
DATA_FILE = "data.parquet"
VIEW_FILE = "view.json"
CATALOG_MARKER = ".in_catalog"
#: Footer key holding a digest of the rows a partition file was written with, so a scrub can
#: tell a flipped bit in a data page from good data (Parquet pages carry no checksum here).
DIGEST_KEY = "retail_assets.rows_digest"


class LakeWriteError(OSError):
    """A partition could not be written (disk full, read-only folder, ...).

    The message names the file and says what to do; the partition already in the lake is
    unchanged. ``errno`` is the operating system's error number when one was given.
    """


class CorruptFileError(ValueError):
    """A lake file exists but cannot be read as Parquet; the message names the file."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        size = path.stat().st_size if path.exists() else 0
        super().__init__(
            f"corrupted Parquet file {path} ({size} bytes): {detail}. Re-materialize that "
            "partition to rewrite it (the lake keeps no second copy)."
        )


_OS_ERROR = re.compile(r"os error (\d+)")
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def _write_error(target: Path, exc: BaseException, what: str = "writing") -> LakeWriteError:
    """A :class:`LakeWriteError` for ``exc`` raised while writing ``target``.

    polars reports I/O failures as ``ComputeError("... (os error 28)")``; the number is
    recovered from the text so both kinds get the same advice.
    """
    code = getattr(exc, "errno", None)
    if code is None and (m := _OS_ERROR.search(str(exc))):
        code = int(m.group(1))
    reason = getattr(exc, "strerror", None) or str(exc)
    if code in _NO_SPACE:
        free = _free_bytes(target)
        advice = (
            f"no space left on the disk ({free / 2**20:.1f} MiB free there). Free some space "
            "or point RETAIL_DATA_DIR (or RETAIL_LAKE_ROOT) at a larger disk, then re-run"
        )
    elif code in _NOT_WRITABLE:
        advice = (
            f"the data folder is not writable ({reason}). Make {_existing(target)} writable or "
            "set RETAIL_DATA_DIR to a writable folder, then re-run"
        )
    else:
        advice = f"{reason}. Check that the data folder exists, is writable and has free space"
    error = LakeWriteError(
        f"{what} {target} failed: {advice}. The partition already there, if any, is unchanged."
    )
    error.errno = code
    return error


def _existing(path: Path) -> Path:
    """The nearest folder of ``path`` that exists."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(_existing(path)).free
    except OSError:
        return 0


@dataclass(frozen=True)
class WriteResult:
    """Where a partition was written and how big it is."""

    path: Path
    rows: int
    bytes: int


@dataclass(frozen=True)
class ViewResult:
    """Outcome of making sure a catalog view exists."""

    name: str
    status: str  # "exists", "created", "busy" (catalog held by a reader), "no_data"
    detail: str = ""


def _fsync(path: Path) -> None:
    """Flush a written file's data to disk before it is renamed into place."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def partition_dir_name(partition: str) -> str:
    """Folder name of a daily partition, e.g. ``date=2025-03-01``."""
    return f"date={partition}"


def _check_ident(*names: str) -> None:
    for name in names:
        if not _IDENT.match(name):
            raise ValueError(f"invalid schema or table name {name!r}: use lower_snake_case")


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
        lake: Lake,
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
        Lake._make_parent(self.staging)
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
                Lake._make_parent(target)
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


def write_partition_file(df: pl.DataFrame, path: Path) -> None:
    """Write one partition's file as every writer of the lake does: zstd, statistics, digest.

    One function, so a day written alone and a day written in a range are the same bytes.
    """
    df.write_parquet(
        path, compression="zstd", statistics=True, metadata={DIGEST_KEY: rows_digest(df)}
    )


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

    def __init__(self, lake: Lake, schema: str, table: str, landing: bool = False) -> None:
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
        Lake._make_parent(target)
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


class Lake:
    """Reads and writes partition files and keeps the catalog of views."""

    def __init__(
        self,
        lake_root: str | Path,
        landing_root: str | Path,
        warehouse_path: str | Path,
        lock_timeout_s: float = 10.0,
        memory_limit: str | None = None,
    ) -> None:
        self.lake_root = Path(lake_root).absolute()
        self.landing_root = Path(landing_root).absolute()
        self.warehouse_path = Path(warehouse_path).absolute()
        self.lock_timeout_s = lock_timeout_s
        self.memory_limit = memory_limit or _half_of_memory()

    # ------------------------------------------------------------------ paths
    def table_dir(self, schema: str, table: str, landing: bool = False) -> Path:
        """Folder holding every partition of ``schema.table``."""
        _check_ident(schema, table)
        return (self.landing_root if landing else self.lake_root) / schema / table

    def partition_path(
        self,
        schema: str,
        table: str,
        partition: str | None,
        landing: bool = False,
        filename: str = DATA_FILE,
    ) -> Path:
        """Path of one partition's file (``partition=None`` for an unpartitioned table)."""
        base = self.table_dir(schema, table, landing)
        return (base / partition_dir_name(partition) if partition else base) / filename

    def partition_files(
        self,
        schema: str,
        table: str,
        partitions: Sequence[str] | None = None,
        landing: bool = False,
    ) -> list[Path]:
        """Existing data files of a table, optionally only the given partitions, sorted."""
        base = self.table_dir(schema, table, landing)
        if partitions is None:
            files = sorted(base.glob(f"date=*/{DATA_FILE}"))
            if (base / DATA_FILE).exists():
                files.append(base / DATA_FILE)
            return files
        paths = [self.partition_path(schema, table, p, landing) for p in partitions]
        return [p for p in paths if p.exists()]

    def glob(self, schema: str, table: str) -> str:
        """The glob a catalog view reads."""
        base = self.table_dir(schema, table)
        if (base / DATA_FILE).exists():
            return str(base / DATA_FILE)
        return str(base / "date=*" / DATA_FILE)

    # ------------------------------------------------------------------ writes
    def write_partition(
        self,
        df: pl.DataFrame,
        schema: str,
        table: str,
        partition: str | None,
        landing: bool = False,
    ) -> WriteResult:
        """Write ``df`` as the whole partition, atomically replacing any earlier file."""
        target = self.partition_path(schema, table, partition, landing)
        with self._atomic_target(target) as tmp:
            write_partition_file(df, tmp)
        return WriteResult(path=target, rows=df.height, bytes=target.stat().st_size)

    def stage_days(self, schema: str, table: str, landing: bool = False) -> StagedDays:
        """Start writing daily partitions of ``schema.table`` one day at a time, unpublished.

        Nothing is visible until :meth:`StagedDays.publish`; leaving a ``with`` block without
        publishing deletes what was written.
        """
        return StagedDays(self, schema, table, landing)

    def stage(
        self,
        frame: pl.DataFrame,
        schema: str,
        table: str,
        partition_column: str | None = None,
        days: Sequence[str] = (),
    ) -> StagedWrite:
        """Start writing ``frame`` as the table, or split into the daily partitions ``days``.

        Nothing is visible until :meth:`StagedWrite.publish`. Use it as a context manager:
        leaving the block without publishing deletes what was written.
        """
        return StagedWrite(self, frame, schema, table, partition_column, days)

    def write_bytes(
        self,
        data: bytes,
        schema: str,
        table: str,
        partition: str | None,
        filename: str,
    ) -> Path:
        """Write a non-tabular artifact (a JSON payload, a plot) atomically beside a table."""
        target = self.partition_path(schema, table, partition, filename=filename)
        with self._atomic_target(target) as tmp:
            tmp.write_bytes(data)
        return target

    def write_view(
        self, schema: str, table: str, sql: str, refs: Sequence[tuple[str, str]]
    ) -> Path:
        """Store a view's definition (its SQL and the tables it reads), atomically."""
        target = self.table_dir(schema, table) / VIEW_FILE
        body = json.dumps({"sql": sql, "refs": [list(r) for r in refs]}, indent=1)
        with self._atomic_target(target) as tmp:
            tmp.write_text(body, encoding="utf-8")
        return target

    def view_definition(self, schema: str, table: str) -> tuple[str, list[tuple[str, str]]] | None:
        """``(sql, refs)`` of a stored view, or None if the table is not a view."""
        path = self.table_dir(schema, table) / VIEW_FILE
        if not path.exists():
            return None
        spec = json.loads(path.read_text(encoding="utf-8"))
        return spec["sql"], [tuple(r) for r in spec["refs"]]

    def has_data(self, schema: str, table: str) -> bool:
        """True when the table has a partition file or a stored view definition."""
        return bool(self.partition_files(schema, table)) or (
            self.view_definition(schema, table) is not None
        )

    @staticmethod
    def _make_parent(target: Path) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_error(target.parent, exc, "creating") from exc

    @contextlib.contextmanager
    def _atomic_target(self, target: Path) -> Iterator[Path]:
        self._make_parent(target)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            yield tmp
            _fsync(tmp)
            os.replace(tmp, target)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise _write_error(target, exc) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    # ------------------------------------------------------------------ reads
    def read(
        self,
        schema: str,
        table: str,
        partitions: Sequence[str] | None = None,
        landing: bool = False,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Read partitions of a table (only ``columns``, if given) into one frame.

        Returns an empty frame when there are no partitions.
        """
        files = self.partition_files(schema, table, partitions, landing)
        if not files:
            return pl.DataFrame()
        frames = [read_parquet_file(f, columns) for f in files]
        return pl.concat(frames, how="diagonal_relaxed")

    def compute_connection(
        self,
        tables: Sequence[tuple[str, str]],
        empty: Mapping[tuple[str, str], pl.DataFrame] | None = None,
        views: Mapping[tuple[str, str], tuple[str, Sequence[tuple[str, str]]]] | None = None,
        days: Sequence[str] | None = None,
    ) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with a view per lake table named in ``tables``.

        Runs compute here, never in the catalog file, so they never lock out readers. A view
        (from ``views``, ``(sql, refs)`` by table, or else stored in the lake) brings the
        tables it reads along. Tables in ``empty`` that have no data yet are read as that
        (empty) frame. Raises ``LookupError`` naming any other table without data.

        With ``days`` (partition keys), a daily table's view reads only those days' files
        (all of them if it has none of those days): DuckDB reads the footer of every file a
        view names each time a query binds it, a cost that would grow with history.
        """
        con = duckdb.connect(":memory:")
        # TIMESTAMPTZ results reach polars in the session time zone; make it UTC everywhere.
        con.execute("SET TimeZone = 'UTC'")
        # DuckDB's default (80 % of memory) leaves no room for the result the run then holds;
        # past the limit large joins and aggregates spill to the lake's temp folder instead.
        con.execute(f"SET memory_limit = '{self.memory_limit}'")
        con.execute(f"SET temp_directory = '{_sql_str(str(self.lake_root / '.duckdb_tmp'))}'")
        missing: list[str] = []
        done: set[tuple[str, str]] = set()
        schemas: set[str] = set()

        def add(schema: str, table: str) -> None:
            if (schema, table) in done:
                return
            done.add((schema, table))
            if schema not in schemas:
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                schemas.add(schema)
            view = (views or {}).get((schema, table)) or self.view_definition(schema, table)
            if view is not None:
                sql, refs = view
                for ref in refs:
                    add(*ref)
                con.execute(f'CREATE OR REPLACE VIEW "{schema}"."{table}" AS {sql}')
                return
            files = self.partition_files(schema, table)
            if days is not None:
                wanted = {partition_dir_name(d) for d in days}
                files = [f for f in files if f.parent.name in wanted] or files
            if files:
                con.execute(
                    f'CREATE OR REPLACE VIEW "{schema}"."{table}" AS SELECT * FROM read_parquet('
                    f"{_sql_list(files)}, union_by_name = true, hive_partitioning = false)"
                )
            elif empty and (schema, table) in empty:
                name = f"__empty_{schema}_{table}"
                con.register(name, empty[(schema, table)].clear())
                con.execute(f'CREATE OR REPLACE VIEW "{schema}"."{table}" AS SELECT * FROM {name}')
            else:
                missing.append(f"{schema}.{table}")

        try:
            for schema, table in tables:
                _check_ident(schema, table)
                add(schema, table)
        except duckdb.Error:
            con.close()
            raise
        if missing:
            con.close()
            raise LookupError(
                f"no data yet for {', '.join(missing)}: materialize the upstream asset(s) first"
            )
        return con

    # ------------------------------------------------------------------ catalog
    def _lock(self) -> FileLock:
        self.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.warehouse_path) + ".lock", timeout=self.lock_timeout_s)

    def catalog_views(self) -> set[str]:
        """Names (``schema.table``) of the views in the catalog; raises if it cannot be read."""
        if not self.warehouse_path.exists():
            return set()
        with duckdb.connect(str(self.warehouse_path), read_only=True) as con:
            rows = con.execute(
                "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        return {r[0] for r in rows}

    def _marker(self, schema: str, table: str) -> Path:
        return self.table_dir(schema, table) / CATALOG_MARKER

    def _catalog_identity(self) -> str:
        """The catalog file's path and inode: a deleted and recreated catalog differs."""
        try:
            return f"{self.warehouse_path}:{self.warehouse_path.stat().st_ino}"
        except FileNotFoundError:
            return ""

    def ensure_view(self, schema: str, table: str) -> ViewResult:
        """Create the catalog view for a table if it is missing. Never raises for a busy catalog.

        A marker beside the table remembers that this catalog has its view, so the usual
        case (the view exists) does not open the catalog at all.
        """
        name = f"{schema}.{table}"
        marker = self._marker(schema, table)
        if marker.exists() and marker.read_text(encoding="utf-8") == self._catalog_identity():
            return ViewResult(name, "exists")
        if not self.has_data(schema, table):
            return ViewResult(name, "no_data", "no partition file yet")
        try:
            if name in self.catalog_views():
                marker.write_text(self._catalog_identity(), encoding="utf-8")
                return ViewResult(name, "exists")
        except duckdb.Error:
            pass  # a writer holds it right now; try to take our turn below
        return self._create_views([(schema, table)])[0]

    def refresh_catalog(self) -> list[ViewResult]:
        """Create or re-point a view for every table in the lake (not the landing area)."""
        tables = []
        if self.lake_root.exists():
            for schema_dir in sorted(p for p in self.lake_root.iterdir() if p.is_dir()):
                for table_dir in sorted(p for p in schema_dir.iterdir() if p.is_dir()):
                    if _IDENT.match(schema_dir.name) and _IDENT.match(table_dir.name):
                        if self.has_data(schema_dir.name, table_dir.name):
                            tables.append((schema_dir.name, table_dir.name))
        return self._create_views(tables)

    def publish_view(self, schema: str, table: str) -> ViewResult:
        """Create or replace the catalog view of a stored view (and any missing upstream view)."""
        try:
            present = self.catalog_views()
        except duckdb.Error:
            present = set()
        _, refs = self.view_definition(schema, table) or ("", [])
        upstream = [r for r in refs if f"{r[0]}.{r[1]}" not in present and self.has_data(*r)]
        return self._create_views([*upstream, (schema, table)])[-1]

    def _create_views(self, tables: Sequence[tuple[str, str]]) -> list[ViewResult]:
        names = [f"{s}.{t}" for s, t in tables]
        # Stored views are created after the tables they read.
        views = {t: self.view_definition(*t) for t in tables}
        graph = {t: [r for r in (v[1] if v else []) if r in views] for t, v in views.items()}
        ordered = list(graphlib.TopologicalSorter(graph).static_order())

        def create(con: duckdb.DuckDBPyConnection) -> None:
            for schema, table in ordered:
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                view = views[(schema, table)]
                source = (
                    view[0]
                    if view
                    else f"SELECT * FROM read_parquet('{_sql_str(self.glob(schema, table))}', "
                    "union_by_name = true, hive_partitioning = false)"
                )
                con.execute(f'CREATE OR REPLACE VIEW "{schema}"."{table}" AS {source}')

        try:
            with self._lock():
                self._rewrite_catalog(create)
        except (duckdb.IOException, duckdb.ConnectionException, Timeout) as exc:
            detail = (
                f"catalog {self.warehouse_path} is open in another process "
                f"({exc.__class__.__name__}); the data is written and the view will be created "
                "by the next run or by `retail-assets catalog refresh`"
            )
            return [ViewResult(n, "busy", detail) for n in names]
        for schema, table in ordered:
            self._marker(schema, table).write_text(self._catalog_identity(), encoding="utf-8")
        return [ViewResult(n, "created") for n in names]

    def _rewrite_catalog(self, create) -> None:
        """Run ``create(connection)`` on a copy of the catalog, then move the copy into place.

        Call it under :meth:`_lock`. While a process has a DuckDB file open for writing, no
        other process can open it, not even read-only: written in place, the catalog would lock
        out every reader for as long as the write takes (and a reader holding it would make
        the write fail). The copy is taken under a read-only connection (so nothing writes the
        catalog meanwhile), written by this process alone and renamed over the catalog: a
        reader opens the old catalog or the new one, never a locked file; one that holds the
        old one keeps it until it reconnects (its views read the same files). A catalog with a
        write-ahead log (a writer crashed, or holds it open) is written in place, as before.
        """
        if Path(f"{self.warehouse_path}.wal").exists():
            with duckdb.connect(str(self.warehouse_path)) as con:
                create(con)
            return
        fresh = self.warehouse_path.with_name(f".{self.warehouse_path.name}.{uuid.uuid4().hex}")
        try:
            if self.warehouse_path.exists():
                with duckdb.connect(str(self.warehouse_path), read_only=True):
                    shutil.copyfile(self.warehouse_path, fresh)
            with duckdb.connect(str(fresh)) as con:
                create(con)
            _fsync(fresh)
            os.replace(fresh, self.warehouse_path)
        finally:
            for leftover in (fresh, Path(f"{fresh}.wal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()


def _half_of_memory() -> str:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(total // 2 // 2**20, 256)}MiB"


def read_parquet_file(path: Path, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Read one Parquet file through a single open handle.

    Reading by path lets polars open the file more than once; if a writer replaces the
    partition in between, the two opens see different files. One handle pins one version.
    """
    with open(path, "rb") as fh:
        try:
            return pl.read_parquet(fh, columns=list(columns) if columns else None)
        except (pl.exceptions.PolarsError, OSError) as exc:
            if isinstance(exc, pl.exceptions.ColumnNotFoundError):
                raise
            raise CorruptFileError(path, str(exc).splitlines()[0]) from exc


def rows_digest(df: pl.DataFrame) -> str:
    """A digest of ``df``'s schema and rows, prefixed with the polars version that made it.

    ``hash_rows`` is stable within one polars version only, hence the prefix.
    """
    digest = hashlib.sha256(repr(list(df.schema.items())).encode())
    if df.height:
        digest.update(df.hash_rows(seed=0, seed_1=1, seed_2=2, seed_3=3).to_numpy().tobytes())
    return f"polars-{pl.__version__}:{digest.hexdigest()}"


def verify_parquet_file(path: Path) -> tuple[int, bool]:
    """Decode every page of one Parquet file and compare it with the digest in its footer.

    Returns ``(rows, digest_checked)``: files written by another polars version, or by the
    SQL models' partitioned writer, have no comparable digest and are checked by decoding
    only.

    Raises:
        CorruptFileError: naming the file, when its footer or a page cannot be read, the
            footer's row count disagrees with the rows decoded, or the rows differ from the
            digest written with them.

    """
    try:
        df = read_parquet_file(path)
        declared = pl.scan_parquet(path).select(pl.len()).collect().item()
        stored = pl.read_parquet_metadata(path).get(DIGEST_KEY)
    except CorruptFileError:
        raise
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CorruptFileError(path, str(exc).splitlines()[0]) from exc
    if df.height != declared:
        raise CorruptFileError(path, f"the footer says {declared} rows, the pages hold {df.height}")
    if not stored or not stored.startswith(f"polars-{pl.__version__}:"):
        return df.height, False
    if rows_digest(df) != stored:
        raise CorruptFileError(path, "its rows differ from the digest written with them")
    return df.height, True


def _sql_str(value: str) -> str:
    return value.replace("'", "''")


def _sql_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join(f"'{_sql_str(str(p))}'" for p in paths) + "]"
