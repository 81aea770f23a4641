"""``retail-assets verify``: a DSP payload file checked against the run that made it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from retail_assets.cli.paths import _dagster_home


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a payload file against the Dagster instance's record of the run that made it."""
    import json

    import dagster as dg

    from retail_assets.defs.activation.keys import DSP_PAYLOAD
    from retail_assets.defs.activation.lineage import run_record
    from retail_assets.lib.activation import payload as plan
    from retail_assets.lib.activation.provenance import check_against_record

    path = Path(args.payload)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"FAIL {path}: not a readable JSON payload: {exc}", file=sys.stderr)
        return 1
    problems: list[str] = []
    try:
        plan.validate_plan(payload)
    except plan.PlanValidationError as exc:
        problems.extend(exc.problems)
    lineage = payload.get("lineage") or {}
    _dagster_home()
    with dg.DagsterInstance.get() as instance:
        record = run_record(
            instance, DSP_PAYLOAD, lineage.get("dagster_run_id", ""), lineage.get("partition_key")
        )
    outcome = check_against_record(payload, record)
    problems.extend(p for p in outcome.problems if p not in problems)
    for note in outcome.notes:
        print(f"note: {note}", file=sys.stderr)
    if problems:
        print(f"FAIL {path}:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(
        f"OK {path}: body sha256 {lineage.get('body_sha256')} matches run "
        f"{lineage.get('dagster_run_id')} (partition {lineage.get('partition_key')}) and its "
        f"{len(lineage.get('input_data_versions') or {})} input data versions"
    )
    return 0
