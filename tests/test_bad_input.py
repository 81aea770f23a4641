"""A corrupted input fails its blocking check, stops downstream assets and changes nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from conftest import SHARED_DATA, Pipeline

from retail_assets.defs.sources.landing import landing_inbox_sensor
from retail_assets.lib.sources import ga4, ingest
from retail_assets.lib.warehouse.frames import content_hash

DAY = "2025-03-02"
FILES_CONFIG = {"ops": {"raw__sessions": {"config": {"source": "ga4"}}}}


def _digest(paths):
    """path -> (sha256 of the bytes, content hash of the rows without lineage columns)."""
    return {
        str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), content_hash(pl.read_parquet(p)))
        for p in paths
    }


def _lake_state(lake):
    files = sorted(lake.lake_root.rglob("*.parquet")) + sorted(lake.landing_root.rglob("*.parquet"))
    return _digest([f for f in files if "inbox" not in f.parts])


def _step_events(result, kind):
    return {e.step_key for e in result.all_events if e.event_type_value == kind}


def _drop_file(fresh, df):
    folder = fresh.lake.landing_root / "inbox" / "ga4"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"events_{DAY.replace('-', '')}.parquet"
    df.write_parquet(path)
    return path


def test_missing_column_fails_check_and_blocks_downstream(fresh):
    assert fresh.run(DAY).success
    before = _lake_state(fresh.lake)
    with duckdb.connect(str(fresh.lake.warehouse_path), read_only=True) as con:
        governed_before = con.execute("SELECT count(*) FROM governed.sessions").fetchone()[0]

    good = fresh.lake.read("raw", "sessions", [DAY], landing=True)
    bad = good.drop("privacy_info", "lineage_id", "processed_at")
    path = _drop_file(fresh, bad)
    result = fresh.run(DAY, run_config=FILES_CONFIG)
    assert not result.success

    evals = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    failed = [ev for ev in evals if not ev.passed]
    assert len(failed) == 1
    check = failed[0]
    assert check.asset_key == dg.AssetKey(["raw", "sessions"])
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["failed_columns"].value == ["privacy_info"]
    assert str(path) in check.metadata["source"].value
    assert check.metadata["rows_checked"].value == bad.height

    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["raw__sessions"]
    message = failures[0].step_failure_data.error.message
    assert "privacy_info" in message and str(path) in message and str(bad.height) in message
    # Nothing downstream of the failed check ran; assets that do not read it still did.
    succeeded = _step_events(result, "STEP_SUCCESS")
    downstream = {"governed_sessions"}
    assert not downstream & succeeded
    # The plan does not read web sessions (its history is the media spend), so it still ran.
    assert {
        "raw__signals",
        "raw__transactions",
        "features__daily_sales_by_category",
        "ml__sales_forecasts",
        "activation__dsp_payload",
    } <= succeeded

    # Every file downstream of the bad input is byte-for-byte what it was; the rest was
    # rewritten by assets that did run, with the same content (only lineage columns differ).
    after = _lake_state(fresh.lake)
    assert set(after) == set(before)
    guarded = (
        "/landing/raw/sessions/",
        "/governed/sessions/",
        "/governed/consent_audit/",
    )
    for path in before:
        if any(g in path for g in guarded):
            assert after[path] == before[path], path
        elif "/activation/dsp_delivery/" in path:
            continue  # its receipts say the plan was already delivered: new content, rightly
        else:
            assert after[path][1] == before[path][1], path
    assert any(after[p][0] != before[p][0] for p in before)  # the others really were rewritten
    with duckdb.connect(str(fresh.lake.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM governed.sessions").fetchone()[0] == (
            governed_before
        )


def test_bad_values_are_counted_and_masked(fresh):
    assert fresh.run(DAY, selection="raw/sessions").success
    good = fresh.lake.read("raw", "sessions", [DAY], landing=True).drop(
        "lineage_id", "processed_at"
    )
    row = pl.int_range(pl.len())
    info = pl.col("privacy_info")
    bad = good.with_columns(
        pl.struct(
            pl.when(row < 7)
            .then(pl.lit("maybe"))
            .otherwise(info.struct.field("analytics_storage"))
            .alias("analytics_storage"),
            info.struct.field("ads_storage"),
            info.struct.field("uses_transient_token"),
        ).alias("privacy_info"),
        pl.when(row < 3)
        .then(pl.lit("bad@example.com"))
        .otherwise("event_name")
        .alias("event_name"),
        # Distinct bad timestamps: identical rows would rightly be deduplicated on ingestion.
        pl.when(row < 5).then(-1 - row).otherwise("event_timestamp").alias("event_timestamp"),
    )
    before = _lake_state(fresh.lake)
    _drop_file(fresh, bad)
    result = fresh.run(DAY, selection="raw/sessions", run_config=FILES_CONFIG)
    assert not result.success
    check = next(
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    )
    md = check.metadata["failures"].value
    assert "consent_values" in md and "| 7 |" in md
    assert "| event_timestamp |" in md and "| 5 |" in md
    assert "| event_name |" in md and "| 3 |" in md
    assert "bad@example.com" not in md  # examples are masked
    assert _lake_state(fresh.lake) == before


def test_missing_key_outside_demo_profile_stops_governance(tmp_path):
    from conftest import Pipeline

    prod = Pipeline(tmp_path, profile="production")
    result = prod.run(DAY)
    assert not result.success
    failures = {
        e.step_key: e.step_failure_data.error.message
        for e in result.all_events
        if e.is_step_failure
    }
    # Every asset that pseudonymizes stops; the raw data was written, nothing governed was.
    assert set(failures) == {"governed_sessions", "governed_app_events"}
    for message in failures.values():
        assert "RETAIL_PSEUDONYMIZATION_KEY is not set" in message
    reference = {
        e.step_key: e.step_failure_data.error.message
        for e in prod.reference_result.all_events
        if e.is_step_failure
    }
    assert list(reference) == ["governed__customers"]
    assert "RETAIL_PSEUDONYMIZATION_KEY is not set" in reference["governed__customers"]
    assert prod.lake.partition_files("raw", "customers", landing=True)
    assert not prod.lake.partition_files("governed", "customers")
    assert not prod.lake.partition_files("governed", "app_events")
    assert not prod.lake.partition_files("governed", "sessions")
    # The plan reads no personal data, so it does not need the key.
    assert prod.lake.partition_files("activation", "dsp_payload")


# ------------------------------------------------------------------ the bad-input corpus
#
# Every ingestion format, fed malformed files through the real job the landing inbox sensor
# starts, against one warehouse materialized once for the module. For each case the run
# fails (a step failure, or the blocking pandera check with ERROR severity), the error names
# the file, the column and a row count, nothing downstream materializes, and every byte under
# the lake and landing roots, the catalog file and the catalog's answers are unchanged.
#
# Product rules the corpus pins (see retail_assets/lib/sources/ingest.py):
#   * text fields hold at most ingest.MAX_TEXT_BYTES (64 KiB) of UTF-8;
#   * events more than one day after "now" are rejected, as are sales-history days after
#     tomorrow;
#   * revenue, prices and sales may not be negative;
#   * a CSV row with more fields than its header, or a header naming a used column twice, is
#     rejected; files must be UTF-8;
#   * two rows with the same event identity (so the same event_id) but different content are
#     rejected (an exact repeat is a re-delivery and is dropped);
#   * text is data: SQL in a category or series name is stored as the literal string, never
#     executed (test_sql_in_names_is_stored_as_text_and_never_run).

CORPUS_DAY = dt.date(2025, 3, 2)
SQL_DAY = dt.date(2025, 3, 3)
FIXTURES = Path(__file__).parent / "fixtures" / "bad_inputs"
TIDY_CENSUS = SHARED_DATA / "census" / "mrts_sales_1992_2022_tidy.csv"
HOSTILE_SQL = "x'); DROP TABLE governed.sessions; --"
BIG = 10 * 1024 * 1024  # a 10 MB string
LATIN1_ROW = b"2022-02-01,443,Caf\xe9,NSA,2.0,,False\n"  # written by a Latin-1 tool
EVENTS_MAPPING = """\
columns:
  timestamp: timestamp
  user: visitorid
  event_type: event
  product: itemid
  category: categoryid
  price: price
timestamp_format: epoch_ms
timezone: UTC
event_types:
  view: [view]
  add_to_cart: [addtocart]
  purchase: [transaction]
"""
EVENTS_HEADER = "timestamp,visitorid,event,itemid,categoryid,price\n"
T0 = int(dt.datetime(2025, 3, 2, 9, tzinfo=dt.UTC).timestamp() * 1000)  # epoch ms
GOOD_EVENTS = EVENTS_HEADER + "".join(
    f"{T0 + i * 60_000},u{i % 2},{kind},p{i},shoes,{10 + i}.5\n"
    for i, kind in enumerate(["view", "addtocart", "transaction", "view"])
)
JOBS = {
    "ga4": ("sessions_ingest", {"ops": {"raw__sessions": {"config": {"source": "ga4"}}}}),
    "events": (
        "app_events_ingest",
        {"ops": {"raw__app_events": {"config": {"source": "events_file"}}}},
    ),
    "sales": ("sales_history_ingest", None),
    "census": ("census_ingest", None),
}
STEPS = {
    "ga4": "raw__sessions",
    "events": "raw__app_events",
    "sales": "raw__sales_history",
    "census": "raw__census_retail_sales",
}
PARTITIONED = {"ga4", "events"}


@dataclasses.dataclass
class Warehouse:
    pipe: Pipeline
    sessions: pl.DataFrame  # the good GA4 day, in the export shape

    def inbox(self, kind: str) -> Path:
        folder = {"census": self.pipe.lake.landing_root / "inbox" / "census"}.get(kind)
        folder = folder or self.pipe.platform.inbox({"sales": "sales_history"}.get(kind, kind))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def run(self, kind: str, day: dt.date = CORPUS_DAY):
        name, config = JOBS[kind]
        job = self.pipe.defs.resolve_job_def(name)
        return job.execute_in_process(
            partition_key=day.isoformat() if kind in PARTITIONED else None,
            run_config=config,
            instance=self.pipe.instance,
            raise_on_error=False,
        )


def _census_good() -> str:
    if TIDY_CENSUS.exists():  # the real published series: its first 400 figures
        return "".join(TIDY_CENSUS.read_text().splitlines(keepends=True)[:401])
    return (FIXTURES / "census_good.csv").read_text()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Warehouse:
    """A warehouse with a good state of every format, materialized once for the module."""
    root = tmp_path_factory.mktemp("bad_inputs")
    config = root / "config"
    shutil.copytree(Path(__file__).parents[1] / "retail_assets" / "config", config)
    (config / "events_mapping.yaml").write_text(EVENTS_MAPPING)  # with price and category
    pipe = Pipeline(root / "warehouse", customers=500, config_dir=str(config))
    assert pipe.reference().success
    w = Warehouse(pipe, pipe.platform.simulator().sessions(CORPUS_DAY))
    ingest.write_ga4_ndjson(w.sessions, w.inbox("ga4") / "events_20250302.json")
    (w.inbox("events") / "events.csv").write_text(GOOD_EVENTS)
    (w.inbox("sales") / "history.csv").write_text(
        "date,series_id,value\n2025-01-01,north,10\n2025-01-02,north,12\n"
    )
    good_census = w.inbox("census") / "mrts_good.csv"
    good_census.write_text(_census_good())
    os.utime(good_census, (1_700_000_000, 1_700_000_000))  # older than any bad file
    for kind in JOBS:
        assert w.run(kind).success, kind
    return w


def _state(w: Warehouse) -> dict:
    """sha256 of every file under the lake and landing roots (but the inbox) and the catalog
    file, and the catalog's answers to a few queries."""
    lake = w.pipe.lake
    files = {}
    for root in (lake.lake_root, lake.landing_root):
        for f in sorted(root.rglob("*")):
            # The inbox holds the input itself; a .lock file is an empty coordination file.
            if f.is_file() and "inbox" not in f.relative_to(root).parts and f.suffix != ".lock":
                files[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    files["<catalog>"] = hashlib.sha256(lake.warehouse_path.read_bytes()).hexdigest()
    with duckdb.connect(str(lake.warehouse_path), read_only=True) as con:
        answers = {
            "views": con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
            ).fetchall(),
            "sessions": con.execute(
                "SELECT count(*), sum(purchase_revenue), count(DISTINCT category) "
                "FROM governed.sessions"
            ).fetchone(),
            "sales": con.execute(
                "SELECT series_id, date::VARCHAR, value FROM raw.sales_history ORDER BY 1, 2"
            ).fetchall(),
            "census": con.execute(
                "SELECT count(*), sum(sales_musd), max(month)::VARCHAR FROM raw.census_retail_sales"
            ).fetchone(),
            "app_events": con.execute("SELECT count(*) FROM governed.app_events").fetchone(),
        }
    return {"files": files, "catalog": answers}


# ------------------------------------------------------------------ how each bad file is made


def _ga4_sample(w: Warehouse, n: int = 20) -> pl.DataFrame:
    return w.sessions.head(n)


def _ga4_ndjson(w: Warehouse, df: pl.DataFrame, name="events_20250302_bad.json") -> Path:
    return ingest.write_ga4_ndjson(df, w.inbox("ga4") / name)


def _ga4_edit_lines(w: Warehouse, edit: Callable[[int, dict], dict | None]) -> Path:
    """The sample as BigQuery NDJSON with each line's object passed through ``edit``."""
    path = _ga4_ndjson(w, _ga4_sample(w))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    edited = [edit(i, obj) for i, obj in enumerate(lines)]
    path.write_text("".join(json.dumps(e) + "\n" for e in edited if e is not None))
    return path


def _drop_key(key):
    def edit(_, obj):
        obj.pop(key, None)
        return obj

    return edit


def _set_rows(rows, **values):
    def edit(i, obj):
        return {**obj, **values} if i in rows else obj

    return edit


def _ga4_missing_timestamp(w):
    return _ga4_edit_lines(w, _drop_key("event_timestamp"))


def _ga4_parquet_missing_event_name(w):
    path = w.inbox("ga4") / "events_20250302_bad.parquet"
    _ga4_sample(w).drop("event_name").write_parquet(path)
    return path


def _ga4_text_timestamp(w):
    return _ga4_edit_lines(w, _set_rows({3, 9}, event_timestamp="soon"))


def _ga4_parquet_flat_device(w):
    path = w.inbox("ga4") / "events_20250302_bad.parquet"
    _ga4_sample(w).with_columns(pl.lit("mobile").alias("device")).write_parquet(path)
    return path


def _ga4_negative_revenue(w):
    df = _ga4_sample(w)
    row = pl.int_range(pl.len())
    ecommerce = pl.col("ecommerce")
    fields = [
        pl.when(row < 3).then(pl.lit(-10.0)).otherwise(ecommerce.struct.field(f.name)).alias(f.name)
        if f.name == "purchase_revenue"
        else ecommerce.struct.field(f.name)
        for f in df.schema["ecommerce"].fields
    ]
    return _ga4_ndjson(w, df.with_columns(pl.struct(fields).alias("ecommerce")))


def _ga4_future_timestamp(w):
    future = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).timestamp() * 1_000_000)
    df = _ga4_sample(w).with_columns(
        pl.when(pl.int_range(pl.len()) < 2)
        .then(pl.lit(future) + pl.int_range(pl.len()))
        .otherwise(pl.col("event_timestamp"))
        .alias("event_timestamp")
    )
    return _ga4_ndjson(w, df)


def _ga4_bad_consent(w):
    df = _ga4_sample(w)
    info = pl.col("privacy_info")
    consent = pl.struct(
        pl.when(pl.int_range(pl.len()) < 4)
        .then(pl.lit("maybe"))
        .otherwise(info.struct.field("analytics_storage"))
        .alias("analytics_storage"),
        info.struct.field("ads_storage"),
        info.struct.field("uses_transient_token"),
    )
    return _ga4_ndjson(w, df.with_columns(consent.alias("privacy_info")))


def _ga4_non_utf8(w):
    path = _ga4_ndjson(w, _ga4_sample(w))
    lines = path.read_bytes().split(b"\n")
    for i in (1, 4):  # lines 2 and 5: Latin-1 bytes where UTF-8 was expected
        lines[i] = lines[i].replace(b'"event_name":"', b'"event_name":"caf\xe9\xff', 1)
    path.write_bytes(b"\n".join(lines))
    return path


def _ga4_truncated(w):
    path = _ga4_ndjson(w, _ga4_sample(w))
    data = path.read_bytes().rstrip(b"\n")
    path.write_bytes(data[: len(data) - 200])  # the upload stopped in the last line
    return path


def _ga4_empty(w):
    path = w.inbox("ga4") / "events_20250302_bad.json"
    path.write_bytes(b"")
    return path


def _ga4_huge_string(w):
    huge = "https://shop.example/?" + "a" * BIG

    def edit(i, obj):
        if i == 5:
            obj["event_params"].append({"key": "page_location", "value": {"string_value": huge}})
        return obj

    return _ga4_edit_lines(w, edit)


def _events(w, text, name="bad.csv"):
    path = w.inbox("events") / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


def _rows(*rows):
    return "".join(",".join(map(str, r)) + "\n" for r in rows)


def _events_fixture(name):
    return lambda w: _events(w, (FIXTURES / name).read_text(), name)


def _events_future(w):
    later = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=400)).timestamp() * 1000)
    rows = [(T0, "u1", "view", "p1", "shoes", 5), (later, "u1", "view", "p2", "shoes", 5)]
    rows.append((later + 1, "u2", "view", "p3", "shoes", 5))
    return _events(w, EVENTS_HEADER + _rows(*rows))


def _events_non_utf8(w):
    data = (EVENTS_HEADER + _rows((T0, "u1", "view", "p1", "shoes", 5))).encode()
    return _events(w, data + f"{T0 + 1},u2,view,p2,caf".encode() + b"\xe9,5\n")


def _events_parquet_text_timestamp(w):
    path = w.inbox("events") / "bad.parquet"
    pl.DataFrame(
        {
            "timestamp": [str(T0), "yesterday", "soon"],
            "visitorid": ["u1", "u1", "u2"],
            "event": ["view"] * 3,
            "itemid": ["p1", "p2", "p3"],
            "categoryid": ["shoes"] * 3,
            "price": [1.0, 2.0, 3.0],
        }
    ).write_parquet(path)
    return path


def _events_huge_category(w):
    return _events(w, EVENTS_HEADER + _rows((T0 + 7, "u1", "view", "p9", "c" * BIG, 5)))


def _sales(w, text, name="bad.csv"):
    path = w.inbox("sales") / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


def _census(w, text, name="mrts_bad.csv"):
    path = w.inbox("census") / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


def _census_rows(*values):
    header = "month,naics_code,kind_of_business,adjustment,sales_musd,flag,preliminary\n"
    return header + "".join(
        f"2022-0{i + 1}-01,443,Electronics,NSA,{v}\n" for i, v in enumerate(values)
    )


@dataclasses.dataclass
class Case:
    kind: str  # ga4, events, sales, census
    make: Callable[[Warehouse], Path]
    column: str | None  # the column the error names (None: a problem with the whole file)
    expect: str  # the text it must contain, with the row count
    check: bool = False  # caught by the blocking pandera check rather than the reader


def case(id_, *args, **kwargs):
    return pytest.param(Case(*args, **kwargs), id=id_)


FUTURE = "in the future"
CORPUS = [
    # GA4 BigQuery export (NDJSON and Parquet) -> raw/sessions -> governed/sessions
    case(
        "ga4-missing-event_timestamp",
        "ga4",
        _ga4_missing_timestamp,
        "event_timestamp",
        "20 of 20 rows have no value (required column)",
    ),
    case(
        "ga4-parquet-missing-event_name",
        "ga4",
        _ga4_parquet_missing_event_name,
        "event_name",
        "required column is missing (20 rows)",
    ),
    case(
        "ga4-text-in-event_timestamp",
        "ga4",
        _ga4_text_timestamp,
        "event_timestamp",
        "2 of 20 rows are not whole numbers (rows 4, 10; e.g. 'soon')",
    ),
    case(
        "ga4-parquet-wrong-type-device",
        "ga4",
        _ga4_parquet_flat_device,
        "device",
        "20 of 20 rows have type String, expected Struct",
    ),
    case(
        "ga4-negative-purchase_revenue",
        "ga4",
        _ga4_negative_revenue,
        "ecommerce.purchase_revenue",
        "3 of 20 rows are negative amounts (rows 1, 2, 3; e.g. '-10.0')",
    ),
    case(
        "ga4-future-event_timestamp",
        "ga4",
        _ga4_future_timestamp,
        "event_timestamp",
        "2 of 20 rows are more than 1 day in the future",
    ),
    case(
        "ga4-invalid-consent-value",
        "ga4",
        _ga4_bad_consent,
        "privacy_info",
        "consent_values failed (4 of ",
        check=True,
    ),
    case(
        "ga4-non-utf8-bytes",
        "ga4",
        _ga4_non_utf8,
        "<line>",
        "2 of 20 rows are not UTF-8 text (save the file as UTF-8) (rows 2, 5)",
    ),
    case(
        "ga4-truncated-json",
        "ga4",
        _ga4_truncated,
        "<line>",
        "1 of 20 rows are not valid JSON objects (truncated or malformed lines) (row 20",
    ),
    case("ga4-empty-file", "ga4", _ga4_empty, "<file>", "the file has no events (0 rows)"),
    case(
        "ga4-10mb-string",
        "ga4",
        _ga4_huge_string,
        "event_params.value.string_value",
        "1 of 20 rows hold text longer than the limit of 65,536 bytes per field (row 6",
    ),
    # App events CSV / Parquet through events_mapping.yaml -> raw/app_events
    case(
        "events-csv-missing-price-column",
        "events",
        _events_fixture("events_missing_price.csv"),
        "price",
        "mapped as price, is missing from the file (3 rows)",
    ),
    case(
        "events-csv-price-column-twice",
        "events",
        _events_fixture("events_price_twice.csv"),
        "price",
        "appears more than once in the header, so which one is meant is ambiguous (2 rows)",
    ),
    case(
        "events-csv-extra-field-in-a-row",
        "events",
        _events_fixture("events_extra_field.csv"),
        "<row>",
        "1 of 3 rows have more fields than the header's 6 columns",
    ),
    case(
        "events-csv-text-in-price",
        "events",
        _events_fixture("events_text_price.csv"),
        "price",
        "2 of 3 rows are not numbers (rows 2, 3; e.g. 'free', 'n/a')",
    ),
    case(
        "events-csv-negative-revenue",
        "events",
        _events_fixture("events_negative_price.csv"),
        "price",
        "2 of 3 rows are negative prices (rows 1, 3; e.g. '-5.0', '-0.01')",
    ),
    case(
        "events-csv-future-timestamp",
        "events",
        _events_future,
        "timestamp",
        "2 of 3 rows are more than 1 day in the future",
    ),
    case(
        "events-csv-duplicate-event-id",
        "events",
        _events_fixture("events_duplicate_event.csv"),
        "timestamp, visitorid, event, itemid",
        "but differ in price (1 rows) (row 1",
    ),
    case(
        "events-csv-non-utf8-bytes",
        "events",
        _events_non_utf8,
        "<line>",
        "1 of 3 rows are not UTF-8 text (save the file as UTF-8) (row 3)",
    ),
    case(
        "events-csv-empty-file",
        "events",
        lambda w: _events(w, ""),
        "<file>",
        "the file is empty (0 rows)",
    ),
    case(
        "events-parquet-text-timestamp",
        "events",
        _events_parquet_text_timestamp,
        "timestamp",
        "2 of 3 rows are not timestamps in the format 'epoch_ms' (rows 2, 3",
    ),
    case(
        "events-csv-10mb-category",
        "events",
        _events_huge_category,
        "categoryid",
        "1 of 1 rows hold text longer than the limit of 65,536 bytes per field",
    ),
    # Sales history CSV -> raw/sales_history
    case(
        "sales-missing-value-column",
        "sales",
        lambda w: _sales(w, "date,series_id\n2025-01-03,north\n2025-01-04,north\n"),
        "value",
        "is missing: the header must be date,series_id,value or ds,unique_id,y (2 rows)",
    ),
    case(
        "sales-extra-field-in-a-row",
        "sales",
        lambda w: _sales(w, "date,series_id,value\n2025-01-03,north,1\n2025-01-04,north,2,3\n"),
        "<row>",
        "1 of 2 rows have more fields than the header's 3 columns (an extra, unnamed column) "
        "(row 2)",
    ),
    case(
        "sales-negative-value",
        "sales",
        lambda w: _sales(w, "ds,unique_id,y\n2025-01-03,south,4\n2025-01-04,south,-7.5\n"),
        "value",
        "1 of 2 rows are negative (row 2; e.g. '-7.5')",
    ),
    case(
        "sales-text-in-date",
        "sales",
        lambda w: _sales(w, "date,series_id,value\n03/01/2025,north,1\n2025-01-04,north,2\n"),
        "date",
        "1 of 2 rows are not dates (YYYY-MM-DD) (row 1; e.g. '03/01/2025')",
    ),
    case(
        "sales-future-date",
        "sales",
        lambda w: _sales(w, "date,series_id,value\n2025-01-03,north,1\n2999-01-01,north,2\n"),
        "date",
        "1 of 2 rows are in the future",
    ),
    case(
        "sales-duplicate-series-day",
        "sales",
        lambda w: _sales(w, "date,series_id,value\n2025-01-02,north,99\n", "update.csv"),
        "series_id, date",
        "repeat a series and day history.csv already has (1 rows)",
    ),
    # Census MRTS long CSV -> raw/census_retail_sales
    case(
        "census-missing-columns",
        "census",
        lambda w: _census(
            w,
            "month,naics_code,kind_of_business,adjustment,sales_musd\n"
            "2022-01-01,443,Electronics,NSA,1\n2022-02-01,443,Electronics,NSA,2\n",
        ),
        "['flag', 'preliminary']",
        "the file has 2 data rows",
    ),
    case(
        "census-text-in-sales",
        "census",
        lambda w: _census(w, _census_rows("1.0,,False", "lots,,False")),
        "sales_musd",
        "for 1 out of 2 values",
    ),
    case(
        "census-negative-sales",
        "census",
        lambda w: _census(w, _census_rows("-5.0,,False", "7.0,,False", "8.0,,False")),
        "sales_musd",
        "(1 of 3 rows)",
        check=True,
    ),
    case(
        "census-unknown-flag",
        "census",
        lambda w: _census(w, _census_rows(",(Q),False", "7.0,,False")),
        "flag",
        "(1 of 2 rows)",
        check=True,
    ),
    case(
        "census-empty-file",
        "census",
        lambda w: _census(w, b""),
        None,
        "the file has 0 data rows",
    ),
    case(
        "census-non-utf8-bytes",
        "census",
        lambda w: _census(w, _census_rows("1.0,,False").encode() + LATIN1_ROW),
        None,
        "1 of 3 lines are not UTF-8 text: line 3",
    ),
]


def _error_text(error) -> str:
    """The failure's message and those of its causes (a retry policy wraps the first)."""
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


def _failed_checks(result):
    return [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    ]


@pytest.mark.parametrize("bad", CORPUS)
def test_bad_input_corpus_fails_clearly_and_changes_nothing(warehouse, bad: Case):
    before = _state(warehouse)
    path = bad.make(warehouse)
    if bad.kind == "census":  # the newest file is the one read
        os.utime(path, (1_900_000_000, 1_900_000_000))
    try:
        result = warehouse.run(bad.kind)
    finally:
        path.unlink()
    assert not result.success

    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == [STEPS[bad.kind]]
    message = _error_text(failures[0].step_failure_data.error)
    assert path.name in message
    assert bad.column is None or bad.column in message
    assert bad.expect in message
    assert "Traceback" not in message
    if bad.check:
        (check,) = _failed_checks(result)
        assert check.severity == dg.AssetCheckSeverity.ERROR
        assert bad.column in check.metadata["failed_columns"].value
        assert path.name in check.metadata["source"].value
        assert check.metadata["rows_checked"].value > 0
    else:
        # The reader stopped it before validation: no check ran, nothing was published.
        assert not _failed_checks(result)

    # Nothing downstream ran and nothing at all was materialized.
    assert not result.get_asset_materialization_events()
    succeeded = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert not succeeded, succeeded
    # The lake, the landing area and the catalog are byte for byte what they were.
    after = _state(warehouse)
    assert after["files"] == before["files"]
    assert after["catalog"] == before["catalog"]


@pytest.mark.parametrize(
    "bad",
    [
        p
        for p in CORPUS
        if p.id
        in {
            "ga4-empty-file",
            "events-csv-empty-file",
            "sales-negative-value",
            "census-empty-file",
            "ga4-invalid-consent-value",
        }
    ],
)
def test_bad_input_is_not_retried(warehouse, bad: Case):
    """A retry policy is for transient faults: a bad file fails on its first attempt."""
    path = bad.make(warehouse)
    if bad.kind == "census":
        os.utime(path, (1_900_000_000, 1_900_000_000))
    try:
        result = warehouse.run(bad.kind)
    finally:
        path.unlink()
    assert not result.success
    retried = [e.step_key for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == []
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert path.name in failure.step_failure_data.error.message


def test_corpus_covers_every_category():
    ids = [p.id for p in CORPUS]
    assert len(ids) >= 20 and len(set(ids)) == len(ids)
    for needle in [
        "missing",
        "extra-field",
        "text-in",
        "wrong-type",
        "negative",
        "future",
        "duplicate",
        "consent",
        "non-utf8",
        "10mb",
        "empty-file",
        "truncated",
    ]:
        assert any(needle in i for i in ids), needle
    assert {p.values[0].kind for p in CORPUS} == set(JOBS)


def test_sensor_names_bad_files_and_requests_no_run(warehouse):
    """The inbox sensor reads event timestamps: a bad file is named and no run is asked."""
    platform = warehouse.pipe.platform
    seen = dg.build_sensor_context(resources={"platform": platform})
    landing_inbox_sensor(seen)  # the good files are already known
    future = _events_future(warehouse)
    misnamed = warehouse.inbox("ga4") / "export_march.json"
    misnamed.write_text("{}\n")
    try:
        ctx = dg.build_sensor_context(cursor=seen.cursor, resources={"platform": platform})
        result = landing_inbox_sensor(ctx)
    finally:
        future.unlink()
        misnamed.unlink()
    assert isinstance(result, dg.SkipReason)
    text = result.skip_message
    assert "bad.csv: column 'timestamp': 2 of 3 rows are more than 1 day in the future" in text
    assert "export_march.json: not read: a GA4 export file must be named events_YYYYMMDD*" in text


def test_sql_in_names_is_stored_as_text_and_never_run(warehouse):
    """Category and series names are data: SQL in them round-trips as a literal string."""
    w = warehouse
    with duckdb.connect(str(w.pipe.lake.warehouse_path), read_only=True) as con:
        tables_before = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
        ).fetchall()
    day = w.pipe.platform.simulator().sessions(SQL_DAY)
    items = pl.col("items").list.eval(
        pl.struct(
            *[
                pl.lit(HOSTILE_SQL).alias(f.name)
                if f.name == "item_category"
                else pl.element().struct.field(f.name)
                for f in ga4.ITEM.fields
            ]
        )
    )
    day = day.with_columns(items.alias("items"))
    ga4_file = ingest.write_ga4_ndjson(day, w.inbox("ga4") / "events_20250303.json")
    sales_file = _sales(w, f'date,series_id,value\n2025-02-01,"{HOSTILE_SQL}",1\n', "sql.csv")
    try:
        assert w.run("ga4", SQL_DAY).success
        assert w.run("sales").success
    finally:
        ga4_file.unlink()
        sales_file.unlink()
    with duckdb.connect(str(w.pipe.lake.warehouse_path), read_only=True) as con:
        tables_after = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
        ).fetchall()
        categories = con.execute(
            "SELECT DISTINCT category FROM governed.sessions WHERE event_date = ?",
            [SQL_DAY],
        ).fetchall()
        series = con.execute(
            "SELECT value FROM raw.sales_history WHERE series_id = ?", [HOSTILE_SQL]
        ).fetchall()
        governed_rows = con.execute("SELECT count(*) FROM governed.sessions").fetchone()[0]
    assert tables_after == tables_before  # nothing was dropped or created
    assert governed_rows > 0
    assert (HOSTILE_SQL,) in categories
    assert series == [(1.0,)]
    # Leave the module's good sales history as it was for any later test.
    assert w.run("sales").success
