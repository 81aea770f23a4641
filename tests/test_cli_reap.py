"""A killed ``retail-assets materialize`` does not leave the next one waiting forever."""

import os
import socket
import subprocess

import dagster as dg

from retail_assets.cli.runner import HOST_TAG, PID_TAG, SOURCE_TAG, reap_dead_runs
from retail_assets.instance import ensure_dagster_home


@dg.asset
def thing() -> None:
    return None


def _started_run(instance, pid: int) -> str:
    job = dg.define_asset_job("j", selection=[thing])
    defs = dg.Definitions(assets=[thing], jobs=[job])
    run = instance.create_run_for_job(
        job_def=defs.resolve_job_def("j"),
        tags={SOURCE_TAG: "cli", PID_TAG: str(pid), HOST_TAG: socket.gethostname()},
    )
    instance.report_dagster_event(
        dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value, job_name="j"),
        run_id=run.run_id,
    )
    # The run's step holds a slot of a pool, as a killed run's step does.
    instance.event_log_storage.claim_concurrency_slot("retail_compute", run.run_id, "step")
    return run.run_id


def test_runs_of_a_dead_process_are_failed_and_their_slots_freed(tmp_path):
    home = ensure_dagster_home(tmp_path / "home", set_env=False)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.set_concurrency_slots("retail_compute", 2)
        gone = subprocess.Popen(["true"])
        gone.wait()
        dead = _started_run(instance, gone.pid)
        alive = _started_run(instance, os.getpid())  # this process: still running
        info = instance.event_log_storage.get_concurrency_info("retail_compute")
        assert len(info.claimed_slots) == 2

        assert reap_dead_runs(instance) == [dead]

        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == dg.DagsterRunStatus.STARTED
        info = instance.event_log_storage.get_concurrency_info("retail_compute")
        assert [s.run_id for s in info.claimed_slots] == [alive]
        assert reap_dead_runs(instance) == []  # nothing left to do
