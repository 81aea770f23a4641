"""Splitting channel budgets across segments: weights, forecast growth, exact micros."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from retail_assets.lib.activation import segment_split as ss

START = dt.date(2025, 3, 2)
K = ["a" * 64, "b" * 64, "c" * 64, "d" * 64]


def forecast(rows: dict[str, float], days: int = 7) -> pl.DataFrame:
    """A flat daily forecast per category over ``days`` days from START."""
    return pl.DataFrame(
        [
            {
                "level": "category",
                "unique_id": f"category:{cat}",
                "ds": START + dt.timedelta(days=i),
                "yhat": per_day,
            }
            for cat, per_day in rows.items()
            for i in range(days + 3)  # the horizon runs past the flight
        ]
    )


def test_category_growth_is_flight_forecast_over_recent_sales_clipped():
    sales = pl.DataFrame(
        {
            "category": ["Apparel", "Apparel", "Grocery", "Toys", "Beauty"],
            "revenue": [100.0, 300.0, 1000.0, 50.0, 10.0],
        }
    )
    growth = ss.category_growth(
        forecast({"Apparel": 300.0, "Grocery": 800.0, "Toys": 500.0, "Beauty": 1.0}),
        sales,
        START,
        7,
    )
    assert growth["Apparel"] == pytest.approx(300 * 7 / (200 * 7))  # 1.5
    assert growth["Grocery"] == pytest.approx(0.8)
    assert growth["Toys"] == ss.GROWTH_RANGE[1]  # 10x, clipped
    assert growth["Beauty"] == ss.GROWTH_RANGE[0]  # 0.1x, clipped
    assert ss.category_growth(pl.DataFrame(), sales, START, 7) == {}


def test_segment_growth_follows_each_segments_category_mix():
    segments = pl.DataFrame({"customer_key": K, "segment_id": ["x", "x", "y", "z"]})
    purchases = pl.DataFrame(
        {
            "customer_key": [K[0], K[1], K[2], K[2]],
            "category": ["Apparel", "Grocery", "Grocery", "Unknown"],
            "revenue": [30.0, 10.0, 50.0, 50.0],
        }
    )
    growth = ss.segment_growth(segments, purchases, {"Apparel": 2.0, "Grocery": 0.5})
    assert growth["x"] == pytest.approx((30 * 2.0 + 10 * 0.5) / 40)
    assert growth["y"] == pytest.approx((50 * 0.5 + 50 * 1.0) / 100)
    assert "z" not in growth  # no purchases: growth 1 downstream


def test_weights_rest_on_propensity_order_value_and_growth_and_split_exactly():
    segments = pl.DataFrame(
        {
            "customer_key": K,
            "segment_id": ["x", "x", "y", "y"],
            "segment_name": ["X", "X", "Y", "Y"],
        }
    )
    profiles = pl.DataFrame(
        {
            "segment_id": ["x", "y"],
            "customers": [2, 2],
            "buyer_share": [0.5, 0.5],
            "mean_order_value": [100.0, 50.0],
        }
    )
    propensity = pl.DataFrame({"customer_key": K, "probability": [0.1, 0.3, 0.2, 0.2]})
    plain = ss.segment_weights(segments, profiles, propensity, {"q": "Q"})
    assert plain["basis"].to_list() == ["propensity", "propensity"]
    # x: 0.4 buyers x 100 = 40; y: 0.4 x 50 = 20.
    assert plain["weight"].to_list() == pytest.approx([2 / 3, 1 / 3])
    grown = ss.segment_weights(segments, profiles, propensity, {"q": "Q"}, {"y": 2.0})
    assert grown["forecast_growth"].to_list() == [1.0, 2.0]
    assert grown["weight"].to_list() == pytest.approx([0.5, 0.5])

    table = ss.split_channel_budgets(
        {"PPC": 1_000_010_000, "Email": 30_000},
        {"PPC": 90.0, "Email": 3.0},
        plain,
        "USD",
        700.0,
    )
    by_channel = table.group_by("channel").agg(pl.col("budget_micros").sum())
    assert dict(by_channel.iter_rows()) == {"PPC": 1_000_010_000, "Email": 30_000}
    assert (table["budget_micros"] % 10_000 == 0).all()
    ppc = table.filter(pl.col("channel") == "PPC").sort("segment_id")
    assert ppc["conversions_p50"].to_list() == pytest.approx([60.0, 30.0])
    assert ppc["forecast_revenue"].sum() == pytest.approx(700.0)


def test_without_segments_the_configured_ones_share_equally():
    w = ss.segment_weights(
        pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), {"a": "A", "b": "B", "c": "C"}
    )
    assert w["weight"].to_list() == pytest.approx([1 / 3] * 3)
    assert set(w["basis"]) == {"configured"}
    assert ss.segment_ref("acme", "a").startswith("seg_")
    assert ss.segment_ref("acme", "a") != ss.segment_ref("acme", "b")
