"""Features: one asset per SQL file under ``dbt_like_sql/``.

The loader (``retail_assets.lib.sql_models``) parses each file's header and SQL; this module
turns each model into an asset whose dependencies are the tables its SQL reads. A run computes
the model in an in-memory DuckDB over the lake's Parquet files and publishes the result through
the same validated, atomic writer as every other asset.
"""

import hashlib
import os
from pathlib import Path

import dagster as dg
import duckdb

from retail_assets.defs.governance.assets import CONSENT_AUDIT, GOVERNED_SESSIONS
from retail_assets.defs.partitions import daily_partitions, lookback
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.assets import SESSIONS, SIGNALS, TRANSACTIONS
from retail_assets.lib.sql_models import SqlModel, load_models

SQL_DIR = Path(
    os.environ.get("RETAIL_SQL_DIR", Path(__file__).resolve().parents[3] / "dbt_like_sql")
)
UPSTREAM_TABLES = {
    tuple(k.path) for k in (SESSIONS, SIGNALS, TRANSACTIONS, GOVERNED_SESSIONS, CONSENT_AUDIT)
}


def build_sql_asset(model: SqlModel, sql_root: Path) -> dg.AssetsDefinition:
    """The asset that materializes one SQL model."""
    key = dg.AssetKey(list(model.table))
    rel = model.path.relative_to(sql_root)
    deps = [
        dg.AssetDep(dg.AssetKey(list(ref)), partition_mapping=lookback(model.header.lookback_days))
        for ref in model.refs
    ]

    @dg.asset(
        key=key,
        name=None,
        deps=deps,
        group_name="features",
        partitions_def=daily_partitions if model.partitioned else None,
        kinds={"duckdb", "sql", "parquet"},
        owners=[model.header.owner] if model.header.owner else None,
        tags={t: "" for t in model.header.tags},
        description=model.header.description.strip() + f"\n\nSQL: `dbt_like_sql/{rel}`",
        check_specs=[schema_check_spec(key)],
        # The SQL itself is the code: a changed file makes the asset's code version change.
        code_version=hashlib.sha256(model.body.encode()).hexdigest()[:16],
    )
    def _sql_asset(context: dg.AssetExecutionContext, platform: RetailPlatform):
        start = end = None
        if model.partitioned:
            window = context.partition_time_window
            start, end = window.start.date(), window.end.date()
        sql = model.render(start, end)
        lake = platform.lake()
        try:
            con = lake.compute_connection(model.refs)
        except LookupError as exc:
            raise dg.Failure(description=f"dbt_like_sql/{rel}: {exc}") from exc
        try:
            df = con.execute(sql).pl()
        except duckdb.Error as exc:
            raise dg.Failure(
                description=f"dbt_like_sql/{rel} failed in DuckDB: {exc}",
                metadata={"rendered_sql": dg.MetadataValue.md(f"```sql\n{sql}\n```")},
            ) from None
        finally:
            con.close()
        if model.partitioned:
            col = model.header.partition_column
            outside = df.filter((df[col] < start) | (df[col] >= end)).height
            if outside:
                raise dg.Failure(
                    description=f"dbt_like_sql/{rel}: {outside} rows have {col} outside the "
                    f"partition window [{start}, {end}); filter on {{{{ start_date }}}} and "
                    "{{ end_date }}"
                )
        yield from publish_table(
            context,
            lake,
            key,
            df,
            descriptions=model.header.columns,
            metadata={
                "rendered_sql": dg.MetadataValue.md(f"```sql\n{sql}\n```"),
                "sql_file": dg.MetadataValue.path(str(model.path)),
            },
        )

    return _sql_asset


def build_defs(sql_root: Path = SQL_DIR) -> dg.Definitions:
    """Definitions for every model under ``sql_root``."""
    models = load_models(sql_root, UPSTREAM_TABLES)
    return dg.Definitions(assets=[build_sql_asset(m, sql_root) for m in models])


defs = build_defs()
