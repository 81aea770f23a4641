"""The landing inbox: a sensor that turns files users drop in into runs of the right partitions.

``<landing>/inbox/`` has one folder per kind of file: ``ga4/`` (GA4 export files named
``events_YYYYMMDD*``), ``events/`` (app events CSV/Parquet), ``sales_history/`` (CSV) and
``census/`` (the MRTS workbook or CSV). A new or changed file requests a run of the partitions
it touches, with the source set to the files; GA4 re-exports of a day (late events arrive for
up to three days) re-run that day, and ingestion deduplicates.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.assets import (
    APP_EVENTS,
    SALES_HISTORY,
    SESSIONS,
    event_files,
    ga4_files,
    sales_history_files,
)
from retail_assets.defs.sources.census import census_files, census_job
from retail_assets.lib import ingest
from retail_assets.lib.config import ConfigError

sessions_ingest = dg.define_asset_job(
    "sessions_ingest",
    selection=dg.AssetSelection.assets(SESSIONS).downstream(depth=1),
    partitions_def=daily_partitions,
    description="Ingest a day of GA4 export files and govern it.",
)
app_events_ingest = dg.define_asset_job(
    "app_events_ingest",
    selection=dg.AssetSelection.assets(APP_EVENTS).downstream(depth=1),
    partitions_def=daily_partitions,
    description="Ingest a day of app events from the events inbox and govern it.",
)
sales_history_ingest = dg.define_asset_job(
    "sales_history_ingest",
    selection=dg.AssetSelection.assets(SALES_HISTORY),
    description="Load the sales history CSV files from the inbox.",
)


def _version(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def _misnamed_ga4_files(platform: RetailPlatform) -> list[Path]:
    folder = platform.inbox("ga4")
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.name.lower().endswith(ingest.GA4_SUFFIXES)
        and ingest.ga4_file_date(p) is None
    )


def _fingerprint(paths: list[str], current: dict[str, str]) -> str:
    text = "|".join(f"{p}:{current[p]}" for p in sorted(paths))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dg.sensor(
    jobs=[sessions_ingest, app_events_ingest, sales_history_ingest, census_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches <landing>/inbox/{ga4,events,sales_history,census}/ and requests a "
    "run of the partitions each new or changed file touches.",
)
def landing_inbox_sensor(context: dg.SensorEvaluationContext, platform: RetailPlatform):
    """Request runs for new or modified files in the landing inbox."""
    seen = json.loads(context.cursor) if context.cursor else {}
    skipped: list[str] = []
    kinds = {
        "ga4": ga4_files(platform),
        "events": event_files(platform),
        "sales_history": sales_history_files(platform),
        "census": census_files(platform),
    }
    # A file counts as changed when its modification time or size does.
    current = {str(p): _version(p) for files in kinds.values() for p in files}
    # A GA4 export is read only when named events_YYYYMMDD*; say so once for any other name.
    for p in _misnamed_ga4_files(platform):
        current[str(p)] = _version(p)
        if seen.get(str(p)) != current[str(p)]:
            skipped.append(
                f"{p.name}: not read: a GA4 export file must be named events_YYYYMMDD* "
                "(e.g. events_20250301.json.gz), the day it holds"
            )
    changed = {
        kind: [p for p in files if seen.get(str(p)) != current[str(p)]]
        for kind, files in kinds.items()
    }
    requests: list[dg.RunRequest] = []
    partitions = set(daily_partitions.get_partition_keys())

    by_day: dict[str, list[Path]] = {}
    for p in kinds["ga4"]:
        by_day.setdefault(ingest.ga4_file_date(p).isoformat(), []).append(p)
    for day in sorted({ingest.ga4_file_date(p).isoformat() for p in changed["ga4"]}):
        paths = [str(p) for p in by_day[day] if p in changed["ga4"]]
        if day not in partitions:
            skipped.append(f"{', '.join(Path(x).name for x in paths)}: {day} is not a partition")
            continue
        same_day = [str(p) for p in by_day[day]]
        requests.append(
            dg.RunRequest(
                run_key=f"ga4:{day}:{_fingerprint(same_day, current)}",
                job_name=sessions_ingest.name,
                partition_key=day,
                run_config={"ops": {"raw__sessions": {"config": {"source": "ga4"}}}},
                tags={"landing_files": ", ".join(Path(x).name for x in paths)},
            )
        )

    if changed["events"]:
        try:
            mapping = ingest.load_events_mapping(
                Path(platform.config_dir) if platform.config_dir else None
            )
            event_days = sorted(ingest.dates_in_events(changed["events"], mapping))
        except (ingest.IngestError, ConfigError) as exc:
            context.log.error(f"cannot read the new event files: {exc}")
            skipped.append(str(exc))
            event_days = []
        fingerprint = _fingerprint([str(p) for p in kinds["events"]], current)
        for day in (d.isoformat() for d in event_days):
            if day not in partitions:
                skipped.append(f"events on {day}: not a partition")
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"events:{day}:{fingerprint}",
                    job_name=app_events_ingest.name,
                    partition_key=day,
                    run_config={"ops": {"raw__app_events": {"config": {"source": "events_file"}}}},
                )
            )

    for kind, job in (("sales_history", sales_history_ingest), ("census", census_job)):
        if changed[kind]:
            paths = [str(p) for p in kinds[kind]]
            requests.append(
                dg.RunRequest(
                    run_key=f"{kind}:{_fingerprint(paths, current)}",
                    job_name=job.name,
                    tags={"landing_files": ", ".join(p.name for p in changed[kind])},
                )
            )

    context.update_cursor(json.dumps(current))
    if skipped:
        context.log.warning("skipped: " + "; ".join(skipped))
    if not requests:
        return dg.SkipReason(
            "no new or changed file" + (f" ({'; '.join(skipped)})" if skipped else "")
        )
    return dg.SensorResult(run_requests=requests)


defs = dg.Definitions(
    jobs=[sessions_ingest, app_events_ingest, sales_history_ingest],
    sensors=[landing_inbox_sensor],
)
