"""Every failed run is tagged with what to do (the run_failure_advice sensor)."""

import dagster as dg
import pytest

from retail_assets.defs.failures import ADVICE_TAG, run_failure_advice
from retail_assets.lib.advice import DEFAULT, what_to_do


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("writing /d/data.parquet failed: no space left on the disk (0.0 MiB free)", "Free disk"),
        ("the data folder is not writable (Read-only file system)", "writable"),
        ("corrupted Parquet file /d/x.parquet (10 bytes): ...", "Re-materialize the partition"),
        ("events.csv: column 'price': 2 of 3 rows are negative prices", "Fix the input"),
        ("no data yet for raw.transactions: materialize the upstream", "upstream assets"),
        ("RETAIL_PSEUDONYMIZATION_KEY must be at least 32 characters", "environment variable"),
        ("delivery of the 2025-03-01 plan failed: HTTP 503", "idempotency key"),
        ("Run worker failed: process exited unexpectedly", "process died"),
        ("ZeroDivisionError: division by zero", DEFAULT[:40]),
    ],
)
def test_each_kind_of_failure_gets_its_advice(error, expected):
    assert expected in what_to_do([error])


def test_a_failed_run_is_tagged_with_what_to_do():
    @dg.asset
    def needs_upstream():
        raise dg.Failure("no data yet for raw.transactions: materialize the upstream asset(s)")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([needs_upstream], instance=instance, raise_on_error=False)
    assert not result.success
    (record,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    failure = record.dagster_event
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_advice",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    run_failure_advice(context)
    tags = instance.get_run_by_id(result.run_id).tags
    assert "upstream assets" in tags[ADVICE_TAG]
