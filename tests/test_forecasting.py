"""Demand forecasting (lib/forecasting/demand.py): selection, refresh, accuracy, engines, bad input.

Real statsforecast runs on small crafted series (seeded numpy), kept short so the file runs in
well under a minute on two cores. Hand-made frames check the metrics against hand arithmetic.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
import statsforecast.models as sf_models
from distributed import Client, LocalCluster
from statsforecast import StatsForecast

from retail_assets.lib.forecasting.demand import (
    ForecastConfig,
    ForecastError,
    classify,
    coverage_rate,
    cross_validate,
    fit_models,
    realized_accuracy,
    refresh,
    score,
    seasonal_scale,
    select_models,
)

START = dt.date(2024, 1, 1)
WEEK = np.array([20.0, 22.0, 25.0, 30.0, 45.0, 60.0, 35.0])
#: Small and fast: one-week horizon, two cross-validation windows.
CFG = ForecastConfig(
    h=7,
    season_length=7,
    n_windows=2,
    n_jobs=1,
    candidates=("SeasonalNaive", "HistoricAverage"),
)


def series(uid: str, values, start: dt.date = START) -> pl.DataFrame:
    values = np.asarray(values, dtype=float)
    days = [start + dt.timedelta(days=i) for i in range(len(values))]
    return pl.DataFrame(
        {"unique_id": [uid] * len(values), "ds": days, "y": values},
        schema={"unique_id": pl.Utf8, "ds": pl.Date, "y": pl.Float64},
    )


def weekly(n: int, rng: np.random.Generator, noise: float, pattern=WEEK) -> np.ndarray:
    return np.tile(pattern, n // 7 + 1)[:n] + rng.normal(0.0, noise, n)


def intermittent(n: int, rng: np.random.Generator, p: float = 0.25) -> np.ndarray:
    y = np.zeros(n)
    hits = rng.random(n) < p
    y[hits] = rng.integers(1, 6, hits.sum())
    y[-1] = 0.0  # a naive forecast (last value) would be 0: distinguishable from Croston's
    return y


def choice(selection, uid: str) -> dict:
    rows = selection.choices.filter(pl.col("unique_id") == uid).to_dicts()
    assert len(rows) == 1, f"{uid}: {len(rows)} choice rows"
    return rows[0]


def forecast_of(forecasts: pl.DataFrame, uid: str) -> pl.DataFrame:
    return forecasts.filter(pl.col("unique_id") == uid).sort("ds")


def assert_nested(forecasts: pl.DataFrame) -> None:
    bands = ["lo_95", "lo_80", "yhat", "hi_80", "hi_95"]
    assert forecasts.height > 0
    for c in bands:
        col = forecasts[c]
        assert col.null_count() == 0, f"{c} has nulls"
        assert col.is_finite().all(), f"{c} has non-finite values"
        assert (col >= 0).all(), f"{c} is negative somewhere"
    for low, high in zip(bands[:-1], bands[1:], strict=True):
        bad = forecasts.filter(pl.col(low) > pl.col(high))
        assert bad.is_empty(), f"{low} > {high} on {bad.height} rows:\n{bad}"


# ----------------------------------------------------------------- model selection


def test_repeating_weekly_pattern_picks_seasonal_naive():
    rng = np.random.default_rng(11)
    patterns = [WEEK, WEEK[::-1] + 5.0, np.array([5.0, 5.0, 6.0, 9.0, 14.0, 30.0, 12.0])]
    history = pl.concat(
        [series(f"p{i}", weekly(140, rng, 0.3, pat)) for i, pat in enumerate(patterns)]
    )
    cfg = ForecastConfig(
        h=7, n_windows=2, n_jobs=1, candidates=("HistoricAverage", "Naive", "SeasonalNaive")
    )
    sel = select_models(history, cfg)

    assert sel.choices.height == 3
    assert sel.choices["kind"].to_list() == ["regular"] * 3
    assert sel.choices["model"].to_list() == ["SeasonalNaive"] * 3, sel.metrics
    assert sel.choices["reason"].to_list() == ["lowest cross-validated MASE"] * 3
    # Every candidate scored on every series, nothing else reported as a "model".
    assert sorted(sel.metrics["model"].unique().to_list()) == sorted(cfg.candidates)
    assert sel.metrics.height == 3 * len(cfg.candidates)
    assert (sel.metrics["points"] == cfg.n_windows * cfg.h).all()
    for uid in ("p0", "p1", "p2"):
        m = dict(sel.metrics.filter(pl.col("unique_id") == uid).select("model", "mase").iter_rows())
        # Clear win, not a coin toss: the others miss the weekly swing entirely.
        assert m["SeasonalNaive"] < 0.5 * min(m["HistoricAverage"], m["Naive"]), m
        assert choice(sel, uid)["mase"] == pytest.approx(m["SeasonalNaive"])
    # The long cross-validation frame: one row per series, model, window and step.
    assert sel.cv.height == 3 * len(cfg.candidates) * cfg.n_windows * cfg.h
    assert sel.cv["cutoff"].n_unique() == cfg.n_windows
    assert sel.cv.filter(pl.col("ds") <= pl.col("cutoff")).is_empty()
    joined = sel.cv.join(history, on=["unique_id", "ds"], suffix="_hist")
    assert joined.height == sel.cv.height
    assert (joined["y"] == joined["y_hist"]).all()


def test_white_noise_around_a_constant_mean_picks_historic_average():
    rng = np.random.default_rng(5)
    history = pl.concat([series(f"n{i}", 50.0 + rng.normal(0.0, 5.0, 196)) for i in range(3)])
    # Five two-week windows: enough held-out points that the mean wins on every seed tried
    # (0-19), not by luck; the naive models' errors are about 1.4 times the mean's.
    cfg = ForecastConfig(
        h=14, n_windows=5, n_jobs=1, candidates=("SeasonalNaive", "Naive", "HistoricAverage")
    )
    sel = select_models(history, cfg)
    assert sel.choices["model"].to_list() == ["HistoricAverage"] * 3, sel.metrics

    # The refresh applies the chosen model: the historic average forecasts the mean of the
    # whole history (not, say, the last value).
    fitted = fit_models(history, sel.choices, cfg)
    assert fitted.series == {f"n{i}": "HistoricAverage" for i in range(3)}
    fc = refresh(fitted, history)
    assert fc.height == 3 * cfg.h
    assert (fc["model"] == "HistoricAverage").all()
    for uid in ("n0", "n1", "n2"):
        mean = history.filter(pl.col("unique_id") == uid)["y"].mean()
        got = forecast_of(fc, uid)["yhat"].to_numpy()
        np.testing.assert_allclose(got, mean, rtol=1e-9, err_msg=uid)


def test_trend_plus_weekly_season_picks_autoets_and_refresh_follows_the_trend():
    rng = np.random.default_rng(3)
    n, h = 168, 14
    t = np.arange(n + h)
    truth = 60.0 + 0.5 * t + np.tile(WEEK - WEEK.mean(), (n + h) // 7 + 1)[: n + h]
    history = series("ets", truth[:n] + rng.normal(0.0, 1.0, n))
    cfg = ForecastConfig(
        h=h, n_windows=2, n_jobs=1, candidates=("AutoETS", "HistoricAverage", "SeasonalNaive")
    )
    sel = select_models(history, cfg)
    assert choice(sel, "ets")["model"] == "AutoETS", sel.metrics
    m = dict(sel.metrics.select("model", "mase").iter_rows())
    assert m["AutoETS"] < 0.7 * m["SeasonalNaive"] < m["HistoricAverage"], m

    fc = refresh(fit_models(history, sel.choices, cfg), history)
    assert fc["model"].to_list() == ["AutoETS"] * h
    assert fc["ds"].to_list() == [START + dt.timedelta(days=n + i) for i in range(h)]
    # The trend and the week carry on: close to the noise-free continuation.
    err = np.abs(fc["yhat"].to_numpy() - truth[n:])
    assert err.mean() < 2.0, err
    assert_nested(fc)
    assert (fc["hi_95"] > fc["hi_80"]).all() and (fc["lo_95"] < fc["lo_80"]).all()


def test_cross_validate_seasonal_naive_repeats_the_week_before_each_cutoff():
    rng = np.random.default_rng(1)
    history = series("s", weekly(60, rng, 2.0))
    cv = cross_validate(history, ["SeasonalNaive"], CFG)
    assert {"unique_id", "ds", "cutoff", "y", "SeasonalNaive"} <= set(cv.columns)
    for lvl in CFG.levels:
        assert {f"SeasonalNaive-lo-{lvl}", f"SeasonalNaive-hi-{lvl}"} <= set(cv.columns)
    assert cv.height == CFG.n_windows * CFG.h
    assert cv.schema["ds"] == pl.Date and cv.schema["cutoff"] == pl.Date
    y = dict(history.select("ds", "y").iter_rows())
    cutoffs = sorted(cv["cutoff"].unique().to_list())
    last = history["ds"].max()
    assert cutoffs == [last - dt.timedelta(days=14), last - dt.timedelta(days=7)]
    for ds, cutoff, actual, yhat in cv.select("ds", "cutoff", "y", "SeasonalNaive").iter_rows():
        assert 1 <= (ds - cutoff).days <= CFG.h
        assert actual == y[ds]
        assert yhat == pytest.approx(y[ds - dt.timedelta(days=7)])


# ----------------------------------------------------------------- awkward series, one call


@pytest.fixture(scope="module")
def mixed():
    """Regular, intermittent, short, constant, all-zero and too-short series together."""
    rng = np.random.default_rng(7)
    parts = {
        "regular": weekly(140, rng, 1.5),
        "intermittent": intermittent(150, rng),
        "short5": [3.0, 4.0, 6.0, 2.0, 5.0],
        "short10": rng.integers(1, 9, 10),
        "short20": weekly(20, rng, 0.5),
        "constant": np.full(120, 4.0),
        "zero": np.zeros(120),
        "tiny": [2.0, 3.0],
    }
    history = pl.concat([series(uid, v) for uid, v in parts.items()])
    selection = select_models(history, CFG)
    fitted = fit_models(history, selection.choices, CFG)
    forecasts = refresh(fitted, history)
    return history, selection, fitted, forecasts


def test_awkward_series_get_a_kind_and_a_sensible_model(mixed):
    history, sel, fitted, _ = mixed
    kinds = dict(classify(history, CFG).select("unique_id", "kind").iter_rows())
    expected_kinds = {
        "regular": "regular",
        "intermittent": "intermittent",
        "short5": "short",
        "short10": "short",
        "short20": "short",
        "constant": "constant",
        "zero": "zero",
        "tiny": "skip",
    }
    assert kinds == expected_kinds
    assert dict(sel.choices.select("unique_id", "kind").iter_rows()) == expected_kinds
    n = dict(history.group_by("unique_id").len().iter_rows())
    assert dict(sel.choices.select("unique_id", "n").iter_rows()) == n

    models = dict(sel.choices.select("unique_id", "model").iter_rows())
    assert models["regular"] == "SeasonalNaive"  # a weekly pattern with noise
    assert models["intermittent"] in ("CrostonOptimized", "ADIDA", "IMAPA")
    assert models["short5"] == models["short10"] == "Naive"  # under two seasons
    assert models["short20"] == "SeasonalNaive"  # two seasons or more
    assert models["constant"] == models["zero"] == "Naive"
    assert models["tiny"] is None
    assert "not forecast" in choice(sel, "tiny")["reason"]
    # Only regular and intermittent series were cross-validated, each on its own list.
    scored = {
        uid: sorted(g["model"].to_list())
        for (uid,), g in sel.metrics.group_by("unique_id", maintain_order=True)
    }
    assert scored == {
        "regular": sorted(CFG.candidates),
        "intermittent": sorted(CFG.intermittent_candidates),
    }
    assert set(fitted.series) == set(expected_kinds) - {"tiny"}


def test_every_series_is_a_cross_validated_champion_or_a_named_fallback(mixed):
    _, sel, _, _ = mixed
    assert sorted(sel.champions["unique_id"]) == ["intermittent", "regular"]
    assert sel.champions["mase"].null_count() == 0
    assert sel.champions.height + sel.fallbacks.height == sel.choices.height
    # With h=7 and two windows, a regular-looking series needs 15 days to fit on and 14 to
    # score: 29; one that looks intermittent two horizons more, for its conformal intervals.
    need = "too short for cross-validation (needs 29 days: 2 windows of 7 after enough to fit on)"
    assert sel.fallback_reasons() == {
        f"{need}: naive": 2,  # short5, short10: under two seasons
        f"{need}: seasonal naive": 1,  # short20
        "constant: naive (its future is its past)": 1,
        "fewer than 3 observations: not forecast": 1,
        "no sales at all: naive (zero)": 1,
    }
    sparse = series("sparse", [0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2.0] * 4)
    reason = choice(select_models(sparse, CFG), "sparse")["reason"]
    assert reason.startswith("too short for cross-validation (needs 43 days")


def test_forecast_levels_default_to_categories_and_can_ask_for_every_store_product():
    from retail_assets.lib.settings import Settings, SettingsError

    assert Settings().forecast_levels == ("category",)
    assert Settings.from_env({}).forecast_levels == ("category",)
    every = {"RETAIL_FORECAST_LEVELS": "category,store_product"}
    assert Settings.from_env(every).forecast_levels == ("category", "store_product")
    with pytest.raises(SettingsError, match="RETAIL_FORECAST_LEVELS"):
        Settings.from_env({"RETAIL_FORECAST_LEVELS": "store"})


def test_awkward_series_forecasts(mixed):
    history, sel, fitted, fc = mixed
    assert "tiny" not in fc["unique_id"].to_list()
    assert sorted(fc["unique_id"].unique().to_list()) == sorted(fitted.series)
    counts = fc.group_by("unique_id").len()
    assert (counts["len"] == CFG.h).all()
    assert dict(fc.select("unique_id", "model").unique().iter_rows()) == fitted.series
    assert_nested(fc)
    last = dict(history.group_by("unique_id").agg(pl.col("ds").max()).iter_rows())
    for uid, days in fc.group_by("unique_id").agg(pl.col("ds").sort()).iter_rows():
        assert days == [last[uid] + dt.timedelta(days=i + 1) for i in range(CFG.h)], uid

    def y(uid):
        return history.filter(pl.col("unique_id") == uid).sort("ds")["y"].to_numpy()

    zero = forecast_of(fc, "zero")
    for c in ("yhat", "lo_80", "hi_80", "lo_95", "hi_95"):
        assert (zero[c] == 0).all(), c
    assert (forecast_of(fc, "constant")["yhat"] == 4.0).all()
    assert (forecast_of(fc, "short5")["yhat"] == 5.0).all()  # naive: the last value
    np.testing.assert_allclose(
        forecast_of(fc, "short20")["yhat"].to_numpy(), np.clip(y("short20")[-7:], 0, None)
    )
    # The intermittent series gets its chosen model's forecast: a positive demand rate
    # (statsforecast's own forecast of that model on the same history), not the last value.
    name = fitted.series["intermittent"]
    inter = forecast_of(fc, "intermittent")
    assert (inter["model"] == name).all()
    expected = getattr(sf_models, name)().forecast(y=y("intermittent"), h=CFG.h)["mean"]
    assert (inter["yhat"] > 0).all(), inter
    np.testing.assert_allclose(inter["yhat"].to_numpy(), expected, rtol=1e-6)
    # The noisy regular series has real, widening bands.
    reg = forecast_of(fc, "regular")
    assert ((reg["hi_95"] > reg["hi_80"]) & (reg["hi_80"] > reg["yhat"])).all()


def test_selection_without_any_series_long_enough_uses_rules_only():
    history = pl.concat(
        [series("a", [1.0, 2.0, 3.0, 4.0]), series("z", np.zeros(40)), series("c", [7.0] * 30)]
    )
    sel = select_models(history, CFG)
    assert sel.metrics.is_empty() and sel.cv.is_empty()
    assert dict(sel.choices.select("unique_id", "model").iter_rows()) == {
        "a": "Naive",
        "z": "Naive",
        "c": "Naive",
    }
    fc = refresh(fit_models(history, sel.choices, CFG), history)
    assert dict(fc.group_by("unique_id").agg(pl.col("yhat").mean()).iter_rows()) == {
        "a": 4.0,
        "z": 0.0,
        "c": 7.0,
    }


def test_refresh_applies_stored_choice_to_new_history_and_covers_unseen_series():
    rng = np.random.default_rng(9)
    full = pl.concat([series("s", weekly(84, rng, 1.0)), series("new", weekly(30, rng, 1.0))])
    old = full.filter((pl.col("unique_id") == "s") & (pl.col("ds") < START + dt.timedelta(70)))
    cfg = ForecastConfig(h=7, n_windows=2, n_jobs=1, candidates=("SeasonalNaive", "Naive"))
    sel = select_models(old, cfg)
    assert choice(sel, "s")["model"] == "SeasonalNaive"
    fitted = fit_models(old, sel.choices, cfg)

    fc = refresh(fitted, full, h=10)
    s = forecast_of(fc, "s")
    assert s.height == 10 and s["ds"][0] == START + dt.timedelta(days=84)
    last_week = full.filter(pl.col("unique_id") == "s")["y"].to_numpy()[-7:]
    np.testing.assert_allclose(s["yhat"].to_numpy(), np.tile(last_week, 2)[:10])
    new = forecast_of(fc, "new")  # never selected: seasonal naive from two weeks of history
    assert (new["model"] == "SeasonalNaive").all()
    new_week = full.filter(pl.col("unique_id") == "new")["y"].to_numpy()[-7:]
    np.testing.assert_allclose(new["yhat"].to_numpy(), np.tile(new_week, 2)[:10])


def test_a_stored_model_without_a_value_for_some_day_gives_way_to_naive():
    # Chosen on a long history, applied to the first days of a backfill: a seasonal naive
    # model has nothing to repeat for most of the week ahead.
    rng = np.random.default_rng(5)
    long = series("s", weekly(84, rng, 1.0))
    cfg = ForecastConfig(h=7, n_windows=2, n_jobs=1, candidates=("SeasonalNaive",))
    fitted = fit_models(long, select_models(long, cfg).choices, cfg)
    assert fitted.series == {"s": "SeasonalNaive"}
    first_days = series("s", [5.0, 7.0, 6.0, 9.0])
    fc = refresh(fitted, first_days)
    assert (fc["model"] == "Naive").all()
    assert fc["yhat"].to_list() == [9.0] * cfg.h
    assert_nested(fc)
    # A full week of history keeps the stored model.
    assert (refresh(fitted, long)["model"] == "SeasonalNaive").all()


# ----------------------------------------------------------------- metrics on hand-made frames


def _day(i: int) -> dt.date:
    return dt.date(2025, 1, 1) + dt.timedelta(days=i)


def test_score_matches_hand_computation():
    # Series a: differences 1, 2, 3, ... so the naive in-sample MAE is 3 up to day 5, 4 up to
    # day 7 (MASE uses only the history before each window's cutoff).
    train = pl.concat(
        [
            pl.DataFrame({"unique_id": "a", "ds": [_day(i) for i in range(10)]}).with_columns(
                y=pl.Series([1.0, 2, 4, 7, 11, 16, 22, 29, 37, 46])
            ),
            pl.DataFrame({"unique_id": "b", "ds": [_day(i) for i in range(10)]}).with_columns(
                y=pl.Series([5.0, 7] * 5)
            ),
        ]
    )
    cutoffs = [_day(5), _day(5), _day(7), _day(7)]
    days = [_day(6), _day(7), _day(8), _day(9)]
    cv = pl.DataFrame(
        {
            "unique_id": ["a"] * 4 + ["b"] * 4,
            "ds": days * 2,
            "cutoff": cutoffs * 2,
            "y": [22.0, 29, 37, 46, 5, 7, 5, 7],
            "M": [20.0, 30, 37, 52, 5, 5, 5, 5],
            # a: 80 % band holds 22, 29, 37, not 46; the 95 % band holds all (46 on its edge).
            "M-lo-80": [18.0, 28, 35, 47, 4, 4, 4, 4],
            "M-hi-80": [23.0, 32, 39, 57, 6, 6, 6, 6],
            "M-lo-95": [15.0, 25, 33, 46, 3, 3, 3, 3],
            "M-hi-95": [26.0, 35, 41, 60, 8, 8, 8, 8],
        }
    )
    out = score(cv, train, ["M"], season_length=1)
    assert out.columns == [
        "unique_id",
        "model",
        "mae",
        "rmse",
        "mase",
        "smape",
        "bias",
        "coverage_80",
        "coverage_95",
        "points",
    ]
    assert out.select("unique_id", "model").rows() == [("a", "M"), ("b", "M")]
    a, b = out.to_dicts()
    # Per window, then averaged over the two windows.
    assert a["mae"] == pytest.approx((1.5 + 3.0) / 2)  # errors -2, +1 | 0, +6
    assert a["bias"] == pytest.approx((-0.5 + 3.0) / 2)
    assert a["rmse"] == pytest.approx((math.sqrt(2.5) + math.sqrt(18.0)) / 2)
    assert a["mase"] == pytest.approx((1.5 / 3 + 3.0 / 4) / 2)
    assert a["smape"] == pytest.approx(200 * ((2 / 42 + 1 / 59) / 2 + (0 + 6 / 98) / 2) / 2)
    assert a["coverage_80"] == pytest.approx(0.75)
    assert a["coverage_95"] == pytest.approx(1.0)
    assert a["points"] == 4
    assert b["mae"] == pytest.approx(1.0) and b["bias"] == pytest.approx(-1.0)
    assert b["mase"] == pytest.approx(0.5)  # naive in-sample MAE is 2
    assert b["coverage_80"] == pytest.approx(0.5) and b["coverage_95"] == pytest.approx(1.0)


def test_realized_accuracy_and_coverage_match_hand_computation():
    o1, o2 = dt.date(2025, 1, 10), dt.date(2025, 1, 11)
    d11, d12, d13 = dt.date(2025, 1, 11), dt.date(2025, 1, 12), dt.date(2025, 1, 13)
    forecasts = pl.DataFrame(
        {
            "forecast_origin": [o1, o1, o2, o2, o1],
            "unique_id": ["a", "a", "a", "a", "z"],
            "ds": [d11, d12, d12, d13, d11],
            "model": ["M", "M", "M", "M", "Naive"],
            "yhat": [10.0, 12, 14, 9, 0],
            "lo_80": [8.0, 11, 13, 8, 0],
            "hi_80": [12.0, 13, 15, 10, 0],
            "lo_95": [6.0, 9, 10, 7, 0],
            "hi_95": [14.0, 15, 18, 11, 0],
        }
    )
    # No actual yet for 13 January: that forecast is not scored.
    actuals = pl.DataFrame(
        {"unique_id": ["a", "a", "z"], "ds": [d11, d12, d11], "y": [11.0, 15.0, 0.0]}
    )
    scale = pl.DataFrame({"unique_id": ["a", "z"], "scale": [2.0, 1.0]})
    out = realized_accuracy(forecasts, actuals, scale)
    assert out.select("unique_id", "model").rows() == [("a", "M"), ("z", "Naive")]
    a, z = out.to_dicts()
    assert a["points"] == 3 and a["origins"] == 2
    assert a["mae"] == pytest.approx(5 / 3)  # errors -1, -3, -1
    assert a["bias"] == pytest.approx(-5 / 3)
    assert a["rmse"] == pytest.approx(math.sqrt(11 / 3))
    assert a["smape"] == pytest.approx(200 * (1 / 21 + 3 / 27 + 1 / 29) / 3)
    assert a["coverage_80"] == pytest.approx(2 / 3)  # 15 outside [11, 13]; 15 on [13, 15]'s edge
    assert a["coverage_95"] == pytest.approx(1.0)
    assert a["mase"] == pytest.approx(5 / 3 / 2)
    assert z["mae"] == 0 and z["smape"] == 0 and z["coverage_80"] == 1.0 and z["mase"] == 0
    assert realized_accuracy(forecasts, actuals)["mase"].null_count() == 2

    assert coverage_rate([1, 2, 3, 4], [0, 2, 3.5, 0], [1, 3, 5, 10]) == pytest.approx(0.75)
    assert coverage_rate([5, 6], [5, 6], [5, 6]) == 1.0
    assert math.isnan(coverage_rate([], [], []))


def test_seasonal_scale_uses_seasonal_differences_or_naive_when_flat():
    week = np.arange(1.0, 8.0)
    history = pl.concat(
        [
            series("grow", np.concatenate([week, week + 2.0])),  # seasonal difference 2
            series("flat", np.concatenate([week, week])),  # seasonal difference 0
        ]
    )
    out = dict(seasonal_scale(history, 7).iter_rows())
    assert out["grow"] == pytest.approx(2.0)
    assert out["flat"] == pytest.approx((6 * 1 + 6 + 6 * 1) / 13)  # |naive differences|


# ----------------------------------------------------------------- Dask engine


def test_dask_engine_gives_the_local_results():
    rng = np.random.default_rng(21)
    history = pl.concat(
        [
            series("pattern", weekly(120, rng, 1.0)),
            series("trend", weekly(120, rng, 1.0) + 0.3 * np.arange(120)),
            series("noise", 30.0 + rng.normal(0.0, 3.0, 120)),
            series("inter", intermittent(120, rng)),
            series("short", weekly(12, rng, 0.5)),
            series("zero", np.zeros(60)),
        ]
    ).sample(fraction=1.0, shuffle=True, seed=0)  # row order must not matter
    cfg = ForecastConfig(
        h=7, n_windows=2, n_jobs=1, candidates=("AutoETS", "SeasonalNaive", "HistoricAverage")
    )
    local = select_models(history, cfg)
    fitted = fit_models(history, local.choices, cfg)
    local_fc = refresh(fitted, history)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        remote = select_models(history, cfg, client=client)
        remote_fc = refresh(fitted, history, client=client)

    assert (
        local.choices.sort("unique_id")
        .select("unique_id", "kind", "model")
        .equals(remote.choices.sort("unique_id").select("unique_id", "kind", "model"))
    )
    # Cross-validation scores: statsforecast's Fugue backend returns float32 columns, so the
    # cluster's numbers agree to float32 precision (about 1e-6 relative), not to the last bit.
    keys = ["unique_id", "model"]
    lm, rm = (m.sort(keys) for m in (local.metrics, remote.metrics))
    assert lm.select(keys).equals(rm.select(keys))
    for c in ("mae", "rmse", "mase", "bias", "coverage_80", "coverage_95"):
        np.testing.assert_allclose(
            rm[c].to_numpy(), lm[c].to_numpy(), rtol=1e-5, atol=1e-5, err_msg=c
        )
    keys = ["unique_id", "model", "cutoff", "ds"]
    lc, rc = local.cv.sort(keys), remote.cv.sort(keys)
    assert lc.select(keys).equals(rc.select(keys))
    assert rc.schema == lc.schema
    for c in ("y", "yhat", "lo_95", "hi_95"):
        np.testing.assert_allclose(
            rc[c].to_numpy(), lc[c].to_numpy(), rtol=1e-5, atol=1e-5, err_msg=c
        )

    # The refresh on the cluster runs the same stored models: identical forecasts.
    keys = ["unique_id", "ds"]
    lf, rf = local_fc.sort(keys), remote_fc.sort(keys)
    assert lf.select(*keys, "model").equals(rf.select(*keys, "model"))
    for c in ("yhat", "lo_80", "hi_80", "lo_95", "hi_95"):
        np.testing.assert_allclose(rf[c].to_numpy(), lf[c].to_numpy(), atol=1e-6, err_msg=c)


def test_another_candidate_replaces_the_default_only_by_the_margin():
    rng = np.random.default_rng(8)
    history = series("weekly", 50.0 + 10.0 * weekly(140, rng, 1.5))
    scores = {}
    for margin in (0.0, 0.95):
        cfg = ForecastConfig(
            h=7,
            n_windows=2,
            candidates=("HistoricAverage", "SeasonalNaive"),
            selection_margin=margin,
        )
        sel = select_models(history, cfg)
        scores = dict(sel.metrics.select("model", "mase").iter_rows())
        (row,) = sel.choices.to_dicts()
        if margin == 0.0:
            # The weekly pattern: seasonal naive is far better than the mean.
            assert scores["SeasonalNaive"] < scores["HistoricAverage"]
            assert row["model"] == "SeasonalNaive"
            assert row["reason"] == "lowest cross-validated MASE"
        else:
            # ...but not twenty times better, so the first-listed default stays.
            assert scores["SeasonalNaive"] > 0.05 * scores["HistoricAverage"]
            assert row["model"] == "HistoricAverage"
            assert row["reason"].startswith("the default candidate")
    with pytest.raises(ForecastError, match="selection_margin"):
        ForecastConfig(selection_margin=1.0)


def test_cross_validation_carries_forward_and_refits_on_an_in_process_cluster():
    """Locally, models with ``forward`` are fitted at the first cutoff and carried forward;
    on an in-process cluster (threads share the model objects) every window is refitted."""
    rng = np.random.default_rng(5)
    history = pl.concat(
        [series(f"w{i}", 10.0 * i + 20.0 * weekly(140, rng, 0.3)) for i in range(4)]
    )
    cfg = ForecastConfig(h=7, n_windows=3, candidates=("AutoETS", "HistoricAverage"))
    models = ["AutoETS", "HistoricAverage"]
    ours = cross_validate(history, models, cfg)
    kwargs = dict(h=7, n_windows=3, step_size=7, level=[80, 95])
    data = history.sort("unique_id", "ds")
    forward = StatsForecast(
        models=[sf_models.AutoETS(season_length=7, alias="AutoETS")], freq="1d"
    ).cross_validation(df=data, refit=False, **kwargs)
    refitted = StatsForecast(
        models=[sf_models.AutoETS(season_length=7, alias="AutoETS")], freq="1d"
    ).cross_validation(df=data, refit=True, **kwargs)
    np.testing.assert_allclose(ours["AutoETS"].to_numpy(), forward["AutoETS"].to_numpy())
    # Carrying the first fit forward is not the same computation as refitting.
    assert not np.allclose(forward["AutoETS"].to_numpy(), refitted["AutoETS"].to_numpy())
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        shared = cross_validate(history, models, cfg, client=client)
    np.testing.assert_allclose(
        shared["AutoETS"].to_numpy(), refitted["AutoETS"].to_numpy(), rtol=1e-5, atol=1e-5
    )
    assert shared["HistoricAverage"].to_numpy() == pytest.approx(
        ours["HistoricAverage"].to_numpy(), rel=1e-5
    )


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (series("a", np.ones(30)).drop("y"), r"lacks column.*'y'"),
        (series("a", np.ones(30)).rename({"ds": "date"}), r"lacks column.*'ds'"),
        (
            series("a", np.ones(30)).with_columns(
                pl.when(pl.col("ds") == START).then(None).otherwise(pl.col("y")).alias("y")
            ),
            r"nulls: y: 1 rows",
        ),
        (
            pl.concat([series("a", np.ones(30)), series("a", np.ones(2))]),
            r"2 duplicate \(unique_id, ds\) rows",
        ),
    ],
    ids=["missing-y", "missing-ds", "null-y", "duplicates"],
)
def test_bad_history_is_a_clear_forecast_error(frame, message):
    with pytest.raises(ForecastError, match=message):
        classify(frame, CFG)
    with pytest.raises(ForecastError, match=message):
        select_models(frame, CFG)
    good = series("a", np.arange(1.0, 11.0))  # short: a rule model, no cross-validation
    fitted = fit_models(good, select_models(good, CFG).choices, CFG)
    assert fitted.series == {"a": "Naive"}
    with pytest.raises(ForecastError, match=message):
        refresh(fitted, frame)


def test_processes_only_for_costly_models_on_many_series_and_spawned():
    import multiprocessing

    from retail_assets.lib.forecasting import models as fc

    many = pl.concat([series(f"s{i}", np.arange(1.0, 4.0)) for i in range(fc.PARALLEL_MIN_SERIES)])
    few = many.filter(pl.col("unique_id") != "s0")
    cfg = ForecastConfig(n_jobs=2)
    ets, croston = fc.make_model("AutoETS", cfg), fc.make_model("CrostonOptimized", cfg)
    assert fc._n_jobs(cfg, many, [ets, croston]) == 2
    assert fc._n_jobs(cfg, few, [ets]) == 1  # starting the workers would cost more
    assert fc._n_jobs(cfg, many, [croston]) == 1  # milliseconds a series
    assert fc._n_jobs(ForecastConfig(n_jobs=1), many, [ets]) == 1
    # The workers start clean, never forked from a process whose threads may hold locks.
    pool, _ = fc._StatsForecast(models=[ets], freq="1d", n_jobs=2)._get_pool()
    assert pool.__self__ is multiprocessing.get_context("spawn")


def test_unknown_models_and_bad_settings_are_forecast_errors():
    with pytest.raises(ForecastError, match="Prophet"):
        ForecastConfig(candidates=("AutoETS", "Prophet"))
    with pytest.raises(ForecastError, match="Croston'"):
        ForecastConfig(intermittent_candidates=("Croston",))
    with pytest.raises(ForecastError, match="at least 1"):
        ForecastConfig(h=0)
    assert isinstance(ForecastError("x"), ValueError)
