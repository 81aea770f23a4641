"""The landing inbox: a sensor that turns files users drop in into runs of the right partitions.

``<landing>/inbox/`` has one folder per kind of file: ``ga4/`` (GA4 export files named
``events_YYYYMMDD*``), ``events/`` (app events CSV/Parquet), ``sales_history/`` (CSV) and
``census/`` (the MRTS workbook or CSV). A new or changed file requests a run of the partitions
it touches, with the source set to the files; GA4 re-exports of a day (late events arrive for
up to three days) re-run that day, and ingestion deduplicates.

Files that touch many days (a month of GA4 exports dropped at once, an events file spanning a
quarter) request one run per contiguous RANGE of those days, not one per day: the daily
assets take a range in one step (single-run backfill policies), and a run costs about ten
seconds of orchestration while a day's compute is well under one. A range run is tagged
``dagster/asset_partition_range_start``/``_end`` (what ``RunRequest.partition_key_range``
reads), a one-day run keeps its ``partition_key``; ``RETAIL_BACKFILL_MAX_DAYS`` bounds a
range as it bounds a backfill's runs.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from retail_assets.defs.partitions import daily_partitions
from retail_assets.defs.resources import RetailPlatform, current_world
from retail_assets.defs.sources.assets import (
    APP_EVENTS,
    SALES_HISTORY,
    SESSIONS,
    event_files,
    ga4_files,
    sales_history_files,
)
from retail_assets.defs.sources.census import census_files, census_job
from retail_assets.lib.config import ConfigError
from retail_assets.lib.settings import Settings
from retail_assets.lib.sources import ingest

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
#: File names listed in a run's ``landing_files`` tag; beyond, "and N more".
_LISTED_FILES = 20

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


def contiguous_ranges(days: Iterable[str], max_days: int = 0) -> list[tuple[str, str]]:
    """``days`` (ISO dates) as ``(first, last)`` runs of consecutive days, oldest first.

    ``max_days`` (> 0) splits a longer run of days into ranges of at most that many.
    """
    ranges: list[list[dt.date]] = []
    for day in sorted({dt.date.fromisoformat(d) for d in days}):
        last = ranges[-1] if ranges else None
        if (
            last
            and day - last[1] == dt.timedelta(days=1)
            and (max_days <= 0 or (day - last[0]).days < max_days)
        ):
            last[1] = day
        else:
            ranges.append([day, day])
    return [(a.isoformat(), b.isoformat()) for a, b in ranges]


def _span(first: str, last: str) -> str:
    return first if first == last else f"{first}..{last}"


def _file_list(paths: Iterable[str | Path]) -> str:
    names = sorted({Path(p).name for p in paths})
    listed = ", ".join(names[:_LISTED_FILES])
    more = len(names) - _LISTED_FILES
    return listed + (f" and {more} more" if more > 0 else "")


def _range_request(
    first: str, last: str, *, run_key: str, job_name: str, run_config: dict, tags: dict
) -> dg.RunRequest:
    """A run of the days ``first..last``: a partition key for one day, range tags for more."""
    if first == last:
        return dg.RunRequest(
            run_key=run_key,
            job_name=job_name,
            partition_key=first,
            run_config=run_config,
            tags=tags,
        )
    return dg.RunRequest(
        run_key=run_key,
        job_name=job_name,
        run_config=run_config,
        tags={**tags, RANGE_START_TAG: first, RANGE_END_TAG: last},
    )


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

    max_days = Settings.from_env().backfill_max_days
    by_day: dict[str, list[Path]] = {}
    for p in kinds["ga4"]:
        by_day.setdefault(ingest.ga4_file_date(p).isoformat(), []).append(p)
    ga4_days = []
    for day in sorted({ingest.ga4_file_date(p).isoformat() for p in changed["ga4"]}):
        if day not in partitions:
            paths = [p.name for p in by_day[day] if p in changed["ga4"]]
            skipped.append(f"{', '.join(paths)}: {day} is not a partition")
            continue
        ga4_days.append(day)
    for first, last in contiguous_ranges(ga4_days, max_days):
        days = [d for d in ga4_days if first <= d <= last]
        # The key changes with any file of the range's days, so a re-export re-runs them.
        same_days = [str(p) for d in days for p in by_day[d]]
        requests.append(
            _range_request(
                first,
                last,
                run_key=f"ga4:{_span(first, last)}:{_fingerprint(same_days, current)}",
                job_name=sessions_ingest.name,
                run_config={"ops": {"raw__sessions": {"config": {"source": "ga4"}}}},
                tags={
                    "landing_files": _file_list(
                        p for d in days for p in by_day[d] if p in changed["ga4"]
                    )
                },
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
        event_partitions = []
        for day in (d.isoformat() for d in event_days):
            if day not in partitions:
                skipped.append(f"events on {day}: not a partition")
                continue
            event_partitions.append(day)
        for first, last in contiguous_ranges(event_partitions, max_days):
            requests.append(
                _range_request(
                    first,
                    last,
                    run_key=f"events:{_span(first, last)}:{fingerprint}",
                    job_name=app_events_ingest.name,
                    run_config={"ops": {"raw__app_events": {"config": {"source": "events_file"}}}},
                    tags={"landing_files": _file_list(changed["events"])},
                )
            )

    for kind, job in (("sales_history", sales_history_ingest), ("census", census_job)):
        if changed[kind]:
            paths = [str(p) for p in kinds[kind]]
            requests.append(
                dg.RunRequest(
                    run_key=f"{kind}:{_fingerprint(paths, current)}",
                    job_name=job.name,
                    tags={"landing_files": _file_list(changed[kind])},
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


@dg.definitions
def defs() -> dg.Definitions:
    """The simulated world's landing jobs and inbox sensor (the retailer's has its own)."""
    if current_world().retailer:
        return dg.Definitions()
    return dg.Definitions(
        jobs=[sessions_ingest, app_events_ingest, sales_history_ingest],
        sensors=[landing_inbox_sensor],
    )
