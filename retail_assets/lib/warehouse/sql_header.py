"""The YAML header of a SQL model file: declared columns and types, and its data tests as SQL.

See ``sql_models`` for the file format. Each declared test becomes a :class:`ModelTest` whose
``failing_sql`` selects the failing rows of the model's result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
import sqlglot
from pydantic import BaseModel, ConfigDict, Field, field_validator

_HEADER = re.compile(r"\A\s*/\*(?P<yaml>.*?)\*/", re.DOTALL)
_VARS = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TABLE_REF = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
TEST_TYPES = ("not_null", "unique", "accepted_values", "relationships", "expression")
RESULT = "__result"

# DuckDB type names a header may declare, and the polars dtype the result then has.
TYPES: dict[str, pl.DataType] = {
    "varchar": pl.Utf8,
    "bigint": pl.Int64,
    "integer": pl.Int32,
    "double": pl.Float64,
    "boolean": pl.Boolean,
    "date": pl.Date,
    "timestamp": pl.Datetime("us"),
    "timestamptz": pl.Datetime("us", "UTC"),
}


class SqlModelError(ValueError):
    """A model file is invalid; the message starts with the file (and line where known)."""


class ColumnSpec(BaseModel):
    """One declared output column."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    type: str | None = None
    tests: list[str | dict[str, Any]] = []

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in TYPES:
            raise ValueError(f"unknown type {value!r}; use one of {', '.join(TYPES)}")
        return value.lower() if value else value


class ModelHeader(BaseModel):
    """The YAML header of a model file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    materialized: Literal["view", "table", "incremental"]
    partition_column: str | None = None
    lookback_days: int = Field(default=0, ge=0, le=366)
    backfill_days: int = Field(
        default=31,
        ge=1,
        le=3660,
        description="incremental: at most this many days per query. A run over a longer "
        "range computes it in windows of this many days (each reading its own lookback) and "
        "publishes them together; a query's result is held in memory, so large tables want "
        "fewer days",
    )
    schema_: str = Field(default="features", alias="schema", pattern=r"^[a-z][a-z0-9_]*$")
    group: str = Field(default="features", pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    owner: str | None = None
    tags: list[str] = []
    optional: list[str] = Field(
        default=[],
        description="schema.table references read as empty until their asset has data.",
    )
    columns: dict[str, str | ColumnSpec] = {}
    tests: list[dict[str, Any]] = []

    def column_specs(self) -> dict[str, ColumnSpec]:
        """Every declared column as a :class:`ColumnSpec` (a bare string is a description)."""
        return {
            name: ColumnSpec(description=spec) if isinstance(spec, str) else spec
            for name, spec in self.columns.items()
        }


@dataclass(frozen=True)
class ModelTest:
    """One declared data test, run as a blocking asset check on the model's result.

    ``failing_sql`` selects the failing rows of the result (a relation named ``__result``);
    a test passes when it selects none.
    """

    name: str
    kind: str
    columns: tuple[str, ...]
    failing_sql: str
    description: str
    severity: Literal["error", "warn"] = "error"
    ref: tuple[str, str] | None = None
    #: For row-level tests, the predicate a failing row satisfies: these tests share one scan.
    condition: str | None = None
    #: For ``unique``, the key checked: ``columns``, with an incremental model's partition
    #: column in front when they lack it (a key is unique per day, as each day's partition).
    key: tuple[str, ...] = ()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _parse_test(
    item: str | dict[str, Any],
    column: str | None,
    rel: Path,
    index: int,
    partition_column: str | None = None,
) -> ModelTest:
    """One test entry of the header, column-level (``column``) or model-level.

    ``partition_column`` (incremental models) is added to a ``unique`` key that lacks it: a
    model's days are materialized alone or many to a run, and a key unique per day passes or
    fails the same way in both.
    """
    where = f"column {column!r}" if column else "model tests"
    if isinstance(item, str):
        kind, args = item, {}
    elif isinstance(item, dict) and len(item) == 1:
        ((kind, args),) = item.items()
    else:
        raise SqlModelError(f"{rel}: {where}: a test is a name or a one-key mapping, got {item!r}")
    if kind not in TEST_TYPES:
        raise SqlModelError(f"{rel}: {where}: unknown test {kind!r}; use {', '.join(TEST_TYPES)}")
    # Shorthands: accepted_values: [a, b]; unique: [c1, c2]; expression: ">= 0".
    if isinstance(args, list):
        args = {"values": args} if kind == "accepted_values" else {"columns": args}
    elif isinstance(args, str):
        args = {"expression": args} if kind == "expression" else {"to": args}
    elif args is None:
        args = {}
    if not isinstance(args, dict):
        raise SqlModelError(f"{rel}: {where}: arguments of {kind} must be a mapping")
    severity = args.pop("severity", "error")
    if severity not in ("error", "warn"):
        raise SqlModelError(f"{rel}: {where}: severity must be error or warn, not {severity!r}")

    def need(key: str) -> Any:
        if key not in args:
            raise SqlModelError(f"{rel}: {where}: test {kind} needs {key!r}")
        return args.pop(key)

    ref = None
    condition = None
    unique_key: tuple[str, ...] = ()
    if kind == "unique":
        cols = tuple(args.pop("columns", None) or ([column] if column else []))
        if not cols:
            raise SqlModelError(f"{rel}: model test unique needs a list of columns")
        per_day = partition_column is not None and partition_column not in cols
        unique_key = (partition_column, *cols) if per_day else cols  # type: ignore[assignment]
        keys = ", ".join(_quote(c) for c in unique_key)
        failing = (
            f"SELECT {keys}, count(*) AS duplicates FROM {RESULT} GROUP BY {keys} "
            "HAVING count(*) > 1"
        )
        description = f"{' x '.join(cols)} is unique" + (
            f" per {partition_column}" if per_day else ""
        )
    elif kind == "not_null":
        cols = (column or need("column"),)
        condition = f"{_quote(cols[0])} IS NULL"
        failing = f"SELECT * FROM {RESULT} WHERE {condition}"
        description = f"{cols[0]} is never NULL"
    elif kind == "accepted_values":
        cols = (column or need("column"),)
        values = need("values")
        if not isinstance(values, list) or not values:
            raise SqlModelError(f"{rel}: {where}: accepted_values needs a non-empty list")
        condition = (
            f"{_quote(cols[0])} IS NOT NULL "
            f"AND {_quote(cols[0])} NOT IN ({', '.join(_literal(v) for v in values)})"
        )
        failing = f"SELECT {_quote(cols[0])} FROM {RESULT} WHERE {condition}"
        description = f"{cols[0]} is one of {values}"
    elif kind == "relationships":
        cols = (column or need("column"),)
        to = str(need("to")).lower()
        if not _TABLE_REF.match(to):
            raise SqlModelError(f"{rel}: {where}: relationships 'to' must be schema.table")
        ref = tuple(to.split("."))
        target = args.pop("field", cols[0])
        # NULLs in the target are left out: NOT IN over a NULL would never be true.
        condition = (
            f"{_quote(cols[0])} IS NOT NULL AND {_quote(cols[0])} NOT IN "
            f"(SELECT {_quote(target)} FROM {to} WHERE {_quote(target)} IS NOT NULL)"
        )
        failing = f"SELECT {_quote(cols[0])} FROM {RESULT} WHERE {condition}"
        description = f"every {cols[0]} exists in {to}.{target}"
    else:  # expression
        expression = str(need("expression"))
        cols = (column,) if column else ()
        condition = f"{_quote(column)} {expression}" if column else expression
        try:
            sqlglot.parse_one(condition, read="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise SqlModelError(
                f"{rel}: {where}: expression {condition!r} does not parse: {exc}"
            ) from exc
        description = f"{condition} holds for every row"
        condition = f"NOT ({condition})"
        failing = f"SELECT * FROM {RESULT} WHERE {condition}"
    if args:
        raise SqlModelError(f"{rel}: {where}: unknown argument(s) {sorted(args)} for {kind}")
    suffix = "_".join(cols) if cols else str(index)
    return ModelTest(
        name=re.sub(r"[^A-Za-z0-9_]", "_", f"{kind}_{suffix}"),
        kind=kind,
        columns=cols,
        failing_sql=failing,
        description=description,
        severity=severity,
        ref=ref,  # type: ignore[arg-type]
        condition=condition,
        key=unique_key,
    )


def _parse_tests(header: ModelHeader, rel: Path) -> tuple[ModelTest, ...]:
    day = header.partition_column if header.materialized == "incremental" else None
    tests = []
    for column, spec in header.column_specs().items():
        for i, item in enumerate(spec.tests):
            tests.append(_parse_test(item, column, rel, i, day))
    for i, item in enumerate(header.tests):
        tests.append(_parse_test(item, None, rel, i, day))
    names = [t.name for t in tests]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SqlModelError(f"{rel}: tests declared twice: {', '.join(dupes)}")
    return tuple(tests)
