"""Plain-Python pieces of lib/, tested without Dagster."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from retail_assets.lib.activation import payload as plan
from retail_assets.lib.activation.allocation.money import split_micros
from retail_assets.lib.config import ConfigError, load_simulation_config
from retail_assets.lib.governance.privacy import govern_sessions
from retail_assets.lib.governance.pseudonyms import Pseudonymizer
from retail_assets.lib.governance.redaction import page_path
from retail_assets.lib.settings import Settings, SettingsError
from retail_assets.lib.warehouse.schemas import mask_pii, validate

# ----------------------------------------------------------------- settings


def test_settings_defaults_and_env():
    s = Settings.from_env({})
    assert s.warehouse_path == Path("data/warehouse.duckdb") and s.seed == 42
    s = Settings.from_env(
        {"RETAIL_DATA_DIR": "/x", "RETAIL_SEED": "7", "RETAIL_START_DATE": "2024-02-01"}
    )
    assert s.lake_root == Path("/x/lake") and s.seed == 7 and s.start_date == dt.date(2024, 2, 1)
    with pytest.raises(SettingsError, match="RETAIL_SEED"):
        Settings.from_env({"RETAIL_SEED": "seven"})
    assert Settings.from_env({}).forecast_selection_margin == 0.05
    margin = {"RETAIL_FORECAST_SELECTION_MARGIN": "0.1"}
    assert Settings.from_env(margin).forecast_selection_margin == 0.1
    for bad in ("ten", "0.7", "-0.1"):
        with pytest.raises(SettingsError, match="RETAIL_FORECAST_SELECTION_MARGIN"):
            Settings.from_env({"RETAIL_FORECAST_SELECTION_MARGIN": bad})


def test_key_required_outside_demo_profile():
    key, demo = Settings.from_env({}).resolved_key()
    assert demo and key
    with pytest.raises(SettingsError, match="RETAIL_PSEUDONYMIZATION_KEY is not set"):
        Settings.from_env({"RETAIL_PROFILE": "production"}).resolved_key()
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env({"RETAIL_PSEUDONYMIZATION_KEY": "short"}).resolved_key()
    key, demo = Settings.from_env(
        {"RETAIL_PROFILE": "production", "RETAIL_PSEUDONYMIZATION_KEY": "k" * 40}
    ).resolved_key()
    assert key == "k" * 40 and not demo


# ----------------------------------------------------------------- privacy


def test_hmac_is_keyed_deterministic_and_not_plain_sha256():
    a, b = Pseudonymizer("a" * 32, "k1"), Pseudonymizer("b" * 32, "k2")
    v = "john_smith@gmail.com"
    assert a.hash_one(v) == a.hash_one(" " + v + " ")
    assert a.hash_one(v) != b.hash_one(v)
    assert a.hash_one(v) != hashlib.sha256(v.encode()).hexdigest()
    s = a.hash_series(pl.Series(["x", None, "x"]))
    assert s[0] == s[2] == a.hash_one("x") and s[1] is None


def test_consent_rules_and_reconciliation():
    raw = pl.DataFrame(
        {
            "event_date": ["20250301"] * 5,
            "event_timestamp": [1, 2, 3, 4, 5],
            "event_name": ["page_view"] * 5,
            "user_pseudo_id": ["u1", None, "u3", "u4", None],
            "user_id": [None] * 5,
            "ga_session_id": [1, None, 3, 4, 5],
            "ga_session_number": [1] * 5,
            "page_location": ["https://s.com/a?email=x@y.com"] * 5,
            "analytics_storage": ["Yes", "No", "Unset", None, "Yes"],
            "ads_storage": ["Yes"] * 5,
            "traffic_source": ["google"] * 5,
            "traffic_medium": ["cpc"] * 5,
            "device_category": ["mobile"] * 5,
            "geo_country": ["US"] * 5,
            "geo_city": ["Austin"] * 5,
            "item_id": [None] * 5,
            "category": [None] * 5,
            "item_quantity": [None] * 5,
            "purchase_revenue": [None] * 5,
            "transaction_id": [None] * 5,
            "default_channel_group": ["Paid Search"] * 5,
            "channel_group": ["PPC"] * 5,
        },
        schema_overrides={
            "user_id": pl.Utf8,
            "item_id": pl.Utf8,
            "category": pl.Utf8,
            "item_quantity": pl.Int64,
            "purchase_revenue": pl.Float64,
            "transaction_id": pl.Utf8,
        },
    )
    governed, counts = govern_sessions(raw, Pseudonymizer("k" * 32, "k1"))
    assert counts == {
        "rows_in": 5,
        "rows_kept": 1,
        "dropped_analytics_denied": 1,
        "dropped_analytics_unset": 2,
        "dropped_missing_user_pseudo_id": 1,
        "dropped_erased": 0,
        "kept_without_signal": 0,
    }
    assert governed["page_path"].to_list() == ["/a"]
    # A declared grant policy keeps the rows with no signal ('Unset', NULL), counted apart.
    granted, counts = govern_sessions(raw, Pseudonymizer("k" * 32, "k1"), unset="grant")
    assert counts["dropped_analytics_unset"] == 0 and counts["dropped_analytics_denied"] == 1
    assert counts["kept_without_signal"] == counts["rows_kept"] - 1
    assert set(granted["analytics_storage"]) <= {"Yes", "Unset"}
    assert page_path("https://s.com/u/a@b.com/x") == "/"


# ----------------------------------------------------------------- allocation


def test_split_micros_largest_remainder_is_exact():
    parts = split_micros(1_000_000, np.array([1.0, 1.0, 1.0]), 10_000)
    assert parts == [340_000, 330_000, 330_000] and sum(parts) == 1_000_000
    assert split_micros(5_000_000, np.array([1.0, 3.0]), 1_000_000) == [1_000_000, 4_000_000]


# ----------------------------------------------------------------- payload


def test_payload_hash_is_canonical_and_detects_tampering():
    body = {"b": [1, 2], "a": {"y": "1", "x": 2.5}}
    p = plan.build_payload(body, {"dagster_run_id": "r1"})
    assert plan.verify_payload(p)
    assert plan.body_sha256({"a": {"x": 2.5, "y": "1"}, "b": [1, 2]}) == p["lineage"]["body_sha256"]
    p["body"]["a"]["y"] = "2"
    assert not plan.verify_payload(p)
    assert plan.plan_id("acme", "2025-03-01") == plan.plan_id("acme", "2025-03-01")


# ----------------------------------------------------------------- schemas


def test_validation_report_names_columns_and_masks_pii():
    df = pl.DataFrame(
        {"day": [dt.date(2025, 1, 1)], "series_id": ["A"], "value": [-1.0], "note": ["x"]}
    )
    report = validate("raw.sales_history", df, source="x.csv")
    assert not report.passed
    cols = report.failed_columns
    assert {"day", "date", "value", "lineage_id"} <= set(cols)
    assert "x.csv" in report.message() and "1 of 1 rows" in report.message()
    assert mask_pii("mail a.b@c.com or +1 555 0100 200 from 10.1.2.3") == "mail *** or *** from ***"
    # Dates and decimals are what error messages show; they are not phone numbers.
    kept = "on 2025-03-01 and 2025-03-02 10:00:00 smape 200.00000000000003"
    assert mask_pii(kept) == kept
    assert mask_pii("2025-03-01: call 0044 20 7946 0958") == "2025-03-01: call ***"


# ----------------------------------------------------------------- simulator


def test_bad_config_names_file_and_field(tmp_path):
    text = (
        Path(__file__).resolve().parents[1] / "retail_assets" / "config" / "simulation.yaml"
    ).read_text()
    (tmp_path / "simulation.yaml").write_text(text.replace("stores: 12", "stores: -3"))
    with pytest.raises(ConfigError, match=r"simulation.yaml: stores"):
        load_simulation_config(tmp_path)


def test_duckdb_memory_limit_setting_and_default(tmp_path):
    assert Settings.from_env({"RETAIL_DUCKDB_MEMORY_LIMIT": "8GB"}).duckdb_memory_limit == "8GB"
    with pytest.raises(SettingsError, match="RETAIL_DUCKDB_MEMORY_LIMIT"):
        Settings.from_env({"RETAIL_DUCKDB_MEMORY_LIMIT": "lots"})
    from retail_assets.lib.warehouse.lake import Lake

    lake = Lake(tmp_path / "lake", tmp_path / "landing", tmp_path / "w.duckdb", memory_limit="1GB")
    with lake.compute_connection([]) as con:
        limit, temp = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchone()
    assert limit in ("953.6 MiB", "1.0 GB", "1000.0 MB") and temp.endswith(".duckdb_tmp")
    assert Lake(tmp_path, tmp_path, tmp_path / "w").memory_limit.endswith("MiB")
