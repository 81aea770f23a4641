"""The landing-file readers in one place: GA4 exports, generic event files, sales history.

The readers live in ``ga4_files`` (GA4 exports), ``events`` with ``event_file`` and
``events_mapping`` (generic event files) and ``sales_history``; :class:`IngestError` and the
checks every format shares in ``errors`` (all in :mod:`retail_assets.lib.sources`). This module
only re-exports their public names, for callers that use them as ``ingest.<name>``; new code
imports from the defining module.

Accepted formats:

* **GA4 BigQuery export** (``raw.sessions``): newline-delimited JSON as BigQuery's export job
  writes it (``.json``, ``.jsonl`` or ``.ndjson``, each optionally gzipped as ``.gz``; INT64
  values may be JSON strings, as BigQuery writes them, or numbers; NULL fields may be omitted),
  or Parquet (``.parquet``) with the export's nested schema. The result has exactly the
  columns and dtypes of :data:`retail_assets.lib.sources.ga4.EXPORT_SCHEMA`: columns and struct
  fields the schema does not keep are ignored, missing optional ones are NULL. Export files are
  named ``events_YYYYMMDD*``; :func:`read_ga4_day` merges a day's export with its re-exports.
* **Generic event files** (``raw.app_events``): CSV (header row, UTF-8, ``"``-quoting, fields
  may contain newlines) or Parquet, mapped onto the canonical columns by ``events_mapping.yaml``
  (:class:`EventsMapping`).
* **Sales history** (``raw.sales_history``): CSV with the header ``date,series_id,value`` or
  statsforecast's ``ds,unique_id,y``.

Rules every format shares, beyond its own: a file must be UTF-8 text (NDJSON, CSV); a CSV row
may not have more fields than the header, and a header may not name a column it uses twice;
a text field may hold at most :data:`MAX_TEXT_BYTES` (64 KiB) of UTF-8; an event may not lie
more than :data:`MAX_FUTURE` (one day) after the time the file is read, nor a sales-history
day after tomorrow; revenue and prices may not be negative. Text is data: a value such as
``'; DROP TABLE x; --`` is stored as the literal string (no reader or writer builds SQL from
values), so it round-trips unchanged.

Every problem raises :class:`IngestError`, naming the file, the column and the number of rows,
with up to three example row numbers (1-based: the line number for NDJSON, the data row after
the header for CSV, the row for Parquet) and masked example values. Nothing is silently set to
NULL: every conversion compares the non-NULL values before and after it. The lineage columns
(``lineage_id``, ``processed_at``) are not added here.
"""

from __future__ import annotations

from retail_assets.lib.sources.errors import (
    DUPLICATE_ROW,
    MAX_FUTURE,
    MAX_TEXT_BYTES,
    IngestError,
    non_utf8_lines,
)
from retail_assets.lib.sources.events import (
    APP_EVENT_COLUMNS,
    EVENT_SUFFIXES,
    dates_in_events,
    read_events,
    read_events_day,
    read_events_quarantined,
)
from retail_assets.lib.sources.events_mapping import (
    EventColumns,
    EventsMapping,
    EventTypes,
    consent_values,
    load_events_mapping,
)
from retail_assets.lib.sources.file_source import check_timestamp_format, check_timezone
from retail_assets.lib.sources.ga4_conform import EXPORT_DTYPES
from retail_assets.lib.sources.ga4_files import (
    GA4_SUFFIXES,
    NDJSON_SUFFIXES,
    dedupe_events,
    ga4_file_date,
    read_ga4_day,
    read_ga4_export,
    write_ga4_ndjson,
)
from retail_assets.lib.sources.sales_history import (
    SALES_COLUMNS,
    SALES_HIERARCHY_COLUMNS,
    read_sales_histories,
    read_sales_history,
)

__all__ = [
    "APP_EVENT_COLUMNS",
    "DUPLICATE_ROW",
    "EVENT_SUFFIXES",
    "EXPORT_DTYPES",
    "EventColumns",
    "EventTypes",
    "EventsMapping",
    "GA4_SUFFIXES",
    "IngestError",
    "MAX_FUTURE",
    "MAX_TEXT_BYTES",
    "NDJSON_SUFFIXES",
    "SALES_COLUMNS",
    "SALES_HIERARCHY_COLUMNS",
    "check_timestamp_format",
    "check_timezone",
    "consent_values",
    "dates_in_events",
    "dedupe_events",
    "ga4_file_date",
    "load_events_mapping",
    "non_utf8_lines",
    "read_events",
    "read_events_day",
    "read_events_quarantined",
    "read_ga4_day",
    "read_ga4_export",
    "read_sales_histories",
    "read_sales_history",
    "write_ga4_ndjson",
]
