"""Turn the ``.sql`` files under ``dbt_like_sql/`` into models, without Dagster.

A model file starts with a block comment holding a YAML header (what dbt keeps in its config
and ``schema.yml``), followed by one SELECT statement::

    /*
    materialized: incremental        # view, table or incremental (one daily partition)
    partition_column: sales_date     # incremental: the output's date column
    lookback_days: 6                 # incremental: days before the window the SQL reads
    description: Daily sales per category.
    owner: team:analytics
    tags: [sales]
    columns:
      sales_date: {type: date, description: Day of the sales., tests: [not_null]}
      revenue:
        type: double
        description: Gross revenue.
        tests: [not_null, {expression: ">= 0"}]
    tests:
      - unique: [sales_date, category]
    */
    SELECT ... FROM raw.transactions
    WHERE transaction_date >= {{ start_date }} AND transaction_date < {{ end_date }} ...

``{{ start_date }}`` and ``{{ end_date }}`` render as DATE literals of the window one query
computes (``end_date`` exclusive): one day, or up to ``backfill_days`` days when a run covers
a range (the run splits its range into such windows and queries each with its lookback).
Tables are referenced as ``schema.table``; the references, parsed with sqlglot, are the
dependencies.

The module parses and checks models (:func:`load_models`), renders them, builds the SQL of
their declared tests (:class:`ModelTest`) and their pandera contract, and derives column-level
lineage (:func:`column_lineage`). Running them against the lake is
:func:`execute_model` and :func:`audit_result` (compute, then the declared tests), which
``sql_runner.materialize`` runs and the Dagster layer wraps.
"""

from __future__ import annotations

import datetime as dt
import graphlib
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandera.polars as pa
import polars as pl
import sqlglot
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlglot import exp
from sqlglot.lineage import lineage as sqlglot_lineage

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


@dataclass(frozen=True)
class SqlModel:
    """One parsed model file."""

    path: Path
    rel: Path
    name: str
    layer: str
    header: ModelHeader
    body: str
    refs: tuple[tuple[str, str], ...]
    ref_lines: Mapping[tuple[str, str], int] = field(default_factory=dict)
    tests: tuple[ModelTest, ...] = ()
    body_line: int = 1

    @property
    def schema(self) -> str:
        """Warehouse schema the model's table lives in."""
        return self.header.schema_

    @property
    def table(self) -> tuple[str, str]:
        """``(schema, name)`` of the model's own table."""
        return (self.schema, self.name)

    @property
    def materialized(self) -> str:
        """``view``, ``table`` or ``incremental``."""
        return self.header.materialized

    @property
    def partitioned(self) -> bool:
        """True for incremental models (daily partitions)."""
        return self.materialized == "incremental"

    @property
    def optional_refs(self) -> tuple[tuple[str, str], ...]:
        """References read as empty tables until their asset has data."""
        return tuple(tuple(o.split(".")) for o in self.header.optional)  # type: ignore[misc]

    @property
    def columns(self) -> dict[str, ColumnSpec]:
        """The declared output columns, in order."""
        return self.header.column_specs()

    @property
    def code_version(self) -> str:
        """Hash of the whole file: a changed header or SQL changes the asset's code version."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    def render(self, start: dt.date | None = None, end: dt.date | None = None) -> str:
        """The SQL with the window filled in (``end`` exclusive)."""
        return render(self.body, start, end, self.rel)

    def pandera_schema(self, extra: Mapping[str, pa.Column] | None = None) -> pa.DataFrameSchema:
        """The contract of the result: exactly the declared columns, with declared types.

        Value rules live in the declared tests, which run in DuckDB beside this check.
        ``extra`` adds columns the writer appends (lineage).
        """
        columns = {
            name: pa.Column(
                TYPES[spec.type] if spec.type else None,
                nullable=True,
                description=spec.description or None,
            )
            for name, spec in self.columns.items()
        }
        return pa.DataFrameSchema(
            {**columns, **(extra or {})},
            strict=True,
            name=f"{self.schema}.{self.name}",
            description=self.header.description.strip().splitlines()[0],
        )


def render(body: str, start: dt.date | None, end: dt.date | None, path: Path | str = "") -> str:
    """Fill ``{{ start_date }}``/``{{ end_date }}`` with DATE literals."""
    values = {
        "start_date": f"DATE '{(start or dt.date(1970, 1, 1)).isoformat()}'",
        "end_date": f"DATE '{(end or dt.date(9999, 12, 31)).isoformat()}'",
    }

    def sub(m: re.Match) -> str:
        if m.group(1) not in values:
            raise SqlModelError(f"{path}: unknown template variable {{{{ {m.group(1)} }}}}")
        return values[m.group(1)]

    return _VARS.sub(sub, body)


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


def parse_model(path: Path, root: Path) -> SqlModel:
    """Parse one model file; raises :class:`SqlModelError` naming the file on any problem."""
    rel = path.relative_to(root)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SqlModelError(f"{rel}: not UTF-8 text: {exc}") from exc
    name = path.stem
    if not _NAME.match(name):
        raise SqlModelError(f"{rel}: file name must be lower_snake_case.sql")
    match = _HEADER.match(text)
    if not match:
        raise SqlModelError(f"{rel}:1: missing header: start the file with a /* YAML */ block")
    try:
        raw = yaml.safe_load(match.group("yaml")) or {}
    except yaml.YAMLError as exc:
        raise SqlModelError(f"{rel}: header is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SqlModelError(f"{rel}:1: the header must be a YAML mapping")
    try:
        header = ModelHeader.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        if "Extra inputs" in problems and "columns." in problems:
            problems += " (in a {...} mapping, quote a description that contains a comma)"
        raise SqlModelError(f"{rel}: invalid header: {problems}") from exc
    if header.materialized == "incremental":
        if not header.partition_column:
            raise SqlModelError(f"{rel}: incremental models need a partition_column in the header")
        if header.columns and header.partition_column not in header.columns:
            raise SqlModelError(
                f"{rel}: partition_column {header.partition_column!r} is not a declared column"
            )
    elif header.partition_column or header.lookback_days or "backfill_days" in raw:
        raise SqlModelError(
            f"{rel}: partition_column, lookback_days and backfill_days only apply to "
            "incremental models"
        )
    for ref in header.optional:
        if not _TABLE_REF.match(ref):
            raise SqlModelError(f"{rel}: optional entries must be schema.table, not {ref!r}")
    # The body keeps its line numbers: blank lines stand in for the header.
    body_line = text[: match.end()].count("\n") + 1
    body = text[match.end() :].strip().rstrip(";").rstrip()
    lead = text[match.end() :][: len(text[match.end() :]) - len(text[match.end() :].lstrip())]
    body_line += lead.count("\n")
    if header.materialized == "view" and _VARS.search(body):
        raise SqlModelError(f"{rel}: a view has no partition window; remove {{{{ ... }}}}")
    refs, lines = _table_refs(render(body, None, None, rel), rel, body_line)
    tests = _parse_tests(header, rel)
    for test in tests:
        if test.ref and test.ref not in refs:
            refs = (*refs, test.ref)
            lines[test.ref] = 1
    layer = rel.parts[0] if len(rel.parts) > 1 else "models"
    return SqlModel(
        path=path,
        rel=rel,
        name=name,
        layer=layer,
        header=header,
        body=body,
        refs=refs,
        ref_lines=lines,
        tests=tests,
        body_line=body_line,
    )


def _parse_sql(sql: str, rel: Path, body_line: int) -> exp.Query:
    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        line = exc.errors[0].get("line") if exc.errors else None
        at = f":{body_line + line - 1}" if line else ""
        raise SqlModelError(f"{rel}{at}: SQL does not parse: {exc}") from exc
    statements = [s for s in statements if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SqlModelError(f"{rel}: a model holds exactly one SELECT statement")
    return statements[0]


def _table_refs(
    sql: str, rel: Path, body_line: int
) -> tuple[tuple[tuple[str, str], ...], dict[tuple[str, str], int]]:
    tree = _parse_sql(sql, rel, body_line)
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    refs: dict[tuple[str, str], int] = {}
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        line = body_line + table.this.meta.get("line", 1) - 1 if table.this else body_line
        if not table.db:
            if name in ctes or not name:  # a CTE, or a table function such as range()
                continue
            raise SqlModelError(
                f"{rel}:{line}: table {table.name!r} must be qualified with its schema "
                "(e.g. raw.transactions)"
            )
        refs.setdefault((table.db.lower(), name), line)
    return tuple(refs), refs


def load_models(
    root: Path,
    known_tables: set[tuple[str, str]],
    forbidden: Mapping[tuple[str, str], str] | None = None,
) -> list[SqlModel]:
    """Parse every ``.sql`` file under ``root``; check references and cycles.

    ``known_tables`` are the ``(schema, table)`` pairs written by Python assets;
    ``forbidden`` maps tables a model may not read to the reason (raw PII in the landing area).
    Returns the models in dependency order.
    """
    models = [parse_model(p, root) for p in sorted(root.rglob("*.sql"))]
    by_table: dict[tuple[str, str], SqlModel] = {}
    for m in models:
        if m.table in by_table or m.table in known_tables:
            raise SqlModelError(f"{m.rel}: table {m.schema}.{m.name} is defined twice")
        by_table[m.table] = m
    for m in models:
        for ref in m.refs:
            where = f"{m.rel}:{m.ref_lines.get(ref, 1)}"
            if forbidden and ref in forbidden:
                raise SqlModelError(f"{where}: {ref[0]}.{ref[1]} cannot be read: {forbidden[ref]}")
            if ref not in by_table and ref not in known_tables:
                raise SqlModelError(
                    f"{where}: reference to {ref[0]}.{ref[1]}, which is neither an asset nor a "
                    "model"
                )
        for ref in m.optional_refs:
            if ref not in m.refs:
                raise SqlModelError(f"{m.rel}: optional {'.'.join(ref)} is not read by the SQL")
        if m.materialized == "view" and m.optional_refs:
            raise SqlModelError(f"{m.rel}: a view cannot have optional references")
    graph = {m.table: [r for r in m.refs if r in by_table] for m in models}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        steps = []
        for a, b in zip(cycle, cycle[1:], strict=False):
            # graphlib lists the cycle so that each node depends on the one before it.
            m = by_table[b]
            steps.append(f"{m.rel}:{m.ref_lines.get(a, 1)} reads {a[0]}.{a[1]}")
        raise SqlModelError("dependency cycle: " + "; ".join(steps)) from exc
    return [by_table[t] for t in order if t in by_table]


# ---------------------------------------------------------------------------- column lineage
def column_lineage(
    model: SqlModel, upstream_columns: Mapping[tuple[str, str], Sequence[str]]
) -> dict[str, list[tuple[str, str, str]]]:
    """For each output column, the ``(schema, table, column)`` it is computed from.

    ``upstream_columns`` gives the columns of every table the model reads. Columns computed
    from constants only (``count(*)``, literals) map to an empty list.
    """
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for (s, t), cols in upstream_columns.items():
        schema.setdefault(s, {})[t] = {c: "UNKNOWN" for c in cols}
    sql = model.render(dt.date(2000, 1, 1), dt.date(2000, 1, 2))
    try:
        # trim_selects=False: the same source columns, without re-copying every SELECT per
        # column (five times faster on these models).
        nodes = sqlglot_lineage(None, sql, schema=schema, dialect="duckdb", trim_selects=False)
    except Exception as exc:  # sqlglot raises several types; lineage is best effort
        raise SqlModelError(f"{model.rel}: column lineage could not be derived: {exc}") from exc
    if not isinstance(nodes, dict):
        nodes = {nodes.name: nodes}
    out: dict[str, list[tuple[str, str, str]]] = {}
    for column, node in nodes.items():
        deps: list[tuple[str, str, str]] = []
        for n in node.walk():
            if isinstance(n.source, exp.Table) and n.source.db and not n.downstream:
                dep = (n.source.db.lower(), n.source.name.lower(), n.name.split(".")[-1])
                if dep not in deps and dep[2] != "*":
                    deps.append(dep)
        out[column] = sorted(deps)
    return out


# ---------------------------------------------------------------------------- running
@dataclass
class TestOutcome:
    """What one declared test found."""

    test: ModelTest
    failing_rows: int
    examples: list[str]
    #: Failing rows by day (``YYYY-MM-DD``), for an incremental model's run over a window.
    failing_days: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no row failed."""
        return self.failing_rows == 0


@dataclass
class ModelResult:
    """A model's result for a window, before anything is written."""

    model: SqlModel
    sql: str
    frame: pl.DataFrame
    tests: list[TestOutcome]
    start: dt.date | None = None
    end: dt.date | None = None
    rows_outside_window: int = 0

    def days(self) -> list[str]:
        """Every day of an incremental run's window (``[]`` for a table or view)."""
        if not self.model.partitioned or self.start is None or self.end is None:
            return []
        span = (self.end - self.start).days
        return [(self.start + dt.timedelta(days=i)).isoformat() for i in range(span)]


class ModelRunError(RuntimeError):
    """Running a model failed; the message names the model file and DuckDB's error."""


def execute_model(
    model: SqlModel,
    con: duckdb.DuckDBPyConnection,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> ModelResult:
    """Execute ``model`` for ``[start, end)``: the result, its tests not yet run."""
    sql = model.render(start, end)
    try:
        frame = con.execute(sql).pl()
    except duckdb.Error as exc:
        raise ModelRunError(f"{model.rel} failed in DuckDB: {exc}") from None
    outside = 0
    if model.partitioned and start and end:
        col = model.header.partition_column
        if col not in frame.columns:
            raise ModelRunError(f"{model.rel}: partition_column {col!r} is not in the result")
        if frame.schema[col] != pl.Date:
            frame = frame.with_columns(pl.col(col).cast(pl.Date, strict=False))
        outside = frame.filter(
            pl.col(col).is_null() | (pl.col(col) < start) | (pl.col(col) >= end)
        ).height
    return ModelResult(model, sql, frame, [], start, end, outside)


def audit_result(
    result: ModelResult, con: duckdb.DuckDBPyConnection, examples: int = 3
) -> list[TestOutcome]:
    """Run the model's declared tests on its result, in DuckDB on ``con``.

    A failing test of an incremental model also counts its failing rows by day.
    """
    model = result.model
    day = model.header.partition_column if model.partitioned else None
    con.register(RESULT, result.frame)
    try:
        return _run_tests(model, con, examples, day if day in result.frame.columns else None)
    finally:
        con.unregister(RESULT)


def _run_tests(
    model: SqlModel, con: duckdb.DuckDBPyConnection, examples: int, day: str | None = None
) -> list[TestOutcome]:
    """Failing-row counts of every declared test; examples only for tests that fail.

    Row-level tests (not_null, accepted_values, expression) and the duplicate detection of
    unique tests share one scan of the result (relationships as an ``IN`` subquery). With
    ``day`` (the partition column), a failing test's rows are also counted by day.
    """
    counts: dict[str, int] = {}
    one_scan = [t for t in model.tests if t.condition or t.kind == "unique"]
    try:
        if one_scan:
            # Row-level tests count their failing rows; unique tests first only detect
            # duplicates (rows minus distinct keys), counted exactly below when there are any.
            exprs = ", ".join(
                f"count(*) FILTER (WHERE {t.condition})"
                if t.condition
                else f"count(*) - count(DISTINCT row({', '.join(map(_quote, t.key or t.columns))}))"
                for t in one_scan
            )
            values = con.execute(f"SELECT {exprs} FROM {RESULT}").fetchone()
            counts.update({t.name: int(v) for t, v in zip(one_scan, values, strict=True)})
        for test in model.tests:
            if test.condition or (test.kind == "unique" and not counts[test.name]):
                continue
            count_sql = (
                f"SELECT coalesce(sum(duplicates), 0) FROM ({test.failing_sql})"
                if test.kind == "unique"
                else f"SELECT count(*) FROM ({test.failing_sql})"
            )
            counts[test.name] = int(con.execute(count_sql).fetchone()[0])
    except duckdb.Error as exc:
        raise ModelRunError(
            f"{model.rel}: its declared tests failed to run in DuckDB: {exc}"
        ) from None
    outcomes = []
    for test in model.tests:
        sample: list[str] = []
        by_day: dict[str, int] = {}
        if counts[test.name]:
            cols = ", ".join(_quote(c) for c in test.columns) or "*"
            rows = con.execute(
                f"SELECT DISTINCT {cols} FROM ({test.failing_sql}) LIMIT {examples}"
            ).fetchall()
            sample = [", ".join(str(v) for v in row) for row in rows]
            if day is not None:
                by_day = _failing_days(test, con, day)
        outcomes.append(TestOutcome(test, counts[test.name], sample, by_day))
    return outcomes


def _failing_days(test: ModelTest, con: duckdb.DuckDBPyConnection, day: str) -> dict[str, int]:
    """A failing test's rows by day (a ``unique`` key holds the day: see :class:`ModelTest`)."""
    col = _quote(day)
    if test.condition:
        sql = f"SELECT {col}, count(*) FROM {RESULT} WHERE {test.condition} GROUP BY 1"
    elif day in test.key:
        sql = f"SELECT {col}, sum(duplicates) FROM ({test.failing_sql}) GROUP BY 1"
    else:
        return {}
    try:
        rows = con.execute(sql + " ORDER BY 1").fetchall()
    except duckdb.Error as exc:
        raise ModelRunError(f"{test.name}: counting failing rows by day failed: {exc}") from None
    return {str(d): int(n) for d, n in rows if d is not None}


def view_sql(model: SqlModel) -> str:
    """The definition a view model stores (no window to fill in)."""
    return model.render(None, None)
