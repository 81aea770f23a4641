"""Run assets for one partition in this process, on the instance in ``DAGSTER_HOME`` and the
platform the ``RETAIL_*`` environment describes; exit 0 on success, 1 on failure.

    python tests/run_partition.py 2025-03-01 raw/transactions[,other/key] [--reference]

For tests that must kill, starve or lock a real run from outside (tests/test_faults.py).
"""

import sys

import dagster as dg

from retail_assets.definitions import build_definitions

defs = build_definitions()


def main(argv: list[str]) -> int:
    partition, selection = argv[0], argv[1]
    instance = dg.DagsterInstance.get()
    if "--reference" in argv:
        ref = defs.resolve_job_def("reference_data").execute_in_process(instance=instance)
        print(f"reference run {ref.run_id}", flush=True)
    result = defs.resolve_job_def("all_assets").execute_in_process(
        partition_key=partition,
        instance=instance,
        asset_selection=[dg.AssetKey.from_user_string(s) for s in selection.split(",")],
        raise_on_error=False,
    )
    print(f"run {result.run_id} success={result.success}", flush=True)
    for event in result.all_events:
        if event.is_step_failure:
            print(f"STEP FAILURE {event.step_key}: {event.event_specific_data.error.message}")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
