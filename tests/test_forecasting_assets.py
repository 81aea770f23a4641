"""The forecasting assets, materialized in-process on a temp warehouse.

The sales marts they read are written straight into the lake (120 days of a known weekly
pattern), so the model selection has enough history to cross-validate without simulating
four months of events first.
"""

from __future__ import annotations

import datetime as dt
import pickle
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
from conftest import SHARED_DATA, Pipeline

from retail_assets.defs.forecasting.shared import (
    MODELS_FILE,
    load_fitted,
    load_history,
    regressors,
)
from retail_assets.defs.publishing import SCHEMA_CHECK
from retail_assets.lib.forecasting import demand as fc
from retail_assets.lib.warehouse.frames import LINEAGE_COLUMNS

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


#: These tests forecast both levels of their small lake (the product's default is categories).
BOTH_LEVELS = ["category", "store_product"]


@pytest.fixture
def sales(tmp_path) -> Pipeline:
    p = Pipeline(tmp_path, forecast_levels=BOTH_LEVELS, forecast_horizon=7, forecast_cv_windows=2)
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


def _materialization(result, key: str, days: int = 1):
    """The metadata of ``key``'s materialization (a range run has one event per day, alike)."""
    events = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey.from_user_string(key)
    ]
    assert len(events) == days, [e.partition for e in events]
    return events[-1].materialization.metadata


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
    # 120 days: every series long enough for cross-validation, so every one a real champion.
    assert meta["series_cv_champion"].value == 5
    assert meta["series_fallback"].value == 0
    assert meta["fallback_reasons"].value == {}
    assert meta["cv_forecast_rows"].value > 0
    assert meta["series_by_level"].value == {"category": 3, "store_product": 2}
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
    bad = Pipeline(
        sales.root, forecast_levels=BOTH_LEVELS, forecast_horizon=7, forecast_candidates=["Prophet"]
    )
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
            forecast_levels=BOTH_LEVELS,
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


def _short_history(tmp_path, days: int) -> Pipeline:
    """A lake of ``days`` days of both levels, forecast 7 days ahead on two CV windows."""
    p = Pipeline(tmp_path, forecast_levels=BOTH_LEVELS, forecast_horizon=7, forecast_cv_windows=2)
    rng = np.random.default_rng(3)
    for i in range(days):
        _write_day(p.lake, FIRST + dt.timedelta(days=i), rng)
    return p


def test_selection_counts_real_champions_and_names_each_fallback(tmp_path):
    # 40 days, 7-day horizon, two windows: regular series need 29 days (two weeks and a day
    # to fit on, then two windows of 7), intermittent ones 43 (two horizons more for their
    # conformal intervals): the category and S01 series get a champion, S02 falls back.
    p = _short_history(tmp_path, days=40)
    result = _run(p, "forecast_model_selection")
    assert result.success
    models = p.lake.read("ml", "forecast_models")
    fallback = models.filter(pl.col("unique_id") == "store_product:S02/P0002").row(0, named=True)
    assert fallback["kind"] == "short" and fallback["cv_mase"] is None
    assert fallback["model"] == "SeasonalNaive"
    reason = "too short for cross-validation (needs 43 days: 2 windows of 7 after enough to fit on)"
    assert fallback["reason"] == f"{reason}: seasonal naive"
    champions = models.filter(pl.col("unique_id") != "store_product:S02/P0002")
    assert set(champions["reason"]) <= set(fc.CV_REASONS)
    assert champions["cv_mase"].null_count() == 0
    meta = _materialization(result, "ml/forecast_models")
    assert meta["series_cv_champion"].value == 4
    assert meta["series_fallback"].value == 1
    assert meta["fallback_reasons"].value == {f"{reason}: seasonal naive": 1}
    assert meta["history_days"].value == 40


def test_selection_on_too_little_history_falls_back_everywhere_and_says_so(tmp_path):
    p = _short_history(tmp_path, days=28)
    result = _run(p, "forecast_model_selection")
    assert result.success
    meta = _materialization(result, "ml/forecast_models")
    assert meta["series_cv_champion"].value == 0
    assert meta["series_fallback"].value == 5
    assert meta["cv_forecast_rows"].value == 0
    assert sum(meta["fallback_reasons"].value.values()) == 5
    reasons = meta["fallback_reasons"].value
    assert all(r.startswith("too short for cross-validation") for r in reasons), reasons
    logs = [e.user_message for e in p.instance.all_logs(result.run_id)]
    assert any("no series has the history cross-validation needs" in m for m in logs)


# ------------------------------------------------------------------ a range of days in one run


def _day_data(lake, table: str, days: list[str]) -> dict[str, pl.DataFrame]:
    """Each day's partition of ``ml.<table>`` without the lineage columns (run id, time)."""
    return {d: lake.read("ml", table, [d]).drop(list(LINEAGE_COLUMNS)) for d in days}


def test_a_range_run_forecasts_and_scores_every_day_as_one_day_runs_do(sales, tmp_path_factory):
    # Selection first, so that the range applies stored models, not only the seasonal naive
    # fallback; the categories' models are then swapped for the seasonal ARIMA with
    # regressors, so that each day's regressors are exercised too.
    assert _run(sales, "forecast_model_selection").success
    fitted = load_fitted(sales.lake)
    history = load_history(sales.lake, ["category", "store_product"], FIRST, LAST).drop("level")
    choices = sales.lake.read("ml", "forecast_models").select(
        "unique_id",
        pl.when(pl.col("level") == "category")
        .then(pl.lit(fc.EXOG_MODEL))
        .otherwise(pl.col("model"))
        .alias("model"),
    )
    exog = regressors(sales.lake, fitted.config.h, FIRST, LAST)
    forced = fc.fit_models(history, choices, fitted.config, exog=exog)
    forced.fitted_at = fitted.fitted_at
    models_pkl = sales.lake.partition_path("ml", "forecast_models", None, filename=MODELS_FILE)
    models_pkl.write_bytes(pickle.dumps(forced))
    assert fc.EXOG_MODEL in load_fitted(sales.lake).groups
    # The same lake, forecast one day per run.
    per_day_root = tmp_path_factory.mktemp("per_day")
    shutil.copytree(sales.lake.lake_root, per_day_root / "lake")
    per_day = Pipeline(
        per_day_root, forecast_levels=BOTH_LEVELS, forecast_horizon=7, forecast_cv_windows=2
    )
    days = [(LAST - dt.timedelta(days=i)).isoformat() for i in range(9, -1, -1)]
    for day in days:
        assert _run(per_day, "forecasts", day).success, day

    result = sales.run_range(days[0], days[-1], selection="ml/sales_forecasts,ml/forecast_accuracy")
    assert result.success
    for table in ("sales_forecasts", "forecast_accuracy"):
        ranged = _day_data(sales.lake, table, days)
        alone = _day_data(per_day.lake, table, days)
        for day in days:
            # Same columns, types, values and row order: only the lineage columns differ.
            assert ranged[day].equals(alone[day]), (table, day)
    forecasts = sales.lake.read("ml", "sales_forecasts", days)
    assert forecasts["forecast_origin"].n_unique() == len(days)
    assert forecasts.filter(pl.col("level") == "category")["model"].unique().to_list() == [
        fc.EXOG_MODEL
    ]
    scored = sales.lake.read("ml", "forecast_accuracy", days)
    # The first day's forecasts came before the range (none here); every later day has some.
    assert scored["ds"].n_unique() == len(days) - 1
    assert scored.filter(pl.col("ds") == LAST)["forecasts"].max() == 7

    # One step per asset, one schema check each for the whole range.
    steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert sorted(steps) == sorted(set(steps))
    assert {"ml__sales_forecasts", "ml__forecast_accuracy"} <= set(steps)
    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == SCHEMA_CHECK
    ]
    by_asset = {}
    for c in checks:
        by_asset.setdefault(c.asset_key.to_user_string(), []).append(c.passed)
    assert by_asset == {"ml/sales_forecasts": [True], "ml/forecast_accuracy": [True]}
    # Per-run metadata: rows per day, and fan charts of the last day only.
    meta = _materialization(result, "ml/sales_forecasts", days=len(days))
    assert meta["days_written"].value == len(days)
    assert meta["days_forecast"].value == len(days)
    for day in days:
        assert f"| {day} | {5 * 7:,} |" in meta["rows_by_day"].value
    charts = meta["fan_charts"].value
    assert charts.count("data:image/png;base64") == 2  # the largest series of each level
    assert meta["last_origin"].value == days[-1]
    assert meta["series_with_selected_model"].value == 5
    meta = _materialization(result, "ml/forecast_accuracy", days=len(days))
    assert meta["days_written"].value == len(days)
    assert meta["series_scored"].value == scored.height
    assert meta["days_with_nothing_to_score"].value == 1
    assert "backtest_so_far" in meta


def test_a_range_with_one_bad_day_publishes_no_forecasts_and_names_the_day(sales):
    day_before = (LAST - dt.timedelta(days=3)).isoformat()
    assert _run(sales, "forecasts", day_before).success
    before = sales.lake.read("ml", "sales_forecasts", [day_before])
    # A broken revenue figure (NaN) on the last day: a seasonal naive forecast repeats the
    # last week, so that day's forecasts have no value and fail the schema; the days
    # before it are fine.
    path = sales.lake.partition_path("features", "daily_sales_by_category", LAST.isoformat())
    broken = pl.read_parquet(path).with_columns(
        pl.when(pl.col("category") == "Grocery")
        .then(float("nan"))
        .otherwise(pl.col("revenue"))
        .alias("revenue")
    )
    sales.lake.write_partition(broken, "features", "daily_sales_by_category", LAST.isoformat())

    result = sales.run_range(day_before, LAST.isoformat(), selection="ml/sales_forecasts")
    assert not result.success
    (check,) = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert (check.check_name, check.passed, check.severity) == (
        SCHEMA_CHECK,
        False,
        dg.AssetCheckSeverity.ERROR,
    )
    assert check.metadata["failed_days"].value == [LAST.isoformat()]
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert f"1 of 4 day(s) failed the schema check: {LAST.isoformat()}" in message
    # Nothing of the range was published: the earlier day kept its forecasts, the others
    # have none, and no staged file is left behind.
    assert sales.lake.read("ml", "sales_forecasts", [day_before]).equals(before)
    assert [f.parent.name for f in sales.lake.partition_files("ml", "sales_forecasts")] == [
        f"date={day_before}"
    ]
    assert not list(sales.lake.table_dir("ml", "sales_forecasts").rglob("*.tmp"))


def test_models_stored_before_the_lib_split_still_load_and_forecast(tmp_path):
    # Written by 485ae3d, when the class lived in lib/forecasting.py (now a package).
    from retail_assets.lib.warehouse.lake import Lake

    lake = Lake(tmp_path / "lake", tmp_path / "landing", tmp_path / "w.duckdb")
    path = lake.partition_path("ml", "forecast_models", None, filename=MODELS_FILE)
    path.parent.mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "fixtures" / "forecast_models_485ae3d.pkl", path)
    with pytest.raises(AttributeError):  # what a plain pickle.load makes of it
        pickle.loads(path.read_bytes())
    fitted = load_fitted(lake)
    assert isinstance(fitted, fc.FittedModels)
    days = [dt.date(2025, 1, 1) + dt.timedelta(d) for d in range(60)]
    history = pl.DataFrame({"unique_id": "a", "ds": days, "y": np.arange(60.0) % 7 + 5})
    out = fc.refresh(fitted, history, h=7)
    assert out.height > 0 and set(out["unique_id"]) == {"a"}
