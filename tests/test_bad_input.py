"""A corrupted input fails its blocking check, stops downstream assets and changes nothing."""

from __future__ import annotations

import hashlib

import dagster as dg
import duckdb
import polars as pl

from retail_assets.lib.frames import content_hash

DAY = "2025-03-02"
FILES_CONFIG = {"ops": {"raw__sessions": {"config": {"source": "ga4"}}}}


def _digest(paths):
    """path -> (sha256 of the bytes, content hash of the rows without lineage columns)."""
    return {
        str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), content_hash(pl.read_parquet(p)))
        for p in paths
    }


def _lake_state(lake):
    files = sorted(lake.lake_root.rglob("*.parquet")) + sorted(lake.landing_root.rglob("*.parquet"))
    return _digest([f for f in files if "inbox" not in f.parts])


def _step_events(result, kind):
    return {e.step_key for e in result.all_events if e.event_type_value == kind}


def _drop_file(fresh, df):
    folder = fresh.lake.landing_root / "inbox" / "ga4"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"events_{DAY.replace('-', '')}.parquet"
    df.write_parquet(path)
    return path


def test_missing_column_fails_check_and_blocks_downstream(fresh):
    assert fresh.run(DAY).success
    before = _lake_state(fresh.lake)
    with duckdb.connect(str(fresh.lake.warehouse_path), read_only=True) as con:
        governed_before = con.execute("SELECT count(*) FROM governed.sessions").fetchone()[0]

    good = fresh.lake.read("raw", "sessions", [DAY], landing=True)
    bad = good.drop("privacy_info", "lineage_id", "processed_at")
    path = _drop_file(fresh, bad)
    result = fresh.run(DAY, run_config=FILES_CONFIG)
    assert not result.success

    evals = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    failed = [ev for ev in evals if not ev.passed]
    assert len(failed) == 1
    check = failed[0]
    assert check.asset_key == dg.AssetKey(["raw", "sessions"])
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["failed_columns"].value == ["privacy_info"]
    assert str(path) in check.metadata["source"].value
    assert check.metadata["rows_checked"].value == bad.height

    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["raw__sessions"]
    message = failures[0].step_failure_data.error.message
    assert "privacy_info" in message and str(path) in message and str(bad.height) in message
    # Nothing downstream of the failed check ran; assets that do not read it still did.
    succeeded = _step_events(result, "STEP_SUCCESS")
    downstream = {"governed_sessions"}
    assert not downstream & succeeded
    # The plan does not read web sessions (its history is the media spend), so it still ran.
    assert {
        "raw__signals",
        "raw__transactions",
        "features__daily_sales_by_category",
        "ml__sales_forecasts",
        "activation__dsp_payload",
    } <= succeeded

    # Every file downstream of the bad input is byte-for-byte what it was; the rest was
    # rewritten by assets that did run, with the same content (only lineage columns differ).
    after = _lake_state(fresh.lake)
    assert set(after) == set(before)
    guarded = (
        "/landing/raw/sessions/",
        "/governed/sessions/",
        "/governed/consent_audit/",
    )
    for path in before:
        if any(g in path for g in guarded):
            assert after[path] == before[path], path
        elif "/activation/dsp_delivery/" in path:
            continue  # its receipts say the plan was already delivered: new content, rightly
        else:
            assert after[path][1] == before[path][1], path
    assert any(after[p][0] != before[p][0] for p in before)  # the others really were rewritten
    with duckdb.connect(str(fresh.lake.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM governed.sessions").fetchone()[0] == (
            governed_before
        )


def test_bad_values_are_counted_and_masked(fresh):
    assert fresh.run(DAY, selection="raw/sessions").success
    good = fresh.lake.read("raw", "sessions", [DAY], landing=True).drop(
        "lineage_id", "processed_at"
    )
    row = pl.int_range(pl.len())
    info = pl.col("privacy_info")
    bad = good.with_columns(
        pl.struct(
            pl.when(row < 7)
            .then(pl.lit("maybe"))
            .otherwise(info.struct.field("analytics_storage"))
            .alias("analytics_storage"),
            info.struct.field("ads_storage"),
            info.struct.field("uses_transient_token"),
        ).alias("privacy_info"),
        pl.when(row < 3)
        .then(pl.lit("bad@example.com"))
        .otherwise("event_name")
        .alias("event_name"),
        # Distinct bad timestamps: identical rows would rightly be deduplicated on ingestion.
        pl.when(row < 5).then(-1 - row).otherwise("event_timestamp").alias("event_timestamp"),
    )
    before = _lake_state(fresh.lake)
    _drop_file(fresh, bad)
    result = fresh.run(DAY, selection="raw/sessions", run_config=FILES_CONFIG)
    assert not result.success
    check = next(
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    )
    md = check.metadata["failures"].value
    assert "consent_values" in md and "| 7 |" in md
    assert "| event_timestamp |" in md and "| 5 |" in md
    assert "| event_name |" in md and "| 3 |" in md
    assert "bad@example.com" not in md  # examples are masked
    assert _lake_state(fresh.lake) == before


def test_missing_key_outside_demo_profile_stops_governance(tmp_path):
    from conftest import Pipeline

    prod = Pipeline(tmp_path, profile="production")
    result = prod.run(DAY)
    assert not result.success
    failures = {
        e.step_key: e.step_failure_data.error.message
        for e in result.all_events
        if e.is_step_failure
    }
    # Every asset that pseudonymizes stops; the raw data was written, nothing governed was.
    assert set(failures) == {"governed_sessions", "governed__app_events"}
    for message in failures.values():
        assert "RETAIL_PSEUDONYMIZATION_KEY is not set" in message
    reference = {
        e.step_key: e.step_failure_data.error.message
        for e in prod.reference_result.all_events
        if e.is_step_failure
    }
    assert list(reference) == ["governed__customers"]
    assert "RETAIL_PSEUDONYMIZATION_KEY is not set" in reference["governed__customers"]
    assert prod.lake.partition_files("raw", "customers", landing=True)
    assert not prod.lake.partition_files("governed", "customers")
    assert not prod.lake.partition_files("governed", "app_events")
    assert not prod.lake.partition_files("governed", "sessions")
    # The plan reads no personal data, so it does not need the key.
    assert prod.lake.partition_files("activation", "dsp_payload")
