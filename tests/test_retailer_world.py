"""The retailer's world end to end: sources.yaml, real files, consent, quarantine, no simulation.

Each world runs in a process of its own (``tests/world_run.py``), since its daily partitions
start where its data does. The real files come from ``../shared/data``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import SHARED_DATA

from retail_assets.defs.sources.retailer_files import read_quarantine
from retail_assets.lib.config import ConfigError
from retail_assets.lib.sources import retail_files as rf
from retail_assets.lib.sources.declarations import Orders
from retail_assets.lib.sources.errors import IngestError
from retail_assets.lib.sources.world import init_config, load_world

GA4_SAMPLE = SHARED_DATA / "ga4" / "ga4_obfuscated_sample_460.ndjson"
ONLINE_RETAIL = SHARED_DATA / "retail" / "online_retail_uci_first8000.csv"
YELP = SHARED_DATA / "reviews" / "yelp_labelled.txt"
BASIS = "Legitimate interest assessment LIA-7 for site analytics (test)"
#: Words a table's source may not contain in the retailer's world.
SIMULATED = ("simulator", "simulated")

needs_shared = pytest.mark.skipif(not SHARED_DATA.exists(), reason="needs ../shared/data")


def _world(root: Path, sources: dict) -> Path:
    init_config(root / "config")
    (root / "config" / "sources.yaml").write_text(
        yaml.safe_dump({"world": "retailer", "sources": sources}, sort_keys=False)
    )
    return root


def _inbox(root: Path, folder: str) -> Path:
    path = root / "data" / "landing" / "inbox" / folder
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(root: Path, start: str, first: str, last: str, *extra: str) -> dict:
    env = {
        **os.environ,
        "RETAIL_CONFIG_DIR": str(root / "config"),
        "RETAIL_DATA_DIR": str(root / "data"),
        "RETAIL_START_DATE": start,
        "DAGSTER_HOME": str(root / "home"),
    }
    (root / "home").mkdir(exist_ok=True)
    script = Path(__file__).parent / "world_run.py"
    done = subprocess.run(
        [sys.executable, str(script), first, last, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _no_simulated_table(report: dict) -> None:
    """Every table in the catalog has a declared or derived source, never the simulator."""
    assert report["tables"], "no table was built"
    for table in report["tables"]:
        key = table.replace(".", "/")
        assert key in report["assets"], f"{table} is in the catalog but not an asset"
        source = str(report["metadata"].get(key, {}).get("source", ""))
        assert not any(word in source.lower() for word in SIMULATED), (table, source)
    for simulated_only in ("raw/signals", "activation/channel_response_curves"):
        if simulated_only not in report["assets"]:
            continue
        assert "simulator" not in str(report["metadata"].get(simulated_only, {}).get("source"))


def _check(report: dict, run: str, asset: str, name: str) -> dict:
    found = [c for c in report["runs"][run]["checks"] if c["asset"] == asset and c["check"] == name]
    assert found, f"no {name} result for {asset} in {run}"
    return found[0]


def _split_ga4(inbox: Path, days: int | None = None) -> list[str]:
    """The GA4 sample split by event_date into events_YYYYMMDD.json files (as exported)."""
    lines = GA4_SAMPLE.read_text(encoding="utf-8").splitlines()
    by_day: dict[str, list[str]] = {}
    for line in lines:
        by_day.setdefault(json.loads(line)["event_date"], []).append(line)
    chosen = sorted(by_day)[:days] if days else sorted(by_day)
    for day in chosen:
        (inbox / f"events_{day}.json").write_text("\n".join(by_day[day]) + "\n")
    return [f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in chosen]


# ------------------------------------------------------------------ declaration


def test_packaged_world_is_simulated_and_init_writes_a_valid_template(tmp_path):
    assert load_world().world == "simulated"
    written = init_config(tmp_path)
    assert tmp_path / "sources.yaml" in written
    assert (tmp_path / "simulation.yaml").exists()  # the folder is a whole config folder
    assert load_world(tmp_path).world == "simulated"
    assert "world: retailer" in (tmp_path / "sources.yaml").read_text()


def test_grant_without_a_written_basis_is_refused(tmp_path):
    init_config(tmp_path)
    (tmp_path / "sources.yaml").write_text(
        "world: retailer\nsources:\n  web_events:\n    consent: {unset: grant}\n"
    )
    with pytest.raises(ConfigError, match=r"sources.web_events.consent.*basis"):
        load_world(tmp_path)
    (tmp_path / "sources.yaml").write_text("world: simulated\nsources:\n  web_events: {}\n")
    with pytest.raises(ConfigError, match="world: retailer"):
        load_world(tmp_path)


# ------------------------------------------------------------------ GA4, real export sample


@needs_shared
def test_ga4_sample_default_policy_warns_and_grant_keeps_rows(tmp_path):
    deny = _world(tmp_path / "deny", {"web_events": {"files": "ga4/events_*"}})
    days = _split_ga4(_inbox(deny, "ga4"))
    report = _run(deny, days[0], days[0], days[-1])
    assert report["runs"]["history"]["success"], report["runs"]["history"]["failures"]
    # Only what web events can feed is defined: no simulated customers, sales or signals.
    assert "raw/sessions" in report["assets"]
    for absent in ("raw/customers", "raw/transactions", "raw/signals", "raw/app_events"):
        assert absent not in report["assets"]
    meta = report["metadata"]["governed/consent_audit"]
    assert (
        meta[
            "dropped_analytics_unset (analytics_storage is 'Unset' or unknown (treated as denied))"
        ]
        == 460
    )
    check = _check(report, "history", "governed/sessions", "consent_coverage")
    assert not check["passed"] and check["severity"] == "WARN"
    assert "dropped_analytics_unset" in check["description"]
    assert "5 of 5 rows (100%)" in check["description"]
    assert "unset: grant" in check["description"]  # says how to declare the policy
    assert report["tables"]["governed.sessions"] == 0
    _no_simulated_table(report)

    grant = _world(
        tmp_path / "grant",
        {"web_events": {"files": "ga4/events_*", "consent": {"unset": "grant", "basis": BASIS}}},
    )
    _split_ga4(_inbox(grant, "ga4"))
    report = _run(grant, days[0], days[0], days[-1])
    assert report["runs"]["history"]["success"], report["runs"]["history"]["failures"]
    assert report["tables"]["governed.sessions"] == 460
    assert _check(report, "history", "governed/sessions", "consent_coverage")["passed"]
    audit = pl.read_parquet(
        tmp_path / "grant" / "data" / "lake" / "governed" / "consent_audit" / "**" / "*.parquet"
    )
    assert audit["rows_in"].sum() == 460 and audit["kept_without_signal"].sum() == 460
    assert set(audit["consent_basis"]) == {BASIS} and set(audit["unset_policy"]) == {"grant"}
    _no_simulated_table(report)


# ------------------------------------------------------------------ Online Retail orders


ORDERS_SPEC = {
    "files": "orders/*.csv",
    "timestamp_format": "%Y-%m-%d %H:%M:%S",
    "timezone": "Europe/London",
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
    "consent": {"unset": "grant", "basis": BASIS},
}


@needs_shared
def test_online_retail_orders_feed_sales_customers_rfm_and_segments(tmp_path):
    root = _world(tmp_path, {"orders": ORDERS_SPEC})
    (_inbox(root, "orders") / ONLINE_RETAIL.name).write_bytes(ONLINE_RETAIL.read_bytes())
    report = _run(root, "2010-12-01", "2010-12-01", "2010-12-05", "--models")
    for run in report["runs"].values():
        assert run["success"], run["failures"]
    # No media history declared: the response curves (simulated otherwise) are left out.
    assert "activation/channel_response_curves" not in report["assets"]
    raw = pl.read_csv(ONLINE_RETAIL, infer_schema=False)
    customers = raw["CustomerID"].drop_nulls().str.replace(r"\.0$", "").n_unique()
    # Customers are derived from the orders; guests (no CustomerID) are sales, not customers.
    assert report["metadata"]["raw/customers"]["dagster/row_count"] == customers
    orders = report["metadata"]["raw/orders"]
    assert orders["lines_without_customer"] == raw["CustomerID"].null_count()
    assert orders["cancelled_units_netted"] > 0
    assert orders["duplicate_lines"] == raw.height - raw.unique().height
    assert orders["quarantined_rows"] == orders["duplicate_lines"]
    sales = pl.read_parquet(
        tmp_path / "data" / "lake" / "raw" / "transactions" / "**" / "*.parquet"
    )
    governed = pl.read_parquet(
        tmp_path / "data" / "lake" / "governed" / "orders" / "**" / "*.parquet"
    )
    assert sales.height > governed.height  # guest orders count in sales only
    # Every order line is a sale or counted as why not (netted out, or free of charge).
    tx = report["metadata"]["raw/transactions"]
    assert tx["order_lines"] == sales.height + tx["netted_out"] + tx["free_lines"]
    assert (sales["quantity"] >= 1).all()
    # Cancellations are netted: no negative line and less revenue than the gross sales.
    gross = (
        raw.filter(~pl.col("InvoiceNo").str.starts_with("C"))
        .select((pl.col("Quantity").cast(pl.Float64) * pl.col("UnitPrice").cast(pl.Float64)).sum())
        .item()
    )
    assert sales["revenue"].sum() < gross
    recon = report["tables"]["governed.source_reconciliation"]
    assert recon == 1  # one declared source: orders
    row = pl.read_parquet(
        tmp_path / "data" / "lake" / "governed" / "source_reconciliation" / "**" / "*.parquet"
    ).row(0, named=True)
    assert row["rows_in_files"] == raw.height == row["rows_loaded"] + row["rows_quarantined"]
    assert json.loads(row["dropped_by_reason"])["dropped_no_customer"] > 0  # guests: sales only
    assert row["consent_basis"] == BASIS
    for table in ("features.user_features", "ml.customer_segments", "ml.segment_profiles"):
        assert report["tables"][table] > 0, table
    features = pl.read_parquet(
        tmp_path / "data" / "lake" / "features" / "user_features" / "**" / "*.parquet"
    )
    assert features["rfm_segment"].drop_nulls().len() > 0
    assert features["customer_key"].n_unique() <= customers
    # Orders without events: the orders-only models. Five days cannot show whether a 7-day
    # propensity is right, and the metadata says so, in numbers, instead of scoring.
    propensity = report["metadata"]["ml/purchase_propensity"]
    assert propensity["feature_set"] == "orders_only" and propensity["trained"] is False
    assert propensity["evaluation"].startswith("skipped: 5 days of orders")
    assert propensity["labeled_as_of_days"] == 0 and propensity["customers_with_orders"] > 0
    assert report["tables"]["ml.purchase_propensity"] == 0
    segments = report["metadata"]["ml/customer_segments"]
    assert segments["feature_set"] == "orders_only"
    assert sum(segments["segments"].values()) == report["tables"]["ml.customer_segments"]
    assert set(segments["segments"]) <= {
        "Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising",
        "Need Attention", "About to Sleep", "At Risk", "Cannot Lose Them", "Hibernating",
    }  # fmt: skip
    _no_simulated_table(report)


def test_cancellations_are_netted_against_the_customers_latest_purchases():
    lines = pl.DataFrame(
        {
            "order_id": ["1", "2", "C3", "C4"],
            "line_id": ["a", "b", "c", "d"],
            "order_ts": pl.Series(
                ["2025-01-01T10:00", "2025-01-02T10:00", "2025-01-03T10:00", "2025-01-03T11:00"]
            ).str.to_datetime(time_zone="UTC"),
            "customer_id": ["u", "u", "u", None],
            "product_id": ["p", "p", "p", "p"],
            "quantity": [3, 2, -4, -1],
            "unit_price": [1.0, 1.0, 1.0, 1.0],
        }
    )
    out, counts = rf.net_cancellations(lines)
    net = dict(out.select("line_id", "net_quantity").iter_rows())
    assert net == {"a": 1, "b": 0, "c": 0, "d": 0}  # newest first: 2 from b, then 2 from a
    assert counts["cancelled_units_netted"] == 4 and counts["cancelled_units_unmatched"] == 1


def test_invalid_order_rows_are_quarantined_up_to_the_threshold(tmp_path):
    good = "".join(f"{i},P{i % 7},2,1.5,2025-03-01 10:00:00,C{i % 5}\n" for i in range(300))
    path = tmp_path / "orders.csv"
    header = "order,product,qty,price,ts,customer\n"
    path.write_text(header + good + "999,P1,two,1.5,2025-03-01 10:00:00,C1\n")
    spec = Orders(
        files="x",
        timestamp_format="%Y-%m-%d %H:%M:%S",
        columns={
            "order_id": "order",
            "product_id": "product",
            "quantity": "qty",
            "unit_price": "price",
            "timestamp": "ts",
            "customer_id": "customer",
        },
    )
    lines, quarantine, _ = rf.read_orders([path], spec)
    assert lines.height == 300
    bad = quarantine.row(0, named=True)
    assert (bad["file"], bad["row_number"], bad["column"]) == ("orders.csv", 301, "qty")
    assert "whole numbers" in bad["reason"] and '"two"' in bad["record"]
    # Over 1 % of the file invalid: the file fails, naming file, column and rows.
    path.write_text(
        header
        + "".join(good.splitlines(keepends=True)[:100])
        + "".join(f"9{i},P,x,1,2025-03-01 10:00:00,C\n" for i in range(9))
    )
    with pytest.raises(IngestError, match=r"orders.csv: column 'qty': 9 of \d+ rows are invalid"):
        rf.read_orders([path], spec)
    with pytest.raises(IngestError, match="qty"):
        rf.read_orders([path], spec.model_copy(update={"invalid_rows": "error"}))


# ------------------------------------------------------------------ events, customers, reviews


def _events_file(path: Path) -> tuple[int, int]:
    """An e-commerce events export (the public 'eCommerce behavior' shape) with 2 conflicts."""
    rows = [
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
    ]
    n = 0
    for user in range(20):
        for k in range(3 + (user * 7) % 13):
            kind = ("view", "cart", "purchase")[k % 3]
            minute = 10 + k
            rows.append(
                f"2020-10-0{1 + k % 3} 10:{minute:02d}:00 UTC,{kind},{100 + k % 5},7,"
                f"electronics.phone,acme,{10 + k % 5}.5,{500 + user},s{user}-{k % 3}"
            )
            n += 1
    # The same time, user, type and product as a row above, in another session: a conflict.
    rows.append("2020-10-01 10:10:00 UTC,view,100,7,electronics.phone,acme,10.5,500,other")
    rows.append("2020-10-01 10:10:00 UTC,view,100,7,electronics.phone,acme,10.5,501,other")
    path.write_text("\n".join(rows) + "\n")
    return n, 2


EVENTS_SPEC = {
    "files": "events/*.csv",
    "timestamp_format": "%Y-%m-%d %H:%M:%S UTC",
    "columns": {
        "timestamp": "event_time",
        "user": "user_id",
        "event_type": "event_type",
        "product": "product_id",
        "price": "price",
        "session": "user_session",
        "category": "category_code",
    },
    "event_types": {"view": ["view"], "add_to_cart": ["cart"], "purchase": ["purchase"]},
}


@needs_shared
def test_events_with_conflicts_customers_and_a_reviews_tsv(tmp_path):
    root = _world(
        tmp_path,
        {
            "app_events": EVENTS_SPEC,
            "customers": {
                "files": "customers/*.csv",
                "columns": {"customer_id": "id", "email": "email", "analytics_consent": "consent"},
            },
            "products": {
                "files": "products/*.csv",
                "columns": {
                    "product_id": "sku",
                    "name": "name",
                    "category": "category",
                    "price": "price",
                },
            },
            "stores": {"files": "stores/*.csv", "columns": {"store_id": "store", "name": "name"}},
            "sales_history": {"files": "sales_history/*.csv"},
            "reviews": {
                "files": "reviews/*.tsv",
                "columns": {"text": "review", "label": "label", "product": "sku", "date": "day"},
            },
        },
    )
    n, conflicts = _events_file(_inbox(root, "events") / "events.csv")
    (_inbox(root, "customers") / "crm.csv").write_text(
        "id,email,consent\n"
        + "".join(
            f"{500 + u},u{u}@example.com,{'true' if u < 15 else 'false'}\n" for u in range(20)
        )
    )
    (_inbox(root, "products") / "products.csv").write_text(
        "sku,name,category,price\n"
        + "".join(f"{100 + k},Phone {k},electronics,{10 + k}.5\n" for k in range(5))
    )
    (_inbox(root, "stores") / "stores.csv").write_text("store,name\nweb,Online shop\n")
    (_inbox(root, "sales_history") / "history.csv").write_text(
        "date,series_id,value\n2020-09-30,total,120.5\n2020-10-01,total,99\n"
    )
    yelp = [line.split("\t") for line in YELP.read_text(encoding="utf-8").split("\n") if line]
    reviews = ["review\tlabel\tsku\tday"] + [
        f"{text}\t{label}\t{100 + i % 5}\t2020-10-0{1 + i % 3}"
        for i, (text, label) in enumerate(yelp)
    ]
    (_inbox(root, "reviews") / "yelp.tsv").write_text("\n".join(reviews) + "\n", encoding="utf-8")
    report = _run(root, "2020-10-01", "2020-10-01", "2020-10-03", "--models")
    for name, run in report["runs"].items():
        assert run["success"], (name, run["failures"])
    events = report["metadata"]["raw/app_events"]
    assert events["quarantined_rows"] == conflicts
    quarantine = read_quarantine(root / "data" / "landing")
    conflict_rows = quarantine.filter(pl.col("source") == "app_events")
    assert conflict_rows["row_number"].sort().to_list() == [n + 1, n + 2]
    assert conflict_rows["reason"].str.contains("differ in session_id").all()
    # Consent from the CRM file: 15 of 20 users said yes; their events reach the features.
    governed = report["metadata"]["governed/app_events"]
    consented = sum(3 + (u * 7) % 13 for u in range(15))
    assert governed["rows_in"] == n and governed["rows_kept"] == consented
    assert report["tables"]["features.user_features"] > 0
    # The reviews TSV: every labelled sentence, scored by its label, categorised by product.
    assert report["tables"]["raw.signals"] == len(yelp)
    assert report["tables"]["features.daily_category_signals"] == 3
    # Nothing lost, per source: files = loaded + set aside; governed = kept + dropped.
    recon = pl.read_parquet(
        root / "data" / "lake" / "governed" / "source_reconciliation" / "**" / "*.parquet"
    )
    events_row = recon.filter(pl.col("source") == "app_events").row(0, named=True)
    assert events_row["rows_in_files"] == n + conflicts
    assert events_row["rows_loaded"] == n and events_row["rows_quarantined"] == conflicts
    assert events_row["governed_in"] == n and events_row["kept"] == consented
    assert json.loads(events_row["dropped_by_reason"])["dropped_analytics_denied"] == n - consented
    assert set(recon["source"]) == {"app_events", "customers", "products", "stores", "reviews"}
    # Sentiment trains on the labelled reviews: Yelp's 0/1 labels make a two-class model.
    sentiment = report["metadata"]["ml/review_sentiment"]
    assert sentiment.get("trained") is not False, sentiment
    assert report["tables"]["ml.review_sentiment"] == len(yelp)
    # Stores and sales history load with the reference data, not in the daily history run.
    assert report["tables"]["raw.stores"] == 1 and report["tables"]["raw.sales_history"] == 2
    assert "reference_refresh" in report["schedules"]
    _no_simulated_table(report)


def test_conflicting_events_fail_the_file_under_invalid_rows_error(tmp_path):
    from retail_assets.lib.sources.declarations import AppEvents
    from retail_assets.lib.sources.events import read_events_quarantined

    path = tmp_path / "events.csv"
    _events_file(path)
    spec = AppEvents(**{**EVENTS_SPEC, "invalid_rows": "error"})
    with pytest.raises(
        IngestError, match=r"events.csv: column 'event_time, user_id.*differ in session_id"
    ):
        read_events_quarantined([path], spec.mapping(), spec)


def test_cli_init_writes_the_config_folder(tmp_path, capsys):
    from retail_assets.cli import main

    assert main(["init", str(tmp_path / "cfg")]) == 0
    assert "sources.yaml" in capsys.readouterr().out
    assert load_world(tmp_path / "cfg").world == "simulated"
    assert main(["init", str(tmp_path / "cfg")]) == 0  # a second time keeps the files
    assert "kept (exists" in capsys.readouterr().out


@needs_shared
def test_cli_materializes_the_retailers_world(tmp_path):
    """`retail-assets materialize` on Online Retail: the stages this world has, one summary."""
    root = _world(tmp_path, {"orders": ORDERS_SPEC})
    (_inbox(root, "orders") / ONLINE_RETAIL.name).write_bytes(ONLINE_RETAIL.read_bytes())
    (root / "home").mkdir()
    env = {
        **os.environ,
        "RETAIL_CONFIG_DIR": str(root / "config"),
        "RETAIL_DATA_DIR": str(root / "data"),
        "RETAIL_START_DATE": "2010-12-01",
        "DAGSTER_HOME": str(root / "home"),
        # This checkout's code, whichever copy of the package is installed.
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "retail_assets.cli",
            "materialize",
            "--start",
            "2010-12-01",
            "--end",
            "2010-12-05",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "your data (orders)" in out
    assert "customer segments    v1" in out
    # Stages and models nothing declared feeds are not run, and not listed as missing.
    # Store sales from orders are forecast daily by category (no signals: no regressors).
    assert "forecast selection" in out and "forecasts" in out
    assert "review sentiment" not in out
    # Your own series: five days of orders are too few to forecast, and the stage says so
    # without failing the command.
    assert "series forecasts" in out
    assert "transactions" in out and "orders_audit" in out
    listed = subprocess.run(
        [sys.executable, "-m", "retail_assets.cli", "quarantine"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    raw = pl.read_csv(ONLINE_RETAIL, infer_schema=False)
    repeats = raw.height - raw.unique().height
    assert listed.returncode == 0, listed.stderr
    assert f"{repeats:>8,}  exact duplicate" in listed.stdout
    assert f"{repeats:,} rows in" in listed.stdout


def _tick(sensor, instance, platform, cursor):
    import dagster as dg

    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"platform": platform}
    )
    result = sensor(context)
    return result, context.cursor


def test_inbox_sensor_loads_new_files_reference_first_then_the_days_they_touch(tmp_path):
    import dagster as dg
    from conftest import make_platform

    from retail_assets.definitions import build_definitions

    spec = {**ORDERS_SPEC, "files": "orders/*.csv", "timezone": "UTC"}
    root = _world(tmp_path, {"orders": spec})
    inbox = _inbox(root, "orders")
    header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    (inbox / "march.csv").write_text(
        header
        + "1,A,Mug,2,2025-03-01 10:00:00,3.5,17850.0,UK\n"
        + "2,A,Mug,4,2025-03-02 10:00:00,3.5,17851.0,UK\n"
        + "3,B,Pen,1,2025-03-03 10:00:00,1.0,,UK\n"
    )
    platform = make_platform(root / "data", config_dir=str(root / "config"), customers=1_000)
    defs = build_definitions(platform)
    sensor = defs.get_sensor_def("retailer_inbox_sensor")
    instance = dg.DagsterInstance.ephemeral()

    def run(request):
        job = defs.resolve_job_def(request.job_name)
        tags = {**request.tags, "dagster/run_key": request.run_key}
        selection = {"asset_selection": request.asset_selection} if request.asset_selection else {}
        result = job.execute_in_process(instance=instance, tags=tags, **selection)
        assert result.success

    request, cursor = _tick(sensor, instance, platform, None)
    assert request.job_name == "reference_data"  # customers and catalog first
    # Until that run has finished, the days wait.
    run(request)
    result, cursor = _tick(sensor, instance, platform, cursor)
    ranges = [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in result.run_requests
    ]
    assert ranges == [("2025-03-01", "2025-03-03")]
    run(result.run_requests[0])
    assert platform.lake().read("raw", "transactions", ["2025-03-02"]).height == 1
    skip, cursor = _tick(sensor, instance, platform, cursor)
    assert "no new or changed file" in skip.skip_message
    # A later file cancels part of the 2 March purchase: that day is re-run with the new day.
    (inbox / "april.csv").write_text(header + "C9,A,Mug,-3,2025-03-05 09:00:00,3.5,17851.0,UK\n")
    request, cursor = _tick(sensor, instance, platform, cursor)
    run(request)
    result, cursor = _tick(sensor, instance, platform, cursor)
    ranges = [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in result.run_requests
    ]
    assert ranges == [("2025-03-02", "2025-03-02"), ("2025-03-05", "2025-03-05")]
    for r in result.run_requests:
        run(r)
    day = platform.lake().read("raw", "transactions", ["2025-03-02"])
    assert day["quantity"].to_list() == [1]  # 4 bought, 3 cancelled later


def test_a_sites_own_web_event_log_becomes_governed_sessions_and_user_features(tmp_path):
    """web_events with format: events: a log that is not a GA4 export, mapped into its shape."""
    rows = ["ts,event,visitor,customer_id,url,utm_source,utm_medium,product,price,order_id,revenue"]
    for v in range(30):
        base = f"2025-03-0{1 + v % 3} 1{v % 10}:"
        customer = f"C{v}" if v % 2 == 0 else ""
        rows += [
            f"{base}00:00,pageview,v{v},{customer},https://shop.example/p?id={v},google,cpc,,,,",
            f"{base}01:00,product_view,v{v},{customer},https://shop.example/p/{v},,,P{v % 4},9.5,,",
            f"{base}02:00,add_to_cart,v{v},{customer},,,,P{v % 4},9.5,,",
            f"{base}03:00,purchase,v{v},{customer},,,,P{v % 4},9.5,T{v},9.5",
            f"{base}04:00,scroll,v{v},{customer},,,,,,,",
        ]
    rows.append("2025-03-01 12:00:00,add to cart!,v1,,,,,,,,")  # not an event name: set aside
    root = _world(
        tmp_path,
        {
            "web_events": {
                "format": "events",
                "files": "web/*.csv",
                "timestamp_format": "%Y-%m-%d %H:%M:%S",
                "columns": {
                    "timestamp": "ts",
                    "event_name": "event",
                    "user": "visitor",
                    "customer": "customer_id",
                    "page": "url",
                    "source": "utm_source",
                    "medium": "utm_medium",
                    "product": "product",
                    "price": "price",
                    "transaction": "order_id",
                    "revenue": "revenue",
                },
                "event_names": {"page_view": ["pageview"], "view_item": ["product_view"]},
                "consent": {"unset": "grant", "basis": BASIS},
            }
        },
    )
    (_inbox(root, "web") / "log.csv").write_text("\n".join(rows) + "\n")
    report = _run(root, "2025-03-01", "2025-03-01", "2025-03-03")
    for name, run in report["runs"].items():
        assert run["success"], (name, run["failures"])
    assert report["metadata"]["raw/sessions"]["quarantined_rows"] == 1
    assert report["tables"]["governed.sessions"] == 150
    governed = pl.read_parquet(
        tmp_path / "data" / "lake" / "governed" / "sessions" / "**" / "*.parquet"
    )
    assert set(governed["event_name"]) == {
        "page_view",
        "view_item",
        "add_to_cart",
        "purchase",
        "scroll",
    }
    assert governed["page_path"].str.contains(r"\?").sum() == 0  # query strings dropped
    assert set(governed.filter(pl.col("traffic_source") == "google")["channel_group"]) == {"PPC"}
    assert governed["purchase_revenue"].sum() == pytest.approx(30 * 9.5)
    # Logged-in visitors (every other one) reach the user features through the web events.
    activity = pl.read_parquet(
        tmp_path / "data" / "lake" / "features" / "user_daily_activity" / "**" / "*.parquet"
    )
    assert activity["customer_key"].n_unique() == 15 and activity["purchases"].sum() == 15
    _no_simulated_table(report)


def test_the_templates_retailer_example_is_a_valid_declaration(tmp_path):
    """Uncommenting the template's example gives a declaration that loads: it tells the truth."""
    from retail_assets.lib.sources.world import TEMPLATE

    lines = TEMPLATE.splitlines()
    start = lines.index("# world: retailer")
    example = [line[2:] for line in lines[start:]]
    init_config(tmp_path)
    (tmp_path / "sources.yaml").write_text("\n".join(example) + "\n")
    world = load_world(tmp_path)
    assert world.retailer
    assert set(world.sources.declared()) == {
        "web_events",
        "app_events",
        "customers",
        "orders",
        "products",
        "stores",
        "reviews",
        "signals",
        "sales_history",
        "media_history",
    }


def test_erasure_removes_a_person_from_quarantined_rows_too(tmp_path):
    """A quarantined row keeps the file's values, so an erasure must find the person there."""
    from retail_assets.lib.governance.erasure import row_matches

    quarantine = pl.DataFrame(
        {
            "record": [
                '{"order_id":"1","customer_id":"17850","quantity":"x"}',
                '{"order_id":"2","customer_id":"178500","quantity":"y"}',
                '{"order_id":"3","email":"a.b+c@example.com"}',
            ]
        }
    )
    hits = quarantine.select(row_matches(quarantine.schema, [], ["17850"])).to_series()
    assert hits.to_list() == [True, False, False]  # the whole value, not a prefix of another
    hits = quarantine.select(row_matches(quarantine.schema, [], ["a.b+c@example.com"])).to_series()
    assert hits.to_list() == [False, False, True]


def test_models_need_the_sources_they_learn_from(tmp_path):
    """Search volumes without reviews: no sentiment model; the decisions keep the others."""
    import dagster as dg
    from conftest import make_platform

    from retail_assets.definitions import build_definitions

    signals = {
        "files": "s/*.csv",
        "kind": "search",
        "columns": {"date": "day", "category": "cat", "volume": "n"},
    }
    root = _world(tmp_path, {"orders": ORDERS_SPEC, "signals": signals})
    platform = make_platform(root / "data", config_dir=str(root / "config"), customers=1_000)
    graph = build_definitions(platform).resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert "ml/review_sentiment" not in keys and "ml/entity_sentiment" not in keys
    assert {"ml/forecast_models", "ml/customer_segments", "ml/model_decisions"} <= keys
    parents = graph.get(dg.AssetKey(["ml", "model_decisions"])).parent_keys
    assert {k.to_user_string() for k in parents} == {
        "ml/customer_segments",
        "ml/purchase_propensity",
        "ml/sales_direction_model",
    }


def test_reviews_without_ratings_or_labels_are_scored_by_the_lexicon(tmp_path):
    """No rating or label column: the lexicon gives raw sentiment and scores every review.

    (Customers are declared as ml/entity_sentiment, half of the sentiment step, needs them.)
    """
    root = _world(
        tmp_path,
        {
            "customers": {
                "files": "customers/*.csv",
                "columns": {"customer_id": "id", "email": "email", "analytics_consent": "consent"},
            },
            "products": {
                "files": "products/*.csv",
                "columns": {
                    "product_id": "sku",
                    "name": "name",
                    "category": "category",
                    "price": "price",
                },
            },
            "reviews": {
                "files": "reviews/*.csv",
                "columns": {"text": "review", "product": "sku", "date": "day"},
            },
        },
    )
    (_inbox(root, "customers") / "crm.csv").write_text(
        "id,email,consent\n500,a@example.com,true\n501,b@example.com,false\n"
    )
    (_inbox(root, "products") / "products.csv").write_text(
        "sku,name,category,price\n"
        + "".join(f"{100 + k},Kettle {k},kitchen,{20 + k}.5\n" for k in range(3))
    )
    texts = [
        "I love this kettle, it works great!",
        "Terrible quality, it broke after a day. Awful.",
        "The box arrived on Tuesday.",
        "Very disappointed, the lid leaks.",
        "Excellent value, my favourite.",
        "It is a kettle.",
    ]
    reviews = pl.DataFrame(
        {
            "review": texts * 3,
            "sku": [str(100 + i % 3) for i in range(18)],
            "day": [f"2020-10-0{1 + i % 3}" for i in range(18)],
        }
    )
    reviews.write_csv(_inbox(root, "reviews") / "reviews.csv")
    report = _run(root, "2020-10-01", "2020-10-01", "2020-10-03", "--models")
    for name, run in report["runs"].items():
        # Segments need orders or events (their own step fails with customers alone).
        assert set(run["failures"]) <= {"customer_segments"}, (name, run["failures"])
    meta = report["metadata"]["ml/review_sentiment"]
    assert meta["model_kind"] == "lexicon", meta
    assert "no labeled reviews" in meta["model_reason"]
    assert meta["labeled_rows"] == 0 and meta["lexicon_accuracy"] is None
    lake = root / "data" / "lake"
    raw = pl.read_parquet(lake / "raw" / "signals" / "**" / "*.parquet")
    assert raw["rating"].null_count() == 18
    by_text = dict(raw.select("text", "sentiment").unique().iter_rows())
    assert by_text[texts[0]] > 0.5 and by_text[texts[1]] < -0.5 and by_text[texts[2]] == 0
    scored = pl.read_parquet(lake / "ml" / "review_sentiment" / "**" / "*.parquet")
    assert scored.height == 18 and set(scored["label"]) == {"negative", "neutral", "positive"}
