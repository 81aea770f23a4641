"""The catalog under concurrency: readers never block a run, and see new data at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import duckdb
import polars as pl
import pytest

from retail_assets.cli import main as cli_main
from retail_assets.lib.warehouse.lake import Lake

READER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("SELECT count(*) FROM raw.signals").fetchone()[0], flush=True)
    sys.stdin.readline()  # hold the catalog open until told to query again
    print(con.execute("SELECT count(*) FROM raw.signals").fetchone()[0], flush=True)
    """
)


@pytest.fixture
def reader():
    procs = []

    def start(path):
        p = subprocess.Popen(
            [sys.executable, "-c", READER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(p)
        first = p.stdout.readline().strip()
        assert first, p.stderr.read()
        return p, int(first)

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_run_succeeds_while_a_reader_holds_the_catalog(fresh, reader):
    assert fresh.run("2025-03-01", selection="raw/signals").success
    proc, first_count = reader(fresh.lake.warehouse_path)
    assert first_count > 0

    # A writer cannot open the catalog now...
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(fresh.lake.warehouse_path))
    # ...but runs never write it in place: the new view goes into a copy of the catalog that
    # is renamed over it, so the run succeeds and a new connection sees the view at once.
    result = fresh.run("2025-03-02", selection="raw/signals,raw/transactions")
    assert result.success
    messages = [entry.user_message for entry in fresh.instance.all_logs(result.run_id)]
    assert any("created catalog view raw.transactions" in m for m in messages)
    assert fresh.lake.partition_files("raw", "transactions", ["2025-03-02"])
    assert "raw.transactions" in fresh.lake.catalog_views()

    # The open reader sees the new partition of an existing view at once.
    proc.stdin.write("\n")
    proc.stdin.flush()
    second_count = int(proc.stdout.readline())
    expected = fresh.lake.read("raw", "signals").height
    assert second_count == expected > first_count
    proc.kill()
    proc.wait()

    # A reader connecting now gets the new catalog with both views.
    proc, _ = reader(fresh.lake.warehouse_path)
    assert fresh.run("2025-03-03", selection="raw/transactions").success
    assert "raw.transactions" in fresh.lake.catalog_views()


def test_catalog_refresh_command(tmp_path, monkeypatch, capsys):
    lake = Lake(tmp_path / "lake", tmp_path / "landing", tmp_path / "w.duckdb")
    lake.write_partition(pl.DataFrame({"a": [1, 2]}), "features", "t", "2025-01-01")
    lake.write_partition(pl.DataFrame({"a": [3]}), "features", "t", "2025-01-02")
    monkeypatch.setenv("RETAIL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RETAIL_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("RETAIL_WAREHOUSE_PATH", str(tmp_path / "w.duckdb"))
    assert cli_main(["catalog", "refresh"]) == 0
    assert "features.t: created" in capsys.readouterr().out
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT sum(a) FROM features.t").fetchone()[0] == 6


def test_atomic_replace_never_shows_half_a_partition(tmp_path):
    lake = Lake(tmp_path / "lake", tmp_path / "landing", tmp_path / "w.duckdb")
    big = pl.DataFrame({"x": range(200_000)})
    lake.write_partition(big, "raw", "t", "2025-01-01")
    path = lake.partition_path("raw", "t", "2025-01-01")
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import polars as pl
        from retail_assets.lib.warehouse.lake import Lake
        lake = Lake({str(tmp_path / "lake")!r}, {str(tmp_path / "landing")!r}, 'w.duckdb')
        for i in range(30):
            n = 100_000 if i % 2 else 200_000
            lake.write_partition(pl.DataFrame({{"x": range(n)}}), "raw", "t", "2025-01-01")
    """),
        ]
    )
    seen = set()
    deadline = time.monotonic() + 60
    con = duckdb.connect()
    while writer.poll() is None and time.monotonic() < deadline:
        # Our reader and DuckDB (what catalog views use) must always see a whole file.
        seen.add(lake.read("raw", "t").height)
        seen.add(con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0])
    writer.wait()
    assert writer.returncode == 0
    assert seen <= {100_000, 200_000}
    assert not list(path.parent.glob("*.tmp"))


def test_staged_daily_write_publishes_every_day_and_discards_cleanly(tmp_path):
    import datetime as dt

    lake = Lake(tmp_path / "lake", tmp_path / "landing", tmp_path / "w.duckdb")
    days = ["2025-01-01", "2025-01-02", "2025-01-03"]
    lake.write_partition(pl.DataFrame({"d": [dt.date(2025, 1, 2)], "x": [-1]}), "raw", "t", days[1])
    frame = pl.DataFrame(
        {"d": [dt.date(2025, 1, 1), dt.date(2025, 1, 1), dt.date(2025, 1, 3)], "x": [1, 2, 3]}
    )
    # Not published: nothing changes and nothing is left behind.
    with lake.stage(frame, "raw", "t", "d", days):
        pass
    assert lake.read("raw", "t")["x"].to_list() == [-1]
    assert sorted(p.name for p in lake.table_dir("raw", "t").iterdir()) == ["date=2025-01-02"]

    with lake.stage(frame, "raw", "t", "d", days) as staged:
        written = staged.publish()
    assert [(w.path.parent.name, w.rows) for w in written] == [
        ("date=2025-01-01", 2),
        ("date=2025-01-02", 0),
        ("date=2025-01-03", 1),
    ]
    # The day without rows was replaced by an empty file with the schema.
    assert lake.read("raw", "t", [days[1]]).schema == frame.schema
    assert lake.read("raw", "t", [days[1]]).height == 0
    assert lake.read("raw", "t")["x"].to_list() == [1, 2, 3]
    assert not [p for p in lake.table_dir("raw", "t").rglob("*") if p.name.startswith(".")]


def test_view_over_missing_table_is_not_created(tmp_path):
    lake = Lake(tmp_path / "lake", tmp_path / "landing", tmp_path / "w.duckdb")
    assert lake.ensure_view("raw", "nothing").status == "no_data"
    with pytest.raises(LookupError, match="raw.nothing"):
        lake.compute_connection([("raw", "nothing")])


LOOP_READER = textwrap.dedent(
    """
    import sys, time, duckdb
    ok = failed = 0
    last_error = ""
    deadline = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline:
        try:
            with duckdb.connect(sys.argv[1], read_only=True) as con:
                con.execute("SELECT count(*) FROM governed.sessions").fetchone()
                con.execute("SELECT sum(revenue) FROM features.daily_sales_by_category").fetchone()
            ok += 1
        except Exception as exc:
            failed += 1
            last_error = str(exc)
        time.sleep(0.02)
    print(ok, failed, last_error, flush=True)
    """
)


def test_queries_keep_working_while_runs_write(fresh):
    assert fresh.run("2025-03-01").success  # the views exist from here on
    proc = subprocess.Popen(
        [sys.executable, "-c", LOOP_READER, str(fresh.lake.warehouse_path), "8"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    for day in ("2025-03-01", "2025-03-02", "2025-03-03"):
        assert fresh.run(day).success
    out, _ = proc.communicate(timeout=60)
    ok, failed, *error = out.split(" ", 2)
    assert int(failed) == 0, error
    assert int(ok) > 20
