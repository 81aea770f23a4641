"""Faults a laptop meets: a run killed mid-write, a full disk, a read-only data folder, a
damaged Parquet file. Real runs in subprocesses on an on-disk instance; the faults are real
(SIGKILL, a tiny tmpfs, a read-only bind mount in a private mount namespace, flipped bytes).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_server import platform_env

from retail_assets.instance import ensure_dagster_home
from retail_assets.lib.warehouse.lake import Lake

RUNNER = Path(__file__).with_name("run_partition.py")
DAY = "2025-03-01"
TABLE = ("raw", "transactions")
KEY = "raw/transactions"


def _env(root: Path) -> dict[str, str]:
    # Writing the partition takes a few milliseconds: long enough to catch from outside.
    return platform_env(root, RETAIL_CUSTOMERS="5000", RETAIL_START_DATE="2025-01-01")


def _run(env, *args, prefix=()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, str(RUNNER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _lake(root: Path) -> Lake:
    data = root / "data"
    return Lake(data / "lake", data / "landing", data / "warehouse.duckdb")


def _data_version(env, run_id: str) -> str:
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    try:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(KEY)), limit=50
        ).records
        (record,) = [r for r in records if r.run_id == run_id]
        return record.asset_materialization.tags["dagster/data_version"]
    finally:
        instance.dispose()


def _catalog_count(root: Path) -> int:
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM raw.transactions").fetchone()[0]
    finally:
        con.close()


def _run_id(stdout: str) -> str:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("run "))
    return line.split()[1]


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    """Reference data and one partition of raw/transactions, uninterrupted."""
    root = tmp_path_factory.mktemp("faults")
    env = _env(root)
    ensure_dagster_home(env["DAGSTER_HOME"], set_env=False)
    done = _run(env, DAY, KEY, "--reference")
    assert done.returncode == 0, done.stdout + done.stderr
    path = _lake(root).partition_path(*TABLE, DAY)
    return root, env, path, path.read_bytes(), _data_version(env, _run_id(done.stdout))


def test_a_run_killed_mid_write_leaves_the_partition_unchanged_and_a_rerun_matches(materialized):
    root, env, path, before, version = materialized
    caught = 0
    for _attempt in range(8):
        proc = subprocess.Popen(
            [sys.executable, str(RUNNER), DAY, KEY],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        tmp_seen = False
        while time.monotonic() < deadline and proc.poll() is None:
            if any(name.endswith(".tmp") for name in os.listdir(path.parent)):
                proc.send_signal(signal.SIGKILL)  # the temporary file is being written
                tmp_seen = True
                break
        proc.wait()
        leftovers = [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
        # Whatever the moment of the kill, the catalog answers and the file is whole.
        assert _catalog_count(root) > 0
        pl_rows = _lake(root).read(*TABLE, [DAY]).height
        assert pl_rows == _catalog_count(root)
        if tmp_seen and leftovers:
            caught += 1
            assert path.read_bytes() == before  # killed before the rename: unchanged
            for p in leftovers:  # a half-written temporary file, invisible to readers
                p.unlink()
            break
        # The kill came after the rename (or the run ended first): same data, new lineage.
    assert caught, "never caught the run while it was writing the partition"

    rerun = _run(env, DAY, KEY)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert _data_version(env, _run_id(rerun.stdout)) == version


def test_a_full_disk_fails_with_a_clear_error_and_changes_nothing(materialized):
    root, env, path, _, _ = materialized
    before = path.read_bytes()
    if not shutil.which("unshare"):
        pytest.fail("this test needs util-linux's unshare (apt-get install util-linux)")
    # A 4 KiB filesystem over the partition's folder, in this run's own mount namespace.
    script = f'mount -t tmpfs -o size=4k tmpfs "{path.parent}" && exec "$@"'
    failed = _run(env, DAY, KEY, prefix=("unshare", "-rm", "sh", "-c", script, "sh"))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    out = failed.stdout + failed.stderr
    assert "no space left on the disk" in out
    assert f"date={DAY}" in out and "transactions" in out
    assert "RETAIL_DATA_DIR" in out and "is unchanged" in out
    assert path.read_bytes() == before
    assert _catalog_count(root) == _lake(root).read(*TABLE, [DAY]).height


def test_a_read_only_data_folder_fails_with_a_clear_error(materialized):
    root, env, path, _, _ = materialized
    before = path.read_bytes()
    data = root / "data"
    script = f'mount --bind "{data}" "{data}" && mount -o remount,bind,ro "{data}" && exec "$@"'
    failed = _run(env, DAY, KEY, prefix=("unshare", "-rm", "sh", "-c", script, "sh"))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    out = failed.stdout + failed.stderr
    assert "data folder is not writable" in out and "Read-only file system" in out
    assert "set RETAIL_DATA_DIR to a writable folder" in out
    assert out.count("STEP FAILURE") == 1  # not retried: a read-only disk does not heal
    assert path.read_bytes() == before


def test_a_damaged_parquet_file_is_named_by_its_check(materialized, tmp_path):
    root, env, path, _, _ = materialized
    before = path.read_bytes()
    copy = tmp_path / "data.parquet"
    shutil.copyfile(path, copy)
    damaged = bytearray(before)
    damaged[len(damaged) // 2] ^= 0x01  # one bit in a data page
    path.write_bytes(bytes(damaged))
    try:
        from retail_assets.definitions import build_definitions
        from retail_assets.defs.resources import RetailPlatform

        data = root / "data"
        defs = build_definitions(
            RetailPlatform(
                lake_root=str(data / "lake"),
                landing_root=str(data / "landing"),
                warehouse_path=str(data / "warehouse.duckdb"),
            )
        )
        result = defs.resolve_job_def("lake_integrity").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
        )
        evaluations = {
            e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()
        }
        bad = evaluations[KEY]
        assert not bad.passed and bad.severity == dg.AssetCheckSeverity.ERROR
        assert str(path) in bad.description and "corrupted Parquet file" in bad.description
        assert "raw/customers" in evaluations  # every table is scrubbed
        others = [k for k, e in evaluations.items() if k != KEY and not e.passed]
        assert others == []
    finally:
        shutil.copyfile(copy, path)


def test_the_scrub_removes_temporary_files_of_dead_runs_only(tmp_path):
    from retail_assets.defs import integrity

    lake = Lake(tmp_path / "lake", tmp_path / "landing", tmp_path / "w.duckdb")
    folder = lake.partition_path(*TABLE, DAY).parent
    folder.mkdir(parents=True)
    old, live = folder / ".data.parquet.aaa.tmp", folder / ".data.parquet.bbb.tmp"
    old.write_bytes(b"half a file")
    live.write_bytes(b"being written")
    day_ago = time.time() - integrity.STALE_TEMP_SECONDS - 60
    os.utime(old, (day_ago, day_ago))
    assert integrity.remove_stale_temp_files(lake, dg.AssetKey(list(TABLE))) == 1
    assert not old.exists() and live.exists()


def test_after_a_year_long_range_the_check_reads_back_every_day_and_says_so_briefly(tmp_path):
    """One run writes 2025 (365 partitions); its check decodes all 365 files, and its scope
    is one line, not 365 dates. A file cut short in the middle of the range is named."""
    from conftest import Pipeline

    from retail_assets.defs import integrity

    p = Pipeline(tmp_path, customers=200)
    result = p.run_range("2025-01-01", "2025-12-31", selection=KEY)
    assert result.success
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "parquet_files"]
    meta = {k: v.value for k, v in check.metadata.items()}
    (mat,) = [
        m for m in result.asset_materializations_for_node("raw__transactions")
        if m.partition == "2025-12-31"
    ]
    assert check.passed
    assert meta["scope"] == "2025-01-01..2025-12-31 (365 days)"
    assert check.description == "365 files whole: 2025-01-01..2025-12-31 (365 days)"
    assert meta["files_checked"] == meta["partitions_checked"] == 365
    assert meta["files_with_digest"] == 365
    assert meta["rows"] == mat.metadata["rows_written"].value  # every row the run wrote

    # The same read-back finds a damaged file on any day of the range, e.g. 1 July cut short.
    assert len(p.lake.partition_files(*TABLE)) == 365
    july = p.lake.partition_path(*TABLE, "2025-07-01")
    july.write_bytes(july.read_bytes()[: july.stat().st_size // 2])
    keys = [(dt.date(2025, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(365)]
    bad = integrity.check_table(p.lake, dg.AssetKey(list(TABLE)), keys)
    assert not bad.passed and bad.severity == dg.AssetCheckSeverity.ERROR
    assert str(july) in bad.description and bad.metadata["files_checked"].value == 365
    assert bad.metadata["scope"].value == "2025-01-01..2025-12-31 (365 days)"


def test_the_scope_names_days_as_ranges():
    from retail_assets.defs.integrity import describe_partitions

    assert describe_partitions(None) == "every partition"
    assert describe_partitions(["2025-03-01"]) == "2025-03-01"
    assert describe_partitions(["2025-03-02", "2025-03-01"]) == "2025-03-01..2025-03-02 (2 days)"
    gaps = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-07", "2025-02-28", "2025-03-01"]
    assert describe_partitions(gaps) == (
        "2025-01-01..2025-01-03, 2025-01-07, 2025-02-28..2025-03-01 (6 days)"
    )
    every_other = [(dt.date(2025, 1, 1) + dt.timedelta(days=2 * i)).isoformat() for i in range(30)]
    text = describe_partitions(every_other)
    assert text.endswith("and 20 more ranges (30 days)") and len(text) < 200
