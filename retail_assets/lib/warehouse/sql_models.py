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

The module parses and checks models (:func:`load_models`), renders them, builds their pandera
contract, and derives column-level lineage (:func:`column_lineage`). The header, and the SQL of
its declared tests (:class:`ModelTest`), are parsed in ``sql_header``. Running models against
the lake is ``sql_execute``'s :func:`execute_model` and :func:`audit_result` (compute, then the
declared tests), which ``sql_runner.materialize`` runs and the Dagster layer wraps.
"""

from __future__ import annotations

import datetime as dt
import graphlib
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandera.polars as pa
import sqlglot
import yaml
from pydantic import ValidationError
from sqlglot import exp
from sqlglot.lineage import lineage as sqlglot_lineage

from retail_assets.lib.warehouse.sql_header import (
    _HEADER,
    _NAME,
    _TABLE_REF,
    _VARS,
    TYPES,
    ColumnSpec,
    ModelHeader,
    ModelTest,
    SqlModelError,
    _parse_tests,
)


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


def view_sql(model: SqlModel) -> str:
    """The definition a view model stores (no window to fill in)."""
    return model.render(None, None)
