"""Shared fixtures: a platform in a temp folder and a helper to run the real job on it."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from retail_assets.definitions import build_definitions
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.warehouse.lake import Lake

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: A complete, valid DSP plan (four line items, every channel and goal) for payload tests.
DSP_PLAN_EXAMPLE = Path(__file__).parent / "fixtures" / "dsp_plan_example.json"
DAYS = ["2025-03-01", "2025-03-02", "2025-03-03"]


def make_platform(root: Path, **overrides) -> RetailPlatform:
    return RetailPlatform(
        lake_root=str(root / "lake"),
        landing_root=str(root / "landing"),
        warehouse_path=str(root / "warehouse.duckdb"),
        customers=overrides.pop("customers", 5_000),
        **overrides,
    )


def example_plan() -> dict:
    """A fresh copy of the example plan."""
    return json.loads(DSP_PLAN_EXAMPLE.read_text())


def restamp(plan: dict) -> dict:
    """Re-hash after an edit, so only the rule under test fails (not the hash check)."""
    from retail_assets.lib.activation.payload import body_sha256

    plan["lineage"]["body_sha256"] = body_sha256(plan["body"])
    return plan


class Pipeline:
    """The real definitions bound to a temp warehouse, run in-process."""

    def __init__(self, root: Path, **overrides):
        self.root = root
        self.platform = make_platform(root, **overrides)
        self.defs = build_definitions(self.platform)
        self.instance = dg.DagsterInstance.ephemeral()
        self.lake: Lake = self.platform.lake()
        self.reference_result = None

    def reference(self):
        """Run the ``reference_data`` job (customers, catalog, calendar) and return its result."""
        job = self.defs.resolve_job_def("reference_data")
        self.reference_result = job.execute_in_process(instance=self.instance, raise_on_error=False)
        return self.reference_result

    def tables(self):
        """Run the ``feature_tables`` job (whole-table and view SQL models), as the CLI does."""
        job = self.defs.resolve_job_def("feature_tables")
        return job.execute_in_process(instance=self.instance, raise_on_error=False)

    def run_range(self, first: str, last: str, selection: str | None = None, run_config=None):
        """Run ``all_assets`` (or ``selection``) over the days ``first..last`` in one run.

        As a single-run backfill does: the run is tagged with the range, and every daily
        asset covers all of its days in one step.
        """
        tags = {
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        }
        return self._all_assets(selection, run_config, tags=tags)

    def run(self, partition: str, selection: str | None = None, run_config=None):
        """Run ``all_assets`` (or ``selection``) for one partition.

        A whole-graph run builds the reference data first, once, as ``retail-assets
        materialize`` does; a run of selected assets does not.
        """
        return self._all_assets(selection, run_config, partition_key=partition)

    def _all_assets(self, selection: str | None, run_config, **kwargs):
        if selection is None and self.reference_result is None:
            self.reference()
        if selection:
            kwargs["asset_selection"] = [
                dg.AssetKey.from_user_string(s) for s in selection.split(",")
            ]
        return self.defs.resolve_job_def("all_assets").execute_in_process(
            instance=self.instance, raise_on_error=False, run_config=run_config, **kwargs
        )


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> Pipeline:
    """The whole graph materialized for three daily partitions (shared, read-only use)."""
    p = Pipeline(tmp_path_factory.mktemp("warehouse"))
    for day in DAYS:
        result = p.run(day)
        assert result.success, f"partition {day} failed"
    assert p.tables().success, "feature_tables failed"
    return p


@pytest.fixture
def fresh(tmp_path) -> Pipeline:
    """An empty warehouse of its own, for tests that change things."""
    return Pipeline(tmp_path)
