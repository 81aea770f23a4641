"""Census MRTS ingestion: the published workbook, its long CSV, malformed files, the sensor."""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb
import openpyxl
import polars as pl
import pytest
from conftest import SHARED_DATA

from retail_assets.defs.sources.landing import landing_inbox_sensor
from retail_assets.lib.sources.census import CensusFormatError, read_mrts

CENSUS_DIR = SHARED_DATA / "census"
WORKBOOK = CENSUS_DIR / "mrtssales92-present.xlsx"
TIDY = CENSUS_DIR / "mrts_sales_1992_2022_tidy.csv"
needs_shared = pytest.mark.skipif(
    not WORKBOOK.exists(), reason=f"real Census data not found at {CENSUS_DIR}"
)
KEY = ["month", "adjustment", "naics_code", "kind_of_business"]


def _small_workbook(path, header=("", "", "Jan. 2021", "Feb. 2021(p)"), value="(S)"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2021"
    ws.append(["Estimates of Monthly Retail and Food Services Sales by Kind of Business: 2021"])
    ws.append([])
    ws.append(["NAICS  Code", "Kind of Business"])
    ws.append(list(header))
    ws.append(["", "NOT ADJUSTED"])
    ws.append(["", "Retail sales, total", 100, 110])
    ws.append(["443", "Electronics and appliance stores", 7, value])
    ws.append(["", "ADJUSTED(2)"])
    ws.append(["443", "Electronics and appliance stores", 8, 9])
    ws.append(["(S) Suppressed"])
    wb.save(path)
    return path


def test_small_workbook_parses_blocks_flags_and_preliminary(tmp_path):
    df = read_mrts(_small_workbook(tmp_path / "m.xlsx"))
    assert df.height == 6
    e = df.filter((pl.col("naics_code") == "443") & (pl.col("adjustment") == "NSA")).sort("month")
    assert e["sales_musd"].to_list() == [7.0, None]
    assert e["flag"].to_list() == [None, "(S)"]
    assert e["preliminary"].to_list() == [False, True]
    sa = df.filter(pl.col("adjustment") == "SA")
    assert sa["sales_musd"].to_list() == [8.0, 9.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"header": ("", "", "January", "February")}, "no header row of months"),
        ({"value": "lots"}, "row 7: unexpected value 'lots'"),
    ],
)
def test_malformed_workbook_names_file_sheet_and_row(tmp_path, kwargs, message):
    path = _small_workbook(tmp_path / "bad.xlsx", **kwargs)
    with pytest.raises(CensusFormatError, match=message) as info:
        read_mrts(path)
    assert str(path) in str(info.value) and "'2021'" in str(info.value)


def test_not_a_workbook_and_bad_csv(tmp_path):
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(CensusFormatError, match="junk.xlsx: not a readable"):
        read_mrts(junk)
    csv = tmp_path / "long.csv"
    csv.write_text(
        "month,naics_code,kind_of_business,adjustment,sales_musd\n2021-01-01,443,E,NSA,1\n"
    )
    with pytest.raises(CensusFormatError, match=r"missing column\(s\) \['flag', 'preliminary'\]"):
        read_mrts(csv)


@needs_shared
def test_published_workbook_matches_the_long_csv():
    wb = read_mrts(WORKBOOK)
    csv = read_mrts(TIDY)
    assert wb.height == csv.height == 37_896
    assert wb.sort(KEY, nulls_last=True).equals(csv.select(wb.columns).sort(KEY, nulls_last=True))
    e443 = wb.filter((pl.col("naics_code") == "443") & pl.col("sales_musd").is_not_null())
    assert e443.group_by("adjustment").len().sort("adjustment")["len"].to_list() == [368, 368]


@needs_shared
def test_asset_from_inbox_and_sensor(fresh):
    inbox = fresh.lake.landing_root / "inbox" / "census"
    inbox.mkdir(parents=True)
    sensor_ctx = dg.build_sensor_context(resources={"platform": fresh.platform})
    assert isinstance(landing_inbox_sensor(sensor_ctx), dg.SkipReason)

    shutil.copy(WORKBOOK, inbox / WORKBOOK.name)
    ctx = dg.build_sensor_context(resources={"platform": fresh.platform})
    (request,) = landing_inbox_sensor(ctx).run_requests
    assert request.job_name == "census_ingest"
    assert request.tags["landing_files"] == WORKBOOK.name
    again = dg.build_sensor_context(cursor=ctx.cursor, resources={"platform": fresh.platform})
    assert isinstance(landing_inbox_sensor(again), dg.SkipReason)

    job = fresh.defs.resolve_job_def("census_ingest")
    assert job.execute_in_process(instance=fresh.instance).success
    with duckdb.connect(str(fresh.lake.warehouse_path), read_only=True) as con:
        n, last = con.execute("SELECT count(*), max(month) FROM raw.census_retail_sales").fetchone()
    assert n == 37_896 and str(last) == "2022-08-01"


def test_asset_rejects_malformed_file_and_keeps_earlier_table(fresh, tmp_path):
    inbox = fresh.lake.landing_root / "inbox" / "census"
    inbox.mkdir(parents=True)
    _small_workbook(inbox / "a.xlsx")
    job = fresh.defs.resolve_job_def("census_ingest")
    assert job.execute_in_process(instance=fresh.instance).success
    before = fresh.lake.read("raw", "census_retail_sales")
    assert before.height == 6

    bad = _small_workbook(tmp_path / "b.xlsx", value="lots")
    shutil.copy(bad, inbox / "b.xlsx")  # newer: the one the asset reads
    result = job.execute_in_process(instance=fresh.instance, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "b.xlsx" in failure.step_failure_data.error.message
    assert "unexpected value 'lots'" in failure.step_failure_data.error.message
    assert fresh.lake.read("raw", "census_retail_sales").equals(before)
