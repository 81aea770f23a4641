"""A range of days in one run (issue 18): the same data as one run per day, all or nothing.

Every daily asset but activation takes a partition range in one step. These tests run the
real definitions against a temp warehouse: a range run against per-day runs of the same days,
and a range with one bad day, which must publish nothing of that asset.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from conftest import Pipeline

from retail_assets.defs.publishing import SCHEMA_CHECK, rows_by_day_table
from retail_assets.lib.sources import ingest
from retail_assets.lib.warehouse.frames import LINEAGE_COLUMNS

DAYS = ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"]
#: Sources, governance and the day-by-day SQL models: what a backfill of history runs.
DAILY = ",".join(
    [
        "raw/sessions",
        "raw/app_events",
        "raw/signals",
        "raw/transactions",
        "governed/sessions",
        "governed/consent_audit",
        "governed/app_events",
        "features/daily_sales_by_category",
        "features/daily_sales_by_store_product",
        "features/daily_category_signals",
        "features/user_daily_activity",
        "features/user_features",
        "features/executive_summary",
    ]
)
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def _partition_files(root: Path) -> dict[str, Path]:
    """Every daily partition file under ``root``, by its path relative to ``root``."""
    return {
        str(p.relative_to(root)): p
        for base in ("lake", "landing")
        for p in (root / base).rglob("date=*/data.parquet")
    }


def _data(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path).drop(
        [c for c in LINEAGE_COLUMNS if c in pl.read_parquet_schema(path)]
    )


def _data_bytes(path: Path) -> bytes:
    """The file's rows without the lineage columns, written back as Parquet bytes.

    ``lineage_id`` is the run's id and ``processed_at`` the moment it wrote: they name the run
    and differ between any two runs by design. Everything else must be the same bytes.
    """
    import io

    buf = io.BytesIO()
    _data(path).write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


@pytest.fixture(scope="module")
def range_and_days(tmp_path_factory) -> tuple[Pipeline, Pipeline, dg.ExecuteInProcessResult]:
    """The same four days materialized in one range run and in four one-day runs."""
    root = tmp_path_factory.mktemp("ranges")
    ranged = Pipeline(root / "range", customers=1_500)
    assert ranged.reference().success
    result = ranged.run_range(DAYS[0], DAYS[-1], selection=DAILY)
    assert result.success
    daily = Pipeline(root / "days", customers=1_500)
    assert daily.reference().success
    for day in DAYS:
        assert daily.run(day, selection=DAILY).success, day
    return ranged, daily, result


def test_a_range_run_writes_the_same_data_as_one_run_per_day(range_and_days):
    ranged, daily, _ = range_and_days
    a, b = _partition_files(ranged.root), _partition_files(daily.root)
    assert a.keys() == b.keys()
    tables = {str(Path(k).parent.parent) for k in a}
    # Four sources, three governed tables, six SQL models: every one of them, every day.
    assert len(tables) == 13, sorted(tables)
    assert len(a) == 13 * len(DAYS)
    for rel in sorted(a):
        assert _data_bytes(a[rel]) == _data_bytes(b[rel]), rel
    # The whole file differs only by the lineage columns, which name the run that wrote it.
    some = a["lake/raw/signals/date=2025-03-02/data.parquet"]
    lineage = pl.read_parquet(some, columns=list(LINEAGE_COLUMNS))
    assert lineage["lineage_id"].n_unique() == 1


def test_a_range_run_is_one_step_per_asset_with_one_check_result_each(range_and_days):
    ranged, _, result = range_and_days
    starts = [e for e in result.all_events if e.event_type_value == "STEP_START"]
    keys = [s.step_key for s in starts]
    assert len(keys) == len(set(keys))  # no asset ran twice
    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    schema_checks = [c for c in checks if c.check_name == SCHEMA_CHECK]
    by_asset = {}
    for c in schema_checks:
        by_asset.setdefault(c.asset_key.to_user_string(), []).append(c.passed)
    assert by_asset["raw/sessions"] == [True]
    assert by_asset["governed/consent_audit"] == [True]
    assert by_asset["features/daily_sales_by_category"] == [True]
    sessions = [c for c in schema_checks if c.asset_key == dg.AssetKey(["raw", "sessions"])][0]
    assert sessions.metadata["days_checked"].value == len(DAYS)


def test_a_range_run_reports_rows_per_day(range_and_days):
    ranged, _, _ = range_and_days
    record = ranged.instance.get_latest_materialization_event(dg.AssetKey(["raw", "transactions"]))
    meta = record.asset_materialization.metadata
    files = ranged.lake.partition_files("raw", "transactions")
    per_day = {
        f.parent.name[5:]: pl.scan_parquet(f).select(pl.len()).collect().item() for f in files
    }
    assert meta["days_written"].value == len(DAYS)
    assert meta["rows_written"].value == sum(per_day.values())
    table = meta["rows_by_day"].value
    for day, rows in per_day.items():
        assert f"| {day} | {rows:,} |" in table
    # The run's summary rides on its last day; every day's event has that day's own count and
    # nothing else heavy (the schema and preview are not copied 365 times into the instance).
    assert record.dagster_event.partition == DAYS[-1]
    events = ranged.instance.fetch_materializations(dg.AssetKey(["raw", "transactions"]), 100)
    by_day = {r.partition_key: r.asset_materialization.metadata for r in events.records}
    assert sorted(by_day) == sorted(per_day)
    for day, rows in per_day.items():
        assert by_day[day]["dagster/partition_row_count"].value == rows
        assert by_day[day]["range"].value == f"{DAYS[0]}..{DAYS[-1]} ({len(DAYS)} days)"
        assert ("dagster/column_schema" in by_day[day]) == (day == DAYS[-1])
    # Every day of the range got a materialization, all from the one run.
    partitions = ranged.instance.get_materialized_partitions(dg.AssetKey(["raw", "transactions"]))
    assert partitions == set(DAYS)


def test_the_consent_audit_reconciles_every_day_of_a_range(range_and_days):
    ranged, _, _ = range_and_days
    audit = ranged.lake.read("governed", "consent_audit").sort("event_date")
    assert audit["event_date"].cast(pl.Utf8).to_list() == DAYS
    sessions = ranged.lake.read("governed", "sessions")
    kept = dict(sessions.group_by("event_date").len().iter_rows())
    for row in audit.iter_rows(named=True):
        assert row["rows_kept"] == kept[row["event_date"]]
        dropped = sum(v for k, v in row.items() if k.startswith("dropped_"))
        assert row["rows_in"] == row["rows_kept"] + dropped


def test_rows_by_day_is_weekly_beyond_two_weeks():
    days = {(dt.date(2025, 1, 6) + dt.timedelta(days=i)).isoformat(): 10 + i for i in range(21)}
    table = rows_by_day_table(days)
    assert table.count("\n") == 2 + 3  # header, rule, three weeks
    assert "| 2025-01-06 | 7 | 91 | 10 | 16 |" in table
    assert rows_by_day_table({"2025-01-06": 5}).endswith("| 2025-01-06 | 5 |\n")


# ------------------------------------------------------------------ one bad day in a range

GA4_DAYS = [dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)]
GA4_CONFIG = {"ops": {"raw__sessions": {"config": {"source": "ga4"}}}}


def _sha(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _bad_consent(df: pl.DataFrame) -> pl.DataFrame:
    info = pl.col("privacy_info")
    consent = pl.struct(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit("maybe"))  # not a GA4 consent value: the pandera check rejects it
        .otherwise(info.struct.field("analytics_storage"))
        .alias("analytics_storage"),
        info.struct.field("ads_storage"),
        info.struct.field("uses_transient_token"),
    )
    return df.with_columns(consent.alias("privacy_info"))


def test_a_range_with_one_bad_day_publishes_nothing_and_names_the_day(tmp_path):
    pipe = Pipeline(tmp_path, customers=300)
    assert pipe.reference().success
    inbox = pipe.platform.inbox("ga4")
    inbox.mkdir(parents=True, exist_ok=True)
    sim = pipe.platform.simulator()
    job = pipe.defs.resolve_job_def("sessions_ingest")

    def run(first: dt.date, last: dt.date):
        return job.execute_in_process(
            run_config=GA4_CONFIG,
            instance=pipe.instance,
            raise_on_error=False,
            tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
        )

    # The good exports of the first and last day, loaded: the partitions to protect.
    for day in (GA4_DAYS[0], GA4_DAYS[2]):
        ingest.write_ga4_ndjson(sim.sessions(day), inbox / f"events_{day:%Y%m%d}.json")
    assert run(GA4_DAYS[0], GA4_DAYS[0]).success
    assert run(GA4_DAYS[2], GA4_DAYS[2]).success
    before = _sha(pipe.lake.partition_files("raw", "sessions", landing=True))
    assert len(before) == 2
    # Then re-exports of all three days, the middle one with three invalid consent values.
    for day in GA4_DAYS:
        frame = sim.sessions(day)
        frame = _bad_consent(frame) if day == GA4_DAYS[1] else frame.head(frame.height - 5)
        ingest.write_ga4_ndjson(frame, inbox / f"events_{day:%Y%m%d}.json")

    result = run(GA4_DAYS[0], GA4_DAYS[2])
    assert not result.success
    # The blocking check failed with ERROR severity, naming the day, the column and the rows.
    evaluation = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert len(evaluation) == 1
    check = evaluation[0]
    assert (check.check_name, check.passed, check.severity) == (
        SCHEMA_CHECK,
        False,
        dg.AssetCheckSeverity.ERROR,
    )
    assert check.metadata["failed_days"].value == ["2025-03-02"]
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "1 of 3 day(s) failed the schema check: 2025-03-02" in message
    assert "privacy_info" in message and "3 of" in message
    assert "2025-03-01..2025-03-03 is unchanged" in message
    # Nothing of the range was published: the good days kept their earlier bytes, the bad
    # day has no partition, and no staged file is left behind.
    after = _sha(pipe.lake.partition_files("raw", "sessions", landing=True))
    assert after == before
    assert not list(pipe.lake.table_dir("raw", "sessions", landing=True).rglob("*.tmp"))
    assert not result.is_node_success("raw__sessions")
