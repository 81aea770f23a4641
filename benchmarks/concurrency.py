"""Concurrency that holds: a backfill launched as the UI does while a second process reads.

    python benchmarks/concurrency.py            # 90 daily partitions at 20,000 customers
    python benchmarks/concurrency.py --quick    # 10 daily partitions

Starts a real ``dagster dev`` (webserver, daemon, code server; ``tests/dagster_server.py``)
with its own ``DAGSTER_HOME`` (the packaged ``dagster.yaml``) and data folder, then, through
the GraphQL API only:

1. launches the ``reference_data`` job and waits for it;
2. starts a reader: another process that every second opens ``warehouse.duckdb`` with
   ``duckdb.connect(path, read_only=True)``, counts the rows of a few views and closes;
3. launches a backfill of :data:`SELECTION` (the daily assets of the ``sources`` and
   ``governance`` groups and one incremental SQL model) the way the UI's asset graph does
   (``launchPartitionBackfill`` with ``assetSelection`` and ``partitionNames``: an asset
   backfill, so the assets' backfill policies apply; with single-run policies the daemon
   launches one run per policy batch, tagged ``dagster/asset_partition_range_start``/``_end``)
   and polls it until it and every run it launched have finished;
4. reconciles every table of the selection: the catalog view's ``count(*)`` (for tables with
   a view), the rows in the lake's partition files (their Parquet footers) and Dagster's
   metadata must agree, with no natural key twice and no partition materialized twice.

   Dagster's metadata: every day's materialization reports that day's
   ``dagster/partition_row_count`` (in a range run as in a one-day run), compared with the
   day's Parquet footers. A range run's last day also carries the run's summary: its
   ``days_written`` must equal the days Dagster recorded for the run, its ``rows_written``
   the sum of those days, and its ``rows_by_day`` table (per day up to two weeks, per week
   beyond) the lake's footers, day by day or week by week.

Prints one ``name: value`` per line (progress goes to stderr):

- ``runs``, ``failed_runs``: runs the backfill launched, and those that did not succeed.
- ``policy_batches``: the runs the assets' backfill policies call for (the most, over the
  selected assets, of ``ceil(days / max_partitions_per_run)``; 1 for single-run policies);
  ``range_runs``, ``one_day_runs``: runs covering several days, one day;
  ``oversized_runs``: runs covering more days than one of their assets' policy allows.
- ``max_concurrent_runs``: the most runs in progress at once (``STARTING`` or ``STARTED``),
  sampled every 2 s; ``max_overlapping_executions``: the most runs between their start and
  end at the same moment.
- ``reader_queries``, ``reader_failures``, ``reader_not_yet``: the reader's queries answered,
  not answered (the catalog could not be opened or the query failed), and answered "no such
  view yet" (a table whose first partition is not written yet: not a failure).
- ``duplicate_rows``: rows minus distinct natural keys, over every table.
- ``lost_rows``: rows Dagster's metadata reported minus distinct keys found, over every table.
- ``row_count_mismatches``: tables whose metadata, lake and catalog totals disagree;
  ``partition_count_mismatches``: days (or weeks, for a long range's weekly table) whose
  metadata count differs from the lake's footers; ``missing_partitions``: (table, day) pairs
  without a materialization or without a file; ``duplicate_materializations``: (table, day)
  pairs materialized more than once; ``reconciliation_problems``: what the tables' checks
  found wrong (listed under ``problems`` in the details on stderr): totals that disagree, a
  run without a row count, a range run whose ``days_written`` differs from the days Dagster
  recorded for it, files outside the backfill, a catalog that could not be read.
- ``rows_checked``, ``backfill_seconds`` (launch to the backfill complete with every run
  finished), then where it went (:func:`run_phases`): ``to_first_run_seconds``,
  ``queued_seconds``, ``running_seconds``, ``after_runs_seconds``; ``wall_seconds``.

The test ``tests/test_concurrency.py`` runs :func:`run_scenario` on 10 partitions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from dagster_server import (  # noqa: E402
    LOCATION,
    REPOSITORY,
    DagsterServer,
    dagster_dev,
    platform_env,
)

START_DATE = dt.date(2025, 1, 1)
CUSTOMERS = 20_000


@dataclass(frozen=True)
class Table:
    """An asset of the backfill and how to check it."""

    key: str  # asset key, "<schema>/<table>"
    #: Columns unique over the table; ``("*",)``: the whole row but its lineage columns (a
    #: table without an id of its own); empty: not checked.
    natural_key: tuple[str, ...] = ()
    landing: bool = False  # PII: in the landing area, no catalog view

    @property
    def schema(self) -> str:
        return self.key.split("/")[0]

    @property
    def name(self) -> str:
        return self.key.split("/")[1]

    @property
    def view(self) -> str:
        return f'"{self.schema}"."{self.name}"'


#: The backfill: every daily asset of the sources and governance groups, and one incremental
#: SQL model on top of them.
SELECTION = (
    Table("raw/sessions", ("*",), landing=True),  # the GA4 export shape has no event id
    Table("raw/app_events", ("event_id",), landing=True),
    Table("raw/signals", ("signal_id",)),
    Table("raw/transactions", ("transaction_id",)),
    Table("governed/sessions", ("*",)),
    Table("governed/app_events", ("event_id",)),
    Table("governed/consent_audit", ("event_date",)),
    Table("features/daily_sales_by_category", ("sales_date", "category")),
)
#: What the reader counts every second.
READER_VIEWS = ("governed.sessions", "raw.transactions", "features.daily_sales_by_category")


def log(message: str) -> None:
    print(f"[concurrency {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def days(n: int, first: dt.date = START_DATE) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range(n)]


def run_days(run: dict) -> int:
    """How many daily partitions a run covers (from its partition tags)."""
    tags = {t["key"]: t["value"] for t in run["tags"]}
    if "dagster/partition" in tags:
        return 1
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if not start or not end:
        return 0
    return (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1


def policy_batches(policies: dict[str, int | None], n_days: int) -> int:
    """The runs the backfill policies call for: the most over the assets, each needing
    ``ceil(n_days / max_partitions_per_run)`` (one for a single-run policy, ``None``)."""
    return max((math.ceil(n_days / m) if m else 1 for m in policies.values()), default=0)


def oversized_runs(run_list: list[dict], policies: dict[str, int | None]) -> int:
    """Runs covering more days than the backfill policy of one of their assets allows."""
    out = 0
    for r in run_list:
        keys = ["/".join(a["path"]) for a in r["assetSelection"] or []]
        limits = [policies[k] for k in keys if policies.get(k)]
        if limits and run_days(r) > min(limits):
            out += 1
    return out


# ---------------------------------------------------------------------------------- reader
def reader_loop(
    warehouse: str, views: tuple[str, ...], interval: float, stop, out: str
) -> None:  # pragma: no cover - runs in a spawned process
    """Every ``interval`` s: open the catalog read-only, count each view, close. Until ``stop``.

    Writes a JSON summary to ``out``: queries answered, failed (with the errors), and "not
    yet" (the view does not exist yet: its table has no partition yet).
    """
    import duckdb

    answered = failed = not_yet = opens = 0
    errors: list[str] = []
    slowest = 0.0
    path = Path(warehouse)
    next_tick = time.monotonic()
    while not stop.is_set():
        if path.exists():
            t0 = time.monotonic()
            try:
                con = duckdb.connect(warehouse, read_only=True)
            except duckdb.Error as exc:
                failed += len(views)
                errors.append(f"{time.strftime('%H:%M:%S')} connect: {exc}")
            else:
                opens += 1
                try:
                    for view in views:
                        try:
                            con.execute(f"SELECT count(*) FROM {view}").fetchone()
                            answered += 1
                        except duckdb.CatalogException:
                            not_yet += 1
                        except duckdb.Error as exc:
                            failed += 1
                            errors.append(f"{time.strftime('%H:%M:%S')} {view}: {exc}")
                finally:
                    con.close()
            slowest = max(slowest, time.monotonic() - t0)
        else:
            not_yet += len(views)
        next_tick += interval
        stop.wait(max(0.0, next_tick - time.monotonic()))
    Path(out).write_text(
        json.dumps(
            {
                "answered": answered,
                "failed": failed,
                "not_yet": not_yet,
                "opens": opens,
                "slowest_s": round(slowest, 3),
                "errors": errors[:50],
            }
        )
    )


class Reader:
    """The reader process: ``start()``, then ``stop()`` returns its summary."""

    def __init__(self, warehouse: Path, out: Path, interval: float = 1.0):
        ctx = multiprocessing.get_context("spawn")
        self.out = out
        self.stop_event = ctx.Event()
        self.proc = ctx.Process(
            target=reader_loop,
            args=(str(warehouse), READER_VIEWS, interval, self.stop_event, str(out)),
            daemon=True,
        )

    def start(self) -> Reader:
        self.proc.start()
        return self

    def stop(self) -> dict[str, Any]:
        self.stop_event.set()
        self.proc.join(timeout=60)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
            raise RuntimeError("the reader did not stop")
        if not self.out.exists():
            raise RuntimeError(f"the reader exited ({self.proc.exitcode}) without a summary")
        return json.loads(self.out.read_text())


# ---------------------------------------------------------------------------------- GraphQL
_LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}
"""

_LAUNCH_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

_BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status error { message } }
    ... on Error { message }
  }
}
"""

_RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results { runId status startTime endTime assetSelection { path } tags { key value } }
    }
    ... on Error { message }
  }
}
"""

_RUN_TIMES = """
query Times($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results { runId creationTime startTime endTime stepStats { stepKey startTime endTime } }
    }
    ... on Error { message }
  }
}
"""

_RUN_ERRORS = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level stepKey }
        ... on ErrorEvent { error { message } }
      }
    }
  }
}
"""

_MATERIALIZATIONS = """
query Mats($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        partition runId timestamp
        metadataEntries {
          label
          ... on IntMetadataEntry { intRepr }
          ... on MarkdownMetadataEntry { mdStr }
        }
      }
    }
  }
}
"""

_POLICIES = """
query Policies($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    backfillPolicy { policyType maxPartitionsPerRun }
  }
}
"""

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def _ok(answer: dict, field_name: str, *ok_types: str) -> dict:
    result = answer[field_name]
    if result["__typename"] not in ok_types:
        raise RuntimeError(f"{field_name}: {json.dumps(result)[:2000]}")
    return result


def launch_job(server: DagsterServer, job: str) -> str:
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "jobName": job,
        },
        "runConfigData": {},
    }
    answer = server.graphql(_LAUNCH_RUN, {"params": params})
    return _ok(answer, "launchRun", "LaunchRunSuccess")["run"]["runId"]


def backfill_policies(server: DagsterServer, tables: tuple[Table, ...]) -> dict[str, int | None]:
    """Each table's ``max_partitions_per_run`` as the server sees it (None: single run)."""
    answer = server.graphql(_POLICIES, {"keys": [{"path": t.key.split("/")} for t in tables]})
    out: dict[str, int | None] = {}
    for node in answer["assetNodes"]:
        policy = node["backfillPolicy"] or {}
        out["/".join(node["assetKey"]["path"])] = policy.get("maxPartitionsPerRun")
    return out


def runs(server: DagsterServer, **filter_: Any) -> list[dict]:
    answer = server.graphql(_RUNS, {"filter": filter_})
    return _ok(answer, "runsOrError", "Runs")["results"]


def run_phases(
    server: DagsterServer, backfill_id: str, launched: float, done: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Where the backfill's time went, from its runs' timestamps (epoch seconds).

    ``to_first_run``: launch to the first run created (the backfill daemon's tick);
    ``queued``: first run created to its ``RUN_START`` (the run queue, then the run worker
    starting and loading the code); ``running``: first start to last end; ``after_runs``: last
    end to the backfill seen complete (the daemon's next tick, and this script's 2 s polls).
    And each step's seconds (summed over runs).
    """
    answer = server.graphql(
        _RUN_TIMES, {"filter": {"tags": [{"key": "dagster/backfill", "value": backfill_id}]}}
    )
    results = _ok(answer, "runsOrError", "Runs")["results"]
    created = [r["creationTime"] for r in results]
    started = [r["startTime"] for r in results if r["startTime"]]
    ended = [r["endTime"] for r in results if r["endTime"]]
    if not (created and started and ended):
        return {}, {}
    phases = {
        "to_first_run": min(created) - launched,
        "queued": min(started) - min(created),
        "running": max(ended) - min(started),
        "after_runs": done - max(ended),
    }
    steps: dict[str, float] = {}
    for r in results:
        for st in r["stepStats"]:
            if st["startTime"] and st["endTime"]:
                steps[st["stepKey"]] = steps.get(st["stepKey"], 0) + st["endTime"] - st["startTime"]
    return (
        {k: round(v, 1) for k, v in phases.items()},
        {k: round(v, 1) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])},
    )


def run_errors(server: DagsterServer, run_id: str, limit: int = 5) -> list[str]:
    """The error messages of a run's event log (for the report of a failed run)."""
    answer = server.graphql(_RUN_ERRORS, {"runId": run_id})
    events = (answer["logsForRun"] or {}).get("events") or []
    out = []
    for e in events:
        err = e.get("error")
        if err:
            out.append(f"{e.get('stepKey') or 'run'}: {err['message'].strip()[:800]}")
        elif e.get("level") == "ERROR":
            out.append(f"{e.get('stepKey') or 'run'}: {e['message'][:800]}")
    return out[-limit:]


def wait_for_run(server: DagsterServer, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = runs(server, runIds=[run_id])[0]["status"]
        if status in FINISHED:
            return status
        time.sleep(2)
    raise TimeoutError(f"run {run_id} not finished after {timeout:.0f} s")


def launch_backfill(
    server: DagsterServer,
    tables: tuple[Table, ...],
    partitions: list[str],
) -> str:
    """Launch an asset backfill of ``tables`` over ``partitions``, as the UI does."""
    params = {
        "partitionNames": partitions,
        "assetSelection": [{"path": t.key.split("/")} for t in tables],
        "title": f"concurrency: {len(partitions)} partitions",
    }
    answer = server.graphql(_LAUNCH_BACKFILL, {"params": params})
    return _ok(answer, "launchPartitionBackfill", "LaunchBackfillSuccess")["backfillId"]


IN_PROGRESS = {"STARTING", "STARTED", "CANCELING"}


def wait_for_backfill(
    server: DagsterServer, backfill_id: str, timeout: float
) -> tuple[list[dict], int]:
    """Poll until the backfill is done and every run it launched has finished.

    Returns its runs and the most runs seen in progress at once (launched: starting, that is
    loading the code, or started), sampled every 2 s.
    """
    deadline = time.monotonic() + timeout
    most = 0
    status, last_log = "", 0.0
    backfill_runs: list[dict] = []
    while time.monotonic() < deadline:
        answer = server.graphql(_BACKFILL, {"id": backfill_id})
        status = _ok(answer, "partitionBackfillOrError", "PartitionBackfill")["status"]
        backfill_runs = runs(server, tags=[{"key": "dagster/backfill", "value": backfill_id}])
        unfinished = [r for r in backfill_runs if r["status"] not in FINISHED]
        most = max(most, sum(r["status"] in IN_PROGRESS for r in backfill_runs))
        if time.monotonic() - last_log > 30:
            counts: dict[str, int] = {}
            for r in backfill_runs:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
            log(f"backfill {status}: runs {counts}")
            last_log = time.monotonic()
        if status in BACKFILL_DONE and not unfinished:
            return backfill_runs, most
        time.sleep(2)
    raise TimeoutError(f"backfill {backfill_id} still {status} after {timeout:.0f} s")


def max_overlap(run_list: list[dict]) -> int:
    """The most runs executing (between their RUN_START and their end) at the same moment."""
    edges = []
    for r in run_list:
        if r["startTime"] is None:
            continue
        edges.append((r["startTime"], 1))
        edges.append((r["endTime"] or math.inf, -1))
    # At equal times an end comes before a start: touching runs did not overlap.
    edges.sort(key=lambda e: (e[0], e[1]))
    best = current = 0
    for _, step in edges:
        current += step
        best = max(best, current)
    return best


# ---------------------------------------------------------------------------------- rows
@dataclass
class TableCheck:
    """One table's counts from the catalog, the lake files and Dagster's metadata."""

    key: str
    expected: int = 0  # from the materializations' metadata
    lake_rows: int = 0
    catalog_rows: int | None = None  # None: landing table, no view
    distinct_keys: int | None = None
    missing_partitions: list[str] = field(default_factory=list)
    #: Days (or weeks: "week of <Monday>") whose metadata count differs from the lake's footers.
    partition_mismatches: list[str] = field(default_factory=list)
    #: Days materialized more than once.
    rematerialized: list[str] = field(default_factory=list)
    #: Runs that wrote the table: days each covered, and how its rows were counted.
    runs: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def found(self) -> int:
        return self.catalog_rows if self.catalog_rows is not None else self.lake_rows

    @property
    def duplicate_rows(self) -> int:
        return 0 if self.distinct_keys is None else self.found - self.distinct_keys

    @property
    def lost_rows(self) -> int:
        present = self.distinct_keys if self.distinct_keys is not None else self.found
        return max(0, self.expected - present)

    @property
    def consistent(self) -> bool:
        return self.expected == self.lake_rows == self.found


_MD_ROW = re.compile(r"^\|\s*(\d{4}-\d{2}-\d{2})\s*\|(.*)\|\s*$")


def parse_rows_by_day(md: str) -> tuple[str, dict[str, int]]:
    """A range run's ``rows_by_day`` table: ``("day", {day: rows})`` for a range of up to two
    weeks, ``("week", {monday: rows})`` beyond (``publishing.rows_by_day_table``)."""
    kind, out = "day", {}
    for line in md.splitlines():
        if line.lower().startswith("| week of"):
            kind = "week"
        m = _MD_ROW.match(line.strip())
        if not m:
            continue
        cells = [c.strip().replace(",", "") for c in m.group(2).split("|")]
        # per day: | day | rows |; per week: | week of | days | rows | fewest | most |
        out[m.group(1)] = int(cells[0] if kind == "day" else cells[1])
    return kind, out


def _monday(day: str) -> str:
    d = dt.date.fromisoformat(day)
    return (d - dt.timedelta(days=d.weekday())).isoformat()


def lake_rows_by_day(root: Path, table: Table) -> dict[str, int]:
    """Rows of each partition file of the table, from its Parquet footer: ``{day: rows}``."""
    import pyarrow.parquet as pq

    base = root / "data" / ("landing" if table.landing else "lake") / table.schema / table.name
    return {
        f.parent.name.removeprefix("date="): pq.ParquetFile(f).metadata.num_rows
        for f in sorted(base.glob("date=*/*.parquet"))
    }


def metadata_rows(
    server: DagsterServer, table: Table, partitions: list[str], lake: dict[str, int]
) -> TableCheck:
    """Rows of the table by Dagster's metadata, reconciled with the lake's footers ``lake``.

    The latest materialization of each day is grouped by run. Every day reports its own
    ``dagster/partition_row_count``, matched with the lake. A range run's last day carries the
    run's summary: ``days_written`` must equal the days Dagster recorded for the run,
    ``rows_written`` their sum, and ``rows_by_day`` the lake day by day (or week by week).
    """
    c = TableCheck(table.key)
    answer = server.graphql(
        _MATERIALIZATIONS, {"key": {"path": table.key.split("/")}, "partitions": partitions}
    )
    asset = answer["assetOrError"]
    if asset["__typename"] != "Asset":
        c.missing_partitions = list(partitions)
        return c
    latest: dict[str, dict] = {}
    seen: dict[str, int] = {}
    for m in asset["assetMaterializations"]:
        p = m["partition"]
        seen[p] = seen.get(p, 0) + 1
        if p not in latest or float(m["timestamp"]) > float(latest[p]["timestamp"]):
            latest[p] = m
    c.rematerialized = sorted(p for p, n in seen.items() if n > 1)
    c.missing_partitions = [p for p in partitions if p not in latest or p not in lake]
    by_run: dict[str, list[dict]] = {}
    for m in latest.values():
        by_run.setdefault(m["runId"], []).append(m)
    for run_id, mats in by_run.items():
        days = sorted(m["partition"] for m in mats)
        span = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)} days)"
        metas = {
            m["partition"]: {
                e["label"]: e.get("intRepr", e.get("mdStr")) for e in m["metadataEntries"]
            }
            for m in mats
        }
        # Every day's event carries that day's count, in a range run as in a one-day run.
        total = 0
        for day in days:
            n = metas[day].get("dagster/partition_row_count")
            if n is None:
                c.problems.append(f"run {run_id}: no dagster/partition_row_count for {day}")
                c.missing_partitions.append(day)
                continue
            total += int(n)
            if lake.get(day) != int(n):
                c.partition_mismatches.append(f"{day}: metadata {n}, lake {lake.get(day)}")
        c.expected += total
        # A range run's summary rides on its last day: days and rows written, rows by day.
        summary = metas[days[-1]]
        if len(days) == 1 or "days_written" not in summary:
            c.runs[run_id] = f"{span}: partition_row_count {total}"
            if len(days) > 1:
                c.problems.append(f"run {run_id} ({span}): no run summary on its last day")
            continue
        c.runs[run_id] = f"{span}: rows_written {summary.get('rows_written')}"
        if int(summary["days_written"]) != len(days):
            c.problems.append(
                f"run {run_id} wrote {summary['days_written']} days, Dagster recorded "
                f"{len(days)} for it (part of its range rewritten since, or a partition "
                "recorded twice)"
            )
        if summary.get("rows_written") is not None and int(summary["rows_written"]) != total:
            c.partition_mismatches.append(
                f"run {run_id} ({span}): rows_written {summary['rows_written']}, days {total}"
            )
        if summary.get("rows_by_day"):
            kind, counts = parse_rows_by_day(summary["rows_by_day"])
            buckets: dict[str, int] = {}
            for d in days:
                b = d if kind == "day" else _monday(d)
                buckets[b] = buckets.get(b, 0) + lake.get(d, 0)
            for b in sorted(set(buckets) | set(counts)):
                if counts.get(b) != buckets.get(b):
                    label = b if kind == "day" else f"week of {b}"
                    c.partition_mismatches.append(
                        f"{label}: rows_by_day {counts.get(b)}, lake {buckets.get(b)}"
                    )
    return c


def check_rows(
    server: DagsterServer, root: Path, tables: tuple[Table, ...], partitions: list[str]
) -> list[TableCheck]:
    import duckdb

    warehouse = root / "data" / "warehouse.duckdb"
    checks = []
    for t in tables:
        lake = lake_rows_by_day(root, t)
        c = metadata_rows(server, t, partitions, lake)
        extra = sorted(set(lake) - set(partitions))
        if extra:
            c.problems.append(f"{len(extra)} file(s) outside the backfill, e.g. {extra[0]}")
        c.lake_rows = sum(lake.values())
        if t.natural_key == ("*",):
            distinct = "SELECT DISTINCT * EXCLUDE (lineage_id, processed_at) FROM {}"
        else:
            distinct = "SELECT DISTINCT " + ", ".join(f'"{k}"' for k in t.natural_key) + " FROM {}"
        if not t.landing:
            try:
                with duckdb.connect(str(warehouse), read_only=True) as con:
                    c.catalog_rows = con.execute(f"SELECT count(*) FROM {t.view}").fetchone()[0]
                    if t.natural_key:
                        c.distinct_keys = con.execute(
                            f"SELECT count(*) FROM ({distinct.format(t.view)})"
                        ).fetchone()[0]
            except duckdb.Error as exc:
                c.problems.append(f"catalog: {exc}")
                c.catalog_rows = 0 if c.catalog_rows is None else c.catalog_rows
        elif t.natural_key:
            base = root / "data" / "landing" / t.schema / t.name
            files = sorted(str(f) for f in base.glob("date=*/*.parquet"))
            with duckdb.connect() as con:
                c.distinct_keys = con.execute(
                    f"SELECT count(*) FROM ({distinct.format('read_parquet(?)')})", [files]
                ).fetchone()[0]
        if not c.consistent:
            c.problems.append(
                f"metadata {c.expected}, lake {c.lake_rows}, catalog {c.catalog_rows}"
            )
        checks.append(c)
    return checks


# ---------------------------------------------------------------------------------- scenario
def run_scenario(
    root: Path,
    n_days: int,
    customers: int = CUSTOMERS,
    tables: tuple[Table, ...] = SELECTION,
    timeout: float = 3600,
) -> dict[str, Any]:
    """The whole scenario in ``root``; the metrics, and the details under ``"details"``."""
    t_wall = time.monotonic()
    partitions = days(n_days)
    env = platform_env(
        root,
        RETAIL_CUSTOMERS=str(customers),
        RETAIL_START_DATE=START_DATE.isoformat(),
        RETAIL_DSP_SINK=str(root / "data" / "outbox"),
    )
    log(f"starting dagster dev in {root}")
    with dagster_dev(root, env) as server:
        log(f"ready at {server.url}; materializing the reference data")
        ref = launch_job(server, "reference_data")
        status = wait_for_run(server, ref, timeout=900)
        if status != "SUCCESS":
            raise RuntimeError(f"reference_data {status}: {run_errors(server, ref)}")
        reader = Reader(root / "data" / "warehouse.duckdb", root / "reader.json").start()
        try:
            t0, launched = time.monotonic(), time.time()
            backfill = launch_backfill(server, tables, partitions)
            log(f"backfill {backfill}: {len(tables)} assets x {n_days} partitions")
            backfill_runs, in_progress = wait_for_backfill(server, backfill, timeout)
            backfill_seconds, done = time.monotonic() - t0, time.time()
        finally:
            read = reader.stop()
        failed = [r for r in backfill_runs if r["status"] != "SUCCESS"]
        failures = {r["runId"]: run_errors(server, r["runId"]) for r in failed[:5]}
        log(f"backfill done in {backfill_seconds:.0f} s; checking rows")
        checks = check_rows(server, root, tables, partitions)
        policies = backfill_policies(server, tables)
        phases, steps = run_phases(server, backfill, launched, done)
    metrics = {
        "runs": len(backfill_runs),
        "policy_batches": policy_batches(policies, n_days),
        "range_runs": sum(run_days(r) > 1 for r in backfill_runs),
        "one_day_runs": sum(run_days(r) == 1 for r in backfill_runs),
        "oversized_runs": oversized_runs(backfill_runs, policies),
        "failed_runs": len(failed),
        "max_concurrent_runs": in_progress,
        "max_overlapping_executions": max_overlap(backfill_runs),
        "reader_queries": read["answered"],
        "reader_failures": read["failed"],
        "reader_not_yet": read["not_yet"],
        "duplicate_rows": sum(c.duplicate_rows for c in checks),
        "lost_rows": sum(c.lost_rows for c in checks),
        "row_count_mismatches": sum(not c.consistent for c in checks),
        "partition_count_mismatches": sum(len(c.partition_mismatches) for c in checks),
        "missing_partitions": sum(len(c.missing_partitions) for c in checks),
        "duplicate_materializations": sum(len(c.rematerialized) for c in checks),
        "reconciliation_problems": sum(len(c.problems) for c in checks),
        "rows_checked": sum(c.found for c in checks),
        "backfill_seconds": round(backfill_seconds, 1),
        **{f"{name}_seconds": value for name, value in phases.items()},
        "wall_seconds": round(time.monotonic() - t_wall, 1),
    }
    metrics["details"] = {
        "customers": customers,
        "days": n_days,
        "backfill_policies": policies,
        "step_seconds": steps,
        "reader": read,
        "failed_runs": failures,
        "tables": {
            c.key: {
                "expected": c.expected,
                "lake": c.lake_rows,
                "catalog": c.catalog_rows,
                "distinct_keys": c.distinct_keys,
                "missing_partitions": c.missing_partitions,
                "partition_mismatches": c.partition_mismatches[:20],
                "rematerialized": c.rematerialized,
                "runs": c.runs,
                "problems": c.problems,
            }
            for c in checks
        },
        "runs_by_assets": _runs_by_assets(backfill_runs),
    }
    return metrics


def _runs_by_assets(run_list: list[dict]) -> dict[str, list[str]]:
    """For each set of assets, the days of each run that materialized it."""
    out: dict[str, list[str]] = {}
    for r in run_list:
        keys = ",".join(sorted("/".join(a["path"]) for a in r["assetSelection"] or []))
        tags = {t["key"]: t["value"] for t in r["tags"]}
        days = tags.get("dagster/partition") or (
            f"{tags.get('dagster/asset_partition_range_start')}.."
            f"{tags.get('dagster/asset_partition_range_end')}"
        )
        out.setdefault(keys, []).append(f"{days} {r['status']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 partitions instead of 90")
    parser.add_argument("--days", type=int, help="number of daily partitions")
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    n_days = args.days or (10 if args.quick else 90)
    root = Path(tempfile.mkdtemp(prefix="concurrency_bench_"))
    log(f"{n_days} partitions, {args.customers} customers, load {os.getloadavg()[0]:.2f}")
    try:
        metrics = run_scenario(root, n_days, args.customers, timeout=4 * 3600)
    except Exception:
        traceback.print_exc()
        log(f"data and logs kept in {root}")
        raise SystemExit(1) from None
    details = metrics.pop("details")
    print(json.dumps(details, indent=1), file=sys.stderr)
    for name, value in metrics.items():
        print(f"{name}: {value}", flush=True)
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    else:
        log(f"kept {root}")


if __name__ == "__main__":
    main()
