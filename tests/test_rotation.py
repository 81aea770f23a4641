"""Rotation of the pseudonymization key: old partitions join new ones after ``key_rotation``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import polars as pl
from conftest import Pipeline

from retail_assets.defs.governance import rotation as rotation_defs
from retail_assets.lib.governance.pseudonyms import KeyRing
from retail_assets.lib.governance.rotation import SUPPRESSION_TABLE, rotate
from retail_assets.lib.governance.suppression import (
    append_suppression,
    pseudonym_digest,
    read_suppression,
)
from retail_assets.lib.warehouse.lake import Lake

DAY1, DAY2, DAY3 = "2025-03-01", "2025-03-02", "2025-03-03"
KEY_A, KEY_B = "a" * 40, "b" * 40
GOVERNED = ("customers", "sessions", "app_events")


def fingerprints(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (hidden lock files and catalog excluded)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def run_rotation(pipeline: Pipeline, dry_run: bool = False) -> dg.ExecuteInProcessResult:
    result = rotation_defs.key_rotation_job.execute_in_process(
        run_config={"ops": {"rotate_pseudonymization_key": {"config": {"dry_run": dry_run}}}},
        resources={"platform": pipeline.platform},
        instance=pipeline.instance,
        raise_on_error=False,
    )
    assert result.success
    return result


def governed(lake: Lake, table: str) -> pl.DataFrame:
    return lake.read("governed", table)


def test_key_rotation_keeps_old_partitions_joinable(tmp_path):
    old = Pipeline(tmp_path, customers=500, pseudonymization_key=KEY_A, key_id="ka")
    for day in (DAY1, DAY2):
        assert old.run(day).success, f"partition {day} failed"
    lake = old.lake
    day1_keys_a = set(
        lake.read("features", "user_daily_activity", [DAY1])["customer_key"].drop_nulls()
    )
    assert day1_keys_a

    new = Pipeline(
        tmp_path,
        customers=500,
        pseudonymization_key=KEY_B,
        key_id="kb",
        previous_keys=f"ka={KEY_A}",
    )
    before = fingerprints(lake.lake_root)
    run_rotation(new, dry_run=True)
    assert fingerprints(lake.lake_root) == before, "a dry run wrote to the lake"

    run_rotation(new)
    after = fingerprints(lake.lake_root)
    changed = {f for f in before if before[f] != after.get(f)}
    assert "governed/sessions/date=2025-03-01/data.parquet" in changed
    assert "features/user_daily_activity/date=2025-03-01/data.parquet" in changed
    assert not any(f.startswith("models/") for f in changed)
    # Files without pseudonyms are left byte for byte.
    assert "raw/product_catalog/data.parquet" not in changed
    for table in GOVERNED:
        frame = governed(lake, table)
        assert frame.height and set(frame["key_id"]) == {"kb"}, table

    ring = new.platform.key_ring()
    day1_keys_b = set(
        lake.read("features", "user_daily_activity", [DAY1])["customer_key"].drop_nulls()
    )
    assert day1_keys_b.isdisjoint(day1_keys_a)
    assert len(day1_keys_b) == len(day1_keys_a)
    raw = lake.read("raw", "customers", None, landing=True, columns=["customer_id"])
    assert day1_keys_b <= {ring.current.hash_one(c) for c in raw["customer_id"]}

    # A second rotation changes nothing.
    run_rotation(new)
    assert fingerprints(lake.lake_root) == after

    # New data under kb joins the rotated partitions.
    assert new.run(DAY3).success  # reference_data first, then the day
    for table in GOVERNED:
        assert set(governed(lake, table)["key_id"]) == {"kb"}, table
    customers = governed(lake, "customers")
    sessions = governed(lake, "sessions").filter(pl.col("customer_key").is_not_null())
    assert set(sessions["event_date"].dt.to_string("%Y-%m-%d")) == {DAY1, DAY2, DAY3}
    orphans = sessions.join(customers, on="customer_key", how="anti")
    assert orphans.is_empty(), f"{orphans.height} session row(s) join no customer"
    day3_keys = set(
        lake.read("features", "user_daily_activity", [DAY3])["customer_key"].drop_nulls()
    )
    assert day1_keys_b & day3_keys
    assert not day1_keys_a & day3_keys


def _lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake", tmp_path / "landing", tmp_path / "w.duckdb")


def test_rotation_counts_what_it_cannot_translate_and_suppresses_under_the_new_key(tmp_path):
    lake = _lake(tmp_path)
    ring_a = KeyRing.of("ka", KEY_A)
    ring = KeyRing.of("kb", KEY_B, {"ka": KEY_A})
    a, b = ring_a.current, ring.current
    lake.write_partition(
        pl.DataFrame({"customer_id": ["C1", "C2"], "user_pseudo_id": ["u1", None]}),
        "raw",
        "customers",
        None,
        landing=True,
    )
    # C9 and u9 are gone from the landing area (past retention).
    lake.write_partition(
        pl.DataFrame(
            {
                "customer_key": [a.hash_one("C1"), a.hash_one("C9"), b.hash_one("C2"), None],
                "user_key": [a.hash_one("u1"), a.hash_one("u9"), None, a.hash_one("u1")],
                "key_id": ["ka", "ka", "kb", "ka"],
                "n": [1, 2, 3, 4],
            }
        ),
        "governed",
        "sessions",
        DAY1,
    )
    lake.write_partition(
        pl.DataFrame(
            {
                "order_owner": [a.hash_one("C1"), "not-a-key"],
                "customer_key": [a.hash_one("C2"), a.hash_one("C9")],
            }
        ),
        "features",
        "orders",
        DAY1,
    )
    lake.write_partition(pl.DataFrame({"x": [1]}), "features", "plain", DAY1)
    append_suppression(lake, {a.hash_one("C2"): "ka", a.hash_one("C9"): "ka"}, "REQ-1")
    before = fingerprints(lake.lake_root)

    dry = rotate(lake, ring, dry_run=True)
    assert fingerprints(lake.lake_root) == before
    assert dry.rows_translated == 4 and dry.files_rewritten == 3

    report = rotate(lake, ring)
    sessions = lake.read("governed", "sessions", [DAY1]).sort("n")
    assert sessions["key_id"].to_list() == ["kb", "ka", "kb", "kb"]
    assert sessions["customer_key"].to_list() == [
        b.hash_one("C1"),
        a.hash_one("C9"),  # untranslated: kept under ka, with its old key_id
        b.hash_one("C2"),
        None,
    ]
    assert sessions["user_key"].to_list()[::3] == [b.hash_one("u1"), b.hash_one("u1")]
    stats = report.tables["governed.sessions"]
    assert (stats.rows_translated, stats.untranslated_rows) == (2, 1)
    assert stats.untranslated_pseudonyms == 2
    orders = lake.read("features", "orders", [DAY1])
    assert orders["order_owner"].to_list() == [b.hash_one("C1"), "not-a-key"]
    assert orders["customer_key"].to_list() == [b.hash_one("C2"), a.hash_one("C9")]
    assert report.tables["features.orders"].unknown_pseudonyms == 1
    assert report.tables["features.plain"].files_rewritten == 0
    suppression = read_suppression(lake)
    assert pseudonym_digest(b.hash_one("C2")) in set(suppression["pseudonym_sha256"])
    assert suppression.height == 3
    supp = report.tables[SUPPRESSION_TABLE]
    assert (supp.rows_translated, supp.untranslated_rows) == (1, 1)
    assert set(report.incomplete()) == {"governed.sessions", "features.orders", SUPPRESSION_TABLE}
    assert KEY_A not in repr(report) and a.hash_one("C9") not in str(report.to_record())

    after = fingerprints(lake.lake_root)
    again = rotate(lake, ring)
    assert fingerprints(lake.lake_root) == after
    assert again.rows_translated == 0 and again.files_rewritten == 0
    assert again.untranslated_rows == report.untranslated_rows


def test_rotation_without_previous_keys_is_a_no_op(tmp_path):
    lake = _lake(tmp_path)
    frame = pl.DataFrame({"customer_key": ["0" * 64], "key_id": ["ka"]})
    lake.write_partition(frame, "governed", "sessions", DAY1)
    before = fingerprints(lake.lake_root)
    report = rotate(lake, KeyRing.of("ka", KEY_A))
    assert report.rows_translated == 0 and not report.tables
    assert fingerprints(lake.lake_root) == before
