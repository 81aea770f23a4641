"""The definitions load, validate with Dagster's CLI, and match the checked-in snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from retail_assets.definitions import build_definitions

defs = build_definitions()

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
ROOT = Path(__file__).resolve().parents[1]


def _snapshot() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.path):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitioned": node.partitions_def is not None,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
            "kinds": sorted(node.kinds),
            "has_description": bool(node.description),
            "owners": list(node.owners),
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": {
            s.name: {
                "job": s.job_name,
                "cron": s.cron_schedule,
                "default_status": s.default_status.value,
            }
            for s in defs.get_repository_def().schedule_defs
        },
        "sensors": {
            s.name: {
                "jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
                "default_status": s.default_status.value,
            }
            for s in defs.get_repository_def().sensor_defs
        },
    }


def test_snapshot_of_asset_graph():
    current = _snapshot()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, "asset graph changed: rerun with UPDATE_SNAPSHOTS=1 if intended"


def test_every_asset_is_described_grouped_and_checked():
    snap = _snapshot()["assets"]
    assert set(g["group"] for g in snap.values()) == {
        "sources",
        "governance",
        "features",
        "forecasting",
        "models",
        "activation",
    }
    for name, a in snap.items():
        assert a["has_description"] and a["kinds"] and a["owners"], name
        assert "pandera_schema" in a["checks"], name
        assert "parquet_files" in a["checks"], name  # every table's files are verified
        if (
            a["group"] == "governance"
            and name != "governed/consent_audit"
            and not name.endswith("_audit")
        ):
            # Governed tables also warn when a consent rule drops (nearly) a whole day.
            assert a["checks"] == ["consent_coverage", "pandera_schema", "parquet_files"], name
        elif a["group"] != "features":
            assert a["checks"] == ["pandera_schema", "parquet_files"], name
        else:  # SQL models: the declared tests are checks too
            assert len(a["checks"]) > 2, name
    for schedule in (
        "daily_refresh",
        "feature_tables_refresh",
        "model_training_weekly",
        "model_monitoring_daily",
    ):
        status = _snapshot()["schedules"][schedule]["default_status"]
        assert status == dg.DefaultScheduleStatus.RUNNING.value, schedule
    sensor = _snapshot()["sensors"]["model_retraining_sensor"]
    assert sensor["default_status"] == dg.DefaultSensorStatus.RUNNING.value
    assert sensor["jobs"] == ["model_training"]


def test_dagster_definitions_validate(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr


def test_code_versions_are_stable_across_processes():
    key = dg.AssetKey(["features", "daily_sales_by_category"])
    here = defs.resolve_assets_def(key).code_versions_by_key[key]
    probe = (
        "import dagster as dg; from retail_assets.definitions import build_definitions; "
        "defs = build_definitions(); "
        "k = dg.AssetKey(['features', 'daily_sales_by_category']); "
        "print(defs.resolve_assets_def(k).code_versions_by_key[k])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.stdout.strip().splitlines()[-1] == here
