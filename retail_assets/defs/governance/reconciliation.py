"""governed/source_reconciliation: per declared source, rows in files = loaded + set aside."""

import json

import dagster as dg
import polars as pl

from retail_assets.defs.governance.governing import (
    APP_EVENTS_AUDIT,
    CONSENT_AUDIT,
    GOVERNED_CUSTOMERS,
    ORDERS_AUDIT,
    OWNERS,
    RAW_ORDERS,
    _customer_policy,
)
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform, current_world
from retail_assets.defs.sources.assets import APP_EVENTS as RAW_APP_EVENTS
from retail_assets.defs.sources.assets import SESSIONS as RAW_SESSIONS
from retail_assets.lib.governance.consent import (
    APP_EVENT_DROP_REASONS,
    DROP_REASONS,
    ORDER_DROP_REASONS,
)
from retail_assets.lib.warehouse.lake import Lake

SOURCE_RECONCILIATION = dg.AssetKey(["governed", "source_reconciliation"])
#: The tables each source is governed into: (audit table, its day column is irrelevant).
_AUDITS = {
    "web_events": ("consent_audit", DROP_REASONS),
    "app_events": ("app_events_audit", APP_EVENT_DROP_REASONS),
    "orders": ("orders_audit", ORDER_DROP_REASONS),
}
_LOADED = {"web_events": "sessions", "app_events": "app_events", "orders": "orders"}


@dg.asset(
    key=SOURCE_RECONCILIATION,
    deps=[
        CONSENT_AUDIT,
        APP_EVENTS_AUDIT,
        ORDERS_AUDIT,
        GOVERNED_CUSTOMERS,
        RAW_SESSIONS,
        RAW_APP_EVENTS,
        RAW_ORDERS,
    ],
    group_name="governance",
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    check_specs=[schema_check_spec(SOURCE_RECONCILIATION)],
    code_version="1",
)
def source_reconciliation(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Per declared source, nothing lost: files = loaded + set aside, governed = kept + dropped.

    The rows of a source's files = rows loaded + rows set aside (quarantined: invalid rows and
    exact repeats), and the rows consent was applied to = kept + dropped by reason, with the
    consent policy and its written basis. Its check fails when either does not add up. The
    retailer's world only; run by the `feature_tables` job, after the history.
    """
    from retail_assets.defs.sources import retailer_files

    lake = platform.lake()
    sources = platform.world().sources
    rows = []
    for name in sources.declared():
        if name in ("sales_history", "media_history"):
            continue
        row: dict = {"source": name}
        if name == "web_events" and sources.web_events.format == "ga4":
            row |= {"rows_in_files": None, "rows_quarantined": 0}
            row["rows_loaded"] = _rows(lake, "raw", "sessions", landing=True)
        else:
            got = retailer_files.source_frames(platform, sources, name)
            frame = next(
                v for k, v in got.items() if k not in ("quarantine", "files", "counts", "_files")
            )
            row |= {
                "rows_in_files": int(got["files"]["rows"].sum()),
                "rows_loaded": frame.height,
                "rows_quarantined": got["quarantine"].height,
            }
        audit_table, reasons = _AUDITS.get(name, (None, None))
        if audit_table and lake.partition_files("governed", audit_table):
            audit = lake.read("governed", audit_table, None)
            dropped = {r: int(audit[r].sum()) for r in reasons} if name == "web_events" else {}
            if name != "web_events":
                for text in audit["dropped_by_reason"].to_list():
                    for r, v in json.loads(text).items():
                        dropped[r] = dropped.get(r, 0) + v
            policy = (
                _customer_policy(platform) if name == "orders" else platform.consent_policy(name)
            )
            row |= {
                # Order lines with nothing to govern: cancellations and fully cancelled sales.
                "netted_out": int(frame.filter(pl.col("net_quantity") == 0).height)
                if name == "orders"
                else 0,
                "governed_in": int(audit["rows_in"].sum()),
                "kept": int(audit["rows_kept"].sum()),
                "dropped": sum(dropped.values()),
                "dropped_by_reason": json.dumps(dropped, sort_keys=True),
                "kept_without_signal": int(audit["kept_without_signal"].sum()),
                "unset_policy": policy.unset,
                "consent_basis": policy.basis,
            }
        if row.get("governed_in") is not None:
            # Loaded rows on days not materialized yet: counted, so every row is accounted for.
            row["not_yet_governed"] = row["rows_loaded"] - row["netted_out"] - row["governed_in"]
        rows.append(row)
    schema = {
        "source": pl.Utf8,
        "rows_in_files": pl.Int64,
        "rows_loaded": pl.Int64,
        "rows_quarantined": pl.Int64,
        "netted_out": pl.Int64,
        "not_yet_governed": pl.Int64,
        "governed_in": pl.Int64,
        "kept": pl.Int64,
        "dropped": pl.Int64,
        "dropped_by_reason": pl.Utf8,
        "kept_without_signal": pl.Int64,
        "unset_policy": pl.Utf8,
        "consent_basis": pl.Utf8,
    }
    df = pl.DataFrame(rows, schema=schema)
    yield from publish_table(
        context,
        lake,
        SOURCE_RECONCILIATION,
        df,
        metadata={"sources": df.height, "rows_quarantined": int(df["rows_quarantined"].sum())},
    )


def _rows(lake: Lake, schema: str, table: str, landing: bool = False) -> int:
    """Rows of a table, from its Parquet footers."""
    files = lake.partition_files(schema, table, landing=landing)
    return int(pl.scan_parquet(files).select(pl.len()).collect().item()) if files else 0


@dg.definitions
def defs() -> dg.Definitions:
    """The reconciliation: the retailer's world only (the simulator loses no rows)."""
    return dg.Definitions(assets=[source_reconciliation] if current_world().retailer else [])
