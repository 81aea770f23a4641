"""A retailer's own two years, from files: how long the history takes, and nothing lost.

    python benchmarks/own_data.py            # 1,000,000 order lines and 1,000,000 events
    python benchmarks/own_data.py --quick    # 50,000 of each, 90 days

Generates a retailer's files in the formats ``sources.yaml`` declares (no simulator): order
lines as a gzipped CSV (UCI Online Retail's columns, cancellations as ``C`` orders with
negative quantities, guest orders without a customer), app events as Parquet, a CRM export
with consent columns as TSV, a product file as NDJSON, and a few invalid rows planted in
each (a quantity that is not a number, an unreadable timestamp, a consent value that is not
one). Then, in this process, with the partitions starting on the first day, it runs what
``retail-assets materialize`` runs for a history: the reference data, every daily asset of
the sources, governance and features over the whole range in one run, and the whole-table
SQL models.

Prints one ``name: value`` per line (progress goes to stderr):

- ``order_lines``, ``events``, ``customers``, ``days``: the generated history.
- ``own_data_history_seconds``: the three runs, wall clock (target: <= 300 at full size).
- ``invalid_rows_planted``, ``quarantined_rows``: rows planted invalid, and rows in the
  quarantine table (``<landing>/quarantine/``) not counted as exact duplicates; they must be
  equal.
- ``tables_built``: views in the warehouse catalog after the runs.
- ``simulated_tables``: assets defined whose latest materialization names the simulator as
  its source, and simulator-only assets defined at all; must be 0.
- ``failed_runs``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

START = dt.date(2024, 1, 1)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate(root: Path, lines: int, events: int, days: int, seed: int = 7) -> dict:
    """Write the retailer's files under ``root/data/landing/inbox``; return what was planted."""
    rng = np.random.default_rng(seed)
    inbox = root / "data" / "landing" / "inbox"
    customers = max(1_000, lines // 20)
    products = 2_000
    # Orders: ~4 lines each; 20 % guests; 2 % of orders are later cancelled in part.
    n_orders = lines // 4
    order_day = rng.integers(0, days, n_orders)
    order_cust = rng.integers(0, customers, n_orders)
    guest = rng.random(n_orders) < 0.2
    order_of_line = np.sort(rng.integers(0, n_orders, lines))
    seconds = rng.integers(8 * 3600, 20 * 3600, n_orders)
    ts = [
        (dt.datetime.combine(START, dt.time()) + dt.timedelta(days=int(d), seconds=int(s)))
        for d, s in zip(order_day, seconds, strict=True)
    ]
    product = rng.integers(0, products, lines)
    qty = rng.integers(1, 6, lines)
    price = np.round(rng.uniform(0.5, 40, products), 2)
    cancel = rng.random(lines) < 0.01
    orders = pl.DataFrame(
        {
            "InvoiceNo": [
                ("C" if c else "") + f"{o + 500000}"
                for o, c in zip(order_of_line, cancel, strict=True)
            ],
            "StockCode": [f"P{p:05d}" for p in product],
            "Description": [f"ITEM {p}" for p in product],
            "Quantity": np.where(cancel, -qty, qty).astype(str),
            "InvoiceDate": [ts[o].strftime("%Y-%m-%d %H:%M:%S") for o in order_of_line],
            "UnitPrice": price[product].astype(str),
            "CustomerID": [
                None if guest[o] else f"{12000 + order_cust[o]}.0" for o in order_of_line
            ],
            "Country": "United Kingdom",
        }
    )
    planted_orders = 7
    bad = rng.choice(lines, planted_orders, replace=False)
    orders = (
        orders.with_row_index()
        .with_columns(
            pl.when(pl.col("index").is_in(bad))
            .then(pl.lit("n/a"))
            .otherwise(pl.col("Quantity"))
            .alias("Quantity")
        )
        .drop("index")
    )
    (inbox / "orders").mkdir(parents=True, exist_ok=True)
    with gzip.open(inbox / "orders" / "orders.csv.gz", "wb", compresslevel=1) as f:
        orders.write_csv(f)
    # Events: views, carts and purchases of the same customers, as Parquet.
    user = rng.integers(0, customers, events)
    e_day = rng.integers(0, days, events)
    e_sec = rng.integers(0, 86_400, events)
    kind = rng.choice(["view", "cart", "purchase"], events, p=[0.85, 0.11, 0.04])
    event_time = pl.Series([dt.datetime.combine(START, dt.time())] * events) + pl.Series(
        (e_day * 86_400 + e_sec) * 1_000_000
    ).cast(pl.Duration("us"))
    planted_events = 5
    bad_e = rng.choice(events, planted_events, replace=False)
    ev = (
        pl.DataFrame(
            {
                "event_time": event_time.dt.strftime("%Y-%m-%d %H:%M:%S"),
                "event_type": kind,
                "product_id": [f"P{p:05d}" for p in rng.integers(0, products, events)],
                "price": np.round(rng.uniform(0.5, 40, events), 2),
                "user_id": [f"{12000 + u}" for u in user],
            }
        )
        .with_row_index()
        .with_columns(
            pl.when(pl.col("index").is_in(bad_e))
            .then(pl.lit("yesterday"))
            .otherwise(pl.col("event_time"))
            .alias("event_time")
        )
        .drop("index")
    )
    (inbox / "events").mkdir(parents=True, exist_ok=True)
    ev.write_parquet(inbox / "events" / "events.parquet")
    # The CRM export: consent as yes/no/empty, three rows with a value that is not consent.
    consent = rng.choice(["yes", "no", ""], customers, p=[0.7, 0.2, 0.1]).astype(object)
    consent[consent == ""] = None  # an empty field: no signal
    planted_customers = 3
    consent[rng.choice(customers, planted_customers, replace=False)] = "maybe"
    crm = pl.DataFrame(
        {
            "id": [f"{12000 + c}" for c in range(customers)],
            "email": [f"c{c}@example.com" for c in range(customers)],
            "consent_analytics": consent.tolist(),
            "consent_ads": rng.choice(["yes", "no"], customers).tolist(),
            "created": [str(START) for _ in range(customers)],
        }
    )
    (inbox / "customers").mkdir(parents=True, exist_ok=True)
    crm.write_csv(inbox / "customers" / "crm.tsv", separator="\t")
    cats = ["Home", "Garden", "Toys", "Kitchen", "Gifts"]
    catalog = pl.DataFrame(
        {
            "sku": [f"P{p:05d}" for p in range(products)],
            "title": [f"Item {p}" for p in range(products)],
            "category": [cats[p % len(cats)] for p in range(products)],
            "price": price.tolist(),
        }
    )
    (inbox / "products").mkdir(parents=True, exist_ok=True)
    catalog.write_ndjson(inbox / "products" / "products.ndjson")
    return {
        "order_lines": lines,
        "events": events,
        "customers": customers,
        "invalid_rows_planted": planted_orders + planted_events + planted_customers,
    }


SOURCES = {
    "world": "retailer",
    "sources": {
        "orders": {
            "files": "orders/*.csv.gz",
            "timestamp_format": "%Y-%m-%d %H:%M:%S",
            "cancellation_prefix": "C",
            "columns": {
                "order_id": "InvoiceNo",
                "product_id": "StockCode",
                "description": "Description",
                "quantity": "Quantity",
                "unit_price": "UnitPrice",
                "timestamp": "InvoiceDate",
                "customer_id": "CustomerID",
                "country": "Country",
            },
        },
        "app_events": {
            "files": "events/*.parquet",
            "timestamp_format": "%Y-%m-%d %H:%M:%S",
            "columns": {
                "timestamp": "event_time",
                "user": "user_id",
                "event_type": "event_type",
                "product": "product_id",
                "price": "price",
            },
            "event_types": {"view": ["view"], "add_to_cart": ["cart"], "purchase": ["purchase"]},
        },
        "customers": {
            "files": "customers/*.tsv",
            "columns": {
                "customer_id": "id",
                "email": "email",
                "first_seen": "created",
                "analytics_consent": "consent_analytics",
                "ads_consent": "consent_ads",
            },
        },
        "products": {
            "files": "products/*.ndjson",
            "columns": {
                "product_id": "sku",
                "name": "title",
                "category": "category",
                "price": "price",
            },
        },
    },
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 rows each, 90 days")
    parser.add_argument("--keep", help="folder to keep the data in (default: a temp folder)")
    args = parser.parse_args(argv)
    lines, events, days = (50_000, 50_000, 90) if args.quick else (1_000_000, 1_000_000, 730)
    root = Path(args.keep or tempfile.mkdtemp(prefix="own_data_"))
    log(f"generating {lines:,} order lines and {events:,} events over {days} days in {root}")
    planted = generate(root, lines, events, days)
    from retail_assets.lib.sources.world import init_config

    init_config(root / "config")
    (root / "config" / "sources.yaml").write_text(yaml.safe_dump(SOURCES, sort_keys=False))
    last = START + dt.timedelta(days=days - 1)
    os.environ.update(
        {
            "RETAIL_CONFIG_DIR": str(root / "config"),
            "RETAIL_DATA_DIR": str(root / "data"),
            "RETAIL_START_DATE": START.isoformat(),
        }
    )
    import dagster as dg
    import duckdb

    from retail_assets.definitions import build_definitions
    from retail_assets.defs.sources.retailer_files import read_quarantine
    from retail_assets.lib.sources.retail_common import DUPLICATE

    defs = build_definitions()

    instance = dg.DagsterInstance.ephemeral()
    daily = [
        k
        for k in defs.resolve_job_def("all_assets").asset_layer.selected_asset_keys
        if k.path[0] in ("raw", "governed", "features")
    ]
    began = time.perf_counter()
    results = []
    log("reference data")
    results.append(
        defs.resolve_job_def("reference_data").execute_in_process(
            instance=instance, raise_on_error=False
        )
    )
    log(f"history {START}..{last}: {len(daily)} daily assets in one run")
    results.append(
        defs.resolve_job_def("all_assets").execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=daily,
            tags={
                "dagster/asset_partition_range_start": START.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
        )
    )
    log("whole-table SQL models")
    results.append(
        defs.resolve_job_def("feature_tables").execute_in_process(
            instance=instance, raise_on_error=False
        )
    )
    seconds = time.perf_counter() - began
    for r in results:
        for e in r.all_events:
            if e.is_step_failure:
                log(f"FAILED {e.step_key}: {e.event_specific_data.error.message[:500]}")
    quarantine = read_quarantine(root / "data" / "landing")
    invalid = quarantine.filter(pl.col("reason") != DUPLICATE)
    log(f"quarantined: {invalid.group_by('source', 'reason').len().rows()}")
    graph = defs.resolve_asset_graph()
    simulated = 0
    for key in graph.get_all_asset_keys():
        if key.to_user_string() in ("raw/sessions", "raw/signals"):
            simulated += 1  # not declared: would be the simulator's
        event = instance.get_latest_materialization_event(key)
        source = event and event.asset_materialization.metadata.get("source")
        if source and "simulat" in str(getattr(source, "value", source)).lower():
            simulated += 1
    with duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0]
    metrics = {
        **{k: v for k, v in planted.items() if k != "invalid_rows_planted"},
        "days": days,
        "own_data_history_seconds": round(seconds, 1),
        "invalid_rows_planted": planted["invalid_rows_planted"],
        "quarantined_rows": invalid.height,
        "tables_built": tables,
        "simulated_tables": simulated,
        "failed_runs": sum(not r.success for r in results),
    }
    for name, value in metrics.items():
        print(f"{name}: {value}")
    return 0 if metrics["failed_runs"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
