"""Sources: the customer base, web and app events, behavioral signals and store sales.

Each comes from the simulator or, by configuration, from files a user drops in the landing
inbox: GA4 export files for web events, an events CSV/Parquet with a column mapping for app
events, a sales-history CSV. Files are read whole and validated before anything is written,
so a malformed file fails the run with its name, column and row count and leaves the lake as
it was.
"""

import datetime as dt
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl

from retail_assets.defs.operations import COMPUTE_POOL, TRANSIENT_RETRY
from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.publishing import (
    DayPublisher,
    publish_days,
    publish_table,
    run_days,
    schema_check_spec,
    span,
)
from retail_assets.defs.resources import RetailPlatform, current_world
from retail_assets.lib.config import ConfigError
from retail_assets.lib.governance.redaction import redact_text
from retail_assets.lib.sources import ingest

OWNERS = ["team:data-platform"]
CUSTOMERS = dg.AssetKey(["raw", "customers"])
SESSIONS = dg.AssetKey(["raw", "sessions"])
APP_EVENTS = dg.AssetKey(["raw", "app_events"])
SIGNALS = dg.AssetKey(["raw", "signals"])
TRANSACTIONS = dg.AssetKey(["raw", "transactions"])
SALES_HISTORY = dg.AssetKey(["raw", "sales_history"])
PRODUCT_CATALOG = dg.AssetKey(["raw", "product_catalog"])
RETAIL_CALENDAR = dg.AssetKey(["raw", "retail_calendar"])
#: Said when files are read into the simulated world, beside simulated tables.
MIXED_WORLD = (
    "your files are read into the simulated world: the other tables (customers, sales, "
    "signals...) stay simulated. To run on your data alone, declare world: retailer and your "
    "sources in sources.yaml (retail-assets init writes a template)."
)


class SessionsSourceConfig(dg.Config):
    """Where a day's web events come from; 'default' means RETAIL_SESSIONS_SOURCE."""

    source: Literal["default", "simulator", "ga4"] = "default"


class AppEventsSourceConfig(dg.Config):
    """Where a day's app events come from; 'default' means RETAIL_APP_EVENTS_SOURCE."""

    source: Literal["default", "simulator", "events_file"] = "default"


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(suffixes))


def ga4_files(platform: RetailPlatform, day: dt.date | None = None) -> list[Path]:
    """GA4 export files in the inbox (``events_YYYYMMDD*``), all or those of ``day``."""
    dated = [
        (p, ingest.ga4_file_date(p)) for p in _files(platform.inbox("ga4"), ingest.GA4_SUFFIXES)
    ]
    return [p for p, d in dated if d is not None and (day is None or d == day)]


def event_files(platform: RetailPlatform) -> list[Path]:
    """Event CSV / Parquet files in the events inbox."""
    return _files(platform.inbox("events"), ingest.EVENT_SUFFIXES)


def sales_history_files(platform: RetailPlatform) -> list[Path]:
    """Sales history CSV files in the inbox."""
    return _files(platform.inbox("sales_history"), (".csv",))


def _source_asset(key: dg.AssetKey, *, code_version: str, daily: bool = False):
    """The decorator every source shares: group, kinds, owners, its blocking schema check."""
    return dg.asset(
        key=key,
        group_name="sources",
        partitions_def=daily_partitions if daily else None,
        kinds={"python", "polars", "parquet"},
        owners=OWNERS,
        check_specs=[schema_check_spec(key)],
        code_version=code_version,
        pool=COMPUTE_POOL,
        retry_policy=TRANSIENT_RETRY,
    )


def _failure(exc: Exception) -> dg.Failure:
    return dg.Failure(description=str(exc), allow_retries=False)


@_source_asset(CUSTOMERS, code_version="2")
def customers(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """The customer base: persona, demographics, home store, contact data and consent.

    Built from the personas in `simulation.yaml` (share, age range, income mix, household
    size, consent propensity). Holds contact data, so it stays in the landing area with no
    view in the warehouse. Consent covers the four GA4 consent types; the GA4 export only
    carries the first two, so this table is where activation consent comes from.
    """
    sim = platform.simulator()
    df = sim.customers_frame()
    counts = df.group_by("persona").len().sort("persona")
    yield from publish_table(
        context,
        platform.lake(),
        CUSTOMERS,
        df,
        landing=True,
        source="simulator",
        metadata={f"customers: {p}": n for p, n in counts.iter_rows()},
    )


@_source_asset(PRODUCT_CATALOG, code_version="1")
def product_catalog(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """The product catalog: every product with its name, category, list price and NAICS code.

    One row per product, with the same product ids as store sales (`raw.transactions`) and app
    events (`raw.app_events`), so sales and browsing can be described by category and price.
    The list price is the price before any promotion discount; the NAICS code is the one
    `simulation.yaml` gives the category, which links it to the U.S. Census retail sales
    series. Holds no personal data.
    """
    df = platform.simulator().product_catalog_frame()
    yield from publish_table(
        context,
        platform.lake(),
        PRODUCT_CATALOG,
        df,
        source="simulator",
        metadata={"products_by_category": dg.MetadataValue.json(_counts(df, "category"))},
    )


@_source_asset(RETAIL_CALENDAR, code_version="1")
def retail_calendar(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """The retail calendar: one row per day with weekend, festival and promotion flags.

    Runs from the first day of the data (`RETAIL_START_DATE`) to 400 days after today, so
    forecasts and plans can look ahead. For each day: ISO day of the week (1 = Monday), whether
    it is a weekend, the festivals whose window covers it and the promotions running, with the
    largest price discount of any category that day. Festivals and promotions come from the
    calendar in `simulation.yaml`, the same one the simulated sales follow. Rebuilt by the
    `reference_data` job.
    """
    start = daily_partitions.start.date()  # RETAIL_START_DATE, where the partitions begin
    df = platform.simulator().calendar_frame(start)
    yield from publish_table(
        context,
        platform.lake(),
        RETAIL_CALENDAR,
        df,
        source="simulation.yaml calendar",
        metadata={
            "first_date": str(start),
            "last_date": str(df["date"].max()),
            "festival_days": int(df["is_festival"].sum()),
            "promotion_days": df.filter(pl.col("promotion").is_not_null()).height,
        },
    )


@_source_asset(SESSIONS, daily=True, code_version="2")
def raw_sessions(
    context: dg.AssetExecutionContext, config: SessionsSourceConfig, platform: RetailPlatform
):
    """Web events in the GA4 BigQuery export shape, one row per event, nested as exported.

    `event_params`, `items`, `ecommerce`, `privacy_info` (analytics/ads consent Yes/No/Unset),
    `device`, `geo`, `traffic_source` and `collected_traffic_source` are kept as the export
    has them; users denied under advanced consent mode arrive without ids. Simulated by
    default; with source `ga4` it reads the day's export files (`events_YYYYMMDD*.json[.gz]`,
    `.ndjson`, `.parquet`) from `<landing>/inbox/ga4/`, including later re-exports with
    late-arriving events, deduplicated. Holds personal data, so it stays in the landing area
    and never gets a view: the first queryable sessions table is `governed.sessions`.
    """
    source = platform.sessions_source if config.source == "default" else config.source
    if source == "ga4":
        context.log.warning(MIXED_WORLD)
    lake = platform.lake()
    days = run_days(context)
    origins: list[str] = []
    events: dict[str, int] = {}
    out = DayPublisher(context, lake, SESSIONS, landing=True)
    for key in days:
        day = dt.date.fromisoformat(key)
        if source == "ga4":
            files = ga4_files(platform, day)
            if not files:
                raise dg.Failure(
                    description=f"source 'ga4' selected but no export file for {day} "
                    f"(events_{day:%Y%m%d}*) in {platform.inbox('ga4')}; nothing of "
                    f"{span(days)} was written",
                    allow_retries=False,
                )
            try:
                df = ingest.read_ga4_day(files, day)
            except ingest.IngestError as exc:
                raise _failure(exc) from None
            origins += [str(p) for p in files]
            context.log.info(f"{day}: {df.height} events from {len(files)} file(s)")
        else:
            df = platform.simulator().sessions(day)
        _add_counts(events, df, "event_name")
        out.add(key, df)
    out.source = ", ".join(origins) if source == "ga4" else "simulator"
    yield from publish_days(
        [out], {SESSIONS: {"events_by_name": dg.MetadataValue.json(_sorted(events))}}
    )


@_source_asset(APP_EVENTS, daily=True, code_version="1")
def raw_app_events(
    context: dg.AssetExecutionContext, config: AppEventsSourceConfig, platform: RetailPlatform
):
    """App events, one row per view, add-to-cart or purchase, with user, session and product.

    The input of purchase-propensity models: funnels run at the rates real event logs show
    (view to cart about 2.6 %, cart to purchase about 32 %), customers come back across days
    and open several sessions a day. With source `events_file` it reads CSV or Parquet files
    from `<landing>/inbox/events/` through the column mapping in `events_mapping.yaml`
    (RetailRocket's `events.csv` works as shipped).
    """
    source = platform.app_events_source if config.source == "default" else config.source
    if source == "events_file":
        context.log.warning(MIXED_WORLD)
    days = run_days(context)
    if source == "events_file":
        files = event_files(platform)
        if not files:
            raise dg.Failure(
                description=f"source 'events_file' selected but no .csv or .parquet file in "
                f"{platform.inbox('events')}",
                allow_retries=False,
            )
        try:
            mapping = ingest.load_events_mapping(
                Path(platform.config_dir) if platform.config_dir else None
            )
        except ConfigError as exc:
            raise _failure(exc) from None
        staging = Path(platform.landing_root) / "staging" / "events"
        origin = ", ".join(p.name for p in files)
    else:
        origin = "simulator"
    out = DayPublisher(context, platform.lake(), APP_EVENTS, landing=True, source=origin)
    funnel: dict[str, int] = {}
    users: set[str] = set()
    for key in days:
        day = dt.date.fromisoformat(key)
        if source == "events_file":
            try:
                df = ingest.read_events_day(files, mapping, day, staging)
            except (ingest.IngestError, ConfigError) as exc:
                raise _failure(exc) from None
        else:
            df = platform.simulator().app_events(day)
        if "analytics_storage" not in df.columns:
            # The simulator's events carry no consent of their own: the customer's decides.
            df = df.with_columns(pl.lit(None, dtype=pl.Utf8).alias("analytics_storage"))
        _add_counts(funnel, df, "event_type")
        users.update(df["user_id"].unique().to_list())
        out.add(key, df)
    views = funnel.get("view", 0)
    carts = funnel.get("add_to_cart", 0)
    yield from publish_days(
        [out],
        {
            APP_EVENTS: {
                "events_by_type": dg.MetadataValue.json(_sorted(funnel)),
                "view_to_cart": round(carts / views, 4) if views else 0.0,
                "cart_to_purchase": round(funnel.get("purchase", 0) / carts, 4) if carts else 0.0,
                "users": len(users),
            }
        },
    )


@_source_asset(SIGNALS, daily=True, code_version="2")
def raw_signals(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Product reviews (rating, text, sentiment), search queries and social mentions.

    They follow each category's latent demand on the day, while store sales follow it
    `lag_days` later (`simulation.yaml`), which is what makes them useful for forecasting and
    for the weekly sales-direction model.
    """
    sim = platform.simulator()
    out = DayPublisher(context, platform.lake(), SIGNALS, source="simulator")
    sources: dict[str, int] = {}
    for key in run_days(context):
        df = sim.signals(dt.date.fromisoformat(key))
        # Reviews and mentions are free text people wrote: contact data in them is masked.
        df = df.with_columns(redact_text(df["text"]).alias("text"))
        _add_counts(sources, df, "source")
        out.add(key, df)
    yield from publish_days(
        [out], {SIGNALS: {"signals_by_source": dg.MetadataValue.json(_sorted(sources))}}
    )


@_source_asset(TRANSACTIONS, daily=True, code_version="2")
def raw_transactions(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Store sales lines: basket, store, product, category, quantity, price and revenue.

    Baskets come from the personas' store visits and basket profiles; demand carries weekends,
    festivals, promotions (with their discounts), trend and the Census-calibrated monthly
    seasonality of each category.
    """
    sim = platform.simulator()
    days = run_days(context)
    out = DayPublisher(context, platform.lake(), TRANSACTIONS, source="simulator")
    baskets = 0
    festivals: dict[str, None] = {}
    for key in days:
        day = dt.date.fromisoformat(key)
        df = sim.transactions(day)
        baskets += df["basket_id"].n_unique()
        festivals.update(dict.fromkeys(sim.festivals_on(day)))
        out.add(key, df)
    yield from publish_days(
        [out],
        {
            TRANSACTIONS: {
                "baskets": baskets,
                "festivals": ", ".join(festivals) or "none",
            }
        },
    )


@_source_asset(SALES_HISTORY, code_version="1")
def sales_history(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """A retailer's own sales history: one value per series and day, for forecasting.

    Read from the CSV files (`date,series_id,value`, or statsforecast's `ds,unique_id,y`) in
    `<landing>/inbox/sales_history/`; all files together replace the table, and a series/day
    appearing in two files is an error rather than a silent overwrite.
    """
    files = sales_history_files(platform)
    if not files:
        raise dg.Failure(
            description=f"no .csv file in {platform.inbox('sales_history')}: put a sales "
            "history with columns date, series_id, value there",
            allow_retries=False,
        )
    try:
        df = ingest.read_sales_histories(files)
    except ingest.IngestError as exc:
        raise _failure(exc) from None
    yield from publish_table(
        context,
        platform.lake(),
        SALES_HISTORY,
        df,
        source=", ".join(p.name for p in files),
        metadata={
            "series": df["series_id"].n_unique(),
            "first_date": str(df["date"].min()),
            "last_date": str(df["date"].max()),
        },
    )


def _counts(df: pl.DataFrame, column: str) -> dict[str, int]:
    return dict(df[column].value_counts(sort=True).iter_rows())


def _add_counts(totals: dict[str, int], df: pl.DataFrame, column: str) -> None:
    for value, n in df[column].value_counts().iter_rows():
        totals[value] = totals.get(value, 0) + n


def _sorted(counts: dict[str, int]) -> dict[str, int]:
    """Most frequent first, as ``value_counts(sort=True)`` orders them."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))))


#: The simulator's source tables.
SIMULATED_SOURCES = [
    customers,
    product_catalog,
    retail_calendar,
    raw_sessions,
    raw_app_events,
    raw_signals,
    raw_transactions,
    sales_history,
]


@dg.definitions
def defs() -> dg.Definitions:
    """The simulated sources (none in the retailer's world: its own files replace them)."""
    if current_world().retailer:
        return dg.Definitions()
    return dg.Definitions(assets=SIMULATED_SOURCES)
