"""Source assets end to end: files dropped in the landing inbox, the sensor, the runs it asks."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil

import dagster as dg
import duckdb
import polars as pl

from retail_assets.defs.sources.landing import landing_inbox_sensor
from retail_assets.lib.sources import ingest

DAY = dt.date(2025, 3, 2)


def _sense(fresh, cursor=None):
    ctx = dg.build_sensor_context(cursor=cursor, resources={"platform": fresh.platform})
    result = landing_inbox_sensor(ctx)
    requests = [] if isinstance(result, dg.SkipReason) else result.run_requests
    return requests, ctx.cursor


def _execute(fresh, request):
    """Run a request as the sensor daemon would: one partition, or a range by its tags."""
    job = fresh.defs.resolve_job_def(request.job_name)
    return job.execute_in_process(
        partition_key=request.partition_key,
        run_config=request.run_config,
        tags=request.tags if request.partition_key_range else None,
        instance=fresh.instance,
        raise_on_error=False,
    )


def _days(request) -> tuple[str, str] | None:
    """``(first, last)`` of a request's days: a range, or one partition."""
    if request.partition_key_range:
        return request.partition_key_range.start, request.partition_key_range.end
    return (request.partition_key, request.partition_key) if request.partition_key else None


def _key(df: pl.DataFrame) -> pl.DataFrame:
    return df.drop("lineage_id", "processed_at", strict=False).sort(
        "event_timestamp", "event_name", "user_pseudo_id", nulls_last=True
    )


def test_ga4_export_with_late_events_via_the_sensor(fresh):
    """An export, then a re-export with late events: one run each, no duplicates."""
    simulated = fresh.platform.simulator().sessions(DAY)
    cutoff = simulated["event_timestamp"].quantile(0.9)
    inbox = fresh.platform.inbox("ga4")
    inbox.mkdir(parents=True)
    first = ingest.write_ga4_ndjson(
        simulated.filter(pl.col("event_timestamp") <= cutoff), inbox / "events_20250302.json"
    )
    with first.open("rb") as src, gzip.open(inbox / "events_20250302.json.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)  # the same export again, compressed: duplicates
    requests, cursor = _sense(fresh)
    assert [(r.job_name, r.partition_key) for r in requests] == [
        ("sessions_ingest", DAY.isoformat())
    ]
    assert _execute(fresh, requests[0]).success
    early = fresh.lake.read("raw", "sessions", [DAY.isoformat()], landing=True)
    assert early.height == simulated.filter(pl.col("event_timestamp") <= cutoff).height

    # Two days later GA4 re-exports the day with its late events; the sensor re-runs the day.
    simulated.write_parquet(inbox / "events_20250302_reexport.parquet")
    requests, cursor = _sense(fresh, cursor)
    assert [r.partition_key for r in requests] == [DAY.isoformat()]
    result = _execute(fresh, requests[0])
    assert result.success
    full = fresh.lake.read("raw", "sessions", [DAY.isoformat()], landing=True)
    assert full.height == simulated.height
    assert _key(full).equals(_key(simulated))
    with duckdb.connect(str(fresh.lake.warehouse_path), read_only=True) as con:
        governed, consented = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE analytics_storage = 'Yes') "
            "FROM governed.sessions"
        ).fetchone()
    expected = simulated.filter(
        (pl.col("privacy_info").struct.field("analytics_storage") == "Yes")
        & pl.col("user_pseudo_id").is_not_null()
    ).height
    assert governed == consented == expected
    assert _sense(fresh, cursor)[0] == []  # nothing new: nothing requested


def test_malformed_ga4_file_fails_naming_file_column_rows_and_changes_nothing(fresh):
    assert fresh.run(
        DAY.isoformat(), selection="raw/sessions,governed/sessions,governed/consent_audit"
    ).success
    before = fresh.lake.read("raw", "sessions", [DAY.isoformat()], landing=True)
    inbox = fresh.platform.inbox("ga4")
    inbox.mkdir(parents=True)
    good = ingest.write_ga4_ndjson(
        fresh.platform.simulator().sessions(DAY).head(50), inbox / "events_20250302.json"
    )
    lines = good.read_text().splitlines()
    lines[3] = lines[3].replace('"event_timestamp":"', '"event_timestamp":"x')
    lines[9] = lines[9].replace('"event_timestamp":"', '"event_timestamp":"y')
    good.write_text("\n".join(lines) + "\n")
    (request,) = _sense(fresh)[0]
    result = _execute(fresh, request)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "events_20250302.json" in message and "event_timestamp" in message
    assert "2 of 50 rows" in message
    ran = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert "governed_sessions" not in ran
    after = fresh.lake.read("raw", "sessions", [DAY.isoformat()], landing=True)
    assert after.equals(before)


def test_events_csv_via_mapping_and_sensor(fresh):
    inbox = fresh.platform.inbox("events")
    inbox.mkdir(parents=True)
    t0 = int(dt.datetime(2025, 3, 1, 23, 50, tzinfo=dt.UTC).timestamp() * 1000)
    minute = 60_000
    rows = [
        (t0, 7, "view", 101),
        (t0 + 2 * minute, 7, "addtocart", 101),
        (t0 + 15 * minute, 7, "transaction", 101),  # 2025-03-02 00:05
        (t0 + 90 * minute, 7, "view", 102),  # more than 30 minutes later: a new session
        (t0 + 20 * minute, 8, "view", 103),
    ]
    csv = "timestamp,visitorid,event,itemid,transactionid\n" + "".join(
        f"{t},{u},{e},{i},\n" for t, u, e, i in rows
    )
    (inbox / "events.csv").write_text(csv)
    (inbox / "events_again.csv").write_text(csv)  # delivered twice
    (request,) = _sense(fresh)[0]  # two consecutive days: one run of both
    assert _days(request) == ("2025-03-01", "2025-03-02")
    assert request.partition_key is None
    assert fresh.reference().success  # the customer base, whose consent governs the events
    assert _execute(fresh, request).success
    events = fresh.lake.read("raw", "app_events", ["2025-03-02"], landing=True).sort(
        "event_timestamp"
    )
    assert events["event_type"].to_list() == ["purchase", "view", "view"]
    assert events["user_id"].to_list() == ["7", "8", "7"]
    assert events.filter(pl.col("user_id") == "7")["session_id"].n_unique() == 2
    # Visitors 7 and 8 are not in the customer base: consent unknown, so nothing is governed.
    governed = fresh.lake.read("governed", "app_events", ["2025-03-02"])
    assert governed.height == 0 and "customer_key" in governed.columns
    assert fresh.lake.read("raw", "app_events", ["2025-03-01"], landing=True).height == 2
    record = fresh.instance.fetch_materializations(
        dg.AssetKey(["governed", "app_events"]), limit=1
    ).records[0]
    meta = record.asset_materialization.metadata  # the run's: both days
    assert meta["rows_in"].value == 5
    unknown = next(k for k in meta if k.startswith("dropped_unknown_customer"))
    assert meta[unknown].value == 5


def test_sales_history_and_overlapping_files(fresh):
    inbox = fresh.platform.inbox("sales_history")
    inbox.mkdir(parents=True)
    (inbox / "a.csv").write_text("date,series_id,value\n2025-01-01,north,10\n2025-01-02,north,12\n")
    (inbox / "b.csv").write_text("ds,unique_id,y\n2025-01-01,south,3.5\n")
    (request,) = _sense(fresh)[0]
    assert request.job_name == "sales_history_ingest"
    assert _execute(fresh, request).success
    with duckdb.connect(str(fresh.lake.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "SELECT series_id, date::VARCHAR, value FROM raw.sales_history ORDER BY 1, 2"
        ).fetchall()
    assert rows == [
        ("north", "2025-01-01", 10.0),
        ("north", "2025-01-02", 12.0),
        ("south", "2025-01-01", 3.5),
    ]
    before = fresh.lake.read("raw", "sales_history")

    (inbox / "c.csv").write_text("date,series_id,value\n2025-01-02,north,99\n")
    result = _execute(fresh, request)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "c.csv" in message and "series_id, date" in message and "(1 rows)" in message
    assert fresh.lake.read("raw", "sales_history").equals(before)


def test_customers_asset_keeps_contact_data_in_landing(fresh):
    job = fresh.defs.resolve_job_def("reference_data")
    assert job.execute_in_process(instance=fresh.instance).success
    customers = fresh.lake.read("raw", "customers", landing=True)
    assert customers.height == fresh.platform.customers
    assert customers["customer_id"].n_unique() == customers.height
    # Landing tables never get a view; only the governed, pseudonymized customers do.
    assert "raw.customers" not in fresh.lake.catalog_views()
    assert "governed.customers" in fresh.lake.catalog_views()
    assert not fresh.lake.table_dir("raw", "customers").exists()
    assert not set(fresh.lake.read("governed", "customers").columns) & {"email", "phone", "city"}


def test_sensor_names_an_unreadable_file_and_waits_for_a_fix(fresh):
    inbox = fresh.platform.inbox("events")
    inbox.mkdir(parents=True)
    bad = inbox / "events.csv"
    bad.write_text("timestamp,visitorid,event,itemid\nsoon,7,view,101\n")
    ctx = dg.build_sensor_context(resources={"platform": fresh.platform})
    result = landing_inbox_sensor(ctx)
    assert isinstance(result, dg.SkipReason)
    assert "events.csv" in result.skip_message and "timestamp" in result.skip_message
    # Unchanged, it is not read again; once fixed, its day is requested.
    assert _sense(fresh, ctx.cursor)[0] == []
    t = int(dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC).timestamp() * 1000)
    bad.write_text(f"timestamp,visitorid,event,itemid\n{t},7,view,101\n")
    requests, _ = _sense(fresh, ctx.cursor)
    assert [r.partition_key for r in requests] == ["2025-03-01"]


def test_ga4_files_of_many_days_request_one_run_per_contiguous_range(fresh):
    """A month of exports dropped at once is one run, not one per day; a gap splits it."""
    inbox = fresh.platform.inbox("ga4")
    inbox.mkdir(parents=True)
    sim = fresh.platform.simulator()
    days = [dt.date(2025, 3, d) for d in (1, 2, 3, 4, 7)]
    exported = {}
    for day in days:
        df = sim.sessions(day).head(40)
        ingest.write_ga4_ndjson(df, inbox / f"events_{day:%Y%m%d}.json")
        exported[day.isoformat()] = df.height
    requests, cursor = _sense(fresh)
    assert [(r.job_name, _days(r)) for r in requests] == [
        ("sessions_ingest", ("2025-03-01", "2025-03-04")),
        ("sessions_ingest", ("2025-03-07", "2025-03-07")),
    ]
    ranged, single = requests
    assert ranged.partition_key is None
    assert ranged.tags["dagster/asset_partition_range_start"] == "2025-03-01"
    assert ranged.tags["dagster/asset_partition_range_end"] == "2025-03-04"
    assert ranged.tags["landing_files"] == ", ".join(
        f"events_2025030{d}.json" for d in (1, 2, 3, 4)
    )
    assert single.partition_key == "2025-03-07"  # one day: a plain partition, as before
    assert "dagster/asset_partition_range_start" not in single.tags

    # The range request is one run that ingests and governs all four days.
    result = _execute(fresh, ranged)
    assert result.success
    for key in ("raw/sessions", "governed/sessions"):
        records = fresh.instance.fetch_materializations(
            dg.AssetKey.from_user_string(key), limit=100
        ).records
        assert sorted(r.partition_key for r in records) == [f"2025-03-0{d}" for d in (1, 2, 3, 4)]
        assert {r.run_id for r in records} == {result.run_id}
    for day in ("2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"):
        assert fresh.lake.read("raw", "sessions", [day], landing=True).height == exported[day]
    assert not fresh.lake.partition_path("raw", "sessions", "2025-03-07", landing=True).exists()

    # Nothing new: nothing asked. A re-export of one day inside the range re-runs that day.
    assert _sense(fresh, cursor)[0] == []
    sim.sessions(days[2]).head(60).write_parquet(inbox / "events_20250303_reexport.parquet")
    requests, _ = _sense(fresh, cursor)
    assert [(r.partition_key, r.partition_key_range) for r in requests] == [("2025-03-03", None)]


def test_events_file_spanning_days_requests_ranges_bounded_by_max_days(fresh, monkeypatch):
    """An events file over days 1-5 and 9: ranges 1-5 and 9; RETAIL_BACKFILL_MAX_DAYS=2 cuts
    the first into 1-2, 3-4 and 5."""
    inbox = fresh.platform.inbox("events")
    inbox.mkdir(parents=True)
    def noon(d: int) -> int:
        return int(dt.datetime(2025, 3, d, 12, tzinfo=dt.UTC).timestamp() * 1000)

    rows = "".join(f"{noon(d)},7,view,{100 + d}\n" for d in (1, 2, 3, 4, 5, 9))
    (inbox / "events.csv").write_text("timestamp,visitorid,event,itemid\n" + rows)
    requests, _ = _sense(fresh)
    assert [(r.job_name, _days(r)) for r in requests] == [
        ("app_events_ingest", ("2025-03-01", "2025-03-05")),
        ("app_events_ingest", ("2025-03-09", "2025-03-09")),
    ]
    assert len({r.run_key for r in requests}) == 2
    assert all(
        r.run_config["ops"]["raw__app_events"]["config"]["source"] == "events_file"
        for r in requests
    )

    monkeypatch.setenv("RETAIL_BACKFILL_MAX_DAYS", "2")
    requests, _ = _sense(fresh)
    assert [_days(r) for r in requests] == [
        ("2025-03-01", "2025-03-02"),
        ("2025-03-03", "2025-03-04"),
        ("2025-03-05", "2025-03-05"),
        ("2025-03-09", "2025-03-09"),
    ]


def test_contiguous_ranges():
    from retail_assets.defs.sources.landing import contiguous_ranges

    days = ["2025-03-04", "2025-03-01", "2025-03-02", "2025-03-02", "2025-03-31", "2025-04-01"]
    assert contiguous_ranges(days) == [
        ("2025-03-01", "2025-03-02"),
        ("2025-03-04", "2025-03-04"),
        ("2025-03-31", "2025-04-01"),  # across a month end
    ]
    assert contiguous_ranges([]) == []
    year = [(dt.date(2025, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(365)]
    assert contiguous_ranges(year) == [("2025-01-01", "2025-12-31")]
    assert contiguous_ranges(year, max_days=100) == [
        ("2025-01-01", "2025-04-10"),
        ("2025-04-11", "2025-07-19"),
        ("2025-07-20", "2025-10-27"),
        ("2025-10-28", "2025-12-31"),
    ]
