"""Lake file basics: layout names, write errors, and writing, reading, verifying one Parquet file.

Files are written to a temporary name in the target folder and moved into place with
``os.replace``, so a reader sees the old partition or the new one, never half of either.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

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


def write_partition_file(df: pl.DataFrame, path: Path) -> None:
    """Write one partition's file as every writer of the lake does: zstd, statistics, digest.

    One function, so a day written alone and a day written in a range are the same bytes.
    """
    df.write_parquet(
        path, compression="zstd", statistics=True, metadata={DIGEST_KEY: rows_digest(df)}
    )


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


def _make_parent(target: Path) -> None:
    """Create ``target``'s folder; a failure becomes a :class:`LakeWriteError`."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(target.parent, exc, "creating") from exc
