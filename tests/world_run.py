"""Materialize a retailer's world in a fresh process and print what happened as JSON.

    python tests/world_run.py FIRST LAST [--models] [--series]

The world comes from the ``RETAIL_*`` environment (``RETAIL_CONFIG_DIR`` with its
``sources.yaml``, ``RETAIL_DATA_DIR``, ``RETAIL_START_DATE``): a process of its own, because
the daily partitions start where ``RETAIL_START_DATE`` says when the definitions are imported.
Runs as ``retail-assets materialize`` does: the reference data, every daily asset but
activation over FIRST..LAST in one run, the whole-table SQL models, (``--models``) the
model training and (``--series``) the forecasts of the retailer's own series. The last line
of output is the JSON report.
"""

import json
import sys
from pathlib import Path

# This checkout's code, whichever copy of the package is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg  # noqa: E402
import duckdb  # noqa: E402

from retail_assets.definitions import build_definitions  # noqa: E402
from retail_assets.lib.settings import Settings  # noqa: E402

defs = build_definitions()


def _report(result) -> dict:
    failures = {
        e.step_key: e.event_specific_data.error.message[:2000]
        for e in result.all_events
        if e.is_step_failure
    }
    checks = []
    for e in result.all_events:
        if e.event_type_value == "ASSET_CHECK_EVALUATION":
            d = e.event_specific_data
            checks.append(
                {
                    "asset": d.asset_key.to_user_string(),
                    "check": d.check_name,
                    "passed": d.passed,
                    "severity": d.severity.value,
                    "description": d.description or "",
                }
            )
    return {"success": result.success, "failures": failures, "checks": checks}


def _plain(value):
    value = getattr(value, "value", value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (dict, list)):
        return value
    return str(value)


def main(argv: list[str]) -> int:
    first, last = argv[0], argv[1]
    instance = dg.DagsterInstance.ephemeral()
    graph = defs.resolve_asset_graph()
    out: dict = {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "jobs": sorted(j.name for j in defs.jobs),
        "schedules": sorted(s.name for s in defs.schedules),
        "runs": {},
    }
    job_names = set(out["jobs"])
    if "reference_data" in job_names:
        ref = defs.resolve_job_def("reference_data").execute_in_process(
            instance=instance, raise_on_error=False
        )
        out["runs"]["reference_data"] = _report(ref)
    daily = [
        k
        for k in defs.resolve_job_def("all_assets").asset_layer.selected_asset_keys
        if k.path[0] != "activation"
    ]
    history = defs.resolve_job_def("all_assets").execute_in_process(
        instance=instance,
        raise_on_error=False,
        asset_selection=daily,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )
    out["runs"]["history"] = _report(history)
    if "feature_tables" in job_names:
        tables = defs.resolve_job_def("feature_tables").execute_in_process(
            instance=instance, raise_on_error=False
        )
        out["runs"]["feature_tables"] = _report(tables)
    if "--models" in argv and "model_training" in job_names:
        models = defs.resolve_job_def("model_training").execute_in_process(
            instance=instance, raise_on_error=False
        )
        out["runs"]["model_training"] = _report(models)
    if "--series" in argv and "series_forecasts" in job_names:
        series = defs.resolve_job_def("series_forecasts").execute_in_process(
            instance=instance, raise_on_error=False
        )
        out["runs"]["series_forecasts"] = _report(series)
    out["metadata"] = {}
    for key in graph.get_all_asset_keys():
        event = instance.get_latest_materialization_event(key)
        if event is not None and event.asset_materialization is not None:
            out["metadata"][key.to_user_string()] = {
                k: _plain(v) for k, v in event.asset_materialization.metadata.items()
            }
    settings = Settings.from_env()
    out["tables"] = {}
    if settings.warehouse_path.exists():
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            for schema, view in con.execute(
                "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall():
                rows = con.execute(f'SELECT count(*) FROM "{schema}"."{view}"').fetchone()[0]
                out["tables"][f"{schema}.{view}"] = rows
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
