"""Small helpers on polars frames: content hashes, lineage columns, markdown previews."""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl

LINEAGE_COLUMNS = ("lineage_id", "processed_at")


def with_lineage(df: pl.DataFrame, run_id: str, processed_at: dt.datetime) -> pl.DataFrame:
    """Stamp every row with the run that wrote it and when (UTC, microseconds)."""
    return df.with_columns(
        pl.lit(run_id).alias("lineage_id"),
        pl.lit(processed_at).cast(pl.Datetime("us", "UTC")).alias("processed_at"),
    )


def content_hash(df: pl.DataFrame) -> str:
    """SHA-256 over the rows of ``df`` without its lineage columns.

    The same data written by two runs has the same hash: this is the asset's data version.
    """
    data = df.drop([c for c in LINEAGE_COLUMNS if c in df.columns])
    digest = hashlib.sha256()
    digest.update(repr(list(data.schema.items())).encode())
    if data.height:
        digest.update(data.hash_rows(seed=0, seed_1=1, seed_2=2, seed_3=3).to_numpy().tobytes())
    return digest.hexdigest()


def markdown_table(df: pl.DataFrame, max_rows: int = 5, max_chars: int = 40) -> str:
    """A markdown preview of the first rows (long strings shortened)."""
    head = df.head(max_rows)

    def cell(v: object) -> str:
        s = "" if v is None else str(v)
        s = s.replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= max_chars else s[: max_chars - 1] + "…"

    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in head.iter_rows()]
    return "\n".join(lines)


def markdown_figures(df: pl.DataFrame) -> str:
    """Every row of a small table of figures as markdown, floats to three decimals."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return "" if v is None else str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.iter_rows()]
    return "\n".join(lines)
