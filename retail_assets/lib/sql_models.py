"""Turn the ``.sql`` files under ``dbt_like_sql/`` into model definitions, without Dagster.

A model file starts with a block comment holding a YAML header (what dbt keeps in its config),
followed by one SELECT statement::

    /*
    materialized: incremental        # or: table
    partition_column: sales_date     # incremental models: the daily partition's date column
    lookback_days: 6                 # days before the partition the SQL reads (rolling windows)
    description: Daily sales per category.
    owner: team:analytics
    tags: [sales]
    columns:
      revenue: Gross revenue in the store currency.
    */
    SELECT ... FROM raw.transactions WHERE transaction_date >= {{ start_date }} ...

``{{ start_date }}`` and ``{{ end_date }}`` render as DATE literals of the partition window
(end exclusive). Tables are referenced as ``schema.table``; the references, parsed with sqlglot,
are the model's dependencies.
"""

from __future__ import annotations

import datetime as dt
import graphlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlglot
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlglot import exp

_HEADER = re.compile(r"\A\s*/\*(?P<yaml>.*?)\*/", re.DOTALL)
_VARS = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SqlModelError(ValueError):
    """A model file is invalid; the message starts with the file (and line where known)."""


class ModelHeader(BaseModel):
    """The YAML header of a model file."""

    model_config = ConfigDict(extra="forbid")

    materialized: Literal["incremental", "table"]
    partition_column: str | None = None
    lookback_days: int = Field(default=0, ge=0, le=366)
    schema_: str = Field(default="features", alias="schema")
    description: str
    owner: str | None = None
    tags: list[str] = []
    columns: dict[str, str] = {}


@dataclass(frozen=True)
class SqlModel:
    """One parsed model file."""

    path: Path
    name: str
    layer: str
    header: ModelHeader
    body: str
    refs: tuple[tuple[str, str], ...]

    @property
    def schema(self) -> str:
        """Warehouse schema the model's table lives in."""
        return self.header.schema_

    @property
    def table(self) -> tuple[str, str]:
        """``(schema, name)`` of the model's own table."""
        return (self.schema, self.name)

    @property
    def partitioned(self) -> bool:
        """True for incremental models (one daily partition per run)."""
        return self.header.materialized == "incremental"

    def render(self, start: dt.date | None = None, end: dt.date | None = None) -> str:
        """The SQL with the partition window filled in (``end`` exclusive)."""
        return render(self.body, start, end, self.path)


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
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(root)
    name = path.stem
    if not _NAME.match(name):
        raise SqlModelError(f"{rel}: file name must be lower_snake_case.sql")
    match = _HEADER.match(text)
    if not match:
        raise SqlModelError(f"{rel}:1: missing header: start the file with a /* YAML */ block")
    try:
        header = ModelHeader.model_validate(yaml.safe_load(match.group("yaml")) or {})
    except yaml.YAMLError as exc:
        raise SqlModelError(f"{rel}: header is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SqlModelError(f"{rel}: invalid header: {problems}") from exc
    if header.materialized == "incremental" and not header.partition_column:
        raise SqlModelError(f"{rel}: incremental models need a partition_column in the header")
    body = text[match.end() :].strip().rstrip(";")
    refs = _table_refs(render(body, None, None, rel), rel, text)
    layer = rel.parts[0] if len(rel.parts) > 1 else "models"
    return SqlModel(path=path, name=name, layer=layer, header=header, body=body, refs=refs)


def _line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), start=1):
        if needle.lower() in line.lower():
            return i
    return 1


def _table_refs(sql: str, rel: Path, text: str) -> tuple[tuple[str, str], ...]:
    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise SqlModelError(f"{rel}: SQL does not parse: {exc}") from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SqlModelError(f"{rel}: a model holds exactly one SELECT statement")
    tree = statements[0]
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    refs: list[tuple[str, str]] = []
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if not table.db:
            if name in ctes:
                continue
            if not name:  # a table function such as range(); not a dependency
                continue
            raise SqlModelError(
                f"{rel}:{_line_of(text, table.name)}: table {table.name!r} must be qualified "
                "with its schema (e.g. raw.transactions)"
            )
        ref = (table.db.lower(), name)
        if ref not in refs:
            refs.append(ref)
    return tuple(refs)


def load_models(root: Path, known_tables: set[tuple[str, str]]) -> list[SqlModel]:
    """Parse every ``.sql`` file under ``root``; check references and cycles.

    ``known_tables`` are the ``(schema, table)`` pairs written by Python assets.
    Returns the models in dependency order.
    """
    files = sorted(root.rglob("*.sql"))
    models = [parse_model(p, root) for p in files]
    by_table: dict[tuple[str, str], SqlModel] = {}
    for m in models:
        if m.table in by_table or m.table in known_tables:
            raise SqlModelError(
                f"{m.path.relative_to(root)}: table {m.schema}.{m.name} is defined twice"
            )
        by_table[m.table] = m
    for m in models:
        for ref in m.refs:
            if ref not in by_table and ref not in known_tables:
                text = m.path.read_text(encoding="utf-8")
                raise SqlModelError(
                    f"{m.path.relative_to(root)}:{_line_of(text, ref[1])}: reference to "
                    f"{ref[0]}.{ref[1]}, which is neither an asset nor a model"
                )
    sorter = graphlib.TopologicalSorter(
        {m.table: [r for r in m.refs if r in by_table] for m in models}
    )
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(f"{s}.{t}" for s, t in exc.args[1])
        files = ", ".join(
            str(by_table[t].path.relative_to(root)) for t in exc.args[1] if t in by_table
        )
        raise SqlModelError(f"{files}: dependency cycle {cycle}") from exc
    return [by_table[t] for t in order if t in by_table]
