"""Concurrency that holds (issues 9 and 18), against a real ``dagster dev`` driven through GraphQL.

A backfill of 10 daily partitions, launched the way the UI's asset graph launches it (an asset
backfill over asset keys with a partition list, so the assets' backfill policies apply), runs
as ONE run per policy batch (every daily asset but activation takes a range in one step),
while another process opens the warehouse read-only and queries it every second. The run
must succeed, every reader query be answered, and every table hold exactly the rows Dagster's
metadata reports, day by day as the lake's footers count them. The driver is
``benchmarks/concurrency.py``, which runs the same scenario on 90 partitions.

The nightly schedule still runs yesterday alone: one partition, not a range.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path

import dagster as dg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import concurrency  # noqa: E402

from retail_assets.lib.settings import Settings  # noqa: E402

DAYS = 10


@pytest.mark.timeout(1200)
def test_ui_backfill_is_one_run_per_policy_batch_while_a_reader_queries(tmp_path: Path) -> None:
    metrics = concurrency.run_scenario(tmp_path, DAYS, customers=1_000, timeout=900)
    details = metrics.pop("details")
    explain = json.dumps({**metrics, **details}, indent=1)
    print(json.dumps(metrics))  # the figures, with pytest -s or -rP

    assert metrics["failed_runs"] == 0, explain
    # Single-run backfill policies: the whole selection over the whole range in one run
    # (RETAIL_BACKFILL_MAX_DAYS, if set, makes more batches, and as many runs).
    max_days = Settings.from_env().backfill_max_days or DAYS
    assert metrics["policy_batches"] == math.ceil(DAYS / max_days), explain
    assert metrics["runs"] == metrics["policy_batches"], explain
    assert metrics["oversized_runs"] == 0, explain
    assert metrics["range_runs"] == metrics["runs"], explain  # no run of a single day
    assert metrics["reader_queries"] > 0, explain
    assert metrics["reader_failures"] == 0, explain
    assert metrics["missing_partitions"] == 0, explain
    assert metrics["duplicate_materializations"] == 0, explain
    assert metrics["duplicate_rows"] == 0, explain
    assert metrics["lost_rows"] == 0, explain
    assert metrics["row_count_mismatches"] == 0, explain
    assert metrics["partition_count_mismatches"] == 0, explain
    assert metrics["reconciliation_problems"] == 0, explain
    assert metrics["rows_checked"] > 0, explain
    # Every table was counted from range metadata checked day by day against the lake.
    for key, table in details["tables"].items():
        assert table["runs"] and all("rows_written" in r for r in table["runs"].values()), key


def test_the_nightly_schedule_runs_yesterday_alone(fresh) -> None:
    """``daily_refresh`` asks for one run of one partition, yesterday; that run writes it alone."""
    schedule = fresh.defs.resolve_schedule_def("daily_refresh")
    today = dt.datetime.now(dt.UTC).date()
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    tick = dt.datetime.combine(today, dt.time(2), tzinfo=dt.UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        result = schedule.evaluate_tick(context)
    (request,) = result.run_requests
    assert request.job_name in (None, "all_assets")
    assert request.partition_key == yesterday
    assert request.tags["dagster/partition"] == yesterday
    assert request.partition_key_range is None
    assert "dagster/asset_partition_range_start" not in request.tags

    # The run it requests writes that one day, even though the assets take ranges.
    run = fresh.defs.resolve_job_def("all_assets").execute_in_process(
        partition_key=request.partition_key,
        tags=request.tags,
        asset_selection=[dg.AssetKey(["raw", "signals"])],
        instance=fresh.instance,
        raise_on_error=False,
    )
    assert run.success
    (mat,) = run.asset_materializations_for_node("raw__signals")
    assert mat.partition == yesterday
    assert "dagster/partition_row_count" in mat.metadata  # a one-day run's own count
    assert [p.parent.name for p in fresh.lake.partition_files("raw", "signals")] == [
        f"date={yesterday}"
    ]
