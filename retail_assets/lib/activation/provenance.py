"""Where a plan came from: the code's git SHA, and checking a payload against its run's record.

A payload names the Dagster run that produced it, the data versions of its inputs and the
SHA-256 of its canonical body. :func:`check_against_record` compares those claims with what the
Dagster instance recorded; the ``retail-assets verify`` command fetches the record and calls it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from retail_assets.lib.activation import payload as plan

PACKAGE_DIR = Path(__file__).resolve().parents[2]


@cache
def git_sha() -> str | None:
    """The commit the code runs from: ``RETAIL_GIT_SHA``, else the checkout's HEAD, else None.

    An installed wheel has no ``.git``; deployments set ``RETAIL_GIT_SHA`` at build time.
    """
    env = os.environ.get("RETAIL_GIT_SHA", "").strip().lower()
    if env:
        return env
    try:
        out = subprocess.run(
            ["git", "-C", str(PACKAGE_DIR), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if len(sha) == 40 else None


@dataclass(frozen=True)
class RunRecord:
    """What the Dagster instance recorded for one materialization of the payload asset."""

    run_id: str
    partition: str | None
    data_version: str | None
    code_version: str | None
    #: Data version of each input as recorded by the materialization that the run consumed.
    input_data_versions: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying a payload: ``ok`` when nothing is wrong."""

    problems: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        """True when the payload matches its record."""
        return not self.problems


def check_against_record(payload: dict[str, Any], record: RunRecord | None) -> Verification:
    """Recompute the body hash and compare the payload's lineage with the run's record."""
    problems: list[str] = []
    notes: list[str] = []
    lineage = payload.get("lineage") or {}
    claimed = lineage.get("body_sha256")
    actual = plan.body_sha256(payload.get("body") or {})
    if claimed != actual:
        problems.append(
            f"body hash mismatch: the body hashes to {actual}, the lineage claims {claimed}"
        )
    if record is None:
        problems.append(
            f"no materialization of {lineage.get('asset_key')} by run "
            f"{lineage.get('dagster_run_id')} in this Dagster instance"
        )
        return Verification(problems, notes)
    if record.data_version != actual:
        problems.append(
            f"the run recorded data version {record.data_version}, the body hashes to {actual}"
        )
    if record.partition != lineage.get("partition_key"):
        problems.append(
            f"partition: payload says {lineage.get('partition_key')}, run recorded "
            f"{record.partition}"
        )
    if record.code_version != lineage.get("code_version"):
        problems.append(
            f"code version: payload says {lineage.get('code_version')}, run recorded "
            f"{record.code_version}"
        )
    claimed_inputs = lineage.get("input_data_versions") or {}
    for key in sorted(set(claimed_inputs) | set(record.input_data_versions)):
        got, want = claimed_inputs.get(key), record.input_data_versions.get(key)
        if got != want:
            problems.append(f"input {key}: payload says {got}, the run consumed {want}")
    current = git_sha()
    if lineage.get("git_sha") and current and current != lineage["git_sha"]:
        notes.append(
            f"made by commit {lineage['git_sha']}; this checkout is at {current} "
            "(rerun on that commit to reproduce the hash)"
        )
    return Verification(problems, notes)
