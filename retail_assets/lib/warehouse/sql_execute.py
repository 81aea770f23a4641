"""Running one SQL model on a DuckDB connection, then its declared tests on the result."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import polars as pl

from retail_assets.lib.warehouse.sql_header import (
    RESULT,
    ModelTest,
    _quote,
)
from retail_assets.lib.warehouse.sql_models import SqlModel


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
