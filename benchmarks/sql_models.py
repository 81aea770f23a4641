"""Run the SQL models over simulated data and compare the loader with the same SQL in DuckDB.

    python benchmarks/sql_models.py            # 1,000,000 customers, 365 days, 31-day windows
    python benchmarks/sql_models.py --quick    # 20,000 customers, 56 days, 14-day windows

Prints one ``metric: value`` per line; progress goes to stderr.

First the inputs: the tables the SQL models may read, written exactly as the source and
governance assets write them (same frames, lineage columns, pandera validation,
``Lake.write_partition``) into a lake under ``--data-dir``. Raw tables with personal data
(customers, GA4 sessions, app events) are simulated in memory and only their governed tables
are written, as in the platform. Days are independent and generated in worker processes; days
whose files all exist are reused, so a second run starts measuring at once.

Then, for each model of ``retail_assets.defs.features.assets.load()`` in dependency order, in
one process:

- **loader**: ``sql_runner.materialize`` (in-memory DuckDB, declared tests, pandera contract,
  atomic partition writes, catalog view) into the same lake, incremental models in consecutive
  single-run windows of ``--range-days`` over the whole period (a single-run backfill), table
  and view models once;
- **direct**: the same rendered SQL on a fresh ``duckdb.connect()`` with a view per input over
  the same Parquet files, written the way one would by hand: ``COPY ... (PARTITION_BY ...)``
  for incremental models, one Parquet file for tables, and for views ``CREATE VIEW`` plus
  fetching the view once to Arrow.

Each window runs direct, loader, direct; ``<model>_overhead_ratio`` is the loader's time over
the mean of the two direct times, and ``loader_overhead_ratio`` is the worst model's.

A model whose whole pass (every window) takes DuckDB under ``--min-seconds`` (default 2 s) is
measured in several rounds, each a full pass that replaces what the last one wrote, until
DuckDB's time reaches it (at most 10 rounds; ``<model>_rounds``). Its times are the sums over
the rounds, so a 0.15 s query is not judged on one sample whose noise on this kind of machine
is ±0.03 s. The first round pays the process's one-time costs for the model as a single run
would; they are counted, spread over the rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import inspect
import logging
import multiprocessing as mp
import resource
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import polars as pl  # noqa: E402

from retail_assets.lib.config import load_simulation_config  # noqa: E402
from retail_assets.lib.governance.consent import cookieless_volumes  # noqa: E402
from retail_assets.lib.governance.privacy import (  # noqa: E402
    govern_app_events,
    govern_customers,
    govern_sessions,
)
from retail_assets.lib.governance.pseudonyms import Pseudonymizer  # noqa: E402
from retail_assets.lib.settings import Settings  # noqa: E402
from retail_assets.lib.sources import ga4  # noqa: E402
from retail_assets.lib.sources.simulator import Simulator  # noqa: E402
from retail_assets.lib.warehouse import schemas
from retail_assets.lib.warehouse.frames import with_lineage  # noqa: E402
from retail_assets.lib.warehouse.lake import Lake  # noqa: E402

log = logging.getLogger("sql_models")

START = dt.date(2025, 1, 1)
SEED = 42
#: Run ids stamped as ``lineage_id`` (a UUID, as Dagster's run ids are).
DATA_RUN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "retail-assets/benchmarks/sql_models/data"))
LOADER_RUN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "retail-assets/benchmarks/sql_models/loader"))
#: Tables written once (unpartitioned).
STATIC_TABLES = (("raw", "product_catalog"), ("raw", "retail_calendar"), ("governed", "customers"))
#: Tables written per day.
DAILY_TABLES = (
    ("raw", "transactions"),
    ("raw", "signals"),
    ("governed", "app_events"),
    ("governed", "sessions"),
    ("governed", "consent_audit"),
)
#: Most passes over one model's windows (see ``--min-seconds``).
MAX_ROUNDS = 10
#: Stop before generating when the inputs would take more than this (GB).
MAX_DISK_GB = 40.0


def report(name: str, value) -> None:
    """Print one metric line."""
    if isinstance(value, float):
        value = f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    print(f"{name}: {value}", flush=True)


def make_lake(data_dir: Path) -> Lake:
    """The benchmark's lake; the landing area stays empty (raw PII is never written)."""
    return Lake(data_dir / "lake", data_dir / "landing", data_dir / "warehouse.duckdb")


def period(days: int, start: dt.date = START) -> list[dt.date]:
    """The simulated days, from ``start`` (default :data:`START`)."""
    return [start + dt.timedelta(days=i) for i in range(days)]


# ---------------------------------------------------------------------------- data generation
class _Generator:
    """One worker's simulator, pseudonymizer and lake (built once per process)."""

    def __init__(self, customers: int, data_dir: Path) -> None:
        self.sim = Simulator(load_simulation_config(None), seed=SEED, customers=customers)
        # The key the platform resource resolves (the demo key unless one is configured).
        settings = Settings.from_env()
        key, is_demo = settings.resolved_key()
        self.pseudonymizer = Pseudonymizer(key=key, key_id="demo" if is_demo else settings.key_id)
        self.lake = make_lake(data_dir)
        self._consent: pl.DataFrame | None = None

    def stamp(self, df: pl.DataFrame) -> pl.DataFrame:
        """``df`` with the lineage columns every published table carries."""
        return with_lineage(df, DATA_RUN_ID, dt.datetime.now(dt.UTC))

    def publish(self, df: pl.DataFrame, schema: str, table: str, day: dt.date | None) -> None:
        """Validate and write one partition, as ``publish_table`` does (no Dagster)."""
        stamped = self.stamp(df)
        result = schemas.validate(f"{schema}.{table}", stamped, source="simulator")
        if not result.passed:
            raise RuntimeError(result.message())
        self.lake.write_partition(stamped, schema, table, day.isoformat() if day else None)

    def raw_customers(self) -> pl.DataFrame:
        """raw.customers as the landing asset holds it (in memory only: it carries PII)."""
        return self.stamp(self.sim.customers_frame())

    def static_tables(self) -> None:
        """raw.product_catalog, raw.retail_calendar and governed.customers."""
        self.publish(self.sim.product_catalog_frame(), "raw", "product_catalog", None)
        self.publish(self.sim.calendar_frame(START), "raw", "retail_calendar", None)
        governed, _ = govern_customers(self.raw_customers(), self.pseudonymizer)
        self.publish(governed, "governed", "customers", None)

    def day(self, day: dt.date) -> float:
        """Every daily table of ``day``; returns the seconds it took."""
        start = time.perf_counter()
        sim = self.sim
        self.publish(sim.transactions(day), "raw", "transactions", day)
        self.publish(sim.signals(day), "raw", "signals", day)
        if self._consent is None:
            self._consent = self.raw_customers().select("customer_id", "analytics_storage")
        events = self.stamp(sim.app_events(day))  # raw.app_events: landing only, not written
        governed, _ = govern_app_events(events, self._consent, self.pseudonymizer)
        self.publish(governed, "governed", "app_events", day)
        del events, governed
        raw = self.stamp(sim.sessions(day))  # raw.sessions: landing only, not written
        flat = ga4.flatten(raw)
        del raw
        governed, counts = govern_sessions(flat, self.pseudonymizer)
        volumes = cookieless_volumes(flat)
        del flat
        self.publish(governed, "governed", "sessions", day)
        audit = pl.DataFrame(
            {
                "event_date": [day],
                **{k: [v] for k, v in counts.items()},
                # The simulated world's policy, as governed/sessions stamps it.
                "unset_policy": ["deny"],
                "consent_basis": pl.Series([None], dtype=pl.Utf8),
                **{k: [v] for k, v in volumes.items()},
            }
        )
        self.publish(audit, "governed", "consent_audit", day)
        return time.perf_counter() - start


_WORKER: _Generator | None = None
_PR_SET_PDEATHSIG = 1


def _init_worker(customers: int, data_dir: str) -> None:
    global _WORKER
    # Linux: end with the parent, however it ends (`kill <pid>` stops the whole benchmark).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    _WORKER = _Generator(customers, Path(data_dir))


def _run_task(task: dt.date | None) -> tuple[dt.date | None, float]:
    """A worker task: one day, or the unpartitioned tables (``None``)."""
    assert _WORKER is not None
    if task is None:
        start = time.perf_counter()
        _WORKER.static_tables()
        return None, time.perf_counter() - start
    return task, _WORKER.day(task)


def day_complete(lake: Lake, day: dt.date) -> bool:
    """True when every daily table of ``day`` has its file."""
    return all(lake.partition_path(s, t, day.isoformat()).exists() for s, t in DAILY_TABLES)


def static_complete(lake: Lake) -> bool:
    """True when every unpartitioned input table has its file."""
    return all(lake.partition_path(s, t, None).exists() for s, t in STATIC_TABLES)


def input_bytes(lake: Lake, days: Sequence[dt.date]) -> tuple[int, int]:
    """Bytes of the unpartitioned tables, and of the daily tables over ``days``."""
    static = sum(
        lake.partition_path(s, t, None).stat().st_size
        for s, t in STATIC_TABLES
        if lake.partition_path(s, t, None).exists()
    )
    daily = sum(
        lake.partition_path(s, t, d.isoformat()).stat().st_size
        for d in days
        for s, t in DAILY_TABLES
        if lake.partition_path(s, t, d.isoformat()).exists()
    )
    return static, daily


class DiskBudgetExceeded(RuntimeError):
    """The inputs would not fit in the disk budget; nothing more was generated."""


def generate(
    data_dir: Path, customers: int, days: Sequence[dt.date], workers: int, max_gb: float
) -> int:
    """Write every missing input table; returns the number of days generated.

    Two days (or the unpartitioned tables alone) go first: their size gives the estimate of
    the whole period, checked against ``max_gb`` before the rest is generated.
    """
    lake = make_lake(data_dir)
    missing = [d for d in days if not day_complete(lake, d)]
    tasks: list[dt.date | None] = ([] if static_complete(lake) else [None]) + missing
    done_days = sorted(set(days) - set(missing))
    log.info(
        "%s: %d of %d days present, %d to generate with %d workers",
        data_dir,
        len(done_days),
        len(days),
        len(missing),
        workers,
    )
    if not tasks:
        report_estimate(lake, days, done_days, max_gb)
        return 0
    trial_size = 0 if len(done_days) >= 2 else 2 - len(done_days)
    trial = tasks[: trial_size + (tasks[0] is None)]
    rest = tasks[len(trial) :]
    started = time.perf_counter()
    ctx = mp.get_context("spawn")  # polars and DuckDB hold threads: never fork them
    with ctx.Pool(workers, initializer=_init_worker, initargs=(customers, str(data_dir))) as pool:
        generated: list[float] = []
        for tag, _ in _progress(pool.imap_unordered(_run_task, trial), started, generated):
            if tag is not None:
                done_days.append(tag)
        report_estimate(lake, days, done_days, max_gb)
        for tag, _ in _progress(pool.imap_unordered(_run_task, rest), started, generated):
            if tag is not None:
                done_days.append(tag)
    log.info(
        "generated %d days in %.0f s (%.1f s per day per worker)",
        len(generated),
        time.perf_counter() - started,
        sum(generated) / max(len(generated), 1),
    )
    return len(generated)


def _progress(
    results: Iterator[tuple[dt.date | None, float]], started: float, generated: list[float]
) -> Iterator[tuple[dt.date | None, float]]:
    """Pass results through, logging every 10th day with the elapsed time."""
    for tag, secs in results:
        if tag is None:
            log.info("unpartitioned tables written in %.1f s", secs)
        else:
            generated.append(secs)
            if len(generated) % 10 == 0 or len(generated) <= 2:
                log.info(
                    "%d days generated (latest %s, %.1f s in its worker), %.0f s elapsed",
                    len(generated),
                    tag,
                    secs,
                    time.perf_counter() - started,
                )
        yield tag, secs


def report_estimate(
    lake: Lake, days: Sequence[dt.date], done_days: Sequence[dt.date], max_gb: float
) -> None:
    """Print the estimated size of all inputs; raise if it exceeds ``max_gb``."""
    complete = [d for d in done_days if day_complete(lake, d)]
    static, daily = input_bytes(lake, complete)
    per_day = daily / len(complete) if complete else 0.0
    estimate = (static + per_day * len(days)) / 1e9
    report("estimated_disk_gb", estimate)
    log.info("inputs: %.1f MB per day, %.1f GB for %d days", per_day / 1e6, estimate, len(days))
    remaining = per_day * (len(days) - len(complete)) / 1e9
    free = shutil.disk_usage(lake.lake_root).free / 1e9
    if estimate > max_gb or remaining > free * 0.9:
        raise DiskBudgetExceeded(
            f"the inputs would take {estimate:.1f} GB ({per_day / 1e6:.0f} MB per day; "
            f"{remaining:.1f} GB still to write), over the budget of {max_gb:.0f} GB or the "
            f"free {free:.0f} GB: stopped before filling the disk"
        )


def input_rows(lake: Lake, days: Sequence[dt.date]) -> dict[str, int]:
    """Rows of every input table over the period (from the Parquet footers)."""
    out = {}
    for schema, table in STATIC_TABLES:
        files = lake.partition_files(schema, table)
        out[f"{schema}_{table}"] = _rows(files)
    for schema, table in DAILY_TABLES:
        files = lake.partition_files(schema, table, [d.isoformat() for d in days])
        out[f"{schema}_{table}"] = _rows(files)
    return out


def _rows(files: Sequence[Path]) -> int:
    if not files:
        return 0
    return int(pl.scan_parquet(files).select(pl.len()).collect().item())


# ---------------------------------------------------------------------------- measurement
def windows(days: Sequence[dt.date], range_days: int) -> list[tuple[dt.date, dt.date]]:
    """Consecutive ``[start, end)`` windows of at most ``range_days`` covering ``days``."""
    out = []
    for i in range(0, len(days), range_days):
        chunk = days[i : i + range_days]
        out.append((chunk[0], chunk[-1] + dt.timedelta(days=1)))
    return out


def _sql_str(value: str | Path) -> str:
    return str(value).replace("'", "''")


@dataclass(frozen=True)
class ModelInputs:
    """What the loader is given besides the lake, as the Dagster asset gives it.

    ``empty``: frames for optional inputs without data (``_empty_frame``); ``views``: the SQL
    and references of every view model (``view_models``); ``columns``: the columns of each
    input, for column lineage (``upstream_columns``). The last two are left out on trees
    whose ``materialize`` does not take them.
    """

    empty: Mapping[tuple[str, str], pl.DataFrame]
    views: Mapping[tuple[str, str], tuple[str, Sequence[tuple[str, str]]]]
    columns: Mapping[tuple[str, str], Sequence[str]] | None = None

    def view(self, lake: Lake, table: tuple[str, str]):
        """``(sql, refs)`` of a view model the SQL reads, or None for a table."""
        return self.views.get(table) or lake.view_definition(*table)


def input_views(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    refs: Sequence[tuple[str, str]],
    inputs: ModelInputs,
    done: set[tuple[str, str]] | None = None,
) -> None:
    """A view per input over its Parquet files (a view model: its definition)."""
    done = set() if done is None else done
    for schema, table in refs:
        if (schema, table) in done:
            continue
        done.add((schema, table))
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        view = inputs.view(lake, (schema, table))
        if view is not None:
            sql, view_refs = view
            input_views(con, lake, view_refs, inputs, done)
            con.execute(f'CREATE VIEW "{schema}"."{table}" AS {sql}')
            continue
        files = lake.partition_files(schema, table)
        if files:
            paths = ", ".join(f"'{_sql_str(f)}'" for f in files)
            con.execute(
                f'CREATE VIEW "{schema}"."{table}" AS SELECT * FROM read_parquet([{paths}], '
                "union_by_name = true, hive_partitioning = false)"
            )
        elif (schema, table) in inputs.empty:
            name = f"__empty_{schema}_{table}"
            con.register(name, inputs.empty[(schema, table)])
            con.execute(f'CREATE VIEW "{schema}"."{table}" AS SELECT * FROM "{name}"')
        else:
            raise LookupError(f"no data for {schema}.{table}")


def run_direct(
    model, lake: Lake, start: dt.date | None, end: dt.date | None, out: Path, inputs: ModelInputs
) -> tuple[float, int]:
    """The model's SQL run and written by hand in DuckDB; returns (seconds, rows)."""
    began = time.perf_counter()
    con = duckdb.connect()
    try:
        # The loader's session time zone, so TIMESTAMPTZ arithmetic means the same thing.
        con.execute("SET TimeZone = 'UTC'")
        input_views(con, lake, model.refs, inputs)
        sql = model.render(start, end)
        if model.materialized == "incremental":
            target = out / model.schema / model.name
            target.parent.mkdir(parents=True, exist_ok=True)
            column = model.header.partition_column
            rows = con.execute(
                f"COPY ({sql}) TO '{_sql_str(target)}' (FORMAT parquet, COMPRESSION zstd, "
                f'PARTITION_BY ("{column}"), OVERWRITE_OR_IGNORE)'
            ).fetchone()[0]
        elif model.materialized == "table":
            target = out / model.schema / f"{model.name}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            rows = con.execute(
                f"COPY ({sql}) TO '{_sql_str(target)}' (FORMAT parquet, COMPRESSION zstd)"
            ).fetchone()[0]
        else:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{model.schema}"')
            con.execute(f'CREATE OR REPLACE VIEW "{model.schema}"."{model.name}" AS {sql}')
            rows = (
                con.execute(f'SELECT * FROM "{model.schema}"."{model.name}"')
                .to_arrow_table()
                .num_rows
            )
    finally:
        con.close()
    return time.perf_counter() - began, int(rows)


def run_loader(
    model, lake: Lake, start: dt.date | None, end: dt.date | None, inputs: ModelInputs
) -> tuple[float, int]:
    """``sql_runner.materialize`` as the asset calls it; returns (seconds, rows written)."""
    from retail_assets.lib.warehouse.sql_runner import materialize

    accepted = inspect.signature(materialize).parameters
    extra = {
        name: value
        for name, value in (("views", inputs.views), ("upstream_columns", inputs.columns))
        if name in accepted and value is not None
    }
    began = time.perf_counter()
    done = materialize(model, lake, start, end, LOADER_RUN_ID, inputs.empty, **extra)
    return time.perf_counter() - began, done.rows_written


@dataclass
class Timing:
    """One model's totals over its windows."""

    loader: float = 0.0
    direct_first: float = 0.0
    direct_second: float = 0.0
    rows: int = 0
    direct_rows: int = 0
    rounds: int = 0

    @property
    def direct(self) -> float:
        """Mean of the two direct passes."""
        return (self.direct_first + self.direct_second) / 2

    @property
    def ratio(self) -> float:
        """Loader time over direct time."""
        return self.loader / self.direct if self.direct else float("nan")


class ModelFailed(RuntimeError):
    """A model failed in the loader or in DuckDB; the message says where."""


def _interrupted(exc: BaseException) -> bool:
    """True when DuckDB gave up on a query because the process got SIGINT."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.InterruptException) or any(
        marker in text for marker in ("query interrupted", "interrupt error")
    )


def measure_model(
    model,
    lake: Lake,
    days: Sequence[dt.date],
    range_days: int,
    scratch: Path,
    inputs: ModelInputs,
    min_seconds: float = 2.0,
) -> Timing:
    """Direct, loader, direct for every window of ``model``; raises on the first failure.

    Passes repeat until DuckDB's total reaches ``min_seconds`` (at most ``MAX_ROUNDS``).
    """
    # Without --range-days, each model runs in the windows its backfill policy gives it
    # (the header's backfill_days): what a backfill of the year does.
    span_days = range_days or getattr(model.header, "backfill_days", 31)
    spans: list[tuple[dt.date | None, dt.date | None]] = (
        list(windows(days, span_days)) if model.partitioned else [(None, None)]
    )
    # Start from nothing: no partition from an earlier benchmark run is left in either output.
    shutil.rmtree(lake.table_dir(model.schema, model.name), ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    timing = Timing()
    while True:
        _measure_pass(model, lake, spans, scratch, inputs, timing)
        timing.rounds += 1
        if timing.direct >= min_seconds or timing.rounds >= MAX_ROUNDS:
            return timing


def _measure_pass(
    model,
    lake: Lake,
    spans: Sequence[tuple[dt.date | None, dt.date | None]],
    scratch: Path,
    inputs: ModelInputs,
    timing: Timing,
) -> None:
    """One pass of direct, loader, direct over every window, added to ``timing``."""
    for start, end in spans:
        where = f" [{start}, {end})" if start else ""
        stage = "direct"
        try:
            secs, _ = run_direct(model, lake, start, end, scratch, inputs)
            timing.direct_first += secs
            stage = "loader"
            secs, rows = run_loader(model, lake, start, end, inputs)
            timing.loader += secs
            if not timing.rounds:  # rows of one pass; later rounds rewrite the same
                timing.rows += rows
            stage = "direct"
            secs, rows = run_direct(model, lake, start, end, scratch, inputs)
            timing.direct_second += secs
            if not timing.rounds:
                timing.direct_rows += rows
        except Exception as exc:
            if _interrupted(exc):  # Ctrl-C / SIGINT inside DuckDB: stop, do not go on
                raise KeyboardInterrupt from exc
            raise ModelFailed(f"{stage}{where}: {type(exc).__name__}: {exc}") from exc
        log.info(
            "%s.%s%s: loader %.2f s, direct %.2f s so far",
            model.schema,
            model.name,
            where,
            timing.loader,
            timing.direct,
        )


def measure(
    data_dir: Path,
    days: Sequence[dt.date],
    range_days: int,
    only: set[str] | None = None,
    min_seconds: float = 2.0,
) -> None:
    """Run and print every model's loader and direct timings, then the summary.

    ``only`` limits the run to those model names; their inputs must already be in the lake.
    """
    from retail_assets.defs.features import assets as features

    every = features.load()
    by_table = {m.table: m for m in every}
    models = [m for m in every if not only or m.name in only]
    views = features.view_models(by_table) if hasattr(features, "view_models") else {}
    columns = getattr(features, "upstream_columns", None)
    lake = make_lake(data_dir)
    log.info("%d models: %s", len(models), ", ".join(f"{m.schema}.{m.name}" for m in models))
    ratios: dict[str, float] = {}
    loader_total = direct_total = 0.0
    for model in models:
        prefix = f"{model.schema}_{model.name}"
        inputs = ModelInputs(
            empty={r: features._empty_frame(r) for r in model.optional_refs if r not in by_table},
            views=views,
            columns=columns(model, by_table) if columns else None,
        )
        scratch = data_dir / "direct" / prefix
        try:
            timing = measure_model(model, lake, days, range_days, scratch, inputs, min_seconds)
        except ModelFailed as exc:
            log.error("%s failed: %s", prefix, exc)
            report(f"{prefix}_error", " | ".join(str(exc).split("\n"))[:500])
            continue
        if timing.rows != timing.direct_rows:
            log.warning(
                "%s: the loader wrote %d rows, DuckDB %d", prefix, timing.rows, timing.direct_rows
            )
        report(f"{prefix}_loader_seconds", timing.loader)
        report(f"{prefix}_direct_seconds", timing.direct)
        report(f"{prefix}_overhead_ratio", timing.ratio)
        report(f"{prefix}_rows", timing.rows)
        report(f"{prefix}_rounds", timing.rounds)
        ratios[f"{model.schema}.{model.name}"] = timing.ratio
        loader_total += timing.loader
        direct_total += timing.direct
    if ratios:
        worst = max(ratios, key=ratios.__getitem__)
        report("loader_overhead_ratio", ratios[worst])
        report("worst_model", worst)
        report("loader_seconds_total", loader_total)
        report("direct_seconds_total", direct_total)
        report("total_overhead_ratio", loader_total / direct_total)
    report("peak_memory_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    report("models", len(models))
    report("models_failed", len(models) - len(ratios))


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the inputs, then measure every model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 customers, 56 days")
    parser.add_argument("--customers", type=int, help="customers (default 1,000,000)")
    parser.add_argument("--days", type=int, help="days from 2025-01-01 (default 365)")
    parser.add_argument(
        "--range-days",
        type=int,
        help="days per loader run (default: each model's backfill_days; 14 with --quick)",
    )
    parser.add_argument("--models", help="comma-separated model names to measure (default all)")
    parser.add_argument(
        "--first-day",
        type=dt.date.fromisoformat,
        help="measure from this day (default 2025-01-01); with --data-dir, a slice of the year",
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=2.0,
        help="repeat a model's pass until DuckDB's time reaches this (at most 10 rounds)",
    )
    parser.add_argument("--data-dir", type=Path, help="inputs and outputs (default: a cache)")
    parser.add_argument("--workers", type=int, default=2, help="generation processes")
    parser.add_argument("--max-disk-gb", type=float, default=MAX_DISK_GB)
    parser.add_argument("--generate-only", action="store_true", help="stop after the inputs")
    args = parser.parse_args(argv)
    customers = args.customers or (20_000 if args.quick else 1_000_000)
    n_days = args.days or (56 if args.quick else 365)
    range_days = args.range_days or (14 if args.quick else 0)
    data_dir = (
        args.data_dir or REPO / "benchmarks" / ".cache" / f"sql_models_{customers}c_{n_days}d"
    ).absolute()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    days = period(n_days, args.first_day or START)

    started = time.perf_counter()
    try:
        generated = generate(data_dir, customers, days, args.workers, args.max_disk_gb)
    except DiskBudgetExceeded as exc:
        log.error("%s", exc)
        return 2
    report("data_generation_seconds", time.perf_counter() - started)
    report("data_generated_days", generated)
    lake = make_lake(data_dir)
    static, daily = input_bytes(lake, days)
    report("data_disk_gb", (static + daily) / 1e9)
    for name, rows in input_rows(lake, days).items():
        report(f"input_rows_{name}", rows)
    if not args.generate_only:
        only = set(args.models.split(",")) if args.models else None
        measure(data_dir, days, range_days, only, args.min_seconds)
    report("customers", customers)
    report("days", n_days)
    report("range_days", range_days or "backfill_days of each model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
