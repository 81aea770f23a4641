"""Sources of the retailer's world: every raw table from the files ``sources.yaml`` declares.

Only the declared sources get an asset (:func:`build`); ``retail_assets.definitions`` then
leaves out every asset downstream that has nothing to read, so no simulated table exists in
this world. Each source's files are parsed once per version of them (``retailer_files``: the
staging and the quarantine, whose rows are counted in the asset's metadata); the inbox sensor
that loads new files is in ``retailer_sensor``.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl

from retail_assets.defs.publishing import DayPublisher, publish_days, publish_table, run_days
from retail_assets.defs.resources import RetailPlatform, current_world
from retail_assets.defs.sources.assets import (
    APP_EVENTS,
    CUSTOMERS,
    PRODUCT_CATALOG,
    RETAIL_CALENDAR,
    SALES_HISTORY,
    SESSIONS,
    SIGNALS,
    TRANSACTIONS,
    _add_counts,
    _failure,
    _sorted,
    _source_asset,
)
from retail_assets.defs.sources.retailer_files import (
    _names,
    _quarantine_meta,
    by_iso_day,
    files_of,
    quarantine_path,
    reconcile,
    source_frames,
)
from retail_assets.defs.sources.retailer_sensor import build_sensor as build_sensor
from retail_assets.lib.governance.redaction import redact_text
from retail_assets.lib.sources import ingest
from retail_assets.lib.sources import retail_files as rf
from retail_assets.lib.sources.declarations import World
from retail_assets.lib.sources.tabular import empty_quarantine

ORDERS = dg.AssetKey(["raw", "orders"])
STORES = dg.AssetKey(["raw", "stores"])


def build(world: World) -> list[dg.AssetsDefinition]:
    """The source assets of the declared sources (and the tables derived from them)."""
    s = world.sources
    assets: list[dg.AssetsDefinition] = [_calendar()]
    orders = s.orders

    def orders_frames(platform: RetailPlatform) -> dict:
        return source_frames(platform, s, "orders")

    if s.customers is not None or orders is not None:

        @_source_asset(CUSTOMERS, code_version="retailer-1")
        def customers(context: dg.AssetExecutionContext, platform: RetailPlatform):
            """Your customers: ids, contact data, first seen and consent.

            From your CRM export, or, without one, every customer id your orders name, with no
            consent signal.

            Holds contact data, so it stays in the landing area with no view in the warehouse.
            """
            if s.customers is not None:
                got = source_frames(platform, s, "customers")
                df, q, origin = got["customers"], got["quarantine"], _names(got["_files"])
                balance = reconcile(context, "customers", got, df.height)
            else:
                got = orders_frames(platform)
                df, q = rf.customers_from_orders(got["orders"]), empty_quarantine()
                origin = f"customer ids of the orders ({_names(got['_files'])})"
                balance = {}
            yield from publish_table(
                context,
                platform.lake(),
                CUSTOMERS,
                df,
                landing=True,
                source=origin,
                metadata={
                    "consent_yes": int((df["analytics_storage"] == "Yes").sum()),
                    "consent_no": int((df["analytics_storage"] == "No").sum()),
                    "consent_unset": int((df["analytics_storage"] == "Unset").sum()),
                    **balance,
                    **_quarantine_meta(q, quarantine_path(platform, "customers")),
                },
            )

        assets.append(customers)

    if orders is not None:

        @_source_asset(ORDERS, daily=True, code_version="retailer-1")
        def raw_orders(context: dg.AssetExecutionContext, platform: RetailPlatform):
            """Your order lines as exported, one row per line, with cancellations netted.

            Cancellations and returns (negative quantities) are taken off the same customer's
            latest earlier purchases of the product (`net_quantity`); lines delivered twice are
            kept once; invalid lines are quarantined (see the metadata). Holds customer ids, so
            it stays in the landing area: store sales are `raw.transactions`, the customers'
            history `governed.orders`.
            """
            got = orders_frames(platform)
            lines = got["orders"]
            days = run_days(context)
            by_day = by_iso_day(lines, "order_date")
            out = DayPublisher(
                context, platform.lake(), ORDERS, landing=True, source=_names(got["_files"])
            )
            for key in days:
                out.add(key, by_day.get(key, lines.clear()))
            outside = lines.filter(
                (pl.col("order_date") < dt.date.fromisoformat(days[0]))
                | (pl.col("order_date") > dt.date.fromisoformat(days[-1]))
            ).height
            counts = got["counts"].row(0, named=True)
            balance = reconcile(context, "orders", got, lines.height)
            yield from publish_days(
                [out],
                {
                    ORDERS: {
                        **{k: int(v) for k, v in counts.items()},
                        **balance,
                        "lines_outside_this_run": outside,
                        "first_order_date": str(lines["order_date"].min()),
                        "last_order_date": str(lines["order_date"].max()),
                        **_quarantine_meta(got["quarantine"], quarantine_path(platform, "orders")),
                    }
                },
            )

        @_source_asset(TRANSACTIONS, daily=True, code_version="retailer-1")
        def raw_transactions(context: dg.AssetExecutionContext, platform: RetailPlatform):
            """Store sales lines from your orders, guest orders included.

            Every sale with units left after netting cancellations and a price above zero; the
            category is the catalog's.
            """
            lake = platform.lake()
            catalog = lake.read("raw", "product_catalog", None)
            out = DayPublisher(context, lake, TRANSACTIONS, source="raw.orders")
            counts = dict.fromkeys(["order_lines", "netted_out", "free_lines", "baskets"], 0)
            for key in run_days(context):
                lines = lake.read("raw", "orders", [key], landing=True)
                if not lines.height:
                    lines = pl.DataFrame(schema=rf.ORDER_COLUMNS)
                df = rf.transactions_from_orders(lines, catalog)
                # Every order line is a sale here or counted as why it is not one.
                sold = lines.filter(pl.col("net_quantity") > 0)
                counts["order_lines"] += lines.height
                counts["netted_out"] += lines.height - sold.height
                counts["free_lines"] += sold.filter(pl.col("unit_price") <= 0).height
                counts["baskets"] += df["basket_id"].n_unique()
                out.add(key, df)
            yield from publish_days([out], {TRANSACTIONS: counts})

        raw_transactions = raw_transactions.map_asset_specs(
            lambda spec: spec.replace_attributes(deps=[ORDERS, PRODUCT_CATALOG])
        )
        assets += [raw_orders, raw_transactions]

    if s.products is not None or orders is not None:

        @_source_asset(PRODUCT_CATALOG, code_version="retailer-1")
        def product_catalog(context: dg.AssetExecutionContext, platform: RetailPlatform):
            """Your product catalog: the products file, and products only your orders name.

            Those are named by their most frequent description, priced at their median sale
            price, in category 'Uncategorized' until a products file gives one.
            """
            products, q, origin = None, empty_quarantine(), []
            if s.products is not None:
                got = source_frames(platform, s, "products")
                products, q = got["products"], got["quarantine"]
                reconcile(context, "products", got, products.height)
                origin.append(_names(got["_files"]))
            lines = None
            if orders is not None:
                lines = orders_frames(platform)["orders"]
                origin.append("products named by the orders")
            df = rf.catalog(products, lines)
            yield from publish_table(
                context,
                platform.lake(),
                PRODUCT_CATALOG,
                df,
                source="; ".join(origin),
                metadata={
                    "products_by_category": dg.MetadataValue.json(
                        dict(df["category"].value_counts(sort=True).head(30).iter_rows())
                    ),
                    **_quarantine_meta(q, quarantine_path(platform, "products")),
                },
            )

        assets.append(product_catalog)

    if s.stores is not None:

        @_source_asset(STORES, code_version="retailer-1")
        def stores(context: dg.AssetExecutionContext, platform: RetailPlatform):
            """Your stores (or channels): id, name and region."""
            got = source_frames(platform, s, "stores")
            yield from publish_table(
                context,
                platform.lake(),
                STORES,
                got["stores"],
                source=_names(got["_files"]),
                metadata=_quarantine_meta(got["quarantine"], quarantine_path(platform, "stores")),
            )

        assets.append(stores)

    if s.app_events is not None:

        @_source_asset(APP_EVENTS, daily=True, code_version="retailer-1")
        def raw_app_events(context: dg.AssetExecutionContext, platform: RetailPlatform):
            """Your events file: one row per view, add-to-cart or purchase.

            With user, session, product and (when mapped) the event's own consent. Rows that
            cannot be read and later rows of an identity conflict (same time, user, type and
            product, different price, category or session) are quarantined.
            """
            got = source_frames(platform, s, "app_events")
            events = got["events"]
            balance = reconcile(context, "app_events", got, events.height)
            by_day = by_iso_day(events, "event_date")
            out = DayPublisher(
                context, platform.lake(), APP_EVENTS, landing=True, source=_names(got["_files"])
            )
            funnel: dict[str, int] = {}
            for key in run_days(context):
                df = by_day.get(key, events.clear())
                _add_counts(funnel, df, "event_type")
                out.add(key, df)
            yield from publish_days(
                [out],
                {
                    APP_EVENTS: {
                        "events_by_type": dg.MetadataValue.json(_sorted(funnel)),
                        **balance,
                        **_quarantine_meta(
                            got["quarantine"], quarantine_path(platform, "app_events")
                        ),
                    }
                },
            )

        assets.append(raw_app_events)

    if s.web_events is not None:
        web = s.web_events

        @_source_asset(SESSIONS, daily=True, code_version="retailer-1")
        def raw_sessions(context: dg.AssetExecutionContext, platform: RetailPlatform):
            """Your GA4 BigQuery export, one row per event, nested as exported.

            Each day from its export files (`events_YYYYMMDD*`) and later re-exports,
            deduplicated. Holds personal data, so it stays in the landing area.
            """
            if web.format == "events":
                yield from _own_web_events(context, platform, s)
                return
            files = files_of(platform, "web_events", web)
            by_day: dict[dt.date, list[Path]] = {}
            for p in files:
                day = ingest.ga4_file_date(p)
                if day is not None:
                    by_day.setdefault(day, []).append(p)
            out = DayPublisher(
                context, platform.lake(), SESSIONS, landing=True, source=_names(files)
            )
            events: dict[str, int] = {}
            days = run_days(context)
            missing = [d for d in days if dt.date.fromisoformat(d) not in by_day]
            if missing:
                raise dg.Failure(
                    description=f"no GA4 export file (events_YYYYMMDD*) matching {web.files!r} "
                    f"for {len(missing)} day(s) of the run: {', '.join(missing[:5])}; nothing "
                    "was written",
                    allow_retries=False,
                )
            for key in days:
                day_files = by_day[dt.date.fromisoformat(key)]
                try:
                    df = ingest.read_ga4_day(day_files, dt.date.fromisoformat(key))
                except ingest.IngestError as exc:
                    raise _failure(exc) from None
                _add_counts(events, df, "event_name")
                out.add(key, df)
            yield from publish_days(
                [out], {SESSIONS: {"events_by_name": dg.MetadataValue.json(_sorted(events))}}
            )

        assets.append(raw_sessions)

    if s.reviews is not None or s.signals is not None:

        @_source_asset(SIGNALS, daily=True, code_version="retailer-1")
        def raw_signals(context: dg.AssetExecutionContext, platform: RetailPlatform):
            """Your reviews, and search and social volumes per category and day.

            Reviews have text, a rating or label, a product or category and a date; without a
            rating or label, their sentiment is the VADER lexicon's estimate. Contact data in
            review text is masked.
            """
            lake = platform.lake()
            frames, meta, origin = [], {}, []
            for name in ("reviews", "signals"):
                if getattr(s, name) is None:
                    continue
                got = source_frames(platform, s, name)
                frames.append(got["signals"])
                origin.append(_names(got["_files"]))
                balance = reconcile(context, name, got, got["signals"].height)
                aside = _quarantine_meta(got["quarantine"], quarantine_path(platform, name))
                meta |= {f"{name} {k}": v for k, v in {**balance, **aside}.items()}
            signals = pl.concat(frames)
            signals = signals.with_columns(redact_text(signals["text"]).alias("text"))
            by_day = by_iso_day(signals, "signal_date")
            out = DayPublisher(context, lake, SIGNALS, source="; ".join(origin))
            sources: dict[str, int] = {}
            for key in run_days(context):
                df = by_day.get(key, signals.clear())
                _add_counts(sources, df, "source")
                out.add(key, df)
            yield from publish_days(
                [out],
                {SIGNALS: {"signals_by_source": dg.MetadataValue.json(_sorted(sources)), **meta}},
            )

        if s.reviews is not None and s.reviews.columns.product is not None:
            raw_signals = raw_signals.map_asset_specs(
                lambda spec: spec.replace_attributes(deps=[PRODUCT_CATALOG])
            )
        assets.append(raw_signals)

    if s.sales_history is not None:
        history = s.sales_history

        @_source_asset(SALES_HISTORY, code_version="retailer-1")
        def sales_history(context: dg.AssetExecutionContext, platform: RetailPlatform):
            """Your sales history: one value per series and day, all files together.

            Columns `date,series_id,value` or statsforecast's `ds,unique_id,y`.
            """
            files = files_of(platform, "sales_history", history)
            try:
                df = ingest.read_sales_histories(files)
            except ingest.IngestError as exc:
                raise _failure(exc) from None
            yield from publish_table(
                context,
                platform.lake(),
                SALES_HISTORY,
                df,
                source=_names(files),
                metadata={"series": df["series_id"].n_unique()},
            )

        assets.append(sales_history)
    return assets


def _own_web_events(context, platform: RetailPlatform, sources):
    """raw/sessions from a site's own event log, mapped into the GA4 export shape."""
    got = source_frames(platform, sources, "web_events")
    events = got["sessions"]
    balance = reconcile(context, "web_events", got, events.height)
    by_day = by_iso_day(events, "event_date")
    out = DayPublisher(
        context, platform.lake(), SESSIONS, landing=True, source=_names(got["_files"])
    )
    names: dict[str, int] = {}
    for key in run_days(context):
        df = by_day.get(key, events.clear())
        _add_counts(names, df, "event_name")
        out.add(key, df)
    yield from publish_days(
        [out],
        {
            SESSIONS: {
                "events_by_name": dg.MetadataValue.json(_sorted(names)),
                **balance,
                **_quarantine_meta(got["quarantine"], quarantine_path(platform, "web_events")),
            }
        },
    )


def _calendar() -> dg.AssetsDefinition:
    @_source_asset(RETAIL_CALENDAR, code_version="retailer-1")
    def retail_calendar(context: dg.AssetExecutionContext, platform: RetailPlatform):
        """The calendar: one row per day from the first partition to 400 days ahead.

        With weekends and the festival windows (Black Friday, Christmas...) of the calendar in
        `simulation.yaml`. No promotions: the simulated retailer's promotions are not yours.
        """
        from retail_assets.defs.partitions import daily_partitions

        start = daily_partitions.start.date()
        df = (
            platform.simulator()
            .calendar_frame(start)
            .with_columns(
                pl.lit(None, dtype=pl.Utf8).alias("promotion"), pl.lit(0.0).alias("max_discount")
            )
        )
        yield from publish_table(
            context,
            platform.lake(),
            RETAIL_CALENDAR,
            df,
            source="festival calendar (no promotions)",
            metadata={"first_date": str(start), "last_date": str(df["date"].max())},
        )

    return retail_calendar


@dg.definitions
def defs() -> dg.Definitions:
    """The retailer's declared sources (none in the simulated world)."""
    world = current_world()
    return dg.Definitions(assets=build(world)) if world.retailer else dg.Definitions()
