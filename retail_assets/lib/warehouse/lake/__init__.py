"""The lake: Parquet partition files, and the DuckDB catalog of views over them.

Layout (see ARCHITECTURE.md):

- ``<lake_root>/<schema>/<table>/date=YYYY-MM-DD/data.parquet``: one file per daily partition;
  ``<lake_root>/<schema>/<table>/data.parquet`` for an unpartitioned table.
- ``<lake_root>/<schema>/<table>/view.json``: a view over other tables (a ``view`` SQL model):
  its SQL and the tables it reads. It gets a catalog view like any table.
- ``<landing_root>/...``: the same layout for raw data that carries PII; it never gets a view.
- ``<warehouse_path>``: a DuckDB file holding only views (``<schema>.<table>``) over the Parquet
  files. Views re-read the files on every query, so a view is created once, when a table first
  appears, and a replaced partition is visible at once to every reader.

``files`` holds the layout names and single-file I/O, ``staging`` the staged (hidden, then
published) writes, ``store`` the :class:`Lake` itself. This package re-exports every public
name, so ``from retail_assets.lib.warehouse.lake import Lake`` keeps working.
"""

from __future__ import annotations

from retail_assets.lib.warehouse.lake.files import (
    CATALOG_MARKER,
    DATA_FILE,
    DIGEST_KEY,
    SCHEMAS,
    VIEW_FILE,
    CorruptFileError,
    LakeWriteError,
    ViewResult,
    WriteResult,
    partition_dir_name,
    read_parquet_file,
    rows_digest,
    verify_parquet_file,
    write_partition_file,
)
from retail_assets.lib.warehouse.lake.staging import StagedDays, StagedWrite
from retail_assets.lib.warehouse.lake.store import Lake

__all__ = [
    "CATALOG_MARKER",
    "DATA_FILE",
    "DIGEST_KEY",
    "SCHEMAS",
    "VIEW_FILE",
    "CorruptFileError",
    "Lake",
    "LakeWriteError",
    "StagedDays",
    "StagedWrite",
    "ViewResult",
    "WriteResult",
    "partition_dir_name",
    "read_parquet_file",
    "rows_digest",
    "verify_parquet_file",
    "write_partition_file",
]
