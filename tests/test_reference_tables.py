"""Reference tables (product catalog, retail calendar) and governed customers and app events."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from retail_assets.defs.partitions import daily_partitions
from retail_assets.lib.config import Festival, Promotion, load_simulation_config
from retail_assets.lib.governance.consent import APP_EVENT_DROP_REASONS, CUSTOMER_DROP_REASONS
from retail_assets.lib.governance.privacy import (
    govern_app_events,
    govern_customers,
    govern_sessions,
)
from retail_assets.lib.governance.pseudonyms import Pseudonymizer
from retail_assets.lib.sources import ga4
from retail_assets.lib.sources.simulator import Simulator
from retail_assets.lib.warehouse.schemas import AGE_BANDS, validate

CFG = load_simulation_config()
PSD = Pseudonymizer(key="k" * 40, key_id="test")
DAY = dt.date(2025, 3, 1)
PII_COLUMNS = {"customer_id", "user_pseudo_id", "email", "phone", "city", "age", "user_id"}


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator(CFG, seed=9, customers=3_000)


def _customers(consents: dict[str, str | None]) -> pl.DataFrame:
    """A raw.customers-shaped frame, one customer per id with the given analytics consent."""
    n = len(consents)
    return pl.DataFrame(
        {
            "customer_id": list(consents),
            "user_pseudo_id": [f"{1000 + i}.1700000000" for i in range(n)],
            "persona": ["Family Shopper"] * n,
            "age": [16, 24, 25, 64, 65, 90][:n],
            "income_band": ["middle"] * n,
            "household_size": [3] * n,
            "home_store": ["S001"] * n,
            "email": [f"person{i}@example.com" for i in range(n)],
            "phone": [f"+1 555 000000{i}" for i in range(n)],
            "country": ["United States"] * n,
            "city": ["Chicago"] * n,
            "first_seen": [dt.date(2024, 1, 1)] * n,
            "analytics_storage": list(consents.values()),
            "ads_storage": ["Yes", "No", None, "Yes", "Unset", "No"][:n],
            "ad_user_data": ["Yes"] * n,
            "ad_personalization": ["No"] * n,
        },
        schema_overrides={"analytics_storage": pl.Utf8, "ads_storage": pl.Utf8},
    )


# ----------------------------------------------------------------- governed customers


def test_only_customers_with_analytics_consent_are_kept():
    raw = _customers(
        {"C1": "Yes", "C2": "No", "C3": "Unset", "C4": None, "C5": "Yes", "C6": "maybe"}
    )
    governed, counts = govern_customers(raw, PSD)
    assert counts == {
        "rows_in": 6,
        "rows_kept": 2,
        "dropped_analytics_denied": 1,
        "dropped_analytics_unset": 3,  # 'Unset', NULL and an unknown value count as denied
        "dropped_erased": 0,
        "kept_without_signal": 0,
    }
    assert counts["rows_in"] == counts["rows_kept"] + sum(counts[k] for k in CUSTOMER_DROP_REASONS)
    assert governed["customer_key"].to_list() == [PSD.hash_one("C1"), PSD.hash_one("C5")]
    assert governed["user_key"].to_list() == [
        PSD.hash_one("1000.1700000000"),
        PSD.hash_one("1004.1700000000"),
    ]
    assert governed["key_id"].unique().to_list() == ["test"]
    # A consent nobody recorded reads as 'Unset', never as granted.
    assert governed["ads_storage"].to_list() == ["Yes", "Unset"]


def test_governed_customers_hold_no_contact_data_or_exact_age():
    raw = _customers({f"C{i}": "Yes" for i in range(6)})
    governed, _ = govern_customers(raw, PSD)
    assert not set(governed.columns) & (PII_COLUMNS | {"country"})
    assert governed["age_band"].to_list() == ["16-24", "16-24", "25-34", "55-64", "65+", "65+"]
    assert set(governed["age_band"]) <= set(AGE_BANDS)
    # No raw value survives in any column.
    raw_values = {str(v) for c in PII_COLUMNS & set(raw.columns) for v in raw[c].to_list()}
    kept_values = {str(v) for c in governed.columns for v in governed[c].drop_nulls().to_list()}
    assert not raw_values & kept_values


def test_keys_join_governed_sessions_and_app_events(sim):
    raw_customers = sim.customers_frame()
    customers, counts = govern_customers(raw_customers, PSD)
    consenting = raw_customers.filter(pl.col("analytics_storage") == "Yes")
    assert counts["rows_kept"] == customers.height == consenting.height
    assert 0 < customers.height < raw_customers.height
    stamped = customers.with_columns(
        pl.lit("00000000-0000-4000-8000-000000000000").alias("lineage_id"),
        pl.lit(dt.datetime(2025, 3, 2, tzinfo=dt.UTC)).alias("processed_at"),
    )
    assert validate("governed.customers", stamped).passed

    sessions, _ = govern_sessions(ga4.flatten(sim.sessions(DAY)), PSD)
    session_customers = set(sessions["customer_key"].drop_nulls())
    assert session_customers and session_customers <= set(customers["customer_key"])
    assert set(sessions["user_key"]) <= set(customers["user_key"])

    events, _ = govern_app_events(sim.app_events(DAY), raw_customers, PSD)
    assert events.height > 0
    assert set(events["customer_key"]) <= set(customers["customer_key"])
    # Same id, same key: the customer key of an id is its HMAC under the one key.
    cid = consenting["customer_id"][0]
    row = customers.filter(pl.col("customer_key") == PSD.hash_one(cid))
    assert row.height == 1


# ----------------------------------------------------------------- governed app events


def _events(users: list[str]) -> pl.DataFrame:
    n = len(users)
    ts = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
    return pl.DataFrame(
        {
            "event_id": [f"E{i}" for i in range(n)],
            "event_date": [DAY] * n,
            "event_timestamp": [ts + dt.timedelta(minutes=i) for i in range(n)],
            "user_id": users,
            "session_id": [f"{u}-739311-1" for u in users],
            "event_type": ["view"] * n,
            "product_id": ["GROCERY-001"] * n,
            "category": ["Grocery"] * n,
            "price": [2.5] * n,
        }
    )


def test_app_events_of_consenting_customers_only():
    customers = _customers({"C1": "Yes", "C2": "No", "C3": "Unset", "C4": None})
    events = _events(["C1", "C2", "C3", "C4", "C1", "X9", "X9", "C2"])
    governed, counts = govern_app_events(events, customers, PSD)
    assert counts == {
        "rows_in": 8,
        "rows_kept": 2,
        "dropped_analytics_denied": 2,
        "dropped_analytics_unset": 2,
        "dropped_unknown_customer": 2,  # X9 is not a customer: consent unknown
        "dropped_erased": 0,
        "kept_without_signal": 0,
    }
    assert counts["rows_in"] == counts["rows_kept"] + sum(counts[k] for k in APP_EVENT_DROP_REASONS)
    # Under a declared grant policy, no signal ('Unset', or not a customer) is kept; 'No' is not.
    _, granted = govern_app_events(events, customers, PSD, unset="grant")
    assert granted["dropped_analytics_denied"] == 2 and granted["dropped_unknown_customer"] == 0
    assert granted["dropped_analytics_unset"] == 0
    assert granted["kept_without_signal"] == 4 and granted["rows_kept"] == 6
    assert governed["event_id"].to_list() == ["E0", "E4"]
    assert governed["customer_key"].to_list() == [PSD.hash_one("C1")] * 2
    assert governed["session_key"].to_list() == [PSD.hash_one("C1-739311-1")] * 2
    assert not set(governed.columns) & {"user_id", "session_id"}
    # The session id embeds the customer id; neither survives anywhere.
    strings = governed.select(pl.col(pl.Utf8)).unpivot()["value"]
    assert not strings.str.contains("C1").any()


def test_app_events_reject_an_ambiguous_customer_table():
    customers = _customers({"C1": "Yes", "C2": "No"})
    twice = pl.concat([customers, customers.with_columns(pl.lit("No").alias("analytics_storage"))])
    with pytest.raises(ValueError, match="more than once"):
        govern_app_events(_events(["C1"]), twice, PSD)


# ----------------------------------------------------------------- retail calendar


def test_calendar_weekends_festivals_and_promotions(sim):
    start, end = dt.date(2025, 1, 1), dt.date(2026, 2, 4)
    cal = sim.calendar_frame(start, end)
    assert cal.height == (end - start).days + 1 == cal["date"].n_unique()
    assert cal["date"].to_list() == sorted(cal["date"].to_list())
    by_date = {r["date"]: r for r in cal.iter_rows(named=True)}

    saturday, monday = by_date[dt.date(2025, 3, 1)], by_date[dt.date(2025, 3, 3)]
    assert (saturday["day_of_week"], saturday["is_weekend"]) == (6, True)
    assert (monday["day_of_week"], monday["is_weekend"]) == (1, False)
    weekend_days = sum((start + dt.timedelta(days=i)).weekday() >= 5 for i in range(cal.height))
    assert cal.filter(pl.col("is_weekend")).height == weekend_days > 100

    black_friday = by_date[dt.date(2025, 11, 28)]  # configured date, 0 days before, 3 after
    assert black_friday["festival"] == "Black Friday" and black_friday["is_festival"]
    assert by_date[dt.date(2025, 12, 1)]["festival"] == "Black Friday"
    assert by_date[dt.date(2025, 12, 2)]["festival"] is None
    assert by_date[dt.date(2025, 12, 2)]["is_festival"] is False
    valentine = by_date[dt.date(2025, 2, 10)]  # 02-14 with 4 days before
    assert valentine["festival"] == "Valentine's Day"
    assert by_date[dt.date(2025, 2, 9)]["festival"] is None

    tech = by_date[dt.date(2025, 7, 9)]
    assert tech["promotion"] == "Summer Tech Days" and tech["max_discount"] == pytest.approx(0.2)
    assert by_date[dt.date(2025, 4, 4)]["max_discount"] == pytest.approx(0.15)
    quiet = by_date[dt.date(2025, 3, 4)]
    assert quiet["promotion"] is None and quiet["max_discount"] == 0.0
    assert quiet["festival"] is None

    # Every day agrees with what the simulator uses for demand and prices.
    for day in (start + dt.timedelta(days=i) for i in range(0, cal.height, 7)):
        row = by_date[day]
        assert (row["festival"] or "") == ", ".join(sim.festivals_on(day))
        assert row["max_discount"] == pytest.approx(float(sim.discount(day).max()))
    stamped = cal.with_columns(
        pl.lit("00000000-0000-4000-8000-000000000000").alias("lineage_id"),
        pl.lit(dt.datetime(2025, 3, 2, tzinfo=dt.UTC)).alias("processed_at"),
    )
    assert validate("raw.retail_calendar", stamped).passed
    assert not validate("raw.retail_calendar", stamped.filter(pl.col("date") != DAY)).passed


def test_calendar_joins_overlapping_festivals_and_promotions():
    cal_cfg = CFG.calendar.model_copy(
        update={
            "festivals": [
                Festival(name="Spring Fair", dates=[dt.date(2025, 4, 5)], uplift=1.2),
                Festival(name="Garden Week", month_day="04-05", days_after=2, uplift=1.1),
            ],
            "promotions": [
                Promotion(
                    name="Home Sale",
                    start=dt.date(2025, 4, 4),
                    end=dt.date(2025, 4, 6),
                    categories=["Home & Garden"],
                    discount=0.1,
                    uplift=1.2,
                ),
                Promotion(
                    name="Garden Extra",
                    start=dt.date(2025, 4, 5),
                    end=dt.date(2025, 4, 5),
                    categories=["Home & Garden", "Grocery"],
                    discount=0.2,
                    uplift=1.2,
                ),
            ],
        }
    )
    sim = Simulator(CFG.model_copy(update={"calendar": cal_cfg}), customers=100)
    cal = sim.calendar_frame(dt.date(2025, 4, 3), dt.date(2025, 4, 7))
    assert cal["festival"].to_list() == [
        None,
        None,
        "Spring Fair, Garden Week",
        "Garden Week",
        "Garden Week",
    ]
    assert cal["promotion"].to_list() == [
        None,
        "Home Sale",
        "Home Sale, Garden Extra",
        "Home Sale",
        None,
    ]
    # Both promotions cover Home & Garden on the 5th: 1 - 0.9 * 0.8 = 0.28.
    assert cal["max_discount"].to_list() == pytest.approx([0.0, 0.1, 0.28, 0.1, 0.0])
    with pytest.raises(ValueError, match="before start"):
        sim.calendar_frame(dt.date(2025, 4, 7), dt.date(2025, 4, 3))


# ----------------------------------------------------------------- in-process materialization


def test_reference_data_and_a_day_of_governed_app_events(fresh):
    day = "2025-03-01"
    today_before = dt.datetime.now(dt.UTC).date()
    assert fresh.reference().success
    result = fresh.run(day, selection="raw/app_events,governed/app_events")
    assert result.success
    lake = fresh.lake

    # Views: the governed and reference tables are queryable; raw personal data is not.
    views = lake.catalog_views()
    assert {
        "raw.product_catalog",
        "raw.retail_calendar",
        "governed.customers",
        "governed.app_events",
    } <= views
    assert not views & {"raw.customers", "raw.app_events"}
    assert not lake.table_dir("raw", "customers").exists()

    raw_customers = lake.read("raw", "customers", landing=True)
    consenting = raw_customers.filter(pl.col("analytics_storage") == "Yes")
    customers = lake.read("governed", "customers")
    assert raw_customers.height == fresh.platform.customers
    assert customers.height == consenting.height
    psd = fresh.platform.pseudonymizer()
    assert set(customers["customer_key"]) == {psd.hash_one(c) for c in consenting["customer_id"]}

    raw_events = lake.read("raw", "app_events", [day], landing=True)
    events = lake.read("governed", "app_events", [day])
    expected = raw_events.filter(pl.col("user_id").is_in(consenting["customer_id"].implode()))
    assert 0 < events.height == expected.height < raw_events.height
    assert set(events["event_id"]) == set(expected["event_id"])
    assert set(events["customer_key"]) <= set(customers["customer_key"])
    record = fresh.instance.fetch_materializations(
        dg.AssetKey(["governed", "app_events"]), limit=1
    ).records[0]
    meta = record.asset_materialization.metadata
    assert meta["rows_in"].value == raw_events.height
    assert meta["rows_kept"].value == events.height
    dropped = sum(v.value for k, v in meta.items() if k.startswith("dropped_"))
    assert meta["rows_kept"].value + dropped == raw_events.height

    # No raw identifier appears in any governed column.
    secrets = pl.concat(
        [
            raw_customers["customer_id"],
            raw_customers["user_pseudo_id"],
            raw_customers["email"],
            raw_events["session_id"],
        ]
    ).implode()
    for table in (customers, events):
        for name, dtype in table.schema.items():
            if dtype == pl.Utf8:
                assert not table[name].is_in(secrets).any(), name

    catalog = lake.read("raw", "product_catalog")
    assert catalog.height == len(CFG.categories) * CFG.products_per_category
    assert set(raw_events["product_id"]) <= set(catalog["product_id"])
    naics = dict(catalog.select("category", "naics_code").unique().iter_rows())
    assert naics == {name: c.naics for name, c in CFG.categories.items()}

    calendar = lake.read("raw", "retail_calendar")
    assert calendar["date"].min() == daily_partitions.start.date()
    today_after = dt.datetime.now(dt.UTC).date()
    assert calendar["date"].max() in {
        max(today_before, daily_partitions.start.date()) + dt.timedelta(days=400),
        max(today_after, daily_partitions.start.date()) + dt.timedelta(days=400),
    }
    assert calendar.height == calendar["date"].n_unique()
