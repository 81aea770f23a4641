"""Running jobs in this process: the runner, its run tags, failure messages, dead runs reaped."""

from __future__ import annotations

import os
import socket
import uuid

#: Without --verbose, Dagster's console logger prints nothing below CRITICAL: a failure is
#: printed by us, plainly, and the event log in DAGSTER_HOME keeps every event for the UI.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
#: Dagster's switch for one planned-materialization event per asset and range run.
PLANNED_EVENTS_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


def _user_error(error) -> str:
    """The message of the error our code raised, under Dagster's wrappers (retries, steps)."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    ours = [
        e
        for e in chain
        if not (e.cls_name or "").startswith(("Dagster", "RetryRequested"))
        and not e.message.startswith("Exceeded max_retries")
    ]
    picked = ours[0] if ours else chain[0]
    message = picked.message.strip()
    if picked.cls_name and not message.startswith(picked.cls_name):
        message = f"{picked.cls_name}: {message}"
    return message


def _run_failure(stage_name: str, result):
    """What failed in a finished run: each failed step and its message (or the run's)."""
    import dagster as dg

    from retail_assets.console import StageFailure

    steps: list[tuple[str, str]] = []
    for e in result.all_events:
        if e.is_step_failure and e.step_failure_data:
            data = e.step_failure_data
            user = data.user_failure_data
            message = (user.description if user and user.description else None) or (
                _user_error(data.error) if data.error else e.message or "failed"
            )
            steps.append((e.step_key or "", message.strip()))
    if not steps:
        steps = [
            ("", (e.message or "the run failed").strip())
            for e in result.all_events
            if e.event_type == dg.DagsterEventType.RUN_FAILURE
        ]
    return StageFailure(stage_name, steps or [("", "the run failed")], result.run_id)


class _Runner:
    """Runs jobs in this process on one instance; a stage follows each run's step events."""

    def __init__(self, defs, instance, *, verbose: bool) -> None:
        self.defs = defs
        self.instance = instance
        self.run_config = None if verbose else QUIET_RUN_CONFIG
        self.runs = 0

    def run(self, stage, job_name: str, *, tags=None, **kwargs):
        """Execute ``job_name`` as (part of) ``stage``; return its StageFailure or None."""
        from retail_assets.console import StageFailure

        job = self.defs.resolve_job_def(job_name)
        run_id = str(uuid.uuid4())
        tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), **(tags or {})}
        self.instance.add_event_listener(run_id, stage.listener(self.instance, run_id))
        self.runs += 1
        try:
            result = job.execute_in_process(
                run_config=self.run_config,
                instance=self.instance,
                raise_on_error=False,
                run_id=run_id,
                tags={SOURCE_TAG: "cli", **tags},
                **kwargs,
            )
        except Exception as exc:  # the run could not start: run config, storage, plan
            stage.failed = True
            known = self.instance.has_run(run_id)
            message = f"{type(exc).__name__}: {exc}"
            return StageFailure(stage.label, [("", message)], run_id if known else None)
        if result.success:
            return None
        stage.failed = True
        return _run_failure(stage.label, result)


#: Tags of the CLI's runs: where they came from, and the process that runs them.
SOURCE_TAG, PID_TAG, HOST_TAG = "retail_assets/source", "retail_assets/pid", "retail_assets/host"


def reap_dead_runs(instance) -> list[str]:
    """Fail the CLI's runs whose process is gone, and free the pool slots they held.

    A run executed in this process (not by the daemon) that was killed (SIGKILL, the memory
    killer, a crash) stays STARTED in the instance and keeps its steps' pool slots; the next
    run's steps would wait for those slots forever. ``dagster dev``'s run monitoring does this
    for the runs the daemon launched; this is the same for ours. Returns the run ids failed.
    """
    import dagster as dg

    reaped = []
    host = socket.gethostname()
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
            tags={SOURCE_TAG: "cli"},
        )
    )
    for run in runs:
        pid = run.tags.get(PID_TAG, "")
        if run.tags.get(HOST_TAG) != host or not pid.isdigit() or _alive(int(pid)):
            continue
        instance.report_run_failed(
            run, f"the retail-assets process that ran it (pid {pid}) is gone; marked failed"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
