"""The one way an asset writes a table: validate, then publish atomically, then report.

Write-audit-publish in a single step: the frame is validated against its pandera schema
*before* anything is written. On failure the blocking check ``pandera_schema`` fails with ERROR
severity, naming the source, columns and row counts, the step fails, downstream assets do not
run, and the partition already in the lake is left exactly as it was.

A daily asset covers a range of days in one step (:func:`run_days`: yesterday alone for the
nightly schedule, a whole range for a backfill). :class:`DayPublisher` audits and stages its
days as they are computed and publishes them only when every day of the range passed: one
bad day publishes nothing of the asset for the run, and the check names the day(s).
"""

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import polars as pl

from retail_assets.lib.warehouse import schemas
from retail_assets.lib.warehouse.frames import content_hash, markdown_table, with_lineage
from retail_assets.lib.warehouse.lake import Lake, LakeWriteError, StagedDays

SCHEMA_CHECK = "pandera_schema"
_DTYPE_NAMES = {pl.Utf8: "string", pl.Int64: "bigint", pl.Float64: "double", pl.Date: "date"}


def schema_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    """The blocking pandera check every asset carries."""
    table = ".".join(key.path)
    doc = (schemas.SCHEMAS[table].__doc__ or "").strip().splitlines()[0]
    return dg.AssetCheckSpec(
        SCHEMA_CHECK,
        asset=key,
        blocking=True,
        description=f"Rows match the strict pandera schema of {table} ({doc}) before they are "
        "published; on failure nothing is written and downstream assets do not run.",
    )


def column_schema(df: pl.DataFrame, descriptions: Mapping[str, str] | None = None):
    """``dagster/column_schema`` for a frame, with column descriptions where known."""
    descriptions = descriptions or {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                _DTYPE_NAMES.get(dtype, str(dtype).lower()),
                description=descriptions.get(name),
            )
            for name, dtype in df.schema.items()
        ]
    )


def passes_schema(context: dg.AssetExecutionContext, key: dg.AssetKey, df: pl.DataFrame) -> bool:
    """True when ``df``, stamped with lineage, passes the pandera schema of table ``key``.

    For an asset that publishes several tables: check all before publishing any.
    """
    stamped = with_lineage(df, context.run_id, dt.datetime.now(dt.UTC))
    return schemas.validate(".".join(key.path), stamped).passed


def publish_table(
    context: dg.AssetExecutionContext,
    lake: Lake,
    key: dg.AssetKey,
    df: pl.DataFrame,
    *,
    landing: bool = False,
    source: str = "",
    descriptions: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    data_version: str | None = None,
    artifacts: Mapping[str, bytes] | None = None,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Validate ``df`` as table ``key`` and publish it as the current partition.

    ``artifacts`` (file name -> bytes, e.g. a JSON payload) are written beside the partition,
    also only after validation passed.
    """
    schema, table = key.path
    # A backfill run of one day is tagged as a range (start = end): has_partition_key is False
    # there, yet the run is for that day (a range of several days raises here, as it should).
    partition = (
        context.partition_key
        if context.has_partition_key or context.has_partition_key_range
        else None
    )
    stamped = with_lineage(df, context.run_id, dt.datetime.now(dt.UTC))
    report = schemas.validate(f"{schema}.{table}", stamped, source=source)
    if not report.passed:
        message = report.message()
        context.log.error(message)
        failure_md = {
            "failures": dg.MetadataValue.md(report.markdown()),
            "failed_columns": dg.MetadataValue.json(report.failed_columns),
            "rows_checked": report.rows,
            "source": source or "computed",
        }
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=SCHEMA_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=message.splitlines()[0],
            metadata=failure_md,
        )
        raise dg.Failure(
            description=f"{message}\nNothing was written; {schema}.{table} partition "
            f"{partition or '(all)'} is unchanged.",
            metadata=failure_md,
            allow_retries=False,  # bad data stays bad: retrying would only repeat this
        )

    try:
        artifact_paths = {
            name: str(lake.write_bytes(data, schema, table, partition, name))
            for name, data in (artifacts or {}).items()
        }
        written = lake.write_partition(stamped, schema, table, partition, landing=landing)
    except LakeWriteError as exc:
        # A full disk or a read-only folder does not fix itself in seconds: no step retry.
        raise dg.Failure(
            description=str(exc), metadata={"errno": exc.errno or 0}, allow_retries=False
        ) from exc
    if landing:
        table_name = f"landing {schema}.{table} (holds PII: no catalog view)"
    else:
        view = lake.ensure_view(schema, table)
        if view.status == "busy":
            context.log.warning(f"view {view.name} not created yet: {view.detail}")
        elif view.status == "created":
            context.log.info(f"created catalog view {view.name} in {lake.warehouse_path}")
        table_name = f"warehouse.{schema}.{table}"

    context.log.info(f"wrote {written.rows} rows to {written.path} ({written.bytes} bytes)")
    meta: dict[str, Any] = {
        "dagster/column_schema": column_schema(
            stamped, {**schemas.column_descriptions(f"{schema}.{table}"), **(descriptions or {})}
        ),
        "dagster/table_name": table_name,
        "path": dg.MetadataValue.path(str(written.path)),
        "bytes": written.bytes,
    }
    if partition:
        # Counting the whole table would read every partition's footer on every run, a cost
        # that grows with history (as in the SQL models): a daily run reports its own rows.
        meta["dagster/partition_row_count"] = written.rows
    else:
        meta["dagster/row_count"] = written.rows
    if not landing:
        meta["preview"] = dg.MetadataValue.md(markdown_table(df))
    if source:
        meta["source"] = source
    for name, path in artifact_paths.items():
        meta[name] = dg.MetadataValue.path(path)
    meta.update(metadata or {})
    yield dg.MaterializeResult(
        asset_key=key,
        metadata=meta,
        data_version=dg.DataVersion(data_version or content_hash(df)),
    )
    yield dg.AssetCheckResult(
        asset_key=key,
        check_name=SCHEMA_CHECK,
        passed=True,
        metadata={"rows_checked": report.rows, "columns": len(stamped.columns)},
    )


#: Rows a :class:`DayPublisher` holds before it audits and stages them: enough for a year of a
#: 20,000-customer retailer's days in a few audits, small enough (a few hundred MB) that a
#: 1,000,000-customer day (2.2 M events) is audited alone.
AUDIT_CHUNK_ROWS = 2_000_000
#: Up to this many days, a range run's ``rows_by_day`` lists every day; beyond, every week.
_DAILY_TABLE_DAYS = 14


def run_days(context: dg.AssetExecutionContext) -> list[str]:
    """The days this step covers, oldest first: one for the nightly run, many for a backfill."""
    return list(context.partition_keys)


class DayPublisher:
    """Audit and stage a daily table day by day; publish it only when every day passed.

    ``add`` each day's frame as it is computed: frames are stamped with the run's lineage,
    held until :data:`AUDIT_CHUNK_ROWS` rows, validated together against the table's pandera
    schema (or one day at a time with ``by_day=True``, for tables whose keys are unique per
    day), and written under hidden names. :func:`publish_days` then renames every day into
    place, or, if any day failed, deletes them all and fails the step naming the days.
    """

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        key: dg.AssetKey,
        *,
        landing: bool = False,
        source: str = "",
        by_day: bool = False,
        chunk_rows: int = AUDIT_CHUNK_ROWS,
    ) -> None:
        self.context, self.lake, self.key = context, lake, key
        self.schema, self.table = key.path
        self.landing, self.source, self.by_day, self.chunk_rows = (
            landing,
            source,
            by_day,
            chunk_rows,
        )
        self.processed_at = dt.datetime.now(dt.UTC)
        self.staged: StagedDays = lake.stage_days(self.schema, self.table, landing)
        self._buffer: list[tuple[str, pl.DataFrame]] = []
        self._buffered = 0
        self.rows_by_day: dict[str, int] = {}
        self.hashes: dict[str, str] = {}
        self.failures: list[tuple[str, schemas.ValidationReport]] = []
        self.rows_checked = 0
        self.columns = 0
        self.last: pl.DataFrame | None = None

    @property
    def name(self) -> str:
        """``schema.table``."""
        return f"{self.schema}.{self.table}"

    def add(self, day: str, df: pl.DataFrame) -> None:
        """Take day ``day``'s frame (without lineage columns): audited and staged in chunks."""
        if day in self.rows_by_day:
            raise ValueError(f"{self.name}: day {day} added twice")
        self.rows_by_day[day] = df.height
        self.hashes[day] = content_hash(df)
        self.last = df
        self._buffer.append((day, with_lineage(df, self.context.run_id, self.processed_at)))
        self._buffered += df.height
        if self._buffered >= self.chunk_rows:
            self.flush()

    def _validate(self, frames: list[tuple[str, pl.DataFrame]]) -> None:
        name = self.name
        if not self.by_day and len(frames) > 1:
            try:
                together = pl.concat([f for _, f in frames], how="vertical")
            except pl.exceptions.PolarsError:
                together = None  # the days disagree on a type: each day tells which
            if together is not None:
                self.columns = together.width
                report = schemas.validate(name, together, source=self.source)
                self.rows_checked += report.rows
                if report.passed:
                    return
                self.rows_checked -= report.rows  # counted again below, day by day
        for day, frame in frames:
            self.columns = frame.width
            report = schemas.validate(name, frame, source=self.source)
            self.rows_checked += report.rows
            if not report.passed:
                self.failures.append((day, report))

    def flush(self) -> None:
        """Audit the days held so far and, while every day has passed, stage them."""
        if not self._buffer:
            return
        frames, self._buffer, self._buffered = self._buffer, [], 0
        self._validate(frames)
        if self.failures:
            self.staged.discard()  # nothing of this table is published: stop writing
            return
        try:
            for day, frame in frames:
                self.staged.add(day, frame)
            if len(self.rows_by_day) > len(frames):  # a long range: say how far it has got
                self.context.log.info(
                    f"{self.name}: {len(self.rows_by_day)} days audited and staged so far "
                    f"(up to {frames[-1][0]})"
                )
        except LakeWriteError as exc:
            self.staged.discard()
            raise dg.Failure(
                description=str(exc), metadata={"errno": exc.errno or 0}, allow_retries=False
            ) from exc

    def failure_message(self) -> str:
        """The failed days with the columns, checks and rows that failed."""
        days = list(self.rows_by_day)
        lines = [
            f"{self.name}: {len(self.failures)} of {len(days)} day(s) failed the schema check: "
            + ", ".join(d for d, _ in self.failures)
        ]
        for day, report in self.failures[:10]:
            lines.append(f"{day}: " + report.message())
        if len(self.failures) > 10:
            lines.append(f"... and {len(self.failures) - 10} more day(s)")
        lines.append(
            f"Nothing was written: every partition of {self.name} in {span(days)} is unchanged."
        )
        return "\n".join(lines)

    def failed_check(self) -> dg.AssetCheckResult:
        """The blocking check's failure, naming every failed day."""
        table = (
            "| day | column | check | failed rows | examples (masked) |\n|---|---|---|---|---|\n"
        )
        table += "".join(
            f"| {day} | {f['column']} | {f['check']} | {f['failed_rows']} | {f['examples']} |\n"
            for day, r in self.failures
            for f in r.failures
        )
        return dg.AssetCheckResult(
            asset_key=self.key,
            check_name=SCHEMA_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=self.failure_message().splitlines()[0],
            metadata={
                "failures": dg.MetadataValue.md(table),
                "failed_days": dg.MetadataValue.json([d for d, _ in self.failures]),
                "failed_columns": dg.MetadataValue.json(
                    list(dict.fromkeys(c for _, r in self.failures for c in r.failed_columns))
                ),
                "rows_checked": self.rows_checked,
                "source": self.source or "computed",
            },
        )

    def data_version(self) -> str:
        """The day's content hash (one day), or a hash of every day's (a range)."""
        if len(self.hashes) == 1:
            return next(iter(self.hashes.values()))
        digest = hashlib.sha256()
        for day, h in self.hashes.items():
            digest.update(f"{day}:{h};".encode())
        return digest.hexdigest()

    def publish(
        self,
        metadata: Mapping[str, Any] | None = None,
        descriptions: Mapping[str, str] | None = None,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """Rename every staged day into place and report the run (call after ``flush``)."""
        try:
            written = self.staged.publish()
        except LakeWriteError as exc:
            raise dg.Failure(
                description=str(exc), metadata={"errno": exc.errno or 0}, allow_retries=False
            ) from exc
        days = list(self.rows_by_day)
        if self.landing:
            table_name = f"landing {self.name} (holds PII: no catalog view)"
        else:
            view = self.lake.ensure_view(self.schema, self.table)
            if view.status == "busy":
                self.context.log.warning(f"view {view.name} not created yet: {view.detail}")
            elif view.status == "created":
                self.context.log.info(f"created catalog view {view.name}")
            table_name = f"warehouse.{self.schema}.{self.table}"
        rows = sum(w.rows for w in written)
        size = sum(w.bytes for w in written)
        self.context.log.info(
            f"wrote {rows} rows of {self.name} in {len(written)} day(s) {span(days)} ({size} bytes)"
        )
        last = self.last if self.last is not None else pl.DataFrame()
        stamped = with_lineage(last, self.context.run_id, self.processed_at)
        meta: dict[str, Any] = {
            "dagster/column_schema": column_schema(
                stamped, {**schemas.column_descriptions(self.name), **(descriptions or {})}
            ),
            "dagster/table_name": table_name,
            "bytes": size,
        }
        if len(written) == 1:
            meta["dagster/partition_row_count"] = rows
            meta["path"] = dg.MetadataValue.path(str(written[0].path))
        else:
            meta["path"] = dg.MetadataValue.path(
                str(self.lake.table_dir(self.schema, self.table, self.landing))
            )
            meta["days_written"] = len(written)
            meta["rows_written"] = rows
            meta["rows_by_day"] = dg.MetadataValue.md(rows_by_day_table(self.rows_by_day))
        if not self.landing:
            meta["preview"] = dg.MetadataValue.md(markdown_table(last))
        if self.source:
            meta["source"] = self.source
        meta.update(metadata or {})
        yield day_materializations(
            self.context, self.key, meta, self.rows_by_day, self.data_version()
        )
        yield dg.AssetCheckResult(
            asset_key=self.key,
            check_name=SCHEMA_CHECK,
            passed=True,
            metadata={
                "rows_checked": self.rows_checked,
                "columns": self.columns,
                "days_checked": len(days),
            },
        )


def publish_days(
    publishers: Sequence[DayPublisher],
    metadata: Mapping[dg.AssetKey, Mapping[str, Any]] | None = None,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Publish every table of a step's range, or none of them if any day of any failed.

    A failure yields each failed table's blocking check with ERROR severity and fails the
    step without retries, naming the days, columns and rows; staged files are deleted and
    every partition already in the lake is left as it was.
    """
    for p in publishers:
        p.flush()
    failed = [p for p in publishers if p.failures]
    if failed:
        for p in publishers:
            p.staged.discard()
        message = "\n".join(p.failure_message() for p in failed)
        failed[0].context.log.error(message)
        for p in failed:
            yield p.failed_check()
        raise dg.Failure(
            description=message,
            metadata={"failed_days": dg.MetadataValue.json([d for d, _ in failed[0].failures])},
            allow_retries=False,  # bad data stays bad: retrying would only repeat this
        )
    for p in publishers:
        yield from p.publish((metadata or {}).get(p.key))


def day_materializations(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    metadata: Mapping[str, Any],
    rows_by_day: Mapping[str, int],
    data_version: str,
) -> dg.MaterializeResult:
    """The step's result for ``key``: one materialization per day, each with its own rows.

    A one-day run reports ``metadata`` as it is. In a range run Dagster records one
    materialization per day and copies the result's metadata into each, so a year of a table
    would store the same schema, preview and rows-per-day table 365 times (about 20 KB and
    10 ms of event storage each). Instead every day's event carries that day's
    ``dagster/partition_row_count`` and the run's ``range``, and the run's whole ``metadata``
    rides on the last day's event, the asset's latest materialization in the UI.
    """
    partitioned = context.has_partition_key or context.has_partition_key_range
    days = run_days(context) if partitioned else []
    if len(days) <= 1:
        return dg.MaterializeResult(
            asset_key=key, metadata=metadata, data_version=dg.DataVersion(data_version)
        )
    for day in days:
        context.add_asset_metadata(
            {"dagster/partition_row_count": rows_by_day.get(day, 0)},
            asset_key=key,
            partition_key=day,
        )
    context.add_asset_metadata(dict(metadata), asset_key=key, partition_key=days[-1])
    return dg.MaterializeResult(
        asset_key=key,
        metadata={"range": f"{span(days)} ({len(days)} days)"},
        data_version=dg.DataVersion(data_version),
    )


def rows_by_day_table(rows_by_day: Mapping[str, int]) -> str:
    """Rows written per day as a small markdown table (per week beyond two weeks)."""
    if len(rows_by_day) <= _DAILY_TABLE_DAYS:
        body = "".join(f"| {d} | {n:,} |\n" for d, n in rows_by_day.items())
        return "| day | rows |\n|---|---:|\n" + body
    weeks: dict[str, list[int]] = {}
    for d, n in rows_by_day.items():
        day = dt.date.fromisoformat(d)
        weeks.setdefault((day - dt.timedelta(days=day.weekday())).isoformat(), []).append(n)
    body = "".join(
        f"| {w} | {len(ns)} | {sum(ns):,} | {min(ns):,} | {max(ns):,} |\n"
        for w, ns in weeks.items()
    )
    return (
        "| week of | days | rows | fewest / day | most / day |\n|---|---:|---:|---:|---:|\n" + body
    )


def span(days: Sequence[str]) -> str:
    """``first..last`` of a range of days (the day itself for one)."""
    if not days:
        return "(no days)"
    return days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
