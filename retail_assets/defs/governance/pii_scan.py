"""The PII scan: a job that looks for personal data wherever users or platforms can see it.

A job rather than an asset or an asset check: the scan is not a property of one table but of
the whole warehouse, its payloads, its delivery outbox and its run logs, and its report is not
a table anyone queries (an asset would need a schema and a catalog view of its own, and would
join every daily run). It fails, with ERROR, listing the masked hits, so a leak shows up as a
red run in the UI and an alert, and it writes a JSON report (masked samples only) under
``<lake>/governance/pii_scan/``. Scheduled every night after the daily runs.
"""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from pydantic import Field

from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.governance.pii_known import KnownIdentifiers, known_from_frame
from retail_assets.lib.governance.pii_patterns import ScanReport
from retail_assets.lib.governance.pii_scan import REPORT_DIR, scan_lake, scan_log, scan_records
from retail_assets.lib.warehouse.lake import Lake

#: Columns of raw.customers (landing) whose values the scan looks for, hashed or verbatim.
KNOWN_COLUMNS = ["customer_id", "user_pseudo_id", "email", "phone"]
#: Compute logs larger than this are scanned up to this many bytes per stream.
MAX_LOG_BYTES = 20_000_000


class PiiScanConfig(dg.Config):
    """What the scan looks at besides the lake's tables and artifacts."""

    recent_runs: int = Field(
        default=50,
        ge=0,
        description="Most recent runs whose event logs and compute logs are scanned (0: none).",
    )
    scan_outbox: bool = Field(
        default=True, description="Also scan the delivery outbox folder (when the sink is one)."
    )


def known_identifiers_from_landing(lake: Lake) -> KnownIdentifiers | None:
    """The customers' ids, emails and phones (landing raw.customers), or None without them."""
    if not lake.partition_files("raw", "customers", landing=True):
        return None
    customers = lake.read("raw", "customers", landing=True, columns=KNOWN_COLUMNS)
    return known_from_frame(customers, KNOWN_COLUMNS)


def event_log_records(instance: dg.DagsterInstance, limit: int) -> Iterator[tuple[str, object]]:
    """Every event of the ``limit`` most recent runs, as parsed JSON, by location.

    The whole serialized event is scanned: log messages, error messages and stack traces,
    materialization and check metadata (previews, paths, descriptions), tags.
    """
    for run in instance.get_runs(limit=limit) if limit else []:
        for i, entry in enumerate(instance.all_logs(run.run_id)):
            kind = entry.dagster_event_type.value if entry.dagster_event_type else "LOG"
            location = f"event log run {run.run_id} ({run.job_name}) event {i} {kind}"
            yield location, json.loads(dg.serialize_value(entry))


def compute_log_texts(instance: dg.DagsterInstance, limit: int) -> Iterator[tuple[str, str]]:
    """The captured stdout and stderr of the ``limit`` most recent runs, by location.

    Only for compute log managers that can list a run's logs (the local one, the cloud ones);
    the others (no-op, ephemeral instances) have nothing to scan.
    """
    try:
        from dagster._core.storage.compute_log_manager import ComputeIOType
    except ImportError:  # pragma: no cover - a Dagster that moved it
        return
    manager = instance.compute_log_manager
    for run in instance.get_runs(limit=limit) if limit else []:
        keys: set[tuple[str, ...]] = set()
        for io_type in ComputeIOType:
            try:
                found = manager.get_log_keys_for_log_key_prefix(
                    [run.run_id, "compute_logs"], io_type
                )
            except (NotImplementedError, OSError):
                continue
            keys |= {tuple(k) for k in found}
        for key in sorted(keys):
            try:
                data = manager.get_log_data(list(key), max_bytes=MAX_LOG_BYTES)
            except (NotImplementedError, OSError):
                continue
            for stream, blob in (("stdout", data.stdout), ("stderr", data.stderr)):
                if blob:
                    location = f"compute log run {run.run_id} {key[-1]} {stream}"
                    yield location, blob.decode("utf-8", errors="replace")


def scan_instance(
    instance: dg.DagsterInstance, known: KnownIdentifiers | None, limit: int
) -> ScanReport:
    """Scan the event logs and compute logs of the ``limit`` most recent runs."""
    report = ScanReport(known=len(known or ()))
    records = list(event_log_records(instance, limit))
    report.hits += scan_records(records, known)
    report.rows += len(records)
    report.scanned += sorted({loc.split(" event ")[0] for loc, _ in records})
    for location, text in compute_log_texts(instance, limit):
        hits, lines = scan_log(location, text, known)
        report.hits += hits
        report.rows += lines
        report.scanned.append(location)
    return report


def write_report(lake: Lake, report: ScanReport, run_id: str, when: dt.datetime) -> Path:
    """Write the report (masked samples only) as ``<lake>/governance/pii_scan/<time>.json``."""
    body = {"run_id": run_id, "scanned_at": when.isoformat(), **report.to_dict()}
    name = f"{when:%Y%m%dT%H%M%SZ}-{run_id[:8]}.json"
    data = json.dumps(body, indent=1, sort_keys=True).encode()
    return lake.write_bytes(data, *REPORT_DIR, None, name)


@dg.op(
    name="scan_for_personal_data",
    out=dg.Out(str, description="Path of the JSON report."),
    tags={"team": "privacy"},
)
def scan_for_personal_data(
    context: dg.OpExecutionContext, config: PiiScanConfig, platform: RetailPlatform
):
    """Scan every lake table, artifact, the outbox and recent run logs; fail on any hit.

    Looks for emails, phone numbers, IP addresses, and the customers' own ids, emails and
    phones (from the landing area's raw.customers), verbatim or as an unkeyed hash. The
    landing area itself, which holds contact data by design, is not scanned.
    """
    lake = platform.lake()
    known = known_identifiers_from_landing(lake)
    extra: list[str] = []
    sink = platform.delivery_sink()
    if config.scan_outbox and "://" not in sink and Path(sink).exists():
        extra.append(sink)
    report = scan_lake(lake, known, extra_paths=extra)
    if known is None:
        report.warnings.append(
            "no raw customers in the landing area: looked for patterns only, not for the "
            "customers' own ids and their hashes"
        )
    report.extend(scan_instance(context.instance, known, config.recent_runs))
    path = write_report(lake, report, context.run_id, dt.datetime.now(dt.UTC))
    metadata = {
        "report": dg.MetadataValue.path(str(path)),
        "hits_by_kind": dg.MetadataValue.json(report.counts()),
        "places_scanned": len(report.scanned),
        "rows_scanned": report.rows,
        "known_identifiers": report.known,
    }
    if not report.passed:
        summary = report.summary()
        context.log.error(summary)
        raise dg.Failure(
            description=summary,
            metadata={**metadata, "hits": dg.MetadataValue.md(report.markdown())},
            allow_retries=False,
        )
    for warning in report.warnings:
        context.log.warning(warning)
    context.log.info(report.summary().splitlines()[0])
    yield dg.Output(str(path), metadata=metadata)


@dg.job(
    name="pii_scan",
    description="Scan every warehouse table, JSON artifact (the DSP payload), the delivery "
    "outbox and the recent runs' logs for emails, phone numbers, IP addresses and the "
    "customers' ids or their unkeyed hashes. Fails with the masked hits; writes a JSON report "
    "under <lake>/governance/pii_scan/.",
    tags={"team": "privacy"},
)
def pii_scan_job():
    """The PII scan job."""
    scan_for_personal_data()


pii_scan_daily = dg.ScheduleDefinition(
    name="pii_scan_daily",
    job=pii_scan_job,
    cron_schedule="30 4 * * *",
    execution_timezone="UTC",
    description="Every night at 04:30 UTC, after the daily runs, scan the warehouse, payloads "
    "and run logs for personal data.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(jobs=[pii_scan_job], schedules=[pii_scan_daily])
