"""Materialize one SQL model against the lake: compute, audit, then publish (no Dagster).

This is the loader's whole run path; the Dagster asset only turns its outcome into events.
Write-audit-publish: the SQL runs in an in-memory DuckDB over the lake's Parquet files, the
declared tests and the pandera contract run on the result, and only when no blocking check
failed is anything written: every daily partition of the window (incremental), the table
(table), or the view's definition (view).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from retail_assets.lib import schemas
from retail_assets.lib.frames import content_hash, with_lineage
from retail_assets.lib.lake import Lake, StagedWrite, ViewResult, WriteResult
from retail_assets.lib.sql_models import (
    ModelResult,
    ModelRunError,
    SqlModel,
    SqlModelError,
    audit_result,
    column_lineage,
    execute_model,
    view_sql,
)

LINEAGE_COLUMNS = {
    "lineage_id": pa.Column(pl.Utf8, description="Dagster run id that wrote the row."),
    "processed_at": pa.Column(
        pl.Datetime("us", "UTC"), description="When the row was written (UTC)."
    ),
}


class ChecksFailed(RuntimeError):
    """A blocking check failed; nothing was written. Carries what the checks found."""

    def __init__(self, message: str, result: ModelResult, report: schemas.ValidationReport):
        super().__init__(message)
        self.result = result
        self.report = report


@dataclass
class Materialized:
    """What a successful run wrote."""

    result: ModelResult
    report: schemas.ValidationReport
    stamped: pl.DataFrame
    rows_written: int
    partitions_written: int
    total_rows: int | None
    location: str
    data_version: str
    view: ViewResult | None
    lineage: dict[str, list[tuple[str, str, str]]] | None = None
    lineage_error: str | None = None


_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sql-lineage")
_LINEAGE_CACHE: dict[tuple, dict[str, list[tuple[str, str, str]]]] = {}
_CONTRACT_CACHE: dict[tuple[str, str], pa.DataFrameSchema] = {}


def _contract(model: SqlModel) -> pa.DataFrameSchema:
    """The model's pandera contract with the lineage columns, built once per file version."""
    key = (str(model.path), model.code_version)
    if key not in _CONTRACT_CACHE:
        _CONTRACT_CACHE[key] = model.pandera_schema(LINEAGE_COLUMNS)
    return _CONTRACT_CACHE[key]


def _lineage(
    model: SqlModel, upstream_columns: Mapping[tuple[str, str], Sequence[str]]
) -> dict[str, list[tuple[str, str, str]]]:
    """Column lineage of a model, parsed once per file version and input columns."""
    key = (
        str(model.path),
        model.code_version,
        tuple(sorted((t, tuple(c)) for t, c in upstream_columns.items())),
    )
    if key not in _LINEAGE_CACHE:
        _LINEAGE_CACHE[key] = column_lineage(model, upstream_columns)
    return _LINEAGE_CACHE[key]


def _audit(model: SqlModel, result: ModelResult, stamped: pl.DataFrame) -> schemas.ValidationReport:
    """Run the pandera contract on the stamped result.

    Raises :class:`ChecksFailed` when it or a blocking declared test failed.
    """
    report = schemas.validate(
        f"{model.schema}.{model.name}",
        stamped,
        source=f"dbt_like_sql/{model.rel}",
        schema=_contract(model),
    )
    failed = [o for o in result.tests if not o.passed and o.test.severity == "error"]
    if failed or not report.passed:
        lines = [] if report.passed else [report.message()]
        lines += [
            f"test {o.test.name} failed on {o.failing_rows} of {result.frame.height} rows: "
            f"{o.test.description}"
            + (
                f" (e.g. {'; '.join(schemas.mask_pii(e) for e in o.examples)})"
                if o.examples
                else ""
            )
            for o in failed
        ]
        raise ChecksFailed("\n".join(lines), result, report)
    return report


def materialize(
    model: SqlModel,
    lake: Lake,
    start: dt.date | None,
    end: dt.date | None,
    run_id: str,
    empty: Mapping[tuple[str, str], pl.DataFrame] | None = None,
    views: Mapping[tuple[str, str], tuple[str, Sequence[tuple[str, str]]]] | None = None,
    upstream_columns: Mapping[tuple[str, str], Sequence[str]] | None = None,
) -> Materialized:
    """Run ``model`` for ``[start, end)`` (incremental) or whole, audit it, and publish it.

    ``empty`` holds frames for optional inputs without data; ``views`` the current SQL of
    view models the model reads (a view is code: downstream runs use its definition as it is
    now, whether or not the view asset has been materialized since it changed).

    ``upstream_columns`` (columns of each input) enables column-level lineage.

    Raises ``LookupError`` when an input has no data, :class:`ModelRunError` when DuckDB
    rejects the SQL or rows fall outside the window, and :class:`ChecksFailed` when a blocking
    check fails. In each case nothing is written.
    """
    # Column lineage is pure Python (sqlglot); it is parsed on another thread while DuckDB,
    # which releases the GIL, runs the query.
    lineage_job = (
        _BACKGROUND.submit(_lineage, model, upstream_columns)
        if upstream_columns is not None
        else None
    )
    # An incremental model reads its window and the lookback its header declares: only those
    # days' files, so a day's run costs the same after a year of history as on the first day.
    days = None
    if model.partitioned and start and end:
        first = start - dt.timedelta(days=model.header.lookback_days)
        days = [(first + dt.timedelta(days=i)).isoformat() for i in range((end - first).days)]
    con = lake.compute_connection(model.refs, empty=empty, views=views, days=days)
    try:
        result = execute_model(model, con, start, end)
        if result.rows_outside_window:
            col = model.header.partition_column
            raise ModelRunError(
                f"{model.rel}: {result.rows_outside_window} rows have {col} outside the window "
                f"[{start}, {end}); filter on {{{{ start_date }}}} and {{{{ end_date }}}}"
            )
        schema, name = model.table
        # A view has no rows of its own: it passes on the lineage of the rows it reads.
        if model.materialized == "view":
            stamped, staged = result.frame, contextlib.nullcontext()
        else:
            stamped = with_lineage(result.frame, run_id, dt.datetime.now(dt.UTC))
            # The files are written under temporary names while the checks run; they become
            # visible only if every blocking check passes, and are deleted otherwise.
            column = model.header.partition_column if model.partitioned else None
            staged = lake.stage(stamped, schema, name, column, result.days())
        written: list[WriteResult] = []
        with staged:
            result.tests = audit_result(result, con)
            report = _audit(model, result, stamped)
            if isinstance(staged, StagedWrite):
                written = staged.publish()
    finally:
        con.close()

    view = None
    if model.materialized == "view":
        sql = view_sql(model)
        unchanged = lake.view_definition(schema, name) == (sql, list(model.refs))
        location = str(lake.write_view(schema, name, sql, model.refs))
        # The catalog is only written when the view is new or its SQL changed.
        view = lake.ensure_view(schema, name) if unchanged else lake.publish_view(schema, name)
        rows, parts_written, total = result.frame.height, 0, result.frame.height
    else:
        rows, parts_written = sum(w.rows for w in written), len(written)
        if model.partitioned:
            location = str(lake.table_dir(schema, name))
            # Counting the whole table would read every partition's footer on every run, a
            # cost that grows with history; a partitioned run reports the rows it wrote.
            total = None
        else:
            location, total = str(written[0].path), rows
        view = lake.ensure_view(schema, name)
    lineage, lineage_error = None, None
    if lineage_job is not None:
        try:
            lineage = lineage_job.result()
        except SqlModelError as exc:
            lineage_error = str(exc)
    return Materialized(
        lineage=lineage,
        lineage_error=lineage_error,
        result=result,
        report=report,
        stamped=stamped,
        rows_written=rows,
        partitions_written=parts_written,
        total_rows=total,
        location=location,
        data_version=content_hash(result.frame),
        view=view,
    )
