"""Concurrency that holds (issue 9), against a real ``dagster dev`` driven through GraphQL.

A backfill of 10 daily partitions runs as concurrent runs (the packaged ``dagster.yaml``: up to
3 in progress) while another process opens the warehouse read-only and queries it every
second. Every run must succeed, every reader query be answered, and every table hold exactly
the rows its partitions were written with. The driver is ``benchmarks/concurrency.py``, which
runs the same scenario on 90 partitions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import concurrency  # noqa: E402

DAYS = 10


@pytest.mark.timeout(1200)
def test_backfill_with_concurrent_runs_and_a_reader(tmp_path: Path) -> None:
    metrics = concurrency.run_scenario(tmp_path, DAYS, customers=1_000, timeout=900)
    details = metrics.pop("details")
    explain = json.dumps({**metrics, **details}, indent=1)
    print(json.dumps(metrics))  # the figures, with pytest -s or -rP

    assert metrics["failed_runs"] == 0, explain
    # Backfill policies: the Python assets one day per run, all seven of a day in one run; the
    # SQL model (31 days per run) once per batch of days whose parents were done.
    assert metrics["one_day_runs"] == DAYS, explain
    assert 1 <= metrics["sql_model_runs"] <= DAYS, explain
    assert metrics["oversized_runs"] == 0, explain
    assert metrics["runs"] == metrics["one_day_runs"] + metrics["sql_model_runs"], explain
    assert metrics["max_concurrent_runs"] >= 2, explain
    assert metrics["reader_queries"] > 0, explain
    assert metrics["reader_failures"] == 0, explain
    assert metrics["missing_partitions"] == 0, explain
    assert metrics["duplicate_rows"] == 0, explain
    assert metrics["lost_rows"] == 0, explain
    assert metrics["row_count_mismatches"] == 0, explain
    assert metrics["rows_checked"] > 0, explain
