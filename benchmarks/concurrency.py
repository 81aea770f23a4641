"""Concurrency that holds: a backfill with concurrent runs while a second process reads.

    python benchmarks/concurrency.py            # 90 daily partitions at 1,000 customers
    python benchmarks/concurrency.py --quick    # 10 daily partitions

Starts a real ``dagster dev`` (webserver, daemon, code server; ``tests/dagster_server.py``)
with its own ``DAGSTER_HOME`` (the packaged ``dagster.yaml``: at most 3 runs in progress, pools
of 2 slots) and data folder, then, through the GraphQL API only:

1. launches the ``reference_data`` job and waits for it;
2. starts a reader: another process that every second opens ``warehouse.duckdb`` with
   ``duckdb.connect(path, read_only=True)``, counts the rows of a few views and closes;
3. launches a partition backfill of :data:`SELECTION` (the daily assets of the ``sources`` and
   ``governance`` groups and one incremental SQL model) over the partitions and polls it until
   it and every run it launched have finished;
4. checks every table of the selection: the catalog view's ``count(*)`` (for tables with a
   view), the rows of the lake's partition files and the ``dagster/partition_row_count`` of
   each partition's latest materialization must agree, with no key twice.

Prints one ``name: value`` per line (progress goes to stderr):

- ``runs``, ``failed_runs``: runs the backfill launched, and those that did not succeed.
- ``one_day_runs``, ``sql_model_runs``, ``oversized_runs``: runs of the Python assets (one day
  each: one per day), of the SQL model (each up to its ``backfill_days``, 31, days: the daemon
  launches one for the days whose parents are done, so between 1 and one per day), and runs
  covering more days than their assets' backfill policy allows.
- ``max_concurrent_runs``: the most runs in progress at once, as the run queue counts them
  (``STARTING``, i.e. the run's process loading the code, or ``STARTED``), sampled every 2 s.
- ``max_overlapping_executions``: the most runs between their ``RUN_START`` event and their end
  at the same moment (from the runs' start and end times).
- ``reader_queries``, ``reader_failures``, ``reader_not_yet``: the reader's queries answered,
  not answered (the catalog could not be opened or the query failed), and answered "no such
  view yet" (a table whose first partition is not written yet: not a failure).
- ``duplicate_rows``: rows minus distinct natural keys, over every table.
- ``lost_rows``: rows the materializations reported minus distinct keys found, over every table.
- ``row_count_mismatches``, ``missing_partitions``: tables whose catalog, lake and metadata
  counts disagree; (table, day) pairs without a materialization.
- ``backfill_seconds``, ``wall_seconds``.

The test ``tests/test_concurrency.py`` runs :func:`run_scenario` on 10 partitions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing
import os
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
CUSTOMERS = 1_000


@dataclass(frozen=True)
class Table:
    """An asset of the backfill and how to check it."""

    key: str  # asset key, "<schema>/<table>"
    #: Columns unique over the table; ``("*",)``: the whole row but its lineage columns (a
    #: table without an id of its own); empty: not checked.
    natural_key: tuple[str, ...] = ()
    landing: bool = False  # PII: in the landing area, no catalog view
    days_per_run: int = 1  # the asset's BackfillPolicy.multi_run(max_partitions_per_run)

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
#: SQL model (31 days per run) on top of them.
SELECTION = (
    Table("raw/sessions", ("*",), landing=True),  # the GA4 export shape has no event id
    Table("raw/app_events", ("event_id",), landing=True),
    Table("raw/signals", ("signal_id",)),
    Table("raw/transactions", ("transaction_id",)),
    Table("governed/sessions", ("*",)),
    Table("governed/app_events", ("event_id",)),
    Table("governed/consent_audit", ("event_date",)),
    Table("features/daily_sales_by_category", ("sales_date", "category"), days_per_run=31),
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


def runs_by_policy(run_list: list[dict], tables: tuple[Table, ...]) -> tuple[dict[int, int], int]:
    """Runs per backfill policy (days per run), and runs covering more days than theirs.

    The Python assets (one day per run) of a day go into one run together; the SQL model runs
    on its own, once per batch of days whose parents the daemon found materialized (between
    ``ceil(days / 31)`` and ``days`` runs).
    """
    policy = {t.key: t.days_per_run for t in tables}
    counts: dict[int, int] = {}
    oversized = 0
    for r in run_list:
        keys = ["/".join(a["path"]) for a in r["assetSelection"] or []]
        limit = min((policy[k] for k in keys if k in policy), default=0)
        counts[limit] = counts.get(limit, 0) + 1
        if run_days(r) > limit:
            oversized += 1
    return dict(sorted(counts.items())), oversized


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
        metadataEntries { label ... on IntMetadataEntry { intRepr } }
      }
    }
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


def runs(server: DagsterServer, **filter_: Any) -> list[dict]:
    answer = server.graphql(_RUNS, {"filter": filter_})
    return _ok(answer, "runsOrError", "Runs")["results"]


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


def metadata_rows(
    server: DagsterServer, table: Table, partitions: list[str]
) -> tuple[int, list[str], list[str]]:
    """Rows of the latest materialization of each partition, from its metadata; the days
    without a materialization; the days whose materialization carries no row count.

    A one-day materialization carries ``dagster/partition_row_count``. A multi-day run (an SQL
    model's backfill) records one materialization per day with the same metadata, the run's
    ``window_rows``: counted once per run.
    """
    answer = server.graphql(
        _MATERIALIZATIONS, {"key": {"path": table.key.split("/")}, "partitions": partitions}
    )
    asset = answer["assetOrError"]
    if asset["__typename"] != "Asset":
        return 0, list(partitions), []
    latest: dict[str, dict] = {}
    for m in asset["assetMaterializations"]:
        p = m["partition"]
        if p not in latest or float(m["timestamp"]) > float(latest[p]["timestamp"]):
            latest[p] = m
    total, windows, uncounted = 0, {}, []
    for m in latest.values():
        meta = {e["label"]: e.get("intRepr") for e in m["metadataEntries"]}
        if meta.get("dagster/partition_row_count") is not None:
            total += int(meta["dagster/partition_row_count"])
        elif meta.get("window_rows") is not None:
            windows[m["runId"]] = int(meta["window_rows"])
        else:
            uncounted.append(m["partition"])
    missing = [p for p in partitions if p not in latest]
    return total + sum(windows.values()), missing, sorted(uncounted)


def lake_rows(root: Path, table: Table) -> int:
    """Rows of every partition file of the table, read file by file."""
    import pyarrow.parquet as pq

    base = root / "data" / ("landing" if table.landing else "lake") / table.schema / table.name
    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(base.glob("date=*/*.parquet")))


def check_rows(
    server: DagsterServer, root: Path, tables: tuple[Table, ...], partitions: list[str]
) -> list[TableCheck]:
    import duckdb

    warehouse = root / "data" / "warehouse.duckdb"
    checks = []
    for t in tables:
        c = TableCheck(t.key)
        c.expected, c.missing_partitions, uncounted = metadata_rows(server, t, partitions)
        if uncounted:
            c.problems.append(
                f"no dagster/partition_row_count for {len(uncounted)} partition(s), e.g. "
                f"{uncounted[0]}: written as a partition?"
            )
            c.missing_partitions += uncounted
        c.lake_rows = lake_rows(root, t)
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
            t0 = time.monotonic()
            backfill = launch_backfill(server, tables, partitions)
            log(f"backfill {backfill}: {len(tables)} assets x {n_days} partitions")
            backfill_runs, in_progress = wait_for_backfill(server, backfill, timeout)
            backfill_seconds = time.monotonic() - t0
        finally:
            read = reader.stop()
        failed = [r for r in backfill_runs if r["status"] != "SUCCESS"]
        failures = {r["runId"]: run_errors(server, r["runId"]) for r in failed[:5]}
        log(f"backfill done in {backfill_seconds:.0f} s; checking rows")
        checks = check_rows(server, root, tables, partitions)
    by_policy, oversized = runs_by_policy(backfill_runs, tables)
    metrics = {
        "runs": len(backfill_runs),
        "one_day_runs": by_policy.get(1, 0),
        "sql_model_runs": sum(n for p, n in by_policy.items() if p > 1),
        "oversized_runs": oversized,
        "failed_runs": len(failed),
        "max_concurrent_runs": in_progress,
        "max_overlapping_executions": max_overlap(backfill_runs),
        "reader_queries": read["answered"],
        "reader_failures": read["failed"],
        "reader_not_yet": read["not_yet"],
        "duplicate_rows": sum(c.duplicate_rows for c in checks),
        "lost_rows": sum(c.lost_rows for c in checks),
        "row_count_mismatches": sum(not c.consistent for c in checks),
        "missing_partitions": sum(len(c.missing_partitions) for c in checks),
        "rows_checked": sum(c.found for c in checks),
        "backfill_seconds": round(backfill_seconds, 1),
        "wall_seconds": round(time.monotonic() - t_wall, 1),
    }
    metrics["details"] = {
        "reader": read,
        "failed_runs": failures,
        "tables": {
            c.key: {
                "expected": c.expected,
                "lake": c.lake_rows,
                "catalog": c.catalog_rows,
                "distinct_keys": c.distinct_keys,
                "missing_partitions": c.missing_partitions,
                "problems": c.problems,
            }
            for c in checks
        },
        "runs_by_assets": _runs_by_assets(backfill_runs),
    }
    return metrics


def _runs_by_assets(run_list: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in run_list:
        keys = ",".join(sorted("/".join(a["path"]) for a in r["assetSelection"] or []))
        out[keys] = out.get(keys, 0) + 1
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
