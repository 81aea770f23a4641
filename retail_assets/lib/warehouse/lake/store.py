"""The ``Lake``: where each table's files live, atomic writes, reads, compute and the catalog.

DuckDB lets one process open a database file for writing only while no other process has it
open at all. Runs therefore never hold the catalog: they compute in their own in-memory
connections and touch the catalog only to create a missing view, under a file lock, in a copy
of the catalog that is renamed over it. A reader opens the old catalog or the new one and is
never locked out; one that holds the old file keeps seeing its views (over the same Parquet
files) until it reconnects.
"""

from __future__ import annotations

import contextlib
import graphlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import duckdb
import polars as pl
from filelock import FileLock, Timeout

from retail_assets.lib.warehouse.lake.files import (
    _IDENT,
    CATALOG_MARKER,
    DATA_FILE,
    VIEW_FILE,
    ViewResult,
    WriteResult,
    _check_ident,
    _fsync,
    _make_parent,
    _write_error,
    partition_dir_name,
    read_parquet_file,
    write_partition_file,
)
from retail_assets.lib.warehouse.lake.staging import StagedDays, StagedWrite


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

    _make_parent = staticmethod(_make_parent)

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


def _sql_str(value: str) -> str:
    return value.replace("'", "''")


def _sql_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join(f"'{_sql_str(str(p))}'" for p in paths) + "]"
