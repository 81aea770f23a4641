"""The instance's event log class: Dagster's SQLite files, kept open, committed WAL-style."""

import sqlite3

import dagster as dg

from retail_assets.event_log import LocalSqliteEventLogStorage
from retail_assets.instance import ensure_dagster_home


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2025-01-01"))
def days(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"n": len(context.partition_keys)})


def test_the_packaged_instance_stores_events_in_dagsters_files(tmp_path, monkeypatch):
    home = ensure_dagster_home(tmp_path / "home", set_env=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, LocalSqliteEventLogStorage)
        for day in ("2025-01-01", "2025-01-02"):
            assert dg.materialize([days], instance=instance, partition_key=day).success
        # A range in one run: one materialization per day, each stored.
        tags = {
            "dagster/asset_partition_range_start": "2025-01-03",
            "dagster/asset_partition_range_end": "2025-01-12",
        }
        assert dg.materialize([days], instance=instance, tags=tags).success
        # Every run's events, in Dagster's own files; the open engines stay bounded.
        runs = list((home / "history" / "runs").glob("*.db"))
        assert len(runs) == 4  # three runs and the index
        assert len(storage._engines) <= storage.OPEN_ENGINES
        with storage.index_connection() as conn:
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert (sync, journal) == (1, "wal")  # NORMAL on a write-ahead log
    # A new process (here a new instance) reads them back, with Dagster's default class too.
    with dg.DagsterInstance.get() as again:
        keys = again.get_materialized_partitions(days.key)
        assert len(keys) == 12
    with sqlite3.connect(home / "history" / "runs" / "index.db") as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        ).fetchone()
    assert n == 12


def test_engines_are_closed_beyond_the_bound(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    storage = LocalSqliteEventLogStorage.from_config_value(None, {"base_dir": "history/runs"})
    assert storage._base_dir == str(tmp_path / "history" / "runs")
    for i in range(storage.OPEN_ENGINES + 5):
        with storage.run_connection(f"run{i}") as conn:
            conn.exec_driver_sql("SELECT 1")
    assert len(storage._engines) == storage.OPEN_ENGINES
    assert f"run{storage.OPEN_ENGINES + 4}" in storage._engines  # the most recent stay open
    assert "run0" not in storage._engines
    storage.dispose()
    assert storage._engines == {}
