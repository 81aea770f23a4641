"""Sources of the retailer's world: every raw table from the files ``sources.yaml`` declares.

Only the declared sources get an asset (:func:`build`); ``retail_assets.definitions`` then
leaves out every asset downstream that has nothing to read, so no simulated table exists in
this world. Each source's files are parsed once per version of them (names, sizes, times and
the declaration) into ``<landing>/staging/<source>/``, so a range run of two years reads them
once, not once per day. Rows set aside are written to ``<landing>/quarantine/source=<source>/``
with file, row number, reason and the row itself, and counted in the asset's metadata.
"""

import datetime as dt
import hashlib
import json
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
from retail_assets.lib.governance.redaction import redact_text
from retail_assets.lib.sources import ingest
from retail_assets.lib.sources import retail_files as rf
from retail_assets.lib.sources.declarations import World
from retail_assets.lib.sources.file_source import FileSource
from retail_assets.lib.sources.tabular import QUARANTINE_SCHEMA, empty_quarantine, read_columns

ORDERS = dg.AssetKey(["raw", "orders"])
STORES = dg.AssetKey(["raw", "stores"])


def inbox_root(platform: RetailPlatform) -> Path:
    """``<landing>/inbox``: where source globs are read from."""
    return Path(platform.landing_root) / "inbox"


def quarantine_path(platform: RetailPlatform, source: str) -> Path:
    """Where a source's quarantined rows are kept (one Parquet file, replaced per parse)."""
    return Path(platform.landing_root) / "quarantine" / f"source={source}" / "quarantine.parquet"


def read_quarantine(landing_root: str | Path) -> pl.DataFrame:
    """Every source's quarantined rows (:data:`QUARANTINE_SCHEMA`)."""
    files = sorted((Path(landing_root) / "quarantine").glob("source=*/quarantine.parquet"))
    if not files:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return pl.concat([pl.read_parquet(f) for f in files])


def files_of(platform: RetailPlatform, source: str, spec: FileSource) -> list[Path]:
    """The files a source's glob matches; none is an error naming the glob and folder."""
    files = spec.paths(inbox_root(platform))
    if not files:
        raise dg.Failure(
            description=f"sources.yaml declares {source} with files {spec.files!r}, but no file "
            f"matches under {inbox_root(platform)}: put the files there or fix the glob",
            allow_retries=False,
        )
    return files


def parsed(platform: RetailPlatform, source: str, spec: FileSource, build, extra: str = "") -> dict:
    """The frames ``build(files)`` makes of the source's files, parsed once per version.

    ``build`` returns ``{name: frame}`` with a ``quarantine`` frame among them; the quarantine
    is also written to :func:`quarantine_path`. An unusable file fails with its name, column
    and row count (:class:`~retail_assets.lib.sources.ingest.IngestError`), writing nothing.
    """
    files = files_of(platform, source, spec)
    key = rf.fingerprint(files, source, spec.model_dump_json(), extra)

    def make() -> dict[str, pl.DataFrame]:
        try:
            frames = build(files)
        except (ingest.IngestError, ValueError) as exc:
            raise _failure(exc) from None
        path = quarantine_path(platform, source)
        path.parent.mkdir(parents=True, exist_ok=True)
        frames.setdefault("quarantine", empty_quarantine()).write_parquet(path)
        # The files' rows counted on their own, so loaded + set aside can be reconciled.
        column = next(iter(spec.columns.model_dump().items()))  # type: ignore[attr-defined]
        reading = spec.reading() if hasattr(spec, "reading") else spec
        frames["files"] = pl.DataFrame(
            {
                "file": [p.name for p in files],
                "rows": [read_columns(p, reading, dict([column]))[0].height for p in files],
            }
        )
        return frames

    folder = rf.staged(Path(platform.landing_root) / "staging" / source, key, make)
    out = {p.stem: pl.read_parquet(p) for p in folder.glob("*.parquet")}
    out["_files"] = files  # type: ignore[assignment]
    return out


#: Dated sources: the frame of their parse and its day column (which partitions they feed).
DATED = {
    "web_events": ("sessions", "event_date"),  # a site's own event log (format: events)
    "orders": ("orders", "order_date"),
    "app_events": ("events", "event_date"),
    "reviews": ("signals", "signal_date"),
    "signals": ("signals", "signal_date"),
}


#: Readers of the sources whose parse is ``(frame, quarantine)``: source -> (frame name, read).
_READERS = {
    "customers": ("customers", rf.read_customers),
    "products": ("products", rf.read_products),
    "stores": ("stores", rf.read_stores),
    "signals": ("signals", rf.read_signals),
    "web_events": ("sessions", rf.read_web_events),
    "app_events": (
        "events",
        lambda files, spec: ingest.read_events_quarantined(files, spec.mapping(), spec),
    ),
}


def source_frames(platform: RetailPlatform, sources, name: str) -> dict:
    """The parse of declared source ``name`` (see :func:`parsed`), built once per version."""
    spec = getattr(sources, name)
    extra = ""
    if name == "orders":

        def make(files):
            lines, quarantine, counts = rf.read_orders(files, spec)
            counts_frame = pl.DataFrame({k: [v] for k, v in counts.items()})
            return {"orders": lines, "quarantine": quarantine, "counts": counts_frame}

    elif name == "reviews":
        catalog = None
        if spec.columns.product is not None:
            # Categories come from the catalog: a new catalog re-reads the reviews.
            lake = platform.lake()
            catalog_files = lake.partition_files("raw", "product_catalog")
            catalog = lake.read("raw", "product_catalog", None) if catalog_files else None
            extra = "|".join(f"{f}:{f.stat().st_mtime_ns}" for f in catalog_files)

        def make(files):
            signals, quarantine = rf.read_reviews(files, spec, catalog)
            return {"signals": signals, "quarantine": quarantine}

    elif name in _READERS:
        frame_name, read = _READERS[name]

        def make(files):
            frame, quarantine = read(files, spec)
            return {frame_name: frame, "quarantine": quarantine}

    else:
        raise ValueError(f"no file reader for source {name!r}")
    return parsed(platform, name, spec, make, extra)


def by_iso_day(frame: pl.DataFrame, column: str) -> dict[str, pl.DataFrame]:
    """``frame`` split by its day ``column`` (a Date, or GA4's YYYYMMDD text), by ISO day."""
    parts = frame.partition_by(column, as_dict=True)
    if frame.schema[column] == pl.Date:
        return {day.isoformat(): part for (day,), part in parts.items()}
    return {f"{d[:4]}-{d[4:6]}-{d[6:]}": part for (d,), part in parts.items()}


def _quarantine_meta(q: pl.DataFrame, path: Path) -> dict:
    """The quarantine's row count, by reason, and where it is."""
    if q.is_empty():
        return {"quarantined_rows": 0}
    by = q.group_by("reason").len().sort("len", descending=True)
    return {
        "quarantined_rows": q.height,
        "quarantined_by_reason": dg.MetadataValue.json(dict(by.iter_rows())),
        "quarantine": dg.MetadataValue.path(str(path)),
    }


def reconcile(context, source: str, got: dict, loaded: int) -> dict:
    """Rows in the files = rows loaded + rows set aside; a mismatch fails the step."""
    in_files = int(got["files"]["rows"].sum())
    aside = got["quarantine"].height
    if in_files != loaded + aside:
        raise dg.Failure(
            description=f"{source}: {in_files} rows in the files, but {loaded} loaded and "
            f"{aside} quarantined: {in_files - loaded - aside} rows unaccounted for",
            allow_retries=False,
        )
    context.log.info(f"{source}: {in_files} rows in files = {loaded} loaded + {aside} set aside")
    return {"rows_in_files": in_files, "rows_loaded": loaded}


def _names(files) -> str:
    names = [Path(f).name for f in files]
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


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


# ------------------------------------------------------------------ the inbox sensor


def _file_versions(platform: RetailPlatform, spec: FileSource) -> dict[str, str]:
    """``{path: "mtime:size"}`` of the files a source's glob matches now."""
    out = {}
    for p in spec.paths(inbox_root(platform)):
        stat = p.stat()
        out[str(p)] = f"{stat.st_mtime_ns}:{stat.st_size}"
    return out


def changed_days(platform: RetailPlatform, sources, name: str, changed: list[Path]) -> set[dt.date]:
    """The days whose partitions the new or changed files of dated source ``name`` touch.

    The days the files' rows fall on; for orders also the days of the earlier purchases
    their cancellations were netted against (those days' sales changed too).
    """
    if name == "web_events" and sources.web_events.format == "ga4":
        return {d for p in changed if (d := ingest.ga4_file_date(p)) is not None}
    if name == "web_events":  # a site's own log: every day of the source (re-read whole)
        events = source_frames(platform, sources, name)["sessions"]
        return set(events["event_date"].str.to_date("%Y%m%d").unique().to_list())
    frame_name, column = DATED[name]
    got = source_frames(platform, sources, name)
    frame = got[frame_name]
    if name in ("app_events", "reviews", "signals"):
        # Which rows came from which file is not kept after parsing: re-read the new files.
        spec = getattr(sources, name)
        alone = source_frames_of(platform, sources, name, changed, spec)
        return set(alone[frame_name][column].unique().to_list())
    names = {p.name for p in changed}
    index = {i: Path(f).name for i, f in enumerate(got["_files"])}
    file_of = frame["line_id"].str.split(":").list.get(1).cast(pl.Int64)
    mine = frame.filter(file_of.replace_strict(index, default=None).is_in(list(names)))
    days = set(mine["order_date"].unique().to_list())
    cancelled = mine.filter(pl.col("is_cancellation") & pl.col("customer_id").is_not_null())
    netted = frame.join(
        cancelled.select("customer_id", "product_id").unique(),
        on=["customer_id", "product_id"],
        how="semi",
    ).filter(pl.col("net_quantity") < pl.col("quantity"))
    return days | set(netted["order_date"].unique().to_list())


def source_frames_of(platform, sources, name, files, spec) -> dict:
    """The parse of some of a source's files only (not staged): for the days they touch."""
    if name == "app_events":
        events, _ = ingest.read_events_quarantined(files, spec.mapping(), spec)
        return {"events": events}
    if name == "reviews":
        # Categories need the catalog: parse the reviews whole (every day of the source).
        return {"signals": source_frames(platform, sources, name)["signals"]}
    signals, _ = rf.read_signals(files, spec)
    return {"signals": signals}


def build_sensor(
    world: World, daily_keys: list[dg.AssetKey], reference_job, daily_job
) -> dg.SensorDefinition:
    """A sensor that loads new or changed files of the declared sources.

    A change first requests the ``reference_data`` run (customers, products, stores and
    sales history, which the daily assets read); once it has finished, one run per
    contiguous range of the days the changed dated files touch (``daily_keys``, as a
    single-run backfill does). The cursor keeps each file's modification time and size.
    """
    sources = world.sources
    names = sources.declared()

    @dg.sensor(
        name="retailer_inbox_sensor",
        jobs=[reference_job, daily_job],
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches the files sources.yaml declares; a new or changed file reloads "
        "the reference data, then runs the days it touches as ranges.",
    )
    def retailer_inbox_sensor(context: dg.SensorEvaluationContext, platform: RetailPlatform):
        state = json.loads(context.cursor) if context.cursor else {"seen": {}, "pending": None}
        seen, pending = state["seen"], state.get("pending")
        if pending:
            runs = context.instance.get_runs(
                filters=dg.RunsFilter(tags={"dagster/run_key": pending["run_key"]}), limit=1
            )
            if runs and not runs[0].is_finished:
                return dg.SkipReason("waiting for the reference_data run to finish")
            requests = []
            days: set[dt.date] = set()
            for name in pending["dated"]:
                files = [Path(p) for p in pending["files"].get(name, [])]
                if files:
                    days |= changed_days(platform, sources, name, files)
            from retail_assets.defs.partitions import daily_partitions
            from retail_assets.defs.sources.landing import (
                RANGE_END_TAG,
                RANGE_START_TAG,
                contiguous_ranges,
            )
            from retail_assets.lib.settings import Settings

            keys = set(daily_partitions.get_partition_keys())
            wanted = sorted(d.isoformat() for d in days if d.isoformat() in keys)
            for first, last in contiguous_ranges(wanted, Settings.from_env().backfill_max_days):
                requests.append(
                    dg.RunRequest(
                        run_key=f"{pending['run_key']}:{first}..{last}",
                        job_name="all_assets",
                        asset_selection=daily_keys,
                        tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
                    )
                )
            context.update_cursor(json.dumps({"seen": pending["versions"], "pending": None}))
            if not requests:
                return dg.SkipReason("reference data reloaded; no dated file changed")
            return dg.SensorResult(run_requests=requests)
        versions = {n: _file_versions(platform, getattr(sources, n)) for n in names}
        changed = {
            n: sorted(p for p, v in files.items() if seen.get(n, {}).get(p) != v)
            for n, files in versions.items()
        }
        changed = {n: files for n, files in changed.items() if files}
        if not changed:
            return dg.SkipReason("no new or changed file")
        digest = hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]
        run_key = f"reference:{digest}"
        dated = [n for n in changed if n in DATED]
        context.update_cursor(
            json.dumps(
                {
                    "seen": seen,
                    "pending": {
                        "run_key": run_key,
                        "dated": dated,
                        "files": changed,
                        "versions": versions,
                    },
                }
            )
        )
        listed = sorted({Path(p).name for files in changed.values() for p in files})
        return dg.RunRequest(
            run_key=run_key,
            job_name="reference_data",
            tags={"landing_files": ", ".join(listed[:20])},
        )

    return retailer_inbox_sensor


@dg.definitions
def defs() -> dg.Definitions:
    """The retailer's declared sources (none in the simulated world)."""
    world = current_world()
    return dg.Definitions(assets=build(world)) if world.retailer else dg.Definitions()
