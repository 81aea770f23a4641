"""The simulator against its configuration: distributions on a simulated month, determinism."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from conftest import SHARED_DATA

from retail_assets.lib.config import ConfigError, load_simulation_config
from retail_assets.lib.sources import ga4
from retail_assets.lib.sources.census import monthly_factors, read_mrts
from retail_assets.lib.sources.simulator import Simulator

CFG = load_simulation_config()
MARCH = [dt.date(2025, 3, 1) + dt.timedelta(days=i) for i in range(31)]
CONFIG_FILE = Path(__file__).resolve().parents[1] / "retail_assets" / "config" / "simulation.yaml"


def _config(**signals):
    return CFG.model_copy(update={"signals": CFG.signals.model_copy(update=signals)})


@pytest.fixture(scope="module")
def march():
    """A month at 10,000 customers with the latent demand switched off (calendar only)."""
    sim = Simulator(_config(strength=0.0), seed=7, customers=10_000)
    return {
        "sim": sim,
        "customers": sim.customers_frame(),
        "baskets": pl.concat([sim.baskets(d) for d in MARCH]),
        "app": pl.concat([sim.app_events(d) for d in MARCH]),
        "web": pl.concat([sim.sessions(d) for d in MARCH[:7]]),
    }


def test_persona_shares_and_store_visit_frequency(march):
    sim, customers, baskets = march["sim"], march["customers"], march["baskets"]
    total_share = sum(p.share for p in CFG.personas.values())
    counts = dict(customers.group_by("persona").len().iter_rows())
    visits = dict(baskets.group_by("persona").agg(pl.col("basket_id").n_unique()).iter_rows())
    traffic = np.mean([sim.traffic_multiplier(d) for d in MARCH])
    for name, persona in CFG.personas.items():
        assert counts[name] / sim.customers == pytest.approx(persona.share / total_share, abs=0.015)
        per_month = visits[name] / counts[name] * 365.25 / 12 / len(MARCH)
        expected = persona.store_visits_per_month * traffic
        assert per_month == pytest.approx(expected, rel=0.08), name


def test_most_baskets_are_at_the_home_store(march):
    sim, baskets = march["sim"], march["baskets"].unique("basket_id")
    home = sim.customer_table["home_store"][baskets["customer_index"].to_numpy()] + 1
    at_home = baskets["store_id"].str.slice(1).cast(pl.Int64).to_numpy() == home
    stores = CFG.stores
    assert at_home.mean() == pytest.approx(0.85 + 0.15 / stores, abs=0.015)
    assert baskets.filter(~pl.Series(at_home))["store_id"].n_unique() == stores


def test_persona_revenue_shares_follow_basket_profiles(march):
    """Revenue shares computed from the YAML (shares, visits, basket lines, catalog prices)."""
    sim, baskets = march["sim"], march["baskets"]
    prices = sim.catalog.partition_by("category", as_dict=True)
    demand = np.mean([sim.store_demand(d) for d in MARCH], axis=0)
    expected = {}
    for name, persona in CFG.personas.items():
        p = {
            c: min(line.probability * demand[sim.category_names.index(c)], 1.0)
            for c, line in persona.basket.items()
        }
        empty = np.prod([1 - x for x in p.values()])
        value = 0.0
        for cat, line in persona.basket.items():
            list_prices = prices[(cat,)]["list_price"]
            inside = list_prices.filter(list_prices.is_between(*line.price))
            mean_price = inside.mean() if inside.len() else list_prices.mean()
            lines = p[cat] + empty * p[cat] / sum(p.values())  # an empty draw is forced to one
            value += lines * np.mean(line.quantity) * mean_price
        expected[name] = persona.share * persona.store_visits_per_month * value
    total = sum(expected.values())
    revenue = dict(baskets.group_by("persona").agg(pl.col("revenue").sum()).iter_rows())
    observed_total = sum(revenue.values())
    for name in CFG.personas:
        assert revenue[name] / observed_total == pytest.approx(expected[name] / total, abs=0.02)


def test_weekend_festival_and_promotion_uplift():
    sim = Simulator(_config(strength=0.0), seed=3, customers=20_000)

    def visits(day):
        return sim.baskets(day)["basket_id"].n_unique()

    weekend = np.mean([visits(d) for d in MARCH if d.weekday() >= 5])
    weekday = np.mean([visits(d) for d in MARCH if d.weekday() < 5])
    assert weekend / weekday == pytest.approx(CFG.calendar.weekend_uplift, rel=0.06)

    # The yearly trend: the same weekday a year (52 weeks) later sees trend_per_year more.
    later = MARCH[0] + dt.timedelta(weeks=52)
    growth = sim.traffic_multiplier(later) / sim.traffic_multiplier(MARCH[0])
    assert growth == pytest.approx((1 + CFG.trend_per_year) ** (364 / 365.25))
    assert visits(later) / visits(MARCH[0]) == pytest.approx(growth, rel=0.06)

    black_friday = dt.date(2025, 11, 28)
    assert "Black Friday" in sim.festivals_on(black_friday)
    ratio = visits(black_friday) / visits(black_friday - dt.timedelta(days=7))
    assert ratio == pytest.approx(2.2, rel=0.08)

    # Valentine's Day lifts only its categories: Beauty's share of lines rises, Grocery's not.
    def share(day, category):
        lines = sim.baskets(day)
        return lines.filter(pl.col("category") == category).height / lines.height

    before, during = dt.date(2025, 2, 4), dt.date(2025, 2, 11)  # both Tuesdays
    assert share(during, "Beauty") > 1.25 * share(before, "Beauty")

    # A promotion discounts its categories' prices and lifts their demand.
    promo, plain = dt.date(2025, 7, 9), dt.date(2025, 7, 2)
    assert sim.discount(promo)[sim.category_names.index("Electronics")] == pytest.approx(0.2)
    tech = [sim.baskets(d).filter(pl.col("category") == "Electronics") for d in (plain, promo)]
    assert tech[1].height > 1.5 * tech[0].height
    catalog = dict(sim.catalog.select("product_id", "list_price").iter_rows())
    assert all(
        row["unit_price"] == pytest.approx(catalog[row["product_id"]] * 0.8, abs=0.011)
        for row in tech[1].head(50).iter_rows(named=True)
    )


def test_app_funnel_rates_sessions_and_returning_users(march):
    app = march["app"]
    funnel = dict(app.group_by("event_type").len().iter_rows())
    assert 0.020 <= funnel["add_to_cart"] / funnel["view"] <= 0.034
    assert 0.26 <= funnel["purchase"] / funnel["add_to_cart"] <= 0.40

    # Sessions of one user on one day are separated by at least 30 minutes without events.
    bounds = (
        app.group_by("user_id", "event_date", "session_id")
        .agg(pl.col("event_timestamp").min().alias("first"), pl.col("event_timestamp").max())
        .sort("user_id", "event_date", "first")
        .with_columns(pl.col("event_timestamp").shift().over("user_id", "event_date").alias("prev"))
        .drop_nulls("prev")
    )
    assert bounds.height > 100
    gaps = (bounds["first"] - bounds["prev"]).dt.total_minutes()
    assert (gaps >= 30).mean() > 0.97

    # Customers come back: most of a late day's users were active earlier in the month.
    last = set(app.filter(pl.col("event_date") == MARCH[-1])["user_id"].to_list())
    earlier = set(app.filter(pl.col("event_date") < MARCH[-1])["user_id"].to_list())
    assert len(last & earlier) / len(last) > 0.5


def test_consent_shares_match_configuration(march):
    customers = march["customers"]
    for name, persona in CFG.personas.items():
        mine = customers.filter(pl.col("persona") == name)
        total = sum(persona.consent.values())
        for value, weight in persona.consent.items():
            observed = (mine["analytics_storage"] == value).mean()
            assert observed == pytest.approx(weight / total, abs=0.03), (name, value)


def test_web_events_follow_the_ga4_export(march):
    web = march["web"]
    assert web.schema == pl.Schema(ga4.EXPORT_SCHEMA)
    flat = ga4.flatten(web)
    day_start = flat["event_date"].str.to_date("%Y%m%d").cast(pl.Datetime("us")).dt.epoch("us")
    assert (
        (flat["event_timestamp"] >= day_start)
        & (flat["event_timestamp"] < day_start + 86_400_000_000)
    ).all()
    # No two events are equal in every column (late sessions are not clipped onto one time).
    assert not web.select(pl.struct(pl.all()).struct.json_encode().is_duplicated().any()).item()
    denied = flat.filter(pl.col("analytics_storage") == "No")
    assert denied.height > 0
    assert denied["user_pseudo_id"].null_count() == denied.height
    assert denied["ga_session_id"].null_count() == denied.height
    consented = flat.filter(pl.col("analytics_storage") == "Yes")
    assert consented["ga_session_id"].null_count() == 0
    purchases = web.filter(pl.col("event_name") == "purchase")
    ids = purchases["ecommerce"].struct.field("transaction_id")
    assert ids.null_count() == 0 and ids.n_unique() == purchases.height
    item_revenue = (
        purchases["items"].list.eval(pl.element().struct.field("item_revenue")).list.sum()
    )
    assert (
        (purchases["ecommerce"].struct.field("purchase_revenue") - item_revenue).abs() < 0.01
    ).all()
    assert set(flat["channel_group"].unique()) <= set(CFG.channels)
    funnel = dict(flat.group_by("event_name").len().iter_rows())
    assert funnel["view_item"] > funnel["add_to_cart"] > funnel["purchase"] > 0
    # Paid search sessions show up as GA4's "Paid Search" and plan as PPC.
    ppc = flat.filter(pl.col("traffic_medium") == "cpc")
    assert set(ppc["default_channel_group"]) == {"Paid Search"}


@pytest.mark.parametrize("strength", [0.35, 0.0])
def test_signals_lead_sales_by_the_configured_lag(strength):
    lag = CFG.signals.lag_days
    sim = Simulator(_config(strength=strength), seed=11, customers=3_000)
    days = [dt.date(2025, 2, 1) + dt.timedelta(days=i) for i in range(150)]
    k = sim.category_names.index("Electronics")
    signal = np.array(
        [
            sim.signals(d).filter(pl.col("category") == "Electronics").height
            / (sim.category_multiplier(d)[k] * sim.traffic_multiplier(d))
            for d in days
        ]
    )
    sales = np.array(
        [
            sim.baskets(d).filter(pl.col("category") == "Electronics").height
            / (sim.category_multiplier(d)[k] * sim.traffic_multiplier(d))
            for d in days
        ]
    )
    at_lag = np.corrcoef(signal[:-lag], sales[lag:])[0, 1]
    same_day = np.corrcoef(signal, sales)[0, 1]
    if strength:
        assert at_lag > 0.6
        assert at_lag > same_day + 0.1
    else:
        assert abs(at_lag) < 0.25


def _parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


def test_partitions_are_deterministic_and_independent():
    day, other = dt.date(2025, 6, 1), dt.date(2025, 6, 2)
    a = Simulator(CFG, seed=5, customers=3_000)
    b = Simulator(CFG, seed=5, customers=3_000)
    for method in ("sessions", "app_events", "signals", "transactions"):
        first = getattr(a, method)(day)
        getattr(b, method)(other)  # b simulates another day first: order must not matter
        assert _parquet_bytes(first) == _parquet_bytes(getattr(b, method)(day)), method
        assert not first.equals(getattr(a, method)(other)), method
    assert _parquet_bytes(a.customers_frame()) == _parquet_bytes(b.customers_frame())
    assert not Simulator(CFG, seed=6, customers=3_000).sessions(day).equals(a.sessions(day))


def test_a_day_with_journeys_is_the_same_alone_or_after_other_days():
    day = dt.date(2025, 6, 10)
    alone = Simulator(CFG, seed=9, customers=3_000)
    after = Simulator(CFG, seed=9, customers=3_000)
    # Other days first, later and earlier, one in the same week for some customers and not
    # for others, so the journey cache holds other days and evicts some before the day.
    for offset in (9, -15, -3, 1):
        other = day + dt.timedelta(days=offset)
        after.app_events(other)
        after.sessions(other)
    for method in ("app_events", "sessions"):
        first = _parquet_bytes(getattr(alone, method)(day))
        assert first == _parquet_bytes(getattr(after, method)(day)), method
        assert first == _parquet_bytes(getattr(after, method)(day)), method  # twice: same bytes


def test_purchase_journeys_make_activity_persist_and_carts_convert_later(march):
    app, days = march["app"], MARCH
    customers = march["customers"].height
    active = app.select("user_id", "event_date").unique()

    def active_again(lag):
        """P(active on day t + lag | active on day t)."""
        later = active.with_columns(pl.col("event_date") - pl.duration(days=lag))
        base = active.filter(pl.col("event_date") <= days[-1] - dt.timedelta(days=lag))
        return base.join(later, on=["user_id", "event_date"], how="semi").height / base.height

    # Active customers come back the next day far more often than on an average day, and
    # more than two weeks later: that is the journey, not only each customer's own rate
    # (which alone would make the two lags alike).
    p_active = active.height / len(days) / customers
    assert active_again(1) > 2 * p_active
    assert active_again(1) > 1.25 * active_again(14)

    # A cart today makes a purchase tomorrow likely (abandoned carts recovered later), and
    # some purchases are of a cart left on an earlier day: no cart add in their session.
    def per_day(kind):
        return app.filter(pl.col("event_type") == kind).select("user_id", "event_date").unique()

    buyers = per_day("purchase")
    carted = per_day("add_to_cart").filter(pl.col("event_date") < days[-1])
    next_day = carted.with_columns(pl.col("event_date") + pl.duration(days=1))
    buy_next = next_day.join(buyers, on=["user_id", "event_date"], how="semi").height
    assert buy_next / carted.height > 3 * buyers.height / len(days) / customers
    sessions = app.group_by("session_id").agg(
        (pl.col("event_type") == "purchase").any().alias("bought"),
        (pl.col("event_type") == "add_to_cart").any().alias("carted"),
    )
    recovered = sessions.filter(pl.col("bought") & ~pl.col("carted")).height
    assert 0.1 < recovered / sessions.filter(pl.col("bought")).height < 0.6


def test_a_persona_added_in_yaml_is_simulated(tmp_path):
    data = yaml.safe_load(CONFIG_FILE.read_text())
    data["personas"]["Student"] = {
        **data["personas"]["Young Professional"],
        "share": 0.2,
        "demographics": {"age": [18, 24], "income": {"low": 1.0}, "household_size": [1, 4]},
    }
    (tmp_path / "simulation.yaml").write_text(yaml.safe_dump(data))
    sim = Simulator(load_simulation_config(tmp_path), seed=1, customers=4_000)
    students = sim.customers_frame().filter(pl.col("persona") == "Student")
    assert students.height > 400
    assert students["age"].is_between(18, 24).all()
    assert set(students["income_band"]) == {"low"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["personas"]["Senior Citizen"]["basket"].update(
                Toys={"probability": 0.1, "quantity": [1, 1], "price": [5, 10]}
            ),
            "unknown category 'Toys'",
        ),
        (lambda d: d["channels"]["PPC"].update(medium="organic"), "not 'PPC'"),
        (
            lambda d: d["calendar"]["festivals"].append({"name": "X", "uplift": 2}),
            "either month_day or dates",
        ),
        (
            lambda d: d["personas"]["Family Shopper"]["basket"]["Grocery"].update(quantity=[3, 1]),
            "personas.Family Shopper.basket.Grocery.quantity",
        ),
    ],
)
def test_invalid_configuration_names_file_and_field(tmp_path, edit, message):
    data = yaml.safe_load(CONFIG_FILE.read_text())
    edit(data)
    (tmp_path / "simulation.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_simulation_config(tmp_path)
    assert "simulation.yaml" in str(err.value) and message in str(err.value)


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data not beside the checkout")
def test_seasonality_is_the_census_series():
    sales = read_mrts(SHARED_DATA / "census" / "mrts_sales_1992_2022_tidy.csv")
    for name, category in CFG.categories.items():
        assert category.seasonality == monthly_factors(sales, category.naics), name


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data not beside the checkout")
def test_embedded_source_categories_are_ga4s():
    published = dict(pl.read_csv(SHARED_DATA / "ga4" / "ga4_source_categories.csv").iter_rows())
    for source, category in ga4.SOURCE_CATEGORIES.items():
        assert published[source] == f"SOURCE_CATEGORY_{category}", source
    full = ga4.source_categories(str(SHARED_DATA / "ga4" / "ga4_source_categories.csv"))
    assert len(full) == len(published) and full["43things"] == "SOCIAL"


@pytest.mark.parametrize(
    ("source", "medium", "campaign", "group"),
    [
        ("(direct)", "(none)", None, "Direct"),
        ("google", "cpc", None, "Paid Search"),
        ("google", "organic", None, "Organic Search"),
        ("facebook", "paid_social", None, "Paid Social"),
        ("instagram", "social", None, "Organic Social"),
        ("youtube", "cpv", None, "Paid Video"),
        ("dv360", "display", None, "Display"),
        ("newsletter", "email", None, "Email"),
        ("partner.com", "referral", None, "Referral"),
        ("amazon", "cpc", None, "Paid Shopping"),
        ("bing", "cpc", "summer shopping", "Paid Shopping"),
        ("x", "affiliate", None, "Affiliates"),
        ("unknown", "weird", None, "Unassigned"),
    ],
)
def test_default_channel_group_rules(source, medium, campaign, group):
    assert ga4.default_channel_group(source, medium, campaign) == group
