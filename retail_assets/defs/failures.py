"""Every failed run says what to do: the ``run_failure_advice`` sensor tags it.

The tag ``retail/what_to_do`` appears on the run in the UI's run list and run page; the same
advice is logged by the sensor. The advice comes from ``lib/advice.py``.
"""

import dagster as dg

from retail_assets.lib.advice import what_to_do

ADVICE_TAG = "retail/what_to_do"


def failure_texts(context: dg.RunFailureSensorContext) -> list[str]:
    """The error messages of the failed steps, else of the run's own failure."""
    texts = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            texts.append(error.message)
            error = error.cause
    if not texts:
        texts.append(context.failure_event.message or "")
        data = context.failure_event.event_specific_data
        error = getattr(data, "error", None)
        if error is not None:
            texts.append(error.message)
    return texts


@dg.run_failure_sensor(
    name="run_failure_advice",
    description="Tags every failed run with what to do next (retail/what_to_do).",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def run_failure_advice(context: dg.RunFailureSensorContext):
    """Tag the failed run with the advice for its errors."""
    advice = what_to_do(failure_texts(context))
    context.instance.add_run_tags(context.dagster_run.run_id, {ADVICE_TAG: advice})
    context.log.info(f"run {context.dagster_run.run_id} failed; what to do: {advice}")


defs = dg.Definitions(sensors=[run_failure_advice])
