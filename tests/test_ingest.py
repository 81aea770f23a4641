"""Landing-file readers: GA4 exports, generic event files with a YAML mapping, sales history."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from retail_assets.lib.config import ConfigError
from retail_assets.lib.sources import ga4
from retail_assets.lib.sources.errors import IngestError
from retail_assets.lib.sources.events import dates_in_events, read_events, read_events_day
from retail_assets.lib.sources.events_mapping import EventsMapping, load_events_mapping
from retail_assets.lib.sources.ga4_files import (
    dedupe_events,
    ga4_file_date,
    read_ga4_day,
    read_ga4_export,
    write_ga4_ndjson,
)
from retail_assets.lib.sources.sales_history import read_sales_history

DAY = dt.date(2025, 3, 1)
T0 = 1_740_787_200_000_000  # 2025-03-01 00:00:00 UTC in microseconds
MIN = 60_000_000
HOSTILE = [
    "'; DROP TABLE x; --",
    "<script>alert(1)</script>",
    "Zoë 東京 🛒 \u202e",
    "x" * 10_000,
    'quote " and, comma',
]


# ------------------------------------------------------------------ GA4 helpers


def _param(key, string=None, integer=None, double=None):
    value = {"string_value": string, "int_value": integer, "float_value": None}
    return {"key": key, "value": {**value, "double_value": double}}


def _event(ts, name="page_view", user="u1.1", session=111, tid=None, revenue=None, **extra):
    """One event in the conformed export shape (python values)."""
    event = dict.fromkeys(ga4.EXPORT_SCHEMA)
    event.update(
        event_date=dt.datetime.fromtimestamp(ts / 1e6, dt.UTC).strftime("%Y%m%d"),
        event_timestamp=ts,
        event_name=name,
        event_params=[
            _param("ga_session_id", integer=session),
            _param("page_location", string="https://shop.example/p?q=1"),
        ],
        user_pseudo_id=user,
        privacy_info={
            "analytics_storage": "Yes",
            "ads_storage": "No",
            "uses_transient_token": None,
        },
        collected_traffic_source={
            "manual_campaign_name": None,
            "manual_source": "google",
            "manual_medium": "cpc",
            "gclid": None,
        },
        items=[],
    )
    if name == "purchase":
        event["ecommerce"] = {
            "total_item_quantity": 2,
            "purchase_revenue": revenue,
            "purchase_revenue_in_usd": revenue,
            "transaction_id": tid,
            "unique_items": 1,
        }
        event["items"] = [
            {
                "item_id": "SKU1",
                "item_name": "Shoe",
                "item_brand": None,
                "item_category": "shoes",
                "price": 12.5,
                "quantity": 2,
                "item_revenue": 25.0,
            }
        ]
    event.update(extra)
    return event


def _frame(events) -> pl.DataFrame:
    return pl.DataFrame(events, schema=ga4.EXPORT_SCHEMA)


def _bigquery_line(event: dict, **extra) -> str:
    """An event as BigQuery's JSON export writes it: INT64 as strings, NULL fields omitted."""

    def encode(value, dtype):
        if value is None:
            return None
        if isinstance(dtype, pl.Struct):
            out = {f.name: encode(value[f.name], f.dtype) for f in dtype.fields}
            return {k: v for k, v in out.items() if v is not None}
        if isinstance(dtype, pl.List):
            return [encode(v, dtype.inner) for v in value]
        return str(value) if dtype == pl.Int64 else value

    schema = pl.Schema(ga4.EXPORT_SCHEMA)
    row = {k: encode(v, schema[k]) for k, v in event.items()}
    row = {k: v for k, v in row.items() if v is not None}
    row.update(extra)
    return json.dumps(row, ensure_ascii=False)


def _write_lines(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


# ------------------------------------------------------------------ GA4 export


def test_reads_bigquery_style_ndjson_with_string_ints_and_extras(tmp_path):
    events = [
        _event(T0, "session_start"),
        _event(T0 + MIN, "purchase", tid="T1", revenue=25.0),
        _event(T0 + 2 * MIN, "page_view", user_id="c-9", platform="WEB"),
    ]
    lines = [_bigquery_line(e) for e in events]
    # Unknown column, unknown struct field, unknown item field, unknown param value field.
    extra = json.loads(lines[1])
    extra["app_info"] = {"id": "x"}
    extra["device"] = {"category": "mobile", "web_info": {"browser": "Chrome"}}
    extra["items"][0]["item_variant"] = "red"
    extra["event_params"][0]["value"]["set_timestamp_micros"] = "1"
    lines[1] = json.dumps(extra)
    events[1]["device"] = {
        "category": "mobile",
        "mobile_brand_name": None,
        "operating_system": None,
        "language": None,
    }
    path = _write_lines(tmp_path / "events_20250301.json", lines)
    assert '"event_timestamp": "1740787200000000"' in path.read_text()
    assert '"int_value": "111"' in path.read_text()

    got = read_ga4_export(path)

    assert got.schema == pl.Schema(ga4.EXPORT_SCHEMA)
    assert got.equals(_frame(events))
    assert got["ecommerce"][1]["transaction_id"] == "T1"


def test_ndjson_round_trip_plain_and_gzipped(tmp_path):
    df = _frame(
        [
            _event(T0, "session_start", geo={"continent": "Europe", "country": "DE"}),
            _event(T0 + MIN, "purchase", tid="T1", revenue=0.1, user_id="c1"),
            _event(T0 + 2 * MIN, "page_view", user=None, event_params=None, items=None),
        ]
    )
    plain = write_ga4_ndjson(df, tmp_path / "events_20250301.ndjson")
    gz = write_ga4_ndjson(df, tmp_path / "events_20250301.json.gz")

    assert '"event_timestamp":"1740787200000000"' in plain.read_text()  # INT64 as strings
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    assert read_ga4_export(plain).equals(df)
    assert read_ga4_export(gz).equals(df)


def test_parquet_export_conformed_field_by_field(tmp_path):
    df = _frame([_event(T0, "session_start"), _event(T0 + MIN, "purchase", tid="T", revenue=3.0)])
    path = tmp_path / "events_20250301.parquet"
    df.write_parquet(path)
    assert read_ga4_export(path).equals(df)

    # Extra column, extra struct field, missing optional column, narrower int type.
    odd = df.with_columns(
        pl.lit("web").alias("stream_id"),
        pl.struct(
            pl.col("privacy_info").struct.field("analytics_storage"),
            pl.lit("x").alias("unknown_field"),
        ).alias("privacy_info"),
        pl.col("event_bundle_sequence_id").cast(pl.Int32),
    ).drop("geo")
    odd_path = tmp_path / "events_20250301_odd.parquet"
    odd.write_parquet(odd_path)

    got = read_ga4_export(odd_path)

    assert got.schema == pl.Schema(ga4.EXPORT_SCHEMA)
    assert got["geo"].is_null().all()
    assert got["privacy_info"].struct.field("analytics_storage").to_list() == ["Yes", "Yes"]
    assert got["privacy_info"].struct.field("ads_storage").is_null().all()
    assert got.drop("geo", "privacy_info").equals(df.drop("geo", "privacy_info"))


def test_flatten_works_on_what_the_reader_returns(tmp_path):
    event = _event(T0, "page_view", session=1740787200)
    path = _write_lines(tmp_path / "events_20250301.json", [_bigquery_line(event)])
    assert '"int_value": "1740787200"' in path.read_text()

    flat = ga4.flatten(read_ga4_export(path))

    assert flat["ga_session_id"].dtype == pl.Int64
    assert flat["ga_session_id"].to_list() == [1740787200]
    assert flat["page_location"].to_list() == ["https://shop.example/p?q=1"]
    assert flat["channel_group"].to_list() == ["PPC"]


def test_late_events_union_without_duplicates_in_any_file_order(tmp_path):
    original = [
        _event(T0, "session_start"),
        _event(T0 + MIN, "view_item"),
        _event(T0 + 2 * MIN, "purchase", tid="T1", revenue=25.0),
    ]
    late = [
        _event(T0 + 3 * MIN, "page_view", user="u2.2"),
        # The same purchase sent again later (a retried hit): one purchase per transaction.
        _event(T0 + 9 * MIN, "purchase", tid="T1", revenue=25.0),
        _event(T0 + 9 * MIN, "purchase", tid="(not set)", revenue=5.0),
        _event(T0 + 10 * MIN, "purchase", tid="(not set)", revenue=5.0),
    ]
    day_file = write_ga4_ndjson(_frame(original), tmp_path / "events_20250301.json")
    re_export = write_ga4_ndjson(_frame(original + late), tmp_path / "events_20250301_2.json.gz")

    forward = read_ga4_day([day_file, re_export], DAY)
    backward = read_ga4_day([re_export, day_file], DAY)

    assert forward.equals(backward)
    assert forward.height == 6  # 3 original + 1 late view + 2 purchases without a usable id
    purchases = forward.filter(pl.col("ecommerce").struct.field("transaction_id") == "T1")
    assert purchases["event_timestamp"].to_list() == [T0 + 2 * MIN]  # the earliest kept
    assert forward["event_timestamp"].is_sorted()
    assert dedupe_events(pl.concat([forward, forward])).equals(forward)
    assert read_ga4_day([], DAY).schema == pl.Schema(ga4.EXPORT_SCHEMA)


def test_writer_refuses_frames_not_in_the_export_shape(tmp_path):
    df = _frame([_event(T0)])
    with pytest.raises(ValueError, match="event_timestamp"):
        write_ga4_ndjson(
            df.with_columns(pl.col("event_timestamp").cast(pl.Utf8)), tmp_path / "x.json"
        )
    with pytest.raises(ValueError, match="stream_id"):
        write_ga4_ndjson(df.with_columns(stream_id=pl.lit("1")), tmp_path / "x.json")


def test_ga4_file_date():
    assert ga4_file_date(Path("events_20250301.json.gz")) == DAY
    assert ga4_file_date("events_20250301_late.parquet") == DAY
    assert ga4_file_date("events_20250301") == DAY
    assert ga4_file_date("events_intraday_20250301.json") is None
    assert ga4_file_date("events_20251399.json") is None
    assert ga4_file_date("sales.csv") is None


# ------------------------------------------------------------------ generic events

RETAILROCKET = """timestamp,visitorid,event,itemid,transactionid
1740787200000,257597,view,355908,
1740787800000,257597,addtocart,355908,
1740790200000,257597,transaction,355908,4000
1740787260000,99,view,1,
1740873600000,99,view,2,
"""
DAY2_T = 1_740_873_600_000  # 2025-03-02 00:00 UTC in ms


def test_events_csv_with_default_mapping(tmp_path):
    mapping = load_events_mapping()
    first = tmp_path / "events.csv"
    first.write_text(RETAILROCKET)
    # Re-delivered rows plus one new event: duplicates collapse across files.
    second = tmp_path / "events_more.csv"
    second.write_text(
        "timestamp,visitorid,event,itemid,transactionid\n"
        "1740787200000,257597,view,355908,\n"
        f"{DAY2_T + 60_000},99,view,3,\n"
    )

    got = read_events([first, second], mapping)

    assert got.schema == pl.Schema(
        {
            "event_id": pl.Utf8,
            "event_date": pl.Date,
            "event_timestamp": pl.Datetime("us", "UTC"),
            "user_id": pl.Utf8,
            "session_id": pl.Utf8,
            "event_type": pl.Utf8,
            "product_id": pl.Utf8,
            "category": pl.Utf8,
            "price": pl.Float64,
            "analytics_storage": pl.Utf8,
        }
    )
    assert got.height == 6
    assert got["event_id"].n_unique() == 6
    assert got["event_timestamp"].is_sorted()
    user = got.filter(pl.col("user_id") == "257597")
    assert user["event_type"].to_list() == ["view", "add_to_cart", "purchase"]
    # 00:00 and 00:10 are one session; 00:50 is 40 minutes later, a new session.
    assert user["session_id"].to_list() == [
        "257597-1740787200",
        "257597-1740787200",
        "257597-1740790200",
    ]
    expected_id = hashlib.sha1(
        f"{T0}|view|6:257597|6:355908".encode(),
    ).hexdigest()
    assert user["event_id"][0] == expected_id
    assert read_events([second, first], mapping).equals(got)

    day_two = read_events([first, second], mapping, day=dt.date(2025, 3, 2))
    assert day_two["product_id"].to_list() == ["2", "3"]
    assert day_two["event_date"].unique().to_list() == [dt.date(2025, 3, 2)]
    # Session ids do not depend on the day asked for.
    assert day_two["session_id"].to_list() == ["99-1740873600", "99-1740873600"]
    assert dates_in_events([first, second], mapping) == {DAY, dt.date(2025, 3, 2)}


def test_events_parquet_with_custom_mapping(tmp_path):
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "events_mapping.yaml").write_text(
        """
columns: {timestamp: ts, user: customer, event_type: action, product: sku,
          category: cat, price: amount, session: visit}
timestamp_format: iso
timezone: Europe/Berlin
event_types: {view: [PAGE_VIEW, view_item], add_to_cart: [ADD], purchase: [BUY]}
unknown_event_types: drop
"""
    )
    mapping = load_events_mapping(folder)
    pl.DataFrame(
        {
            "ts": [
                "2025-03-01T00:30:00",  # naive: Berlin local time, still March 1st
                "2025-02-28T23:30:00Z",  # UTC: March 1st 00:30 in Berlin
                "2025-03-01 12:00:00+01:00",
                "2025-03-01T13:00:00.250+01:00",
                "2025-03-02T00:10:00",
            ],
            "customer": ["c1", "c1", "c2", "c2", "c2"],
            "action": ["PAGE_VIEW", "ADD", "BUY", "HEARTBEAT", "view_item"],
            "sku": ["p1", "p1", "p2", "p2", "p3"],
            "cat": ["shoes", "shoes", None, None, "hats"],
            "amount": [10.0, 10.0, 20.5, None, 7.0],
            "visit": ["v1", "v1", "v2", "v2", "v3"],
            "ignored": [1, 2, 3, 4, 5],
        }
    ).write_parquet(tmp_path / "app.parquet")

    got = read_events([tmp_path / "app.parquet"], mapping, day=DAY)

    assert got["event_type"].to_list() == ["add_to_cart", "view", "purchase"]  # HEARTBEAT dropped
    assert got["event_timestamp"].dt.to_string("%H:%M").to_list() == ["23:30", "23:30", "11:00"]
    assert got["session_id"].to_list() == ["v1", "v1", "v2"]
    assert got["category"].to_list() == ["shoes", "shoes", None]
    assert got["price"].to_list() == [10.0, 10.0, 20.5]
    assert got["event_date"].unique().to_list() == [DAY]
    assert dates_in_events([tmp_path / "app.parquet"], mapping) == {DAY, dt.date(2025, 3, 2)}


@pytest.mark.parametrize(
    ("fmt", "zone", "value", "utc"),
    [
        ("epoch_s", "UTC", "1740787200", "2025-03-01 00:00:00"),
        ("epoch_s", "UTC", "1740787200.5", "2025-03-01 00:00:00.500000"),
        ("epoch_us", "UTC", "1740787200000001", "2025-03-01 00:00:00.000001"),
        ("%d/%m/%Y %H:%M", "Europe/Berlin", "01/07/2025 12:00", "2025-07-01 10:00:00"),
        ("%d/%m/%Y %H:%M %z", "Asia/Tokyo", "01/03/2025 12:00 -0500", "2025-03-01 17:00:00"),
        ("iso", "America/New_York", "2025-03-01", "2025-03-01 05:00:00"),
    ],
)
def test_timestamp_formats_and_time_zones(tmp_path, fmt, zone, value, utc):
    mapping = EventsMapping.model_validate(
        {
            "columns": {"timestamp": "t", "user": "u", "event_type": "e", "product": "p"},
            "timestamp_format": fmt,
            "timezone": zone,
            "event_types": {"view": ["v"]},
        }
    )
    path = tmp_path / "events.csv"
    pl.DataFrame({"t": [value], "u": ["1"], "e": ["v"], "p": ["2"]}).write_csv(path)

    got = read_events([path], mapping)

    expected = dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC)
    assert got["event_timestamp"].to_list() == [expected]


def test_invalid_mapping_names_file_and_field(tmp_path):
    (tmp_path / "events_mapping.yaml").write_text(
        "columns: {timestamp: t, user: u, event_type: e}\n"
        "timestamp_format: fortnightly\n"
        "event_types: {view: [v]}\n"
        "colour: red\n"
    )
    with pytest.raises(ConfigError) as err:
        load_events_mapping(tmp_path)
    message = str(err.value)
    assert "events_mapping.yaml" in message
    for field in ("columns.product", "timestamp_format", "colour"):
        assert field in message


# ------------------------------------------------------------------ sales history


@pytest.mark.parametrize(
    "text",
    [
        "date,series_id,value\n2025-03-02,b,1.5\n2025-03-01,b,0\n2025-03-01,a,7\n",
        "unique_id,ds,y\nb,2025-03-02 00:00:00,1.5\nb,2025-03-01,0\na,2025-03-01,7\n",
    ],
    ids=["date-series_id-value", "statsforecast"],
)
def test_sales_history_in_both_header_styles(tmp_path, text):
    path = tmp_path / "sales.csv"
    path.write_text(text)

    got = read_sales_history(path)

    assert got.schema == pl.Schema({"date": pl.Date, "series_id": pl.Utf8, "value": pl.Float64})
    assert got.rows() == [
        (dt.date(2025, 3, 1), "a", 7.0),
        (dt.date(2025, 3, 1), "b", 0.0),
        (dt.date(2025, 3, 2), "b", 1.5),
    ]


# ------------------------------------------------------------------ malformed files


def _ga4_lines(tmp_path, name="events_20250301.json", **overrides):
    lines = [_bigquery_line(_event(T0 + i * MIN)) for i in range(4)]
    for index, line in overrides.items():
        lines[int(index.removeprefix("line"))] = line
    return _write_lines(tmp_path / name, lines)


def _bq(**fields) -> str:
    return _bigquery_line(_event(T0), **fields)


def _missing_timestamp(tmp_path):
    rows = [json.loads(_bq()) for _ in range(3)]
    for row in rows:
        del row["event_timestamp"]
    return _write_lines(tmp_path / "events_20250301.json", [json.dumps(r) for r in rows])


def _parquet_with_flat_device(tmp_path):
    path = tmp_path / "events_20250301.parquet"
    pl.DataFrame(
        {"event_date": ["20250301"], "event_timestamp": [T0], "event_name": ["x"], "device": ["m"]}
    ).write_parquet(path)
    return path


def _prices(tmp_path):
    rows = "".join(
        f"{1740787200000 + i},u{i},view,p,{'abc' if i in (3, 6) else i}\n" for i in range(9)
    )
    return _csv(tmp_path, "timestamp,visitorid,event,itemid,price\n" + rows)


def _csv(tmp_path, text, name="events.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _read_events_default(path):
    return read_events([path], load_events_mapping())


def _read_day(path):
    return read_ga4_day([path], DAY)


HEADER = "timestamp,visitorid,event,itemid,transactionid\n"
PRICED = EventsMapping.model_validate(
    {
        "columns": {
            "timestamp": "timestamp",
            "user": "visitorid",
            "event_type": "event",
            "product": "itemid",
            "price": "price",
        },
        "timestamp_format": "epoch_ms",
        "event_types": {"view": ["view"], "purchase": ["transaction"]},
    }
)

# (id, make file, read it, column named, offending rows)
MALFORMED = [
    (
        "truncated-json-line",
        lambda p: _ga4_lines(p, line2=_bq()[:40]),
        read_ga4_export,
        "<line>",
        1,
    ),
    (
        "empty-file",
        lambda p: _write_lines(p / "events_20250301.json.gz", []),
        read_ga4_export,
        "<file>",
        0,
    ),
    ("missing-required-column", _missing_timestamp, read_ga4_export, "event_timestamp", 3),
    (
        "non-numeric-event_timestamp",
        lambda p: _ga4_lines(p, line1=_bq(event_timestamp="abc"), line3=_bq(event_timestamp="1.5")),
        read_ga4_export,
        "event_timestamp",
        2,
    ),
    (
        "non-numeric-nested-int_value",
        lambda p: _ga4_lines(
            p,
            line0=_bq(event_params=[{"key": "ga_session_id", "value": {"int_value": "x1"}}]),
        ),
        read_ga4_export,
        "event_params.value.int_value",
        1,
    ),
    (
        "wrong-type-params-not-a-list",
        lambda p: _ga4_lines(p, line1=_bq(event_params="ga_session_id=1")),
        read_ga4_export,
        "event_params",
        1,
    ),
    (
        "wrong-type-object-for-event_name",
        lambda p: _ga4_lines(p, line1=_bq(event_name={"x": 1}), line2=_bq(event_name=[1])),
        read_ga4_export,
        "event_name",
        2,
    ),
    ("wrong-type-parquet-column", _parquet_with_flat_device, read_ga4_export, "device", 1),
    (
        "bad-event_date-format",
        lambda p: _ga4_lines(p, line0=_bq(event_date="2025-03-01")),
        read_ga4_export,
        "event_date",
        1,
    ),
    (
        "wrong-event_date-for-the-day",
        lambda p: _ga4_lines(p, line2=_bq(event_date="20250228"), line3=_bq(event_date="20250302")),
        _read_day,
        "event_date",
        2,
    ),
    ("csv-text-in-price", _prices, lambda path: read_events([path], PRICED), "price", 2),
    (
        "unknown-event-type",
        lambda p: _csv(p, HEADER + "1740787200000,1,view,2,\n1740787200001,1,click,2,\n"),
        _read_events_default,
        "event",
        1,
    ),
    (
        "missing-mapped-column",
        lambda p: _csv(p, "timestamp,user,event,itemid\n1740787200000,1,view,2\n"),
        _read_events_default,
        "visitorid",
        1,
    ),
    (
        "unparseable-event-timestamp",
        lambda p: _csv(p, HEADER + "yesterday,1,view,2,\n1740787200000,1,view,2,\n"),
        _read_events_default,
        "timestamp",
        1,
    ),
    (
        "null-user",
        lambda p: _csv(p, HEADER + "1740787200000,,view,2,\n"),
        _read_events_default,
        "visitorid",
        1,
    ),
    (
        "bad-date-in-sales-history",
        lambda p: _csv(p, "date,series_id,value\n2025-03-01,a,1\n2025-02-30,a,2\n", "sales.csv"),
        read_sales_history,
        "date",
        1,
    ),
    (
        "duplicate-series-day",
        lambda p: _csv(
            p, "date,series_id,value\n2025-03-01,a,1\n2025-03-01,b,2\n2025-03-01,a,3\n", "sales.csv"
        ),
        read_sales_history,
        "series_id, date",
        2,
    ),
    (
        "negative-sales-value",
        lambda p: _csv(p, "ds,unique_id,y\n2025-03-01,a,-1\n2025-03-02,a,2\n", "sales.csv"),
        read_sales_history,
        "value",
        1,
    ),
    (
        "text-sales-value",
        lambda p: _csv(p, "date,series_id,value\n2025-03-01,a,lots\n", "sales.csv"),
        read_sales_history,
        "value",
        1,
    ),
]


@pytest.mark.parametrize(
    ("make", "read", "column", "rows"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_files_raise_ingest_error_naming_file_column_rows(
    tmp_path, make, read, column, rows
):
    path = make(tmp_path)
    with pytest.raises(IngestError) as err:
        read(path)
    message = str(err.value)
    assert path.name in message
    assert f"column {column!r}" in message
    assert f"{rows} " in message
    assert (err.value.file, err.value.column, err.value.rows) == (path, column, rows)


def test_error_message_gives_row_numbers_and_masked_examples(tmp_path):
    path = _csv(
        tmp_path,
        "timestamp,visitorid,event,itemid,price\n"
        "1740787200000,u,view,p,1\n"
        "1740787200001,u,view,p,jane@example.com\n"
        "1740787200002,u,view,p,abc\n",
    )
    with pytest.raises(IngestError) as err:
        read_events([path], PRICED)
    assert str(err.value) == (
        "events.csv: column 'price': 2 of 3 rows are not numbers (rows 2, 3; e.g. '***', 'abc')"
    )
    assert err.value.row_numbers == [2, 3]


def test_ndjson_errors_give_line_numbers(tmp_path):
    path = _ga4_lines(tmp_path, line2=_bq(event_timestamp="soon"))
    path.write_text("\n" + path.read_text())  # a blank first line shifts every event down one
    with pytest.raises(IngestError) as err:
        read_ga4_export(path)
    assert err.value.row_numbers == [4]
    assert "'soon'" in str(err.value)


# ------------------------------------------------------------------ hostile strings


def test_hostile_strings_pass_through_as_data(tmp_path):
    events = [
        _event(
            T0 + i * MIN,
            "purchase",
            user=text,
            tid=text,
            revenue=1.0,
            user_id=text + "\nsecond line",
            event_params=[_param("page_location", string=text)],
        )
        for i, text in enumerate(HOSTILE)
    ]
    df = _frame(events)
    assert read_ga4_export(write_ga4_ndjson(df, tmp_path / "events_20250301.json")).equals(df)
    parquet = tmp_path / "events_20250301.parquet"
    df.write_parquet(parquet)
    assert read_ga4_export(parquet).equals(df)

    users = [*HOSTILE, 'multi\nline, "quoted"']
    csv_path = tmp_path / "events.csv"
    pl.DataFrame(
        {
            "timestamp": [1740787200000 + i for i in range(len(users))],
            "visitorid": users,
            "event": "view",
            "itemid": list(reversed(users)),
            "transactionid": None,
        }
    ).write_csv(csv_path)
    assert "\nline" in csv_path.read_text()  # the newline sits inside a quoted field

    got = read_events([csv_path], load_events_mapping())

    assert got["user_id"].to_list() == users
    assert got["product_id"].to_list() == list(reversed(users))


def test_event_files_are_parsed_once_per_version_and_staged_by_day(tmp_path):
    mapping = load_events_mapping()
    source = tmp_path / "events.csv"
    source.write_text(RETAILROCKET)
    staging = tmp_path / "staging"
    days = sorted(read_events([source], mapping)["event_date"].unique().to_list())
    assert len(days) >= 2
    for day in days:
        assert read_events_day([source], mapping, day, staging).equals(
            read_events([source], mapping, day)
        )
    (version,) = [p for p in staging.iterdir() if p.is_dir()]
    assert sorted(p.name for p in version.glob("date=*.parquet")) == [
        f"date={d.isoformat()}.parquet" for d in days
    ]
    assert read_events_day([source], mapping, dt.date(2030, 1, 1), staging).is_empty()

    # A changed file is a new version: parsed again, the old staging removed.
    source.write_text(RETAILROCKET + f"{DAY2_T + 120_000},42,view,7,\n")
    again = read_events_day([source], mapping, days[-1], staging)
    assert again.equals(read_events([source], mapping, days[-1]))
    assert "42" in again["user_id"].to_list()
    assert [p for p in staging.iterdir() if p.is_dir()] != [version]
    assert not version.exists()

    # A malformed version fails with the file named and stages nothing for itself.
    complete = set(staging.glob("*/_COMPLETE"))
    source.write_text("timestamp,visitorid,event,itemid\nsoon,7,view,101\n")
    with pytest.raises(IngestError, match="events.csv"):
        read_events_day([source], mapping, days[0], staging)
    assert set(staging.glob("*/_COMPLETE")) == complete
