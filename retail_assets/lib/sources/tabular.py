"""Read a retailer's files in any declared format, and set invalid rows aside with their reason.

:func:`read_columns` reads the mapped columns of a CSV, TSV, Parquet or NDJSON file (each
optionally gzipped) as text, with each row's 1-based number in the file. :class:`Triage`
collects per-row problems while a reader checks the rows: under ``invalid_rows: quarantine``
the bad rows leave the clean frame and go to the quarantine frame (source, file, row number,
column, reason and the row's mapped values as JSON), unless more than ``max_invalid_share`` of
the file's rows are bad, which fails the file; under ``invalid_rows: error`` the first problem
fails the file. Failures are :class:`~retail_assets.lib.sources.errors.IngestError`: file, column,
rows.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import polars as pl

from retail_assets.lib.sources.errors import IngestError, _fail, _first_line
from retail_assets.lib.sources.file_source import FileSource, file_format

#: Columns of a quarantine table (``<landing>/quarantine/source=<source>/``).
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "file": pl.Utf8(),
    "row_number": pl.Int64(),
    "column": pl.Utf8(),
    "reason": pl.Utf8(),
    "record": pl.Utf8(),
}


def source_column(name: str, header: bool) -> str:
    """The column polars gives a mapped name: itself, or ``column_N`` for a position.

    In a file without a header, a mapping of ``text: "1"`` means the first column.
    """
    return name if header or not name.isdigit() else f"column_{int(name)}"


def read_columns(
    path: Path, spec: FileSource, wanted: dict[str, str]
) -> tuple[pl.DataFrame, pl.Series]:
    """The ``wanted`` columns of ``path`` renamed to their canonical names, and row numbers.

    ``wanted`` maps canonical name -> source column. CSV and TSV values are text; Parquet and
    NDJSON keep their types. A missing mapped column, an empty or unreadable file is an error.
    """
    path = Path(path)
    fmt, gz = file_format(path, spec.format)
    if fmt not in ("csv", "tsv", "parquet", "ndjson"):
        raise IngestError(
            path,
            "<file>",
            0,
            "has no known format: name it .csv, .tsv, .parquet or .ndjson (optionally .gz) or "
            "declare format",
        )
    source = {k: source_column(v, spec.header) for k, v in wanted.items()}
    try:
        data: bytes | Path = path
        if gz:
            data = gzip.decompress(path.read_bytes())
        if fmt in ("csv", "tsv"):
            df = pl.read_csv(
                io.BytesIO(data) if isinstance(data, bytes) else data,
                separator="\t" if fmt == "tsv" else ",",
                has_header=spec.header,
                # A TSV has no quoting: a review may start with a quote mark.
                quote_char=None if fmt == "tsv" else '"',
                infer_schema=False,
                encoding="utf8",
                truncate_ragged_lines=False,
            )
        elif fmt == "parquet":
            df = pl.read_parquet(io.BytesIO(data) if isinstance(data, bytes) else data)
        else:
            df = pl.read_ndjson(io.BytesIO(data) if isinstance(data, bytes) else data)
    except pl.exceptions.NoDataError as exc:
        raise IngestError(path, "<file>", 0, "the file is empty") from exc
    except (pl.exceptions.PolarsError, OSError, EOFError) as exc:
        raise IngestError(
            path, "<file>", 0, f"cannot be read as {fmt}: {_first_line(exc)}"
        ) from exc
    for canonical, column in source.items():
        if column not in df.columns:
            raise IngestError(
                path,
                wanted[canonical],
                df.height,
                f"mapped as {canonical}, is missing from the file (columns: "
                f"{', '.join(df.columns[:12])})",
            )
    out = df.select([pl.col(c).alias(k) for k, c in source.items()])
    return out, pl.int_range(1, out.height + 1, eager=True, dtype=pl.Int64)


class Triage:
    """The rows of one file, the problems found in them, and the file's invalid-rows policy."""

    def __init__(
        self, source: str, path: Path, spec: FileSource, rows: pl.Series, names: dict[str, str]
    ):
        self.source, self.path, self.spec, self.rows = source, Path(path), spec, rows
        self.names = names  # canonical -> source column, for messages
        self.reason = pl.Series("reason", [None] * len(rows), dtype=pl.Utf8)
        self.column = pl.Series("column", [None] * len(rows), dtype=pl.Utf8)

    def flag(self, column: str, bad: pl.Series, problem: str, values: pl.Series | None = None):
        """Mark the rows where ``bad`` is true (NULL is not bad) with ``problem``.

        Under ``invalid_rows: error`` the first bad row fails the file. A row keeps its first
        problem.
        """
        bad = bad.fill_null(False)
        if not bad.any():
            return
        shown = self.names.get(column, column)
        if self.spec.invalid_rows == "error":
            _fail(self.path, shown, bad, problem, self.rows, values)
        new = bad & self.reason.is_null()
        self.reason = pl.select(
            pl.when(new).then(pl.lit(problem)).otherwise(self.reason)
        ).to_series()
        self.column = pl.select(pl.when(new).then(pl.lit(shown)).otherwise(self.column)).to_series()

    @property
    def bad(self) -> pl.Series:
        """Rows flagged so far."""
        return self.reason.is_not_null()

    def split(self, df: pl.DataFrame, raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(clean rows of df, quarantine frame)``; fails when too many rows are invalid.

        ``raw`` holds the rows as read (the mapped source columns), kept in the quarantine
        record so nothing is lost.
        """
        bad = self.bad
        count, total = int(bad.sum()), len(bad)
        if count and count > self.spec.max_invalid_share * total:
            reasons = (
                pl.DataFrame({"c": self.column, "r": self.reason})
                .filter(bad)
                .group_by("c", "r")
                .len()
                .sort("len", descending=True)
            )
            top = reasons.row(0)
            raise IngestError(
                self.path,
                str(top[0]),
                count,
                f"are invalid, more than max_invalid_share {self.spec.max_invalid_share:.1%} "
                f"of the file's rows allows (most common: {top[2]} rows {top[1]}); fix the "
                "file or raise max_invalid_share",
                total=total,
                row_numbers=self.rows.filter(bad).head(3).to_list(),
            )
        quarantine = quarantine_frame(
            self.source,
            self.path,
            self.rows.filter(bad),
            self.column.filter(bad),
            self.reason.filter(bad),
            raw.filter(bad),
        )
        return df.filter(~bad), quarantine


def quarantine_frame(
    source: str,
    path: Path,
    rows: pl.Series,
    column: pl.Series | str,
    reason: pl.Series | str,
    raw: pl.DataFrame,
) -> pl.DataFrame:
    """Quarantine rows (:data:`QUARANTINE_SCHEMA`) for ``raw``'s rows of ``path``."""
    n = raw.height
    record = (
        raw.select(pl.struct(pl.all().cast(pl.Utf8)).struct.json_encode()).to_series()
        if raw.width
        else pl.Series([None] * n, dtype=pl.Utf8)
    )
    return pl.DataFrame(
        {
            "source": [source] * n,
            "file": [Path(path).name] * n,
            "row_number": rows.cast(pl.Int64),
            "column": column if isinstance(column, pl.Series) else [column] * n,
            "reason": reason if isinstance(reason, pl.Series) else [reason] * n,
            "record": record,
        },
        schema=QUARANTINE_SCHEMA,
    )


def empty_quarantine() -> pl.DataFrame:
    """A quarantine frame with no rows."""
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def text(df: pl.DataFrame, column: str) -> pl.Series:
    """A column as stripped text; empty strings become NULL."""
    s = df[column].cast(pl.Utf8).str.strip_chars()
    return pl.select(pl.when(s == "").then(None).otherwise(s)).to_series().alias(column)


def number(df: pl.DataFrame, column: str) -> pl.Series:
    """A column as a float (text parsed; NULL where it is not a finite number)."""
    s = df[column]
    out = (
        s.cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)
        if s.dtype == pl.Utf8
        else s.cast(pl.Float64, strict=False)
    )
    return pl.select(pl.when(out.is_finite()).then(out)).to_series().alias(column)
