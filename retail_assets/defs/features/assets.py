"""Features: one asset per SQL file under ``dbt_like_sql/``.

The loader (``retail_assets.lib.warehouse.sql_models``) parses each file's header and SQL; this
module turns each model into an asset whose dependencies are the tables its SQL reads, with one
blocking check for its pandera contract and one per declared test. A run computes the model in
an in-memory DuckDB over the lake's Parquet files, runs the checks on the result, and only then
writes it: every daily partition of the window (incremental), the whole table (table), or the
view's definition (view).

An incremental model's step takes a whole partition range (a single-run backfill policy): the
runner queries it in windows of at most ``backfill_days`` days and publishes every day only
when every window passed its checks. The step reports one result per check for the run.
"""

import datetime as dt
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl

from retail_assets.defs.governance import app_events, customers, orders, reconciliation, sessions
from retail_assets.defs.operations import COMPUTE_POOL, TRANSIENT_RETRY
from retail_assets.defs.partitions import daily_partitions, lookback
from retail_assets.defs.publishing import (
    SCHEMA_CHECK,
    column_schema,
    day_materializations,
    rows_by_day_table,
)
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources import assets as sources
from retail_assets.defs.sources import census
from retail_assets.lib.warehouse import schemas
from retail_assets.lib.warehouse.frames import markdown_table
from retail_assets.lib.warehouse.sql_checks import ChecksFailed, RunChecks
from retail_assets.lib.warehouse.sql_execute import ModelRunError
from retail_assets.lib.warehouse.sql_models import SqlModel, load_models, view_sql
from retail_assets.lib.warehouse.sql_runner import LINEAGE_COLUMNS, materialize

SQL_DIR = Path(
    os.environ.get("RETAIL_SQL_DIR", Path(__file__).resolve().parents[3] / "dbt_like_sql")
)
_KINDS = {"view": {"duckdb", "sql", "view"}, "table": {"duckdb", "sql", "parquet"}}


def python_tables() -> set[tuple[str, str]]:
    """``(schema, table)`` of every Python asset a SQL model may read."""
    keys: set[tuple[str, str]] = set()
    for asset in (
        *sources.SIMULATED_SOURCES,
        *(census.defs.assets or []),
        # The governed tables of either world (app events with their audit: the retailer's).
        sessions.governed_sessions,
        customers.governed_customers,
        app_events._governed_app_events(with_audit=True),
        orders.governed_orders,
        reconciliation.source_reconciliation,
    ):
        keys.update(tuple(k.path) for k in asset.keys)  # type: ignore[union-attr]
    # The retailer world's own sources (retail_assets.defs.sources.retailer).
    return keys | {("raw", "orders"), ("raw", "stores")}


def forbidden_tables() -> dict[tuple[str, str], str]:
    """Tables with raw personal data: they stay in the landing area, SQL cannot read them."""
    out = {}
    for table in schemas.SCHEMAS:
        pii = schemas.raw_pii_columns(table)
        if pii:
            out[tuple(table.split("."))] = (
                f"it holds raw personal data ({', '.join(pii)}) and stays in the landing area; "
                "read its governed table instead"
            )
    return out  # type: ignore[return-value]


def view_models(
    models: dict[tuple[str, str], SqlModel],
) -> dict[tuple[str, str], tuple[str, tuple[tuple[str, str], ...]]]:
    """``(sql, refs)`` of every view model, by table: what a model reading a view runs."""
    return {t: (view_sql(m), m.refs) for t, m in models.items() if m.materialized == "view"}


def _key(table: tuple[str, str]) -> dg.AssetKey:
    return dg.AssetKey(list(table))


def _columns_of(table: tuple[str, str], models: dict[tuple[str, str], SqlModel]) -> list[str]:
    if table in models:
        return [*models[table].columns, *LINEAGE_COLUMNS]
    return list(schemas.SCHEMAS[".".join(table)].to_schema().columns)


def _empty_frame(table: tuple[str, str]) -> pl.DataFrame:
    """An empty frame with a registered table's columns and types (for optional inputs)."""
    cols = schemas.SCHEMAS[".".join(table)].to_schema().columns
    return pl.DataFrame(schema={name: col.dtype.type for name, col in cols.items()})


def _check_specs(model: SqlModel, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(
            SCHEMA_CHECK,
            asset=key,
            blocking=True,
            description="The result has exactly the columns the header declares, with their "
            "types (pandera); on failure nothing is written and downstream assets do not run.",
        )
    ]
    for test in model.tests:
        blocking = test.severity == "error"
        specs.append(
            dg.AssetCheckSpec(
                test.name,
                asset=key,
                blocking=blocking,
                additional_deps=[_key(test.ref)] if test.ref else None,
                description=f"{test.description} (declared in dbt_like_sql/{model.rel}; "
                + ("blocking" if blocking else "warning only")
                + ")",
            )
        )
    return specs


def upstream_columns(
    model: SqlModel, models: dict[tuple[str, str], SqlModel]
) -> dict[tuple[str, str], list[str]]:
    """Columns of every table ``model`` reads (declared for models, pandera for assets)."""
    return {ref: _columns_of(ref, models) for ref in model.refs}


def _lineage_metadata(lineage: dict[str, list[tuple[str, str, str]]]) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=_key((s, t)), column_name=c) for s, t, c in deps]
            for column, deps in lineage.items()
            if deps
        }
    )


def _check_results(
    model: SqlModel, key: dg.AssetKey, checks: RunChecks
) -> list[dg.AssetCheckResult]:
    """One result per check for the run, over every window it computed."""
    report = checks.report
    ranged = len(checks.days) > 1
    days_meta = {"days_checked": len(checks.days)} if checks.days else {}
    schema_days = checks.schema_failed_days
    out = [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=SCHEMA_CHECK,
            passed=report.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=None
            if report.passed
            else report.message().splitlines()[0]
            + (f" on day(s) {schema_days[0]}..{schema_days[-1]}" if ranged and schema_days else ""),
            metadata={
                "rows_checked": report.rows,
                **days_meta,
                **({"failures": dg.MetadataValue.md(report.markdown())} if report.failures else {}),
                **({"failed_days": dg.MetadataValue.json(schema_days)} if schema_days else {}),
            },
        )
    ]
    for summary in checks.tests.values():
        test = summary.test
        where = summary.where() if checks.days else ""
        metadata = {
            "failing_rows": summary.failing_rows,
            "rows_checked": checks.rows,
            **days_meta,
            "examples": dg.MetadataValue.json([schemas.mask_pii(e)[:80] for e in summary.examples]),
            "sql": dg.MetadataValue.md(f"```sql\n{test.failing_sql}\n```"),
        }
        if summary.failing_days:
            metadata["failing_rows_by_day"] = dg.MetadataValue.json(summary.failing_days)
        out.append(
            dg.AssetCheckResult(
                asset_key=key,
                check_name=test.name,
                passed=summary.passed,
                severity=dg.AssetCheckSeverity.ERROR
                if test.severity == "error"
                else dg.AssetCheckSeverity.WARN,
                description=None
                if summary.passed
                else f"{summary.failing_rows} of {checks.rows} rows fail"
                + (f" ({where})" if where else "")
                + f": {test.description}",
                metadata=metadata,
            )
        )
    return out


def _window(context: dg.AssetExecutionContext, model: SqlModel) -> tuple[dt.date, dt.date] | None:
    if not model.partitioned:
        return None
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def build_sql_asset(
    model: SqlModel, models: dict[tuple[str, str], SqlModel]
) -> dg.AssetsDefinition:
    """The asset that materializes one SQL model."""
    key = _key(model.table)
    optional = {ref: _empty_frame(ref) for ref in model.optional_refs if ref not in models}
    deps = [
        dg.AssetDep(_key(ref), partition_mapping=lookback(model.header.lookback_days))
        for ref in model.refs
    ]
    descriptions = {n: c.description for n, c in model.columns.items() if c.description}
    views = view_models(models)
    columns = upstream_columns(model, models)

    decorator = dg.asset(
        key=key,
        deps=deps,
        group_name=model.header.group,
        partitions_def=daily_partitions if model.partitioned else None,
        # A backfill's whole range in one run (operations.with_operations may bound it): the
        # runner queries it backfill_days days at a time, so memory does not grow with it.
        backfill_policy=dg.BackfillPolicy.single_run() if model.partitioned else None,
        kinds=_KINDS.get(model.materialized, {"duckdb", "sql", "parquet"}),
        owners=[model.header.owner] if model.header.owner else None,
        tags={t: "" for t in model.header.tags},
        description=model.header.description.strip()
        + f"\n\nSQL: `dbt_like_sql/{model.rel}` ({model.materialized}).",
        check_specs=_check_specs(model, key),
        pool=COMPUTE_POOL,
        retry_policy=TRANSIENT_RETRY,
        metadata={
            "sql_file": dg.MetadataValue.path(f"dbt_like_sql/{model.rel}"),
            "materialized": model.materialized,
            "dagster/column_schema": dg.TableSchema(
                columns=[
                    dg.TableColumn(n, c.type or "unknown", description=c.description or None)
                    for n, c in model.columns.items()
                ]
            ),
        },
        code_version=model.code_version,
    )

    def _sql_asset(
        context: dg.AssetExecutionContext, platform: RetailPlatform
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        window = _window(context, model)
        start, end = window or (None, None)
        try:
            done = materialize(
                model, platform.lake(), start, end, context.run_id, optional, views, columns
            )
        except LookupError as exc:
            raise dg.Failure(
                description=f"dbt_like_sql/{model.rel}: {exc}", allow_retries=False
            ) from None
        except ModelRunError as exc:
            sql = model.render(*getattr(exc, "window", (start, end)))
            raise dg.Failure(
                description=f"dbt_like_sql/{exc}\nNothing was written.",
                metadata={"rendered_sql": dg.MetadataValue.md(f"```sql\n{sql}\n```")},
                allow_retries=False,
            ) from None
        except ChecksFailed as exc:
            context.log.error(str(exc))
            yield from _check_results(model, key, exc.checks)
            where = f"window [{start}, {end})" if window else "(all)"
            raise dg.Failure(
                description=f"dbt_like_sql/{model.rel}: {exc}\nNothing was written; "
                f"{model.schema}.{model.name} {where} is unchanged.",
                metadata={"failed_days": dg.MetadataValue.json(exc.failed_days)}
                if exc.failed_days
                else None,
                allow_retries=False,
            ) from None
        if done.view is not None and done.view.status == "busy":
            context.log.warning(f"view {done.view.name} not created yet: {done.view.detail}")
        queries = len(done.windows)
        context.log.info(
            f"{model.schema}.{model.name}: {done.rows_written} rows"
            + (
                f" in {done.partitions_written} partition(s), {queries} quer"
                + ("y" if queries == 1 else "ies")
                if window
                else ""
            )
            + f" -> {done.location}"
        )
        rendered = f"```sql\n{done.result.sql}\n```"
        if queries > 1:
            first_start, first_end = done.windows[0]
            rendered = (
                f"The first of {queries} queries, for [{first_start}, {first_end}); each query "
                f"renders the same SQL for its own window of at most "
                f"{model.header.backfill_days} days.\n\n" + rendered
            )
        metadata = {
            "dagster/column_schema": column_schema(done.stamped, descriptions),
            "dagster/table_name": f"warehouse.{model.schema}.{model.name}",
            "rendered_sql": dg.MetadataValue.md(rendered),
            "sql_file": dg.MetadataValue.path(f"dbt_like_sql/{model.rel}"),
            "path": dg.MetadataValue.path(done.location),
            "preview": dg.MetadataValue.md(markdown_table(done.result.frame)),
        }
        if done.total_rows is not None:
            metadata["dagster/row_count"] = done.total_rows
        if window:
            metadata["window"] = f"[{start}, {end})"
            metadata["window_rows"] = done.rows_written
            if done.partitions_written == 1:
                # One day: the row count of that partition.
                metadata["dagster/partition_row_count"] = done.rows_written
            else:
                # A range: one count would be wrong for each of its partitions.
                metadata["days_written"] = done.partitions_written
                metadata["rows_written"] = done.rows_written
                metadata["rows_by_day"] = dg.MetadataValue.md(rows_by_day_table(done.rows_by_day))
                metadata["queries"] = queries
        if done.lineage is not None:
            metadata["dagster/column_lineage"] = _lineage_metadata(done.lineage)
        elif done.lineage_error:
            context.log.warning(done.lineage_error)
        yield day_materializations(context, key, metadata, done.rows_by_day, done.data_version)
        assert done.checks is not None
        yield from _check_results(model, key, done.checks)

    return decorator(_sql_asset)


def load(sql_root: Path = SQL_DIR) -> list[SqlModel]:
    """Every model under ``sql_root``, checked against the Python assets it may read."""
    return load_models(sql_root, python_tables(), forbidden_tables())


def build_defs(sql_root: Path = SQL_DIR, models: list[SqlModel] | None = None) -> dg.Definitions:
    """Definitions for every model under ``sql_root`` (or for ``models``, already loaded)."""
    models = load(sql_root) if models is None else models
    by_table = {m.table: m for m in models}
    with warnings.catch_warnings():
        # BackfillPolicy is marked beta; runs of many days are what we want.
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.Definitions(assets=[build_sql_asset(m, by_table) for m in models])


MODELS = load()
#: Table and view models: unpartitioned, so they run in the `feature_tables` job, not daily.
WHOLE_TABLE_KEYS = [_key(m.table) for m in MODELS if not m.partitioned]
defs = build_defs(models=MODELS)
