"""The one way an asset writes a table: validate, then publish atomically, then report.

Write-audit-publish in a single step: the frame is validated against its pandera schema
*before* anything is written. On failure the blocking check ``pandera_schema`` fails with ERROR
severity, naming the source, columns and row counts, the step fails, downstream assets do not
run, and the partition already in the lake is left exactly as it was.
"""

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import polars as pl

from retail_assets.lib import schemas
from retail_assets.lib.frames import content_hash, markdown_table, with_lineage
from retail_assets.lib.lake import Lake, LakeWriteError

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
