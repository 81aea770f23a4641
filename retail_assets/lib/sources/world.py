"""Which world the platform runs in: ``sources.yaml`` loaded, and the template ``init`` writes.

``world: simulated`` (the packaged default) is the demo: every source comes from the simulator.
``world: retailer`` reads only the sources the file declares, from files in the landing inbox,
and the asset graph holds only what those sources can feed (``retail_assets.definitions``):
nothing simulated is mixed into a retailer's data. The declarations are the models of
:mod:`retail_assets.lib.sources.declarations`. ``retail-assets init`` writes a commented template
(:data:`TEMPLATE`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from retail_assets.lib.config import DEFAULT_CONFIG_DIR, _load, config_dir
from retail_assets.lib.sources.declarations import World

FILENAME = "sources.yaml"


def load_world(folder: Path | None = None) -> World:
    """The validated ``sources.yaml`` of ``folder`` (default: ``config_dir()``).

    A folder without the file is the simulated world, so configuration folders made before the
    file existed keep working.

    Raises:
        ConfigError: The file is invalid; the message names the file and the field.

    """
    folder = Path(folder) if folder else config_dir()
    if not (folder / FILENAME).exists():
        return World()
    return _load(World, FILENAME, folder)  # type: ignore[arg-type,return-value]


def init_config(folder: Path, *, force: bool = False) -> list[Path]:
    """Copy the packaged YAML files into ``folder`` and write the ``sources.yaml`` template.

    Existing files are kept unless ``force``. Returns the files written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(DEFAULT_CONFIG_DIR.glob("*.yaml")):
        dst = folder / src.name
        if src.name == FILENAME or (dst.exists() and not force):
            continue
        shutil.copyfile(src, dst)
        written.append(dst)
    dst = folder / FILENAME
    if force or not dst.exists():
        dst.write_text(TEMPLATE, encoding="utf-8")
        written.append(dst)
    return written


TEMPLATE = """\
# Which world the platform runs in, and where your own data comes from.
#
#   world: simulated   the demo: a simulated retailer, nothing to declare.
#   world: retailer    only the sources declared below, from files in <landing>/inbox/
#                      (RETAIL_LANDING_ROOT, default data/landing). Assets whose inputs are
#                      not declared are left out of the asset graph: nothing simulated is
#                      mixed into your data.
#
# Each source: files (a glob under <landing>/inbox/, or absolute), format (auto from the
# name: .csv, .tsv/.txt, .parquet, .ndjson/.jsonl/.json, each optionally .gz; or csv, tsv,
# parquet, ndjson), header (true), timezone for timestamps without an offset (UTC),
# timestamp_format (iso, epoch_s, epoch_ms, epoch_us or a strftime pattern), and
#   invalid_rows: quarantine     rows that cannot be read go to <landing>/quarantine/ with
#                                the file, row number and reason, and are counted; the file
#                                fails instead when more than max_invalid_share of its rows
#                                are invalid (default 0.01)
#   invalid_rows: error          any invalid row fails the file (nothing is written)
#
# Consent (sources about people): a mapped consent column decides; rows with no consent
# signal (GA4 privacy_info NULL or 'Unset', no column, a user not in your customer file)
# follow the policy:
#   consent: {unset: deny}       the default: dropped, counted as unset
#   consent: {unset: grant, basis: "Legitimate interest assessment LIA-2026-04, ..."}
#                                kept; the basis is stored in governed.consent_audit
world: simulated

# world: retailer
# sources:
#   web_events:                        # GA4 BigQuery export files, one per day
#     files: "ga4/events_*"
#     consent: {unset: deny}
#   # or a site's own web event log (not a GA4 export), mapped into the export's shape:
#   # web_events:
#   #   format: events
#   #   files: "web/*.csv"
#   #   columns: {timestamp: ts, event_name: event, user: visitor, customer: customer_id,
#   #             page: url, source: utm_source, medium: utm_medium, product: sku,
#   #             price: price, transaction: order_id, revenue: revenue, consent: consent}
#   #   event_names: {page_view: [pageview], view_item: [product_view]}
#   app_events:                        # a generic events file
#     files: "events/*.csv"
#     timestamp_format: iso
#     columns: {timestamp: event_time, user: user_id, event_type: event_type,
#               product: product_id, price: price, session: user_session}
#     event_types: {view: [view], add_to_cart: [cart], purchase: [purchase]}
#   customers:                         # a CRM export
#     files: "customers/*.csv"
#     columns: {customer_id: id, email: email, phone: phone, first_seen: created_at,
#               analytics_consent: consent_analytics, ads_consent: consent_ads}
#   orders:                            # order lines; returns have a negative quantity
#     files: "orders/*.csv"
#     timestamp_format: "%m/%d/%Y %H:%M"
#     timezone: Europe/London
#     cancellation_prefix: C
#     columns: {order_id: InvoiceNo, product_id: StockCode, description: Description,
#               quantity: Quantity, unit_price: UnitPrice, timestamp: InvoiceDate,
#               customer_id: CustomerID, country: Country}
#     forecast: {frequency: weekly, levels: [total, category, store]}   # ml/series_forecasts
#   products:
#     files: "products/*.csv"
#     columns: {product_id: sku, name: title, category: category, price: price}
#   stores:
#     files: "stores/*.csv"
#     columns: {store_id: store, name: name, region: region}
#   reviews:                           # text, date, product; a rating (1-5) or label if any
#     files: "reviews/*.tsv"
#     columns: {text: review, label: label, product: product_id, date: date}
#   signals:                           # search and social volumes per day and category
#     files: "signals/*.csv"
#     columns: {date: date, category: category, kind: kind, volume: volume}
#   sales_history:                     # date,series_id,value (or ds,unique_id,y)
#     files: "sales_history/*.csv"      #   [,category,store_id,product_id]
#     frequency: auto                   # daily, weekly or monthly; auto reads the dates
#     horizon: 13                       # periods ahead; default 28 days, 13 weeks, 12 months
#   media_history:                     # date,channel,spend,conversions[,revenue]
#     files: "media/*.csv"
#   #   or one aggregate file (an outcome per week or day, spend per channel, controls),
#   #   fitted by the media mix model; Robyn's demo input is declared:
#   #   files: "media/robyn_dt_simulated_weekly.csv"
#   #   shape: aggregate
#   #   date: DATE
#   #   outcome: revenue               # outcome_kind: revenue (default) or conversions
#   #   spend: {CTV: tv_S, Display: facebook_S, PPC: search_S}   # channels.yaml: column
#   #   other_spend: {ooh: ooh_S, print: print_S}   # modelled, not planned
#   #   controls: [competitor_sales_B, events, newsletter]
"""
