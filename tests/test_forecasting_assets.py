"""The forecasting assets, materialized in-process on a temp warehouse.

The sales marts they read are written straight into the lake (120 days of a known weekly
pattern), so the model selection has enough history to cross-validate without simulating
four months of events first.
"""

from __future__ import annotations

import datetime as dt
import shutil

import dagster as dg
import numpy as np
import polars as pl
import pytest
from conftest import SHARED_DATA, Pipeline

from retail_assets.defs.forecasting.assets import MODELS_FILE, load_fitted
from retail_assets.lib import forecasting as fc

FIRST = dt.date(2025, 1, 1)
DAYS = 120
LAST = FIRST + dt.timedelta(days=DAYS - 1)
CATEGORIES = ["Electronics", "Grocery", "Apparel"]
RUN = "00000000-0000-4000-8000-000000000000"


def _stamp(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.lit(RUN).alias("lineage_id"),
        pl.lit(dt.datetime(2025, 6, 1, tzinfo=dt.UTC)).alias("processed_at"),
    )


def _write_day(lake, day: dt.date, rng: np.random.Generator) -> None:
    i = (day - FIRST).days
    weekly = [1.0, 0.9, 0.95, 1.0, 1.2, 1.6, 1.5][day.weekday()]
    cats = pl.DataFrame(
        {
            "sales_date": [day] * len(CATEGORIES),
            "category": CATEGORIES,
            "revenue": [
                round(base * weekly * (1 + 0.002 * i) + rng.normal(0, base * 0.03), 2)
                for base in (1000.0, 3000.0, 600.0)
            ],
        }
    )
    lake.write_partition(_stamp(cats), "features", "daily_sales_by_category", day.isoformat())
    # One regular store x product series, one intermittent (mostly zero: no row that day).
    rows = [("S01", "P0001", round(200 * weekly + rng.normal(0, 6), 2))]
    if i % 5 == 0:
        rows.append(("S02", "P0002", 30.0))
    sp = pl.DataFrame(
        {
            "sales_date": [day] * len(rows),
            "store_id": [r[0] for r in rows],
            "product_id": [r[1] for r in rows],
            "revenue": [r[2] for r in rows],
        }
    )
    lake.write_partition(_stamp(sp), "features", "daily_sales_by_store_product", day.isoformat())
    signals = pl.DataFrame(
        {
            "signal_date": [day] * len(CATEGORIES),
            "category": CATEGORIES,
            "sentiment_mean": [0.1, 0.2, -0.1],
            "event_volume": [100, 200, 50],
        }
    )
    lake.write_partition(_stamp(signals), "features", "daily_category_signals", day.isoformat())


@pytest.fixture
def sales(tmp_path) -> Pipeline:
    p = Pipeline(tmp_path, forecast_horizon=7, forecast_cv_windows=2)
    rng = np.random.default_rng(7)
    for i in range(DAYS):
        _write_day(p.lake, FIRST + dt.timedelta(days=i), rng)
    calendar = p.platform.simulator().calendar_frame(FIRST, LAST + dt.timedelta(days=60))
    p.lake.write_partition(_stamp(calendar), "raw", "retail_calendar", None)
    return p


def _run(p: Pipeline, job: str, partition: str | None = None):
    kwargs = {"partition_key": partition} if partition else {}
    return p.defs.resolve_job_def(job).execute_in_process(
        instance=p.instance, raise_on_error=False, **kwargs
    )


def _materialization(result, key: str):
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey.from_user_string(key)
    ]
    return event.materialization.metadata


def test_selection_refresh_and_realized_accuracy(sales):
    lake = sales.lake
    result = _run(sales, "forecast_model_selection")
    assert result.success

    models = lake.read("ml", "forecast_models").sort("unique_id")
    assert models["unique_id"].to_list() == [
        "category:Apparel",
        "category:Electronics",
        "category:Grocery",
        "store_product:S01/P0001",
        "store_product:S02/P0002",
    ]
    kinds = dict(models.select("unique_id", "kind").iter_rows())
    assert kinds["category:Electronics"] == "regular"
    assert kinds["store_product:S02/P0002"] == "intermittent"
    chosen = dict(models.select("unique_id", "model").iter_rows())
    assert chosen["store_product:S02/P0002"] in fc.INTERMITTENT_CANDIDATES
    assert set(models["as_of"]) == {LAST}

    cv = lake.read("ml", "forecast_cv_accuracy")
    # Every regular series scored every default candidate; the chosen one has the lowest MASE.
    electronics = cv.filter(pl.col("unique_id") == "category:Electronics")
    assert set(fc.DEFAULT_CANDIDATES) <= set(electronics["model"])
    best = electronics.filter(pl.col("model") != fc.EXOG_BASELINE).sort("mase")["model"][0]
    assert chosen["category:Electronics"] == best
    assert electronics.filter(pl.col("chosen"))["model"].to_list() == [best]
    # The regressors comparison ran per category, on the same windows.
    with_x = cv.filter(pl.col("model").is_in([fc.EXOG_BASELINE, fc.EXOG_MODEL]))
    assert with_x.group_by("model").len().sort("model")["len"].to_list() == [3, 3]
    assert (cv["points"] > 0).all()

    meta = _materialization(result, "ml/forecast_models")
    assert meta["series"].value == 5
    assert "store_product" in meta["accuracy_by_level"].value
    assert "SARIMA_X" in meta["regressors_comparison"].value
    fitted = load_fitted(lake)
    assert fitted is not None and fitted.series == chosen
    assert lake.partition_path("ml", "forecast_models", None, filename=MODELS_FILE).exists()

    # The daily refresh applies the stored models.
    day = LAST.isoformat()
    result = _run(sales, "forecasts", day)
    assert result.success
    out = lake.read("ml", "sales_forecasts", [day])
    assert out.height == 5 * 7
    assert dict(out.select("unique_id", "model").unique().iter_rows()) == chosen
    assert out["horizon"].sort().to_list() == sorted(list(range(1, 8)) * 5)
    assert (out["ds"] > out["forecast_origin"]).all()
    assert (out["lo_95"] <= out["lo_80"]).all() and (out["hi_80"] <= out["hi_95"]).all()
    meta = _materialization(result, "ml/sales_forecasts")
    assert meta["series_with_selected_model"].value == 5
    assert "data:image/png;base64" in meta["fan_charts"].value

    # The next day's actuals arrive: yesterday's forecast for it is scored.
    nxt = LAST + dt.timedelta(days=1)
    _write_day(lake, nxt, np.random.default_rng(99))
    result = _run(sales, "forecasts", nxt.isoformat())
    assert result.success
    acc = lake.read("ml", "forecast_accuracy", [nxt.isoformat()]).sort("unique_id")
    assert acc.height == 5
    assert (acc["forecasts"] == 1).all()
    actual = lake.read("features", "daily_sales_by_category", [nxt.isoformat()])
    grocery = actual.filter(pl.col("category") == "Grocery")["revenue"][0]
    yhat = out.filter((pl.col("unique_id") == "category:Grocery") & (pl.col("ds") == nxt))
    row = acc.filter(pl.col("unique_id") == "category:Grocery").row(0, named=True)
    assert row["actual"] == pytest.approx(grocery)
    assert row["mae"] == pytest.approx(abs(yhat["yhat"][0] - grocery))
    assert row["bias"] == pytest.approx(yhat["yhat"][0] - grocery)
    inside = yhat["lo_95"][0] <= grocery <= yhat["hi_95"][0]
    assert row["coverage_95"] == float(inside)
    assert "backtest_so_far" in _materialization(result, "ml/forecast_accuracy")


def test_forecasts_before_any_selection_use_seasonal_naive(sales):
    result = _run(sales, "forecasts", LAST.isoformat())
    assert result.success
    out = sales.lake.read("ml", "sales_forecasts", [LAST.isoformat()])
    assert set(out["model"]) == {"SeasonalNaive"}
    # A seasonal naive forecast repeats the last week.
    hist = sales.lake.read("features", "daily_sales_by_category", [LAST.isoformat()])
    last = hist.filter(pl.col("category") == "Apparel")["revenue"][0]
    week_later = out.filter((pl.col("unique_id") == "category:Apparel") & (pl.col("horizon") == 7))[
        "yhat"
    ][0]
    assert week_later == pytest.approx(last)


def test_unknown_candidate_fails_clearly_and_keeps_the_stored_selection(sales, tmp_path):
    assert _run(sales, "forecast_model_selection").success
    before = sales.lake.read("ml", "forecast_models")
    bad = Pipeline(sales.root, forecast_horizon=7, forecast_candidates=["Prophet"])
    result = _run(bad, "forecast_model_selection")
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "RETAIL_FORECAST_" in message and "Prophet" in message
    assert bad.lake.read("ml", "forecast_models").equals(before)


def test_selection_without_sales_names_the_missing_tables(fresh):
    result = _run(fresh, "forecast_model_selection")
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "features/daily_sales_by_category" in failure.step_failure_data.error.message


@pytest.mark.skipif(not (SHARED_DATA / "census").exists(), reason="needs ../shared/data")
def test_census_443_forecast_follows_the_ingest_and_reports_its_accuracy(fresh):
    inbox = fresh.lake.landing_root / "inbox" / "census"
    inbox.mkdir(parents=True)
    shutil.copy(SHARED_DATA / "census" / "mrtssales92-present.xlsx", inbox)
    assert _run(fresh, "census_ingest").success
    result = _run(fresh, "census_forecast")
    assert result.success
    out = fresh.lake.read("ml", "census_forecast")
    assert out.height == 24
    assert out["month"].min() == dt.date(2022, 9, 1)
    assert out["month"].max() == dt.date(2024, 8, 1)
    assert (out["lo_95"] <= out["yhat"]).all() and (out["yhat"] <= out["hi_95"]).all()
    meta = _materialization(result, "ml/census_forecast")
    ratio = meta["mase_selected"].value / meta["mase_seasonal_naive"].value
    assert meta["mase_ratio_vs_seasonal_naive"].value == pytest.approx(ratio, abs=1e-3)
    # The model is the one cross-validation scored best on the months before the holdout.
    assert meta["model"].value == out["model"][0]
    table = meta["candidates"].value
    assert table.splitlines()[2].split("|")[1].strip() == meta["model"].value


def test_selection_and_refresh_on_a_dask_cluster_match_the_local_run(sales):
    from distributed import LocalCluster

    assert _run(sales, "forecast_model_selection").success
    assert _run(sales, "forecasts", LAST.isoformat()).success
    local_models = sales.lake.read("ml", "forecast_models").drop("lineage_id", "processed_at")
    local_fc = sales.lake.read("ml", "sales_forecasts", [LAST.isoformat()])
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        on_dask = Pipeline(
            sales.root,
            forecast_horizon=7,
            forecast_cv_windows=2,
            dask_scheduler=cluster.scheduler_address,
        )
        result = _run(on_dask, "forecast_model_selection")
        assert result.success
        logs = [e.user_message for e in on_dask.instance.all_logs(result.run_id)]
        assert any("forecasting on the Dask cluster" in m for m in logs)
        assert _run(on_dask, "forecasts", LAST.isoformat()).success
    dask_models = sales.lake.read("ml", "forecast_models").drop("lineage_id", "processed_at")
    assert dask_models.select("unique_id", "kind", "model").equals(
        local_models.select("unique_id", "kind", "model")
    )
    # The cluster's cross-validation comes back in float32: scores agree to ~1e-5.
    assert np.allclose(dask_models["cv_mase"], local_models["cv_mase"], rtol=1e-4)
    dask_fc = sales.lake.read("ml", "sales_forecasts", [LAST.isoformat()])
    cols = ["unique_id", "ds", "model"]
    assert dask_fc.select(cols).equals(local_fc.select(cols))
    for c in ("yhat", "lo_80", "hi_80", "lo_95", "hi_95"):
        assert np.allclose(dask_fc[c], local_fc[c], rtol=1e-9), c
