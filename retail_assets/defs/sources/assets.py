"""Sources: simulated (or dropped-in) web events, behavioral signals and store sales."""

import datetime as dt
from typing import Literal

import dagster as dg
import polars as pl

from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform

OWNERS = ["team:data-platform"]
SESSIONS = dg.AssetKey(["raw", "sessions"])
SIGNALS = dg.AssetKey(["raw", "signals"])
TRANSACTIONS = dg.AssetKey(["raw", "transactions"])


class SessionsSourceConfig(dg.Config):
    """Where a day's web events come from."""

    source: Literal["simulator", "files"] = "simulator"


def _day(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


def _read_inbox(platform: RetailPlatform, day: str) -> tuple[pl.DataFrame, str]:
    folder = platform.lake().landing_root / "inbox" / "sessions" / f"date={day}"
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise dg.Failure(
            description=f"source 'files' selected but no *.parquet file for {day} in {folder}"
        )
    try:
        return pl.read_parquet(files), ", ".join(str(f) for f in files)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise dg.Failure(description=f"cannot read {folder}: {exc}") from exc


@dg.asset(
    key=SESSIONS,
    group_name="sources",
    partitions_def=daily_partitions,
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    check_specs=[schema_check_spec(SESSIONS)],
    code_version="1",
)
def raw_sessions(
    context: dg.AssetExecutionContext, config: SessionsSourceConfig, platform: RetailPlatform
):
    """Web events in the shape of the GA4 BigQuery export, one row per event.

    Holds personal data (email, phone, IP) and consent flags exactly as collected, so it stays
    in the landing area and never gets a view in the warehouse: the first queryable sessions
    table is `governed.sessions`. Simulated by default; with `source: files` it reads the
    day's Parquet files from `<landing>/inbox/sessions/date=YYYY-MM-DD/`.
    """
    if config.source == "files":
        df, source = _read_inbox(platform, context.partition_key)
    else:
        df, source = platform.simulator().sessions(_day(context)), "simulator"
    yield from publish_table(context, platform.lake(), SESSIONS, df, landing=True, source=source)


@dg.asset(
    key=SIGNALS,
    group_name="sources",
    partitions_def=daily_partitions,
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    check_specs=[schema_check_spec(SIGNALS)],
    code_version="1",
)
def raw_signals(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Product reviews, search queries and social mentions per category, with sentiment.

    These move with each category's underlying demand a few days before sales do, which is
    what makes them useful for forecasting and for the weekly sales-direction model.
    """
    df = platform.simulator().signals(_day(context))
    yield from publish_table(context, platform.lake(), SIGNALS, df, source="simulator")


@dg.asset(
    key=TRANSACTIONS,
    group_name="sources",
    partitions_def=daily_partitions,
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    check_specs=[schema_check_spec(TRANSACTIONS)],
    code_version="1",
)
def raw_transactions(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Store sales lines: store, product, category, quantity, price and revenue."""
    df = platform.simulator().transactions(_day(context))
    yield from publish_table(context, platform.lake(), TRANSACTIONS, df, source="simulator")


defs = dg.Definitions(assets=[raw_sessions, raw_signals, raw_transactions])
