"""IngestError, and the checks and CSV reading every landing-file reader shares.

:class:`IngestError` names the file, the column and the number of rows, with up to three
example row numbers and masked example values; :func:`_fail` raises it for the rows a check
flags. The rules every format shares live here too: UTF-8 text (:func:`non_utf8_lines`), at
most :data:`MAX_TEXT_BYTES` per text field, nothing more than :data:`MAX_FUTURE` after the time
a file is read, and a CSV header that names no column twice, with no row wider than it
(:func:`_read_csv`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from retail_assets.lib.warehouse.schemas import mask_pii

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


def _days(delta: dt.timedelta) -> str:
    return "1 day" if delta == dt.timedelta(days=1) else f"{delta.days} days"
