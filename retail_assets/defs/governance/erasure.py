"""Data subject erasure and the TTL on raw data: the ``erasure`` and ``raw_retention`` jobs.

**erasure** removes a person from the lake, the landing area and the catalog
(``retail_assets.lib.governance.erasure``), puts their pseudonyms on the suppression list so that
late GA4 re-exports are dropped on ingestion, and records the erasure in
``<lake>/governance/erasure_log.jsonl`` (counts and digests only). Its run config:

.. code-block:: yaml

    ops:
      erase_data_subject:
        config:
          identifiers_file: /secure/dsr/REQ-123.txt   # one identifier per line
          request_id: REQ-123

**Keep raw identifiers out of the run config.** Dagster stores a run's config in its run
storage and shows it in the UI, so a customer id, email or GA4 client id given in
``identifiers`` stays there after the person is erased. Give their pseudonyms instead (64 hex
digits: the ``customer_key`` or ``user_key`` of their rows, as a support tool or
``Pseudonymizer.hash_one`` gives them), or write the identifiers to a file only the run can
read and pass its path as ``identifiers_file``, then delete the file. The job logs counts
only, never an identifier or a pseudonym.

Stop the daily runs while it runs (or run it again after them): a run that read the person's
rows before the erasure could write derived rows after it. Running it again is safe.

**raw_retention** deletes landing partitions (raw data with PII) older than
``RETAIL_RAW_RETENTION_DAYS`` (default 30) every day at 05:00 UTC. It never touches the lake.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
from pydantic import Field

from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.governance.erasure import erase
from retail_assets.lib.governance.retention import expire_raw_partitions
from retail_assets.lib.governance.subject import is_pseudonym, resolve_subject
from retail_assets.lib.governance.suppression import append_suppression


class ErasureConfig(dg.Config):
    """Who to erase, as a data subject request names them."""

    identifiers: list[str] = Field(
        default=[],
        description="Customer ids, emails, GA4 client ids or their pseudonyms. Stored with the "
        "run: prefer pseudonyms, or identifiers_file.",
    )
    identifiers_file: str = Field(
        default="",
        description="A text file with one identifier per line ('#' starts a comment): keeps "
        "raw identifiers out of the run config.",
    )
    request_id: str = Field(
        default="", description="The request's reference for the erasure log (default: run id)."
    )


def read_identifiers(config: ErasureConfig) -> list[str]:
    """The identifiers of the run config and of its file, stripped, without blanks.

    Raises:
        dg.Failure: The file cannot be read, or no identifier was given.

    """
    found = [i.strip() for i in config.identifiers if i and i.strip()]
    if config.identifiers_file:
        path = Path(config.identifiers_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise dg.Failure(
                description=f"cannot read identifiers_file {path}: {reason}", allow_retries=False
            ) from None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                found.append(line)
    if not found:
        raise dg.Failure(
            description="no identifiers: set identifiers or identifiers_file", allow_retries=False
        )
    return found


@dg.op(
    description="Erase a data subject from the lake, the landing area and the catalog, add "
    "their pseudonyms to the suppression list and record the erasure (counts only).",
)
def erase_data_subject(
    context: dg.OpExecutionContext, config: ErasureConfig, platform: RetailPlatform
) -> None:
    """Resolve the identifiers, suppress their pseudonyms, erase, and fail on leftovers."""
    identifiers = read_identifiers(config)
    raw_in_config = sum(1 for i in config.identifiers if i.strip() and not is_pseudonym(i.strip()))
    if raw_in_config:
        context.log.warning(
            f"{raw_in_config} raw identifier(s) were passed in the run config, which Dagster "
            "keeps with the run: pass pseudonyms or identifiers_file next time."
        )
    request_id = config.request_id or context.run_id
    lake = platform.lake()
    ring = platform.key_ring(context.log)
    subject = resolve_subject(lake, identifiers, [ring.current, *ring.previous])
    context.log.info(
        f"request {request_id}: {subject.identifiers_given} identifier(s) given, "
        f"{subject.customers_found} customer(s) found, {len(subject.raw_ids)} raw "
        f"identifier(s), {len(subject.pseudonyms)} pseudonym(s) under "
        f"{1 + len(ring.previous)} key(s), {subject.unmatched} identifier(s) found nowhere"
    )
    # Suppress first: a run ingesting while this one erases already drops the person.
    added = append_suppression(lake, subject.pseudonyms, request_id)
    sink = platform.delivery_sink()
    extra = [] if sink.startswith(("http://", "https://")) else [sink]
    report = erase(
        lake,
        set(subject.pseudonyms),
        set(subject.raw_ids),
        request_id=request_id,
        extra_roots=extra,
    )
    removed = {name: t.rows_removed for name, t in sorted(report.tables.items()) if t.rows_removed}
    context.log.info(
        f"request {request_id}: removed {report.rows_removed} row(s) from "
        f"{report.files_rewritten} file(s): {removed}; {added} new suppression entr(ies); "
        f"{report.artifacts_scanned} other file(s) scanned; catalog views {report.catalog_views}"
    )
    context.add_output_metadata(
        {
            "request_id": request_id,
            "pseudonyms": len(subject.pseudonyms),
            "customers_found": subject.customers_found,
            "unmatched_identifiers": subject.unmatched,
            "rows_removed": report.rows_removed,
            "files_rewritten": report.files_rewritten,
            "rows_removed_by_table": dg.MetadataValue.json(removed),
            "suppression_entries_added": added,
            "unresolved_files": len(report.unresolved),
        }
    )
    if report.unresolved:
        raise dg.Failure(
            description=(
                f"{len(report.unresolved)} file(s) that are not tables still hold the person's "
                "identifiers and were left as they are: remove or regenerate them by hand, "
                "then run the erasure again"
            ),
            metadata={"files": dg.MetadataValue.json(report.unresolved)},
            allow_retries=False,
        )


@dg.job(
    name="erasure",
    description="Erase a data subject (GDPR Art. 17) everywhere and block their re-ingestion. "
    "Pass pseudonyms or identifiers_file, not raw identifiers: the run config is kept.",
)
def erasure_job():
    """Erase one data subject request."""
    erase_data_subject()


class RetentionConfig(dg.Config):
    """How old a landing partition may get."""

    retention_days: int = Field(
        default=0, ge=0, description="Days to keep; 0 uses RETAIL_RAW_RETENTION_DAYS."
    )
    as_of: str = Field(default="", description="Today, as YYYY-MM-DD (default: today in UTC).")
    dry_run: bool = Field(default=False, description="Only log what would be deleted.")


@dg.op(
    description="Delete raw landing partitions older than the retention period.",
)
def expire_raw_data(
    context: dg.OpExecutionContext, config: RetentionConfig, platform: RetailPlatform
) -> None:
    """Delete (or, with dry_run, list) expired landing partitions and log them per table."""
    days = config.retention_days or platform.raw_retention_days
    try:
        today = dt.date.fromisoformat(config.as_of) if config.as_of else None
        expired = expire_raw_partitions(platform.lake(), days, today, dry_run=config.dry_run)
    except ValueError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    by_table: dict[str, dict] = {}
    for e in expired:
        entry = by_table.setdefault(e.table, {"partitions": 0, "bytes": 0, "days": []})
        entry["partitions"] += 1
        entry["bytes"] += e.bytes
        entry["days"].append(e.partition)
    verb = "would delete" if config.dry_run else "deleted"
    for table, entry in sorted(by_table.items()):
        context.log.info(
            f"{table}: {verb} {entry['partitions']} partition(s), {entry['bytes']} bytes, "
            f"{entry['days'][0]} .. {entry['days'][-1]}"
        )
    if not expired:
        context.log.info(f"no landing partition older than {days} day(s)")
    context.add_output_metadata(
        {
            "retention_days": days,
            "partitions_deleted": 0 if config.dry_run else len(expired),
            "bytes_deleted": 0 if config.dry_run else sum(e.bytes for e in expired),
            "by_table": dg.MetadataValue.json(by_table),
        }
    )


@dg.job(
    name="raw_retention",
    description="Delete raw landing partitions (raw data with PII) older than "
    "RETAIL_RAW_RETENTION_DAYS. Never touches the lake.",
)
def raw_retention_job():
    """Apply the TTL to the landing area."""
    expire_raw_data()


raw_retention_daily = dg.ScheduleDefinition(
    name="raw_retention_daily",
    job=raw_retention_job,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    description="Every day at 05:00 UTC, delete landing partitions older than the retention "
    "period (RETAIL_RAW_RETENTION_DAYS, default 30).",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(jobs=[erasure_job, raw_retention_job], schedules=[raw_retention_daily])
