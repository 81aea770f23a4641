"""Scanning polars frames for personal data: one hit per column and kind (:func:`scan_frame`).

Columns that hold pseudonyms by design (``customer_key``, ``body_sha256``, ...) are checked
only for known hashes and known identifiers as long as their values look like pseudonyms (hex
digests, UUIDs), see :func:`pseudonym_columns`.
Values are prefiltered in polars, so only those that may hold a hit reach the Python regexes of
:func:`retail_assets.lib.governance.pii_patterns.scan_text`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import polars as pl

from retail_assets.lib.governance.pii_known import KnownIdentifiers
from retail_assets.lib.governance.pii_patterns import _TOKEN, Hit, scan_text

#: Columns named like this hold pseudonyms or run ids by design.
PSEUDONYM_COLUMNS = frozenset(
    {
        "customer_key",
        "user_key",
        "session_key",
        "segment_ref",
        "body_sha256",
        "content_sha256",
        "lineage_id",
        "idempotency_key",
        "plan_id",
        "dagster_run_id",
    }
)
_PSEUDONYM_SUFFIXES = ("_key", "_sha256", "_hash", "_pseudonym")
#: Rust-regex prefilters (polars): a value that can hold no hit of the kind never reaches Python.
_PREFILTER = r"@|%[0-9A-Fa-f]{2}|\+\d|\d[ .()\-]{1,2}\d|[0-9A-Fa-f]?:[0-9A-Fa-f]{0,4}:"
_HASH_PREFILTER = r"[0-9A-Fa-f]{32}|[A-Za-z0-9+/_-]{43}"
#: A whole value that is a hex digest, a UUID or a base64 digest: a pseudonym's shape.
_PSEUDONYM_SHAPE = (
    r"^(?:[0-9A-Fa-f]{32,128}|[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
    r"|[A-Za-z0-9+/_-]{43}=?)$"
)


@cache
def _marked_pseudonyms(table: str) -> frozenset[str]:
    from retail_assets.lib.warehouse import (
        schemas,  # pandera is heavy: imported when a table is scanned
    )

    model = schemas.SCHEMAS.get(table)
    if model is None:
        return frozenset()
    return frozenset(
        name
        for name, col in model.to_schema().columns.items()
        if (col.metadata or {}).get("pii") == "pseudonymous_id"
    )


def pseudonym_columns(table: str, columns: Iterable[str]) -> set[str]:
    """Columns of ``table`` that hold pseudonyms, hashes or run ids by design.

    Named in :data:`PSEUDONYM_COLUMNS`, ending in ``_key``/``_sha256``/``_hash``, or marked
    ``metadata={"pii": "pseudonymous_id"}`` in the table's pandera schema.
    """
    marked = _marked_pseudonyms(table)
    return {
        c
        for c in columns
        if c in PSEUDONYM_COLUMNS or c.endswith(_PSEUDONYM_SUFFIXES) or c in marked
    }


def _as_text(df: pl.DataFrame, column: str) -> pl.Series | None:
    dtype = df.schema[column]
    if dtype in (pl.Utf8, pl.Categorical) or isinstance(dtype, pl.Enum):
        return df[column].cast(pl.Utf8)
    if isinstance(dtype, pl.List | pl.Array | pl.Struct):
        # Nested values (GA4 event_params, say) are scanned as their JSON text.
        return df.select(pl.struct(pl.col(column)).struct.json_encode()).to_series()
    if dtype == pl.Binary:
        return df[column].cast(pl.Utf8, strict=False)
    return None  # numbers, dates, booleans cannot hold an email, a formatted phone or an IP


def _candidates(
    distinct: pl.Series, patterns: bool, known: KnownIdentifiers | None, known_values: pl.Series
) -> list[str]:
    """The values that may hold a hit: cheap polars filters before the Python regexes."""
    frame = pl.DataFrame({"v": distinct})
    keep = pl.lit(False)
    if patterns:
        keep = keep | pl.col("v").str.contains(_PREFILTER)
    if known and known.hashes:
        keep = keep | pl.col("v").str.contains(_HASH_PREFILTER)
    found = frame.filter(keep)["v"]
    if known_values.len():
        # Tokens and their parts (split at - and _), as scan_text takes them, joined to the ids.
        tokens = (
            frame.select(
                "v",
                pl.concat_list(
                    pl.col("v").str.extract_all(_TOKEN.pattern),
                    pl.col("v").str.extract_all(r"[A-Za-z0-9.%+@]+"),
                ).alias("t"),
            )
            .explode("t")
            .filter(
                pl.col("t").str.to_lowercase().is_in(known_values)
                | pl.col("t").str.strip_chars(".-_%+@").str.to_lowercase().is_in(known_values)
            )
        )
        found = pl.concat([found, tokens["v"]]).unique()
    return found.to_list()


def scan_frame(
    df: pl.DataFrame,
    table: str,
    known: KnownIdentifiers | None = None,
    allow_columns: Iterable[str] | None = None,
    location: str | None = None,
    path: str = "",
) -> list[Hit]:
    """Personal data in a frame's text columns: one hit per column and kind.

    Each distinct value is looked at once; a hit names the first row holding it and counts the
    rows holding any value of that kind.

    Args:
        df: The frame.
        table: Its name (``governed.sessions``); the location unless ``location`` is given.
        known: Identifiers whose hashes and verbatim forms count as hits.
        allow_columns: Columns holding pseudonyms by design: their pseudonym-shaped values
            (hex digests, UUIDs) are checked only against ``known`` (default:
            :func:`pseudonym_columns`).
        location: Where the frame is from, e.g. ``governed.sessions date=2025-03-01``.
        path: The file the frame was read from.

    """
    allowed = (
        set(allow_columns) if allow_columns is not None else pseudonym_columns(table, df.columns)
    )
    known_values = pl.Series(sorted(known.values) if known else [], dtype=pl.Utf8)
    hits: list[Hit] = []
    for column in df.columns:
        series = _as_text(df, column)
        if series is None:
            continue
        distinct = series.drop_nulls().unique()
        if distinct.is_empty():
            continue
        if column in allowed:
            # Pseudonyms are checked against the known hashes only; anything else found in a
            # pseudonym column (a raw email, say) is scanned like any other value.
            shaped = distinct.str.contains(_PSEUDONYM_SHAPE)
            batches = [(distinct.filter(shaped), False), (distinct.filter(~shaped), True)]
        else:
            batches = [(distinct, True)]
        by_kind: dict[str, tuple[list[str], Hit]] = {}
        for batch, patterns in batches:
            for value in _candidates(batch, patterns, known, known_values):
                for hit in scan_text(value, known, patterns=patterns):
                    values, first = by_kind.get(hit.kind, ([], hit))
                    values.append(value)
                    by_kind[hit.kind] = (values, first)
        for kind, (values, first) in by_kind.items():
            rows = series.is_in(values)
            hits.append(
                Hit(
                    kind=kind,
                    sample=first.sample,
                    location=location or table,
                    column=column,
                    row=int(rows.arg_true()[0]),
                    count=int(rows.sum()),
                    detail=first.detail,
                    path=path,
                )
            )
    return hits
