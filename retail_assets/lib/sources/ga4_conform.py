"""A GA4 export's columns conformed to ``ga4.EXPORT_SCHEMA``, with the checks of its values.

Nested data is conformed field by field (:func:`_conform`): struct fields matched by name,
lists element by element, leaves cast so that no non-NULL value is lost unnoticed.
:func:`_conform_export` conforms a whole export file and checks the export's rules (required
columns, YYYYMMDD dates, text length, future timestamps, negative amounts);
:func:`_diagnose_json_kinds` finds the column and rows of an NDJSON value of the wrong kind.
Failures are :class:`~retail_assets.lib.sources.errors.IngestError`.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import polars as pl

from retail_assets.lib.sources import ga4
from retail_assets.lib.sources.errors import (
    MAX_FUTURE,
    IngestError,
    _days,
    _fail,
    _fail_long_text,
    _future_limit,
)

EXPORT_DTYPES: dict[str, pl.DataType] = dict(pl.Schema(ga4.EXPORT_SCHEMA))


# ------------------------------------------------------------------ conforming nested data


class _KindMismatch(Exception):
    def __init__(self, path: str, found: pl.DataType, expected: pl.DataType):
        super().__init__(path)
        self.path, self.found, self.expected = path, found, expected


# (column path, problem, per-row count of lost values, per-row example of a lost value)
_Check = tuple[str, str, pl.Expr, pl.Expr]


def _cast_leaf(expr: pl.Expr, src: pl.DataType, tgt: pl.DataType) -> pl.Expr:
    if src == tgt:
        return expr
    if tgt == pl.Utf8 and src == pl.Date:
        return expr.dt.strftime("%Y%m%d")  # GA4 writes dates as YYYYMMDD
    if tgt.is_integer() and src.is_float():
        return pl.when(expr == expr.round()).then(expr).cast(tgt, strict=False)
    return expr.cast(tgt, strict=False)


def _problem(tgt: pl.DataType) -> str:
    if tgt.is_integer():
        return "are not whole numbers"
    if tgt.is_float():
        return "are not numbers"
    return f"cannot be read as {tgt}"


def _conform(
    expr: pl.Expr, src: pl.DataType, tgt: pl.DataType, path: str
) -> tuple[pl.Expr, list[_Check]]:
    """``expr`` (of dtype ``src``) conformed to ``tgt`` field by field, with loss checks.

    Struct fields are matched by name (extra fields dropped, missing ones NULL), lists element by
    element, leaves cast with ``strict=False``; each check counts, per row, the values that were
    not NULL before the cast and are NULL after it.
    """
    if src == tgt or src == pl.Null:
        return (expr if src == tgt else expr.cast(tgt)), []
    if isinstance(tgt, pl.Struct):
        if not isinstance(src, pl.Struct):
            raise _KindMismatch(path, src, tgt)
        have = {f.name: f.dtype for f in src.fields}
        fields, checks = [], []
        for f in tgt.fields:
            if f.name in have:
                sub, sub_checks = _conform(
                    expr.struct.field(f.name), have[f.name], f.dtype, f"{path}.{f.name}"
                )
                checks += sub_checks
            else:
                sub = pl.lit(None, dtype=f.dtype)
            fields.append(sub.alias(f.name))
        out = pl.when(expr.is_null()).then(pl.lit(None, dtype=tgt)).otherwise(pl.struct(fields))
        return out, checks
    if isinstance(tgt, pl.List):
        if isinstance(src, pl.Array):
            expr, src = expr.arr.to_list(), pl.List(src.inner)
        if not isinstance(src, pl.List):
            raise _KindMismatch(path, src, tgt)
        inner, inner_checks = _conform(pl.element(), src.inner, tgt.inner, path)
        checks = [
            (
                p,
                problem,
                expr.list.eval(count).list.sum(),
                expr.list.eval(example).list.drop_nulls().list.first(),
            )
            for p, problem, count, example in inner_checks
        ]
        return expr.list.eval(inner), checks
    if src.is_nested():
        raise _KindMismatch(path, src, tgt)
    out = _cast_leaf(expr, src, tgt)
    lost = expr.is_not_null() & out.is_null()
    return out, [
        (path, _problem(tgt), lost.cast(pl.UInt32), pl.when(lost).then(expr.cast(pl.Utf8)))
    ]


def _map_leaves(dtype: pl.DataType, fn) -> pl.DataType:
    if isinstance(dtype, pl.Struct):
        return pl.Struct([pl.Field(f.name, _map_leaves(f.dtype, fn)) for f in dtype.fields])
    if isinstance(dtype, pl.List):
        return pl.List(_map_leaves(dtype.inner, fn))
    return fn(dtype)


# Every leaf read as text first: BigQuery writes INT64 as JSON strings, floats as numbers.
_LENIENT = pl.Struct(
    {
        name: _map_leaves(dtype, lambda d: pl.Utf8() if d.is_numeric() else d)
        for name, dtype in EXPORT_DTYPES.items()
    }
)
# What write_ga4_ndjson writes: INT64 as strings, like BigQuery.
_BIGQUERY_JSON = {
    name: _map_leaves(dtype, lambda d: pl.Utf8() if d.is_integer() else d)
    for name, dtype in EXPORT_DTYPES.items()
}


def _json_kind_checks(
    parent: pl.Expr, name: str, dtype: pl.DataType, path: str, elements: pl.Expr | None = None
) -> list[tuple[str, str, pl.Expr, pl.Expr]]:
    """(path, expected kind, per-row bad flag, example) for field ``name`` of JSON text ``parent``.

    ``json_path_match`` returns strings unquoted and containers as JSON; ``$.name.*`` matches
    only when the value is a non-empty object or array, which tells a string apart from both;
    empty ones are recognised in the text (``"name": {}``).
    ``elements`` holds a list column's elements as text (objects as JSON).
    """
    value = parent.str.json_path_match(f"$.{name}")
    members = parent.str.json_path_match(f"$.{name}.*").is_not_null()
    key = rf'"{re.escape(name)}"\s*:\s*'
    empty_object = parent.str.contains(key + r"\{\s*\}")
    empty_array = parent.str.contains(key + r"\[\s*\]")
    if isinstance(dtype, pl.Struct):
        bad = value.is_not_null() & ~((value.str.starts_with("{") & members) | empty_object)
        checks = [(path, "JSON objects", bad, value)]
        for f in dtype.fields:
            checks += _json_kind_checks(value, f.name, f.dtype, f"{path}.{f.name}")
        return checks
    if isinstance(dtype, pl.List):
        bad = value.is_not_null() & ~((value.str.starts_with("[") & members) | empty_array)
        checks = [(path, "JSON arrays", bad, value)]
        if elements is not None and isinstance(dtype.inner, pl.Struct):
            el = pl.element()
            whole = el.str.starts_with("{") & (
                el.str.json_path_match("$.*").is_not_null() | (el == "{}")
            )
            inner = [(path, "arrays of JSON objects", el.is_not_null() & ~whole, el)]
            for f in dtype.inner.fields:
                inner += _json_kind_checks(el, f.name, f.dtype, f"{path}.{f.name}")
            checks += [
                (
                    p,
                    kind,
                    elements.list.eval(b).list.any(),
                    elements.list.eval(pl.when(b).then(v)).list.drop_nulls().list.first(),
                )
                for p, kind, b, v in inner
            ]
        return checks
    container = members | empty_object | empty_array
    return [(path, "single values (found an object or array)", container, value)]


def _diagnose_json_kinds(path: Path, lines: pl.DataFrame) -> None:
    """Find the column and rows where a JSON value has the wrong kind (runs only on failure)."""
    list_columns = {n: d for n, d in EXPORT_DTYPES.items() if isinstance(d, pl.List)}
    elements = pl.read_ndjson(
        io.BytesIO("\n".join(lines["line"].to_list()).encode("utf-8")),
        schema={n: pl.List(pl.Utf8) for n in list_columns},
        ignore_errors=True,
    )
    frame = lines
    if elements.height == lines.height:
        frame = lines.with_columns(elements.rename(lambda c: f"__el_{c}").get_columns())
    checks = []
    for name, dtype in EXPORT_DTYPES.items():
        have = f"__el_{name}" in frame.columns
        checks += _json_kind_checks(
            pl.col("line"), name, dtype, name, pl.col(f"__el_{name}") if have else None
        )
    flags = frame.select([b.alias(str(i)) for i, (_, _, b, _) in enumerate(checks)])
    for i, (column, kind, _, example) in enumerate(checks):
        if flags[str(i)].any():
            values = frame.select(example).to_series()
            _fail(path, column, flags[str(i)], f"are not {kind}", lines["row"], values)


def _conform_export(path: Path, src: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    exprs, checks = [], []
    for name, tgt in EXPORT_DTYPES.items():
        if name not in src.columns:
            if name in ga4.REQUIRED_COLUMNS:
                raise IngestError(path, name, src.height, "required column is missing")
            exprs.append(pl.lit(None, dtype=tgt).alias(name))
            continue
        try:
            expr, col_checks = _conform(pl.col(name), src.schema[name], tgt, name)
        except _KindMismatch as exc:
            _fail(
                path,
                exc.path,
                src[name].is_not_null(),
                f"have type {exc.found}, expected {exc.expected}",
                rows,
            )
            expr, col_checks = pl.lit(None, dtype=tgt), []  # the column is all NULL anyway
        exprs.append(expr.alias(name))
        checks += col_checks
    if checks:
        lost = src.select(
            [c.fill_null(0).gt(0).alias(str(i)) for i, (_, _, c, _) in enumerate(checks)]
        )
        for i, (column, problem, _, example) in enumerate(checks):
            if lost[str(i)].any():
                _fail(path, column, lost[str(i)], problem, rows, src.select(example).to_series())
    out = src.select(exprs)
    for name in ga4.REQUIRED_COLUMNS:
        _fail(path, name, out[name].is_null(), "have no value (required column)", rows)
    date = pl.col("event_date")
    bad_date = ~date.str.contains(r"^\d{8}$") | date.str.to_date("%Y%m%d", strict=False).is_null()
    _fail(
        path,
        "event_date",
        out.select(bad_date).to_series(),
        "are not dates in the form YYYYMMDD",
        rows,
        out["event_date"],
    )
    _fail_long_text(path, out, rows)
    limit = _future_limit()
    stamp = out["event_timestamp"]
    _fail(
        path,
        "event_timestamp",
        stamp > int(limit.timestamp()) * 1_000_000,
        f"are more than {_days(MAX_FUTURE)} in the future (after {limit:%Y-%m-%dT%H:%M:%SZ})",
        rows,
        pl.from_epoch(stamp, time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    ecommerce, items = pl.col("ecommerce"), pl.col("items")
    money = {
        "ecommerce.purchase_revenue": ecommerce.struct.field("purchase_revenue"),
        "ecommerce.purchase_revenue_in_usd": ecommerce.struct.field("purchase_revenue_in_usd"),
        "items.price": items.list.eval(pl.element().struct.field("price")).list.min(),
        "items.item_revenue": items.list.eval(pl.element().struct.field("item_revenue")).list.min(),
    }
    amounts = out.select([e.alias(c) for c, e in money.items()])
    for column in money:
        _fail(path, column, amounts[column] < 0, "are negative amounts", rows, amounts[column])
    return out
