"""Materialize one SQL model against the lake: compute, audit, then publish (no Dagster).

This is the loader's whole run path; the Dagster asset only turns its outcome into events.
Write-audit-publish: the SQL runs in an in-memory DuckDB over the lake's Parquet files, the
declared tests and the pandera contract run on the result, and only when no blocking check
failed is anything written: every daily partition of the window (incremental), the table
(table), or the view's definition (view).

An incremental model's run covers any range of days (one for the nightly run, a year for a
backfill) in one call. The range is computed in windows of at most ``backfill_days`` days
(:func:`sub_windows`), each one query reading its window and the model's lookback, so memory
is bounded by the header and not by the range. Each window's daily files are staged under
hidden names (:class:`~retail_assets.lib.warehouse.lake.staging.StagedWrite`) while its checks
run; all of them are renamed into place only when every window's checks passed, so a failure
anywhere in the range publishes nothing and leaves every earlier partition as it was. A day's
rows are the same whichever window computed them: each window reads its own lookback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl

from retail_assets.lib.warehouse import schemas
from retail_assets.lib.warehouse.frames import content_hash, with_lineage
from retail_assets.lib.warehouse.lake.files import ViewResult, WriteResult
from retail_assets.lib.warehouse.lake.staging import StagedWrite
from retail_assets.lib.warehouse.lake.store import Lake
from retail_assets.lib.warehouse.sql_checks import ChecksFailed, RunChecks
from retail_assets.lib.warehouse.sql_execute import (
    ModelResult,
    ModelRunError,
    audit_result,
    execute_model,
)
from retail_assets.lib.warehouse.sql_header import SqlModelError
from retail_assets.lib.warehouse.sql_models import SqlModel, column_lineage, view_sql

LINEAGE_COLUMNS = {
    "lineage_id": pa.Column(pl.Utf8, description="Dagster run id that wrote the row."),
    "processed_at": pa.Column(
        pl.Datetime("us", "UTC"), description="When the row was written (UTC)."
    ),
}
#: Rows of the first window a range run keeps for its preview (the rest is written and freed).
PREVIEW_ROWS = 20


def sub_windows(start: dt.date, end: dt.date, days: int) -> list[tuple[dt.date, dt.date]]:
    """``[start, end)`` cut into consecutive windows of at most ``days`` days, oldest first."""
    if days < 1:
        raise ValueError(f"days per window must be at least 1, not {days}")
    out = []
    while start < end:
        stop = min(start + dt.timedelta(days=days), end)
        out.append((start, stop))
        start = stop
    return out


@dataclass
class Materialized:
    """What a successful run wrote.

    ``result`` is the first window's result (its rendered SQL, its rows for the preview): the
    whole result for a table, a view or a run of one window; for a range computed in several
    windows, the first window with only its first :data:`PREVIEW_ROWS` rows (the rest was
    written and freed). ``stamped`` is the same frame with its lineage columns.
    """

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
    checks: RunChecks | None = None
    #: Rows written per day, oldest first (incremental models).
    rows_by_day: dict[str, int] = field(default_factory=dict)
    #: The ``[start, end)`` windows the run queried, oldest first.
    windows: list[tuple[dt.date | None, dt.date | None]] = field(default_factory=list)


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


def _validate(model: SqlModel, stamped: pl.DataFrame) -> schemas.ValidationReport:
    """The pandera contract on one window's stamped result."""
    return schemas.validate(
        f"{model.schema}.{model.name}",
        stamped,
        source=f"dbt_like_sql/{model.rel}",
        schema=_contract(model),
    )


def day_hashes(frame: pl.DataFrame, column: str, days: Sequence[str]) -> dict[str, str]:
    """Each day's content hash, as ``content_hash`` of that day's rows alone would give.

    Rows are hashed once (a row's hash depends on its values only) and picked by day, so a day
    costs a filter of one integer column, not a copy of its rows.
    """
    data = frame.drop([c for c in LINEAGE_COLUMNS if c in frame.columns])
    schema = repr(list(data.schema.items())).encode()
    hashes = data.hash_rows(seed=0, seed_1=1, seed_2=2, seed_3=3) if data.height else None
    out = {}
    for day in days:
        digest = hashlib.sha256(schema)
        if hashes is not None:
            picked = hashes.filter(data[column] == dt.date.fromisoformat(day))
            if picked.len():
                digest.update(picked.to_numpy().tobytes())
        out[day] = digest.hexdigest()
    return out


def range_version(hashes: Mapping[str, str]) -> str:
    """A run's data version: the day's hash for one day, a hash of every day's for a range.

    The same days with the same rows give the same version however the run was split into
    windows.
    """
    if len(hashes) == 1:
        return next(iter(hashes.values()))
    digest = hashlib.sha256()
    for day, h in hashes.items():
        digest.update(f"{day}:{h};".encode())
    return digest.hexdigest()


def _run_window(
    model: SqlModel,
    lake: Lake,
    start: dt.date | None,
    end: dt.date | None,
    empty: Mapping[tuple[str, str], pl.DataFrame] | None,
    views: Mapping[tuple[str, str], tuple[str, Sequence[tuple[str, str]]]] | None,
    stamp,
    stage,
) -> tuple[ModelResult, pl.DataFrame]:
    """Compute one window and run its declared tests; ``stage(stamped, days)`` writes it.

    The window reads its own days and the lookback the header declares: only those days'
    files, so a window costs the same after a year of history as on the first day.
    """
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
        stamped = stamp(result.frame)
        # The files are written under hidden names while the checks run.
        stage(stamped, result.days())
        result.tests = audit_result(result, con)
    finally:
        con.close()
    return result, stamped


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

    An incremental model's range, of any length, is computed in windows of at most
    ``backfill_days`` days (:func:`sub_windows`), each reading its own lookback; every
    window's days are staged as it is checked and published together once every window
    passed. After a failed check the remaining windows are still computed and checked (so the
    failure names every bad day) but no longer written; a failed contract stops the run at
    once, since a query's columns and types are the same for every window.

    ``empty`` holds frames for optional inputs without data; ``views`` the current SQL of
    view models the model reads (a view is code: downstream runs use its definition as it is
    now, whether or not the view asset has been materialized since it changed).

    ``upstream_columns`` (columns of each input) enables column-level lineage.

    Raises ``LookupError`` when an input has no data, :class:`ModelRunError` when DuckDB
    rejects the SQL or rows fall outside a window, and :class:`ChecksFailed` when a blocking
    check fails on any window. In each case nothing is written.
    """
    # Column lineage is pure Python (sqlglot); it is parsed on another thread while DuckDB,
    # which releases the GIL, runs the query.
    lineage_job = (
        _BACKGROUND.submit(_lineage, model, upstream_columns)
        if upstream_columns is not None
        else None
    )
    schema, name = model.table
    windowed = model.partitioned and start is not None and end is not None
    windows: list[tuple[dt.date | None, dt.date | None]] = (
        list(sub_windows(start, end, model.header.backfill_days))  # type: ignore[arg-type]
        if windowed
        else [(start, end)]
    )
    several = len(windows) > 1
    processed_at = dt.datetime.now(dt.UTC)
    column = model.header.partition_column if model.partitioned else None
    checks = RunChecks(model)
    staged: StagedWrite | None = None
    first: tuple[ModelResult, pl.DataFrame] | None = None
    hashes: dict[str, str] = {}
    whole_hash = ""

    def stamp(frame: pl.DataFrame) -> pl.DataFrame:
        # A view has no rows of its own: it passes on the lineage of the rows it reads.
        if model.materialized == "view":
            return frame
        return with_lineage(frame, run_id, processed_at)

    def stage(stamped: pl.DataFrame, days: Sequence[str]) -> None:
        nonlocal staged
        if model.materialized == "view" or not checks.passed:
            return  # after a failure nothing of this run is published: stop writing
        if staged is None:
            staged = lake.stage(stamped, schema, name, column, days)
        else:
            staged.add(stamped, days)

    written: list[WriteResult] = []
    rows_by_day: dict[str, int] = {}
    try:
        for window_start, window_end in windows:
            try:
                result, stamped = _run_window(
                    model, lake, window_start, window_end, empty, views, stamp, stage
                )
            except ModelRunError as exc:
                if several:
                    exc.args = (
                        f"{exc} (in the query for [{window_start}, {window_end}) of the "
                        f"run's [{start}, {end}))",
                    )
                exc.window = (window_start, window_end)  # type: ignore[attr-defined]
                raise
            report = _validate(model, stamped)
            checks.add(result, report)
            if windowed and column:
                hashes.update(day_hashes(result.frame, column, result.days()))
            else:
                whole_hash = content_hash(result.frame)
            if first is None:
                keep = result.frame.head(PREVIEW_ROWS) if several else result.frame
                first = (
                    dataclasses.replace(result, frame=keep),
                    stamped.head(PREVIEW_ROWS) if several else stamped,
                )
            del result, stamped  # free this window before the next one is computed
            if not checks.passed and staged is not None:
                staged.discard()
                staged = None
            if checks.schema_failures:
                break
        if not checks.passed:
            raise ChecksFailed(checks.message(), checks)
        if staged is not None:
            days = staged.days
            written = staged.publish()
            if column:
                rows_by_day = {d: w.rows for d, w in zip(days, written, strict=True) if d}
    finally:
        if staged is not None:
            staged.discard()
    assert first is not None
    result, stamped = first

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
        report=checks.report,
        stamped=stamped,
        rows_written=rows,
        partitions_written=parts_written,
        total_rows=total,
        location=location,
        data_version=range_version(hashes) if windowed else whole_hash,
        view=view,
        checks=checks,
        rows_by_day=rows_by_day,
        windows=windows,
    )
