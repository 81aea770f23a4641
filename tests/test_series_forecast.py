"""The retailer's own series: frequency, hierarchy, reconciliation, and the asset end to end."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl
import pytest

from retail_assets.lib.forecasting import series as sf
from tests.conftest import SHARED_DATA, Pipeline


def _days(start: dt.date, n: int, step: int = 1) -> list[dt.date]:
    return [start + dt.timedelta(days=step * i) for i in range(n)]


def _store_sales(days: int, seed: int = 0) -> pl.DataFrame:
    """Daily sales per store and product (two categories), weekly and yearly patterns."""
    rng = np.random.default_rng(seed)
    rows = []
    for store in ("north", "south"):
        for product, category in (("p1", "toys"), ("p2", "toys"), ("p3", "garden")):
            for day in _days(dt.date(2023, 1, 4), days):
                season = 1 + 0.3 * np.sin(2 * np.pi * day.timetuple().tm_yday / 365)
                weekend = 1.4 if day.weekday() >= 5 else 1.0
                rows.append(
                    {
                        "ds": day,
                        "store": store,
                        "category": category,
                        "product": product,
                        "y": float(rng.poisson(30 * season * weekend)),
                    }
                )
    return pl.DataFrame(rows)


# ---------------------------------------------------------------------------- frequency
@pytest.mark.parametrize(
    ("dates", "name", "season", "horizon"),
    [
        (_days(dt.date(2024, 1, 1), 30), "daily", 7, 28),
        (_days(dt.date(2024, 1, 7), 30, 7), "weekly", 52, 13),
        ([dt.date(2020 + m // 12, m % 12 + 1, 1) for m in range(30)], "monthly", 12, 12),
    ],
)
def test_frequency_is_read_from_the_dates(dates, name, season, horizon):
    freq = sf.detect_frequency(dates)
    assert (freq.name, freq.season_length, freq.horizon) == (name, season, horizon)
    config = freq.config()
    assert config.season_length == season and config.freq == freq.interval


def test_irregular_or_too_fine_dates_are_refused_by_name():
    with pytest.raises(sf.SeriesError, match=r"sales\.csv.*gap between dates is 3 days"):
        sf.detect_frequency(_days(dt.date(2024, 1, 1), 10, 3), "sales.csv")
    mixed = [*_days(dt.date(2024, 1, 1), 5, 7), *_days(dt.date(2024, 3, 5), 5, 7)]
    with pytest.raises(sf.SeriesError, match="different weekdays"):
        sf.detect_frequency(mixed)
    weekly = pl.Series(_days(dt.date(2024, 1, 7), 20, 7))
    with pytest.raises(sf.SeriesError, match="weekly and the declared frequency daily is finer"):
        sf.resolve_frequency(weekly, "daily")


def test_days_sum_into_whole_weeks_and_partial_weeks_are_left_out():
    daily = _store_sales(40)  # 2023-01-04 (a Wednesday) .. 2023-02-12 (a Sunday)
    native, weekly = sf.resolve_frequency(daily["ds"], "weekly")
    periods = sf.to_frequency(daily, native, weekly)
    assert list(periods.dropped) == ["2023-01-02"]  # the data start inside that week
    weeks = periods.rows["ds"].unique().sort().to_list()
    assert weeks[0] == dt.date(2023, 1, 9) and weeks[-1] == dt.date(2023, 2, 6)
    assert all(d.weekday() == 0 for d in weeks)
    kept = daily.filter(pl.col("ds") >= dt.date(2023, 1, 9))
    assert periods.rows["y"].sum() == pytest.approx(kept["y"].sum())


# ---------------------------------------------------------------------------- hierarchy
def test_hierarchy_has_the_levels_the_data_have():
    weekly = sf.to_frequency(
        _store_sales(70), sf.FREQUENCIES["daily"], sf.FREQUENCIES["weekly"]
    ).rows
    h = sf.hierarchy(weekly)
    assert h.levels == ("total", "category", "store", "product", "store_product")
    assert {k: len(v) for k, v in h.tags.items()} == {
        "total": 1,
        "category": 2,
        "store": 2,
        "product": 3,
        "store_product": 6,
    }
    assert "store_product:north/p1" in h.tags["store_product"]
    assert "category:garden" in h.tags["category"] and "product:p3" in h.tags["product"]
    y = h.Y.filter(pl.col("ds") == pl.col("ds").min())
    total = y.filter(pl.col("unique_id") == "total")["y"][0]
    for level in ("category", "store", "product", "store_product"):
        assert y.filter(pl.col("level") == level)["y"].sum() == pytest.approx(total)
    # Only the levels asked for: stores summed over.
    h2 = sf.hierarchy(weekly, ("total", "category"))
    assert h2.levels == ("total", "category")


def test_reconciled_levels_add_up():
    daily = _store_sales(3 * 365 + 20)
    native, weekly = sf.resolve_frequency(daily["ds"], "weekly")
    h = sf.hierarchy(sf.to_frequency(daily, native, weekly).rows, ("total", "category", "store"))
    result = sf.forecast_series(h, weekly)
    f = result.forecasts
    assert result.reconciled and result.incoherence_base > 1.0
    assert result.incoherence_reconciled < 1e-6
    for ds in f["ds"].unique().to_list():
        day = f.filter(pl.col("ds") == ds)
        total = day.filter(pl.col("level") == "total")["yhat"][0]
        for level in ("category", "store", "category_store"):
            assert day.filter(pl.col("level") == level)["yhat"].sum() == pytest.approx(
                total, rel=1e-6
            )
    assert (f["lo_95"] <= f["yhat"] + 1e-9).all() and (f["yhat"] <= f["hi_95"] + 1e-9).all()
    assert f["horizon"].max() == 13 and set(f["horizon"]) == set(range(1, 14))
    # The backtest scores every series, the models beat the seasonal naive one on the whole.
    acc = result.accuracy
    assert acc.height == f["unique_id"].n_unique()
    assert acc["mase"].mean() < acc["mase_seasonal_naive"].mean()


# ---------------------------------------------------------------------------- end to end
def _history_file(path, dates, seed=0, hierarchy=False):
    rng = np.random.default_rng(seed)
    lines = ["date,series_id,value" + (",category,store_id" if hierarchy else "")]
    for sid, (cat, store) in {
        "a": ("toys", "north"),
        "b": ("toys", "south"),
        "c": ("garden", "north"),
    }.items():
        for i, d in enumerate(dates):
            v = 100 + 20 * np.sin(2 * np.pi * i / 52) + rng.normal(0, 5)
            lines.append(f"{d},{sid},{max(v, 0):.2f}" + (f",{cat},{store}" if hierarchy else ""))
    path.write_text("\n".join(lines) + "\n")


def _forecast(p: Pipeline):
    ingest = p.defs.resolve_job_def("sales_history_ingest")
    assert ingest.execute_in_process(instance=p.instance).success
    job = p.defs.resolve_job_def("series_forecasts")
    result = job.execute_in_process(instance=p.instance, raise_on_error=False)
    return result


def test_weekly_sales_history_is_forecast_weekly_with_coherent_levels(fresh):
    inbox = fresh.platform.inbox("sales_history")
    inbox.mkdir(parents=True)
    _history_file(inbox / "weekly.csv", _days(dt.date(2021, 1, 3), 160, 7), hierarchy=True)
    result = _forecast(fresh)
    assert result.success
    out = fresh.lake.read("ml", "series_forecasts")
    assert set(out["frequency"]) == {"weekly"} and set(out["source"]) == {"sales_history"}
    assert out["horizon"].max() == 13
    ds = out.filter(pl.col("unique_id") == "total")["ds"].sort()
    assert ds[0] == dt.date(2021, 1, 3) + dt.timedelta(weeks=160)
    assert set(ds.diff().drop_nulls().dt.total_days()) == {7}
    assert set(out["level"]) == {"total", "category", "store", "category_store"}
    assert out["reconciled"].all()
    total = out.filter(pl.col("level") == "total").sort("ds")["yhat"].to_numpy()
    bottom = (
        out.filter(pl.col("level") == "category_store").group_by("ds").agg(pl.col("yhat").sum())
    )
    assert np.allclose(total, bottom.sort("ds")["yhat"].to_numpy(), rtol=1e-6)
    meta = next(
        m
        for m in result.asset_materializations_for_node("forecast_own_series")
        if m.asset_key.path == ["ml", "series_forecasts"]
    ).metadata
    assert meta["sales_history_frequency"].value == "weekly"
    assert meta["sales_history_season_length"].value == 52
    assert meta["sales_history_incoherence_after"].value < 1e-3
    acc = fresh.lake.read("ml", "series_forecast_accuracy")
    assert acc.height == out["unique_id"].n_unique() and set(acc["holdout_periods"]) == {13}
    with duckdb.connect(str(fresh.lake.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ml.series_forecasts").fetchone()[0] == out.height


def test_daily_sales_history_is_forecast_daily(fresh):
    inbox = fresh.platform.inbox("sales_history")
    inbox.mkdir(parents=True)
    _history_file(inbox / "daily.csv", _days(dt.date(2024, 1, 1), 150))
    result = _forecast(fresh)
    assert result.success
    out = fresh.lake.read("ml", "series_forecasts")
    assert set(out["frequency"]) == {"daily"} and out["horizon"].max() == 28
    assert set(out["level"]) == {"total", "series"}
    first = out.filter(pl.col("horizon") == 1)["ds"].unique().to_list()
    assert first == [dt.date(2024, 1, 1) + dt.timedelta(days=150)]


def test_too_short_a_history_is_not_forecast_and_says_what_it_needs(fresh):
    inbox = fresh.platform.inbox("sales_history")
    inbox.mkdir(parents=True)
    _history_file(inbox / "short.csv", _days(dt.date(2024, 1, 7), 20, 7))
    result = _forecast(fresh)
    assert result.success  # a short sample does not fail the run it is part of
    meta = next(
        m
        for m in result.asset_materializations_for_node("forecast_own_series")
        if m.asset_key.path == ["ml", "series_forecasts"]
    ).metadata
    why = meta["sales_history_not_forecast"].value
    assert "20 weeks of history" in why and "at least 29" in why
    with duckdb.connect(str(fresh.lake.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ml.series_forecasts").fetchone()[0] == 0


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="needs ../shared/data")
def test_census_series_runs_through_the_same_path():
    from retail_assets.defs.forecasting.census import census_backtest, census_series

    census = pl.read_csv(
        SHARED_DATA / "census" / "mrts_sales_1992_2022_tidy.csv", infer_schema_length=0
    ).with_columns(pl.col("month").str.to_date())
    result = census_backtest(census_series(census))
    assert result.frequency.name == "monthly" and result.config.season_length == 12
    assert result.forecasts.height == 24
    assert result.forecasts["ds"][0] == dt.date(2022, 9, 1)
    (row,) = result.accuracy.iter_rows(named=True)
    assert row["mase"] is not None and row["mase_seasonal_naive"] is not None


def _orders_file(path, days: int, seed: int = 3) -> int:
    """Order lines of two stores and two categories over ``days`` days; returns the count."""
    rng = np.random.default_rng(seed)
    lines = ["order,sku,qty,price,ts,customer,shop,cat"]
    order = 0
    for d in range(days):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=d)
        for shop in ("north", "south"):
            for sku, cat in (("p1", "toys"), ("p2", "toys"), ("p3", "garden")):
                for _ in range(int(rng.poisson(2 if day.weekday() < 5 else 4)) + 1):
                    order += 1
                    lines.append(
                        f"O{order},{sku},{rng.integers(1, 4)},9.5,{day} 10:00:00,"
                        f"C{rng.integers(1, 60)},{shop},{cat}"
                    )
    path.write_text("\n".join(lines) + "\n")
    return order


def test_orders_of_the_retailers_world_are_forecast_by_level(tmp_path):
    from tests.test_retailer_world import BASIS, _inbox, _run, _world

    spec = {
        "files": "orders/*.csv",
        "timestamp_format": "%Y-%m-%d %H:%M:%S",
        "columns": {
            "order_id": "order",
            "product_id": "sku",
            "quantity": "qty",
            "unit_price": "price",
            "timestamp": "ts",
            "customer_id": "customer",
            "store": "shop",
            "category": "cat",
        },
        "consent": {"unset": "grant", "basis": BASIS},
        "forecast": {"frequency": "daily", "levels": ["total", "category", "store"], "horizon": 7},
    }
    root = _world(tmp_path, {"orders": spec})
    _orders_file(_inbox(root, "orders") / "orders.csv", 70)
    report = _run(root, "2024-01-01", "2024-01-01", "2024-03-10", "--series")
    for name, run in report["runs"].items():
        assert run["success"], (name, run["failures"])
    assert "series_forecasts_weekly" in report["schedules"]
    meta = report["metadata"]["ml/series_forecasts"]
    assert meta["orders_frequency"] == "daily" and meta["orders_horizon"] == 7
    assert meta["orders_series"] == {"total": 1, "category": 2, "store": 2, "category_store": 4}
    assert meta["orders_reconciled"] is True and meta["orders_incoherence_after"] < 1e-3
    out = pl.read_parquet(root / "data" / "lake" / "ml" / "series_forecasts" / "**" / "*.parquet")
    assert set(out["source"]) == {"orders"} and out["horizon"].max() == 7
    assert out.filter(pl.col("horizon") == 1)["ds"].unique().to_list() == [dt.date(2024, 3, 11)]
    assert report["tables"]["ml.series_forecast_accuracy"] == 9
