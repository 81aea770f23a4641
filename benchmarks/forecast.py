"""Forecast simulated daily demand: the weekly model selection, the daily refresh, baselines.

    python benchmarks/forecast.py            # 1,000 series, AutoARIMA and Prophet on 100
    python benchmarks/forecast.py --quick    # 100 series, AutoARIMA and Prophet on 20
    python benchmarks/forecast.py --real     # the Census series, ours against AutoARIMA

Prints one ``metric: value`` per line; progress goes to stderr. Everything runs on **one
core** (thread pools set to 1 before numpy, polars and numba load; ``n_jobs=1``).

**Data.** ``--series`` simulated daily retail series of ``--days`` days (seeded numpy):
negative-binomial counts around a level (log-normal across series), a linear trend (some
with one change of slope), a slow AR(1) drift, a weekly profile (multiplicative or
additive), a mild yearly cycle and a few unannounced promotion spikes; ~12 % are
intermittent low-volume series (Poisson, 0.05-0.6 a day). The last ``h`` (30) days are held
out: models see the first 700 days only.

**What is measured**, with ``retail_assets.lib.forecasting.demand`` and its default configuration
(``ForecastConfig()``: h=30, weekly season, the default candidates, 3 windows):

1. **selection** (the weekly job): ``select_models`` on the training days
   (``selection_seconds_per_series``), then ``fit_models`` (``fit_seconds_per_series``);
2. **daily refresh**: ``refresh(fitted, train, h=30)``, the stored models applied to the
   history with their parameters (``forward``), timed ``--refresh-repeats`` times (median):
   ``refresh_seconds_per_series`` and ``series_per_second``. Its forecasts of the held-out
   days give ``mase_selected`` (mean over series of MAE over the in-sample seasonal naive
   MAE, ``seasonal_scale(train, 7)``), ``mae_selected``, ``coverage_80`` and ``coverage_95``
   (share of held-out points inside the intervals);
3. **AutoARIMA on every series** (``StatsForecast(AutoARIMA(season_length=7))``, fitted and
   forecast afresh, as a daily AutoARIMA job would; a series it fails on would get a naive
   fallback): seconds per series, MASE and 95 % coverage. It costs ~6 s a series on 700 days
   (1,000 series would take over an hour and a half), so it runs on a seeded random
   **subset** (``--autoarima-series``, 100; 20 with ``--quick``) and
   ``mase_selected_on_autoarima_subset`` scores our forecasts on the same series and days;
4. **Prophet** (an optional benchmark dependency; ``n/a`` when it does not import): the same
   way on the first ``--prophet-series`` series of the same subset, one model per series
   fitted and predicted with Prophet's defaults and ``interval_width=0.95``. With 700 days
   its ``auto`` seasonalities are weekly only (yearly wants two years, daily sub-daily
   data); forcing yearly on was twice as slow and no more accurate here.

``speedup_vs_<baseline>`` is the baseline's seconds per series over the refresh's;
``amortized_seconds_per_series_day`` adds a seventh of the weekly selection and fit to the
refresh, and ``amortized_speedup_vs_<baseline>`` compares that with the baseline. Point
forecasts and bounds of all three are clipped at zero (as ``refresh`` does: demand is never
negative). Everything runs once on a few warm-up series first, so numba's compilation and
Prophet's first Stan load are not timed (``warmup_seconds``).

**Selection budget** (``--selection-budget``; what the product's main command runs after
building its history): the real ``forecast_model_selection`` job, on a lake of
``--budget-days`` (365; 120 with ``--quick``) days of ``--customers`` (20,000) simulated
customers built with the real assets in one range run (``raw/transactions``, ``raw/signals``
and the three feature tables the selection reads, plus the reference data), or on the lake
already at ``--lake``. Settings come from the environment as in the product
(``Settings.from_env``), so the default levels and candidates are measured:
``budget_<variant>_wall_seconds`` (the job, in process, Dagster included),
``_selection_seconds`` and ``_fit_seconds``, ``_series``, ``_cv_champions`` and
``_fallbacks`` (and why). ``--store-product`` adds the opt-in of every store x product series
(``RETAIL_FORECAST_LEVELS=category,store_product``, ``RETAIL_FORECAST_N_JOBS`` from
``--store-product-n-jobs``, -1) with the default candidates and with
``--store-product-candidates``; ``--forecast-range`` times the
daily forecasts and their accuracy over every built day in one range run. This mode uses
every core (no single-thread pools) and skips the simulated-series figures above.

**Real series** (``--real``, instead of everything else): every NAICS code of the Census
MRTS workbook with a complete not-seasonally-adjusted history (47 codes, 368 months;
``--quick``: the first 8), through the path of the retailer's own series
(``retail_assets.lib.forecasting.series``: monthly frequency, season 12, the monthly candidates,
two cross-validation windows): the last 24 months held out, models chosen by
cross-validation on the rest, forecast and scored (``real_mase_selected``: mean MASE over the
series, scale the training months' seasonal naive error). ``real_mase_autoarima``: statsforecast's
AutoARIMA (season 12) fitted on the same months of every series and forecast afresh, scored
the same way. ``real_seconds_per_series``: the backtest's wall time (selection, fit,
forecast) per series; ``--n-jobs`` spreads it over processes (default one core).

**Census.** NAICS 443 (electronics and appliance stores), not seasonally adjusted, monthly
sales from the published MRTS workbook (``--census``, read with
``retail_assets.lib.sources.census.read_mrts``): the last 24 months held out, selection and fit on
the rest with ``ForecastConfig(h=24, season_length=12, freq="1mo", n_windows=2)``, 24 months
forecast with ``refresh``, MASE (scale: in-sample seasonal naive, season 12) against a
seasonal naive forecast of the same months. ``n/a`` without the file.
"""

from __future__ import annotations

import os
import sys

# One core: set before numpy, polars and numba are imported (their pools read these once).
# The selection budget measures the product as it runs, on every core.
if "--selection-budget" not in sys.argv:
    for _var in (
        "POLARS_MAX_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
    ):
        os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from statsforecast import StatsForecast  # noqa: E402
from statsforecast.models import AutoARIMA, Naive  # noqa: E402

from retail_assets.lib.forecasting import demand as fc  # noqa: E402
from retail_assets.lib.sources.census import read_mrts  # noqa: E402

log = logging.getLogger("forecast")

START = dt.date(2024, 1, 1)
SEED = 42
INTERMITTENT_SHARE = 0.12
CENSUS = REPO.parent / "shared" / "data" / "census" / "mrtssales92-present.xlsx"
CENSUS_NAICS = "443"
CENSUS_HOLDOUT = 24
NA = "n/a"
#: A typical retail week, Monday first: quiet early week, Friday and Saturday peaks.
WEEK = np.array([0.85, 0.8, 0.85, 0.95, 1.15, 1.35, 1.05])


def report(name: str, value) -> None:
    """Print one metric line."""
    if isinstance(value, float):
        value = f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    print(f"{name}: {value}", flush=True)


# ---------------------------------------------------------------------------- data
def simulate(
    n_series: int, days: int, seed: int, intermittent_share: float = INTERMITTENT_SHARE
) -> pl.DataFrame:
    """``unique_id, ds, y``: ``n_series`` daily demand series of ``days`` days from START."""
    rng = np.random.default_rng(seed)
    t = np.arange(days, dtype=float)
    dow = (START.weekday() + np.arange(days)) % 7
    intermittent = rng.permutation(n_series) < round(intermittent_share * n_series)
    ys = np.empty((n_series, days))
    for i in range(n_series):
        week = WEEK * np.exp(rng.normal(0, 0.08, 7))
        week /= week.mean()
        if intermittent[i]:
            mu = rng.uniform(0.05, 0.6) * (1 + rng.uniform(0, 0.5) * (week - 1))[dow]
            ys[i] = rng.poisson(mu)
            continue
        level = np.exp(rng.normal(3.5, 1.0))  # median ~33 a day
        trend = 1 + rng.normal(0, 0.25) * t / days
        if rng.random() < 0.3:  # one change of slope (a new competitor, a refit)
            change = rng.integers(days // 4, 3 * days // 4)
            trend += rng.normal(0, 0.3) * np.clip(t - change, 0, None) / days
        drift = np.zeros(days)
        shocks = rng.normal(0, 0.015, days)
        for d in range(1, days):
            drift[d] = 0.98 * drift[d - 1] + shocks[d]
        yearly = 1 + rng.uniform(0.02, 0.12) * np.cos(
            2 * np.pi * (t - rng.uniform(0, 365)) / 365.25
        )
        base = level * np.clip(trend, 0.2, None) * np.exp(drift) * yearly
        amplitude = rng.uniform(0.3, 1.5)
        if rng.random() < 0.6:
            mu = base * (1 + amplitude * (week - 1))[dow]
        else:  # additive: the weekly swing does not grow with the trend
            mu = base + level * amplitude * (week - 1)[dow]
        promos = np.flatnonzero(rng.random(days) < 0.008)
        for p in promos:
            mu[p : p + rng.integers(1, 4)] *= rng.uniform(1.3, 2.0)
        k = rng.uniform(5, 50)  # negative binomial: Poisson over a gamma with mean 1
        ys[i] = rng.poisson(np.maximum(mu, 0.05) * rng.gamma(k, 1 / k, days))
    return pl.DataFrame(
        {
            "unique_id": np.repeat([f"s{i:04d}" for i in range(n_series)], days),
            "ds": np.tile(np.arange(np.datetime64(START), np.datetime64(START) + days), n_series),
            "y": ys.ravel(),
        },
        schema={"unique_id": pl.Utf8, "ds": pl.Date, "y": pl.Float64},
    )


def split(history: pl.DataFrame, h: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Training days and the last ``h`` days of every series."""
    rank = pl.col("ds").rank("ordinal", descending=True).over("unique_id")
    return history.filter(rank > h), history.filter(rank <= h)


# ---------------------------------------------------------------------------- accuracy
def accuracy(
    forecasts: pl.DataFrame,
    test: pl.DataFrame,
    scale: pl.DataFrame,
    ids: Sequence[str] | None = None,
) -> dict[str, float]:
    """MASE (mean over series), MAE, interval coverage and counts of ``forecasts`` on ``test``.

    ``forecasts``: ``unique_id, ds, yhat`` and optionally ``lo_80, hi_80, lo_95, hi_95``.
    """
    if ids is not None:
        keep = pl.col("unique_id").is_in(pl.Series(list(ids)).implode())
        forecasts, test = forecasts.filter(keep), test.filter(keep)
    joined = test.join(forecasts, on=["unique_id", "ds"], how="left")
    per = (
        joined.group_by("unique_id")
        .agg((pl.col("yhat") - pl.col("y")).abs().mean().alias("mae"))
        .join(scale, on="unique_id", how="left")
        .filter(pl.col("scale") > 0)
        .with_columns((pl.col("mae") / pl.col("scale")).alias("mase"))
    )
    out = {
        "mase": per["mase"].mean(),
        "mae": per["mae"].mean(),
        "series": per.height,
        "missing_points": joined["yhat"].null_count(),
    }
    for lvl in fc.LEVELS:
        lo, hi = f"lo_{lvl}", f"hi_{lvl}"
        if lo in joined.columns:
            inside = pl.col("y").is_between(pl.col(lo), pl.col(hi))
            out[f"coverage_{lvl}"] = joined.select(inside.mean()).item()
    return out


def seasonal_naive(train: pl.DataFrame, test: pl.DataFrame, season: int) -> pl.DataFrame:
    """``unique_id, ds, yhat``: the last season of ``train`` repeated over ``test``'s days."""
    last = train.sort("unique_id", "ds").group_by("unique_id", maintain_order=True).tail(season)
    last = last.with_columns(pl.int_range(pl.len()).over("unique_id").alias("k"))
    step = test.sort("unique_id", "ds").with_columns(
        (pl.int_range(pl.len()).over("unique_id") % season).alias("k")
    )
    return step.join(
        last.select("unique_id", "k", pl.col("y").alias("yhat")), on=["unique_id", "k"]
    )


def _clipped(frame: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
    return frame.select(
        pl.col("unique_id").cast(pl.Utf8),
        pl.col("ds").cast(pl.Date),
        *[pl.col(src).clip(lower_bound=0).alias(dst) for dst, src in columns.items()],
    )


# ---------------------------------------------------------------------------- baselines
def autoarima(train: pl.DataFrame, ids: Sequence[str], h: int) -> tuple[pl.DataFrame, float]:
    """AutoARIMA fitted and forecast on ``ids``: ``(forecasts, seconds)``."""
    data = train.filter(pl.col("unique_id").is_in(pl.Series(list(ids)).implode()))
    sf = StatsForecast(
        models=[AutoARIMA(season_length=fc.SEASON)], freq="1d", n_jobs=1, fallback_model=Naive()
    )
    began = time.perf_counter()
    out = sf.forecast(df=data, h=h, level=[80, 95])
    seconds = time.perf_counter() - began
    cols = {"yhat": "AutoARIMA"}
    cols.update({f"{s}_{lvl}": f"AutoARIMA-{s}-{lvl}" for lvl in (80, 95) for s in ("lo", "hi")})
    return _clipped(out, cols), seconds


def import_prophet():
    """Prophet's class, or None when it is not installed (it is optional)."""
    for name in ("prophet", "prophet.plot", "cmdstanpy"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        from prophet import Prophet
    except Exception as exc:  # ImportError, or a broken Stan backend
        log.warning("prophet not available (%s): its figures are n/a", exc)
        return None
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet").setLevel(logging.WARNING)
    return Prophet


def prophet(
    model_cls, train: pl.DataFrame, ids: Sequence[str], h: int
) -> tuple[pl.DataFrame, float]:
    """One Prophet per series of ``ids``, fitted and predicted: ``(forecasts, seconds)``."""
    frames = []
    began = time.perf_counter()
    for uid in ids:
        pdf = (
            train.filter(pl.col("unique_id") == uid)
            .select(pl.col("ds").cast(pl.Datetime("ns")), "y")
            .to_pandas()
        )
        model = model_cls(interval_width=0.95)
        model.fit(pdf)
        pred = model.predict(model.make_future_dataframe(periods=h, include_history=False))
        frames.append(
            pl.from_pandas(pred[["ds", "yhat", "yhat_lower", "yhat_upper"]]).with_columns(
                pl.lit(uid).alias("unique_id")
            )
        )
    seconds = time.perf_counter() - began
    cols = {"yhat": "yhat", "lo_95": "yhat_lower", "hi_95": "yhat_upper"}
    return _clipped(pl.concat(frames), cols), seconds


# ---------------------------------------------------------------------------- our pipeline
def pipeline(train: pl.DataFrame, config: fc.ForecastConfig, h: int, log_fn=None):
    """Selection, fit and one refresh: ``(selection, fitted, fit_seconds, forecasts)``."""
    selection = fc.select_models(train, config, log=log_fn)
    began = time.perf_counter()
    fitted = fc.fit_models(train, selection.choices, config)
    fit_seconds = time.perf_counter() - began
    return selection, fitted, fit_seconds, fc.refresh(fitted, train, h=h)


def without_forward(fitted: fc.FittedModels) -> dict[str, int]:
    """Series per chosen model whose statsforecast model has no ``forward`` method."""
    out = {}
    for name, sf in fitted.groups.items():
        missing = sum(not hasattr(m, "forward") for m in sf.fitted_[:, 0])
        if missing:
            out[name] = missing
    return out


def warm_up(days: int, h: int, Prophet) -> float:
    """Run every timed path once on a few series (numba compiles, Stan loads)."""
    began = time.perf_counter()
    history = simulate(6, days, SEED + 1, intermittent_share=0.5)
    train, _ = split(history, h)
    pipeline(train, fc.ForecastConfig(h=h), h)
    ids = train["unique_id"].unique(maintain_order=True).to_list()
    autoarima(train, ids[:1], h)
    if Prophet is not None:
        prophet(Prophet, train, ids[:1], h)
    return time.perf_counter() - began


def census(path: Path) -> None:
    """NAICS 443 NSA monthly sales: the selected model against seasonal naive, last 24 months."""
    names = ("census_model", "census_mase_selected", "census_mase_seasonal_naive")
    if not path.exists():
        log.warning("census workbook not found at %s: census figures are n/a", path)
        for name in (*names, "census_mase_ratio_vs_seasonal_naive"):
            report(name, NA)
        return
    mrts = read_mrts(path)
    series = (
        mrts.filter(
            (pl.col("naics_code") == CENSUS_NAICS)
            & (pl.col("adjustment") == "NSA")
            & pl.col("sales_musd").is_not_null()
        )
        .select(
            pl.lit(CENSUS_NAICS).alias("unique_id"),
            pl.col("month").alias("ds"),
            pl.col("sales_musd").cast(pl.Float64).alias("y"),
        )
        .sort("ds")
    )
    months = pl.date_range(series["ds"].min(), series["ds"].max(), "1mo", eager=True)
    report("census_months", series.height)
    report("census_missing_months", months.len() - series.height)
    train, test = split(series, CENSUS_HOLDOUT)
    report("census_test_months", f"{test['ds'].min()}..{test['ds'].max()}")
    config = fc.ForecastConfig(h=CENSUS_HOLDOUT, season_length=12, freq="1mo", n_windows=2)
    selection, _, _, forecasts = pipeline(train, config, CENSUS_HOLDOUT)
    scale = fc.seasonal_scale(train, 12)
    ours = accuracy(forecasts, test, scale)
    naive = accuracy(seasonal_naive(train, test, 12), test, scale)
    report("census_model", selection.choices["model"][0])
    report("census_selection_seconds", selection.seconds)
    candidates = pl.col("model").is_in(list(config.candidates))
    for row in selection.metrics.filter(candidates).sort("mase").iter_rows(named=True):
        report(f"census_cv_mase_{row['model']}", row["mase"])
    report("census_forecast_months", forecasts.height)
    report("census_mase_selected", ours["mase"])
    report("census_mase_seasonal_naive", naive["mase"])
    report("census_mase_ratio_vs_seasonal_naive", ours["mase"] / naive["mase"])
    report("census_coverage_95", ours["coverage_95"])


# ---------------------------------------------------------------------------- real series
def real_series(path: Path, quick: bool = False) -> pl.DataFrame:
    """Every NAICS code of the workbook with a complete NSA history, ``unique_id, ds, y``."""
    mrts = read_mrts(path).filter(
        (pl.col("adjustment") == "NSA") & pl.col("naics_code").is_not_null()
    )
    months = mrts["month"].n_unique()
    complete = (
        mrts.group_by("naics_code")
        .agg(pl.col("sales_musd").is_not_null().sum().alias("n"))
        .filter(pl.col("n") == months)["naics_code"]
        .sort()
    )
    if quick:
        complete = complete.head(8)
    return (
        mrts.filter(pl.col("naics_code").is_in(complete.implode()))
        .select(
            pl.concat_str(pl.lit("naics:"), "naics_code").alias("unique_id"),
            pl.col("month").alias("ds"),
            pl.col("sales_musd").cast(pl.Float64).alias("y"),
        )
        .unique(["unique_id", "ds"])
        .sort("unique_id", "ds")
    )


def real(path: Path, quick: bool, n_jobs: int) -> None:
    """The Census series through the retailer's-series path, against AutoARIMA on each."""
    from retail_assets.lib.forecasting import series as sf

    names = ("real_mase_selected", "real_mase_autoarima", "real_seconds_per_series")
    if not path.exists():
        log.warning("census workbook not found at %s: real-series figures are n/a", path)
        for name in names:
            report(name, NA)
        return
    series = real_series(path, quick)
    n = series["unique_id"].n_unique()
    freq = sf.FREQUENCIES["monthly"]
    report("real_series", n)
    report("real_months", series["ds"].n_unique())
    report("real_holdout_months", CENSUS_HOLDOUT)
    report("real_frequency_detected", sf.detect_frequency(series["ds"]).name)
    report("real_candidates", ",".join(freq.candidates))
    hier = sf.single(series)
    config = freq.config(h=CENSUS_HOLDOUT, n_jobs=n_jobs)
    log.info("real: backtest of %d Census series through the retailer's-series path", n)
    began = time.perf_counter()
    accuracy, selection = sf.backtest(hier, config, CENSUS_HOLDOUT, log=log.info)
    seconds = time.perf_counter() - began
    for (model,), group in accuracy.group_by("model", maintain_order=True):
        report(f"real_chosen_{model}", group.height)
    # AutoARIMA on every series, fitted and forecast afresh on the same training months.
    train, test = split(series, CENSUS_HOLDOUT)
    scale = fc.seasonal_scale(train, 12)
    log.info("real: AutoARIMA on %d series", n)
    began = time.perf_counter()
    sf_arima = StatsForecast(
        models=[AutoARIMA(season_length=12)], freq="1mo", n_jobs=n_jobs, fallback_model=Naive()
    )
    arima = sf_arima.forecast(df=train, h=CENSUS_HOLDOUT)
    arima_seconds = time.perf_counter() - began
    joined = arima.join(test, on=["unique_id", "ds"]).join(scale, on="unique_id")
    arima_mase = joined.group_by("unique_id").agg(
        ((pl.col("AutoARIMA").clip(0) - pl.col("y")).abs().mean() / pl.col("scale").first()).alias(
            "mase"
        )
    )
    report("real_mase_selected", accuracy["mase"].mean())
    report("real_mase_reconciled", accuracy["mase_reconciled"].mean())
    report("real_mase_seasonal_naive", accuracy["mase_seasonal_naive"].mean())
    report("real_mase_autoarima", arima_mase["mase"].mean())
    report("real_median_mase_selected", accuracy["mase"].median())
    report("real_median_mase_autoarima", arima_mase["mase"].median())
    report("real_coverage_95", accuracy["coverage_95"].mean())
    report("real_seconds_per_series", seconds / n)
    report("real_autoarima_seconds_per_series", arima_seconds / n)
    report(
        "real_selected_not_worse_than_autoarima",
        _verdict(accuracy["mase"].mean() <= arima_mase["mase"].mean()),
    )


# ---------------------------------------------------------------------------- selection budget
#: What the selection reads (and the reference data: the calendar, for its regressors).
BUDGET_ASSETS = (
    "raw/transactions",
    "raw/signals",
    "features/daily_sales_by_store_product",
    "features/daily_sales_by_category",
    "features/daily_category_signals",
)
BUDGET_START = dt.date(2025, 1, 1)


def _platform(root: Path, customers: int, **env):
    """The platform as the product builds it: settings from the environment, under ``root``."""
    from retail_assets.defs.resources import RetailPlatform
    from retail_assets.lib.settings import Settings

    base = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_FORECAST_")}
    base.update(RETAIL_DATA_DIR=str(root), RETAIL_CUSTOMERS=str(customers), **env)
    return RetailPlatform.from_settings(Settings.from_env(base))


def _range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def _failures(result) -> str:
    return "; ".join(
        e.step_failure_data.error.message.strip()[:500]
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error
    )


def build_lake(root: Path, customers: int, days: int) -> tuple[dt.date, dt.date]:
    """Reference data and ``days`` days of what the selection reads, in one range run."""
    import dagster as dg

    from retail_assets.definitions import build_definitions

    first, last = BUDGET_START, BUDGET_START + dt.timedelta(days=days - 1)
    defs = build_definitions(_platform(root, customers))
    instance = dg.DagsterInstance.ephemeral()
    began = time.perf_counter()
    result = defs.resolve_job_def("reference_data").execute_in_process(
        instance=instance, raise_on_error=False
    )
    if not result.success:
        raise SystemExit(f"reference data failed: {_failures(result)}")
    result = defs.resolve_job_def("all_assets").execute_in_process(
        instance=instance,
        raise_on_error=False,
        asset_selection=[dg.AssetKey.from_user_string(k) for k in BUDGET_ASSETS],
        tags=_range_tags(first, last),
    )
    if not result.success:
        raise SystemExit(f"building {days} days failed: {_failures(result)}")
    report("budget_build_seconds", time.perf_counter() - began)
    return first, last


def _days_built(root: Path) -> tuple[dt.date, dt.date]:
    files = sorted((root / "lake" / "features" / "daily_sales_by_category").glob("date=*"))
    if not files:
        raise SystemExit(f"no features/daily_sales_by_category under {root}/lake")
    first, last = (dt.date.fromisoformat(f.name.split("=", 1)[1]) for f in (files[0], files[-1]))
    return first, last


def time_selection(root: Path, customers: int, variant: str, **env) -> None:
    """Run ``forecast_model_selection`` on the lake at ``root``; report its figures."""
    import dagster as dg

    from retail_assets.definitions import build_definitions

    platform = _platform(root, customers, **env)
    defs = build_definitions(platform)
    log.info(
        "selection %s: levels %s, candidates %s, n_jobs %s",
        variant,
        platform.forecast_levels,
        platform.forecast_candidates or "default",
        platform.forecast_n_jobs,
    )
    began = time.perf_counter()
    result = defs.resolve_job_def("forecast_model_selection").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    wall = time.perf_counter() - began
    if not result.success:
        raise SystemExit(f"selection {variant} failed: {_failures(result)}")
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["ml", "forecast_models"])
    ]
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    prefix = f"budget_{variant}"
    report(f"{prefix}_levels", ",".join(platform.forecast_levels))
    report(f"{prefix}_candidates", ",".join(platform.forecast_candidates) or "default")
    report(f"{prefix}_wall_seconds", wall)
    report(f"{prefix}_selection_seconds", float(meta["selection_seconds"]))
    report(f"{prefix}_fit_seconds", float(meta["fit_seconds"]))
    report(f"{prefix}_history_days", meta["history_days"])
    report(f"{prefix}_series", meta["series"])
    report(f"{prefix}_cv_champions", meta["series_cv_champion"])
    report(f"{prefix}_fallbacks", meta["series_fallback"])
    report(f"{prefix}_fallback_reasons", json.dumps(meta["fallback_reasons"]))
    report(f"{prefix}_models_chosen", json.dumps(meta["models_chosen"]))
    report(f"{prefix}_within_30_seconds", _verdict(wall <= 30))


def time_forecast_range(root: Path, customers: int, first: dt.date, last: dt.date) -> None:
    """The daily forecasts and their accuracy for every day built, in one range run."""
    import dagster as dg

    from retail_assets.definitions import build_definitions

    defs = build_definitions(_platform(root, customers))
    began = time.perf_counter()
    result = defs.resolve_job_def("all_assets").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        asset_selection=[
            dg.AssetKey(["ml", "sales_forecasts"]),
            dg.AssetKey(["ml", "forecast_accuracy"]),
        ],
        tags=_range_tags(first, last),
    )
    if not result.success:
        raise SystemExit(f"forecast range failed: {_failures(result)}")
    report("budget_forecast_range_days", (last - first).days + 1)
    report("budget_forecast_range_wall_seconds", time.perf_counter() - began)
    for e in result.all_events:
        if e.event_type_value == "STEP_SUCCESS":
            seconds = e.event_specific_data.duration_ms / 1000
            report(f"budget_forecast_range_step_seconds_{e.step_key}", seconds)


def selection_budget(args: argparse.Namespace) -> None:
    """The ``--selection-budget`` mode (see the module docstring)."""
    began = time.perf_counter()
    days = args.budget_days or (120 if args.quick else 365)
    report("load_average_at_start", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    report("cores", os.cpu_count())
    with tempfile.TemporaryDirectory(prefix="forecast-budget-") as tmp:
        root = args.lake or Path(tmp)
        if args.lake and (root / "lake" / "features" / "daily_sales_by_category").exists():
            first, last = _days_built(root)
            log.info("using the lake at %s (%s..%s)", root, first, last)
        else:
            log.info("building %d days at %d customers under %s", days, args.customers, root)
            first, last = build_lake(root, args.customers, days)
        report("budget_customers", args.customers)
        report("budget_days", (last - first).days + 1)
        time_selection(root, args.customers, "default")
        if args.forecast_range:
            time_forecast_range(root, args.customers, first, last)
        if args.store_product:
            every = {"RETAIL_FORECAST_LEVELS": "category,store_product"}
            jobs = args.store_product_n_jobs
            time_selection(
                root, args.customers, "store_product", RETAIL_FORECAST_N_JOBS=jobs, **every
            )
            time_selection(
                root,
                args.customers,
                "store_product_cheap",
                RETAIL_FORECAST_N_JOBS=jobs,
                RETAIL_FORECAST_CANDIDATES=args.store_product_candidates,
                **every,
            )
            # Leave the default selection as the one stored.
            time_selection(root, args.customers, "default_again")
    report("load_average_at_end", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    report("wall_seconds", time.perf_counter() - began)


# ---------------------------------------------------------------------------- main
def _verdict(ok: bool | None) -> str:
    return NA if ok is None else ("pass" if ok else "fail")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 series, baselines on 20")
    parser.add_argument("--series", type=int, help="simulated series (default 1,000)")
    parser.add_argument("--days", type=int, default=730, help="days per series, holdout included")
    parser.add_argument("--h", type=int, default=30, help="horizon and holdout days")
    parser.add_argument("--autoarima-series", type=int, help="AutoARIMA subset (default 100)")
    parser.add_argument("--prophet-series", type=int, help="Prophet subset (default 100)")
    parser.add_argument("--no-prophet", action="store_true", help="skip Prophet")
    parser.add_argument("--refresh-repeats", type=int, default=3, help="timed refreshes")
    parser.add_argument("--census", type=Path, default=CENSUS, help="MRTS workbook")
    parser.add_argument("--seed", type=int, default=SEED)
    budget = parser.add_argument_group("selection budget (--selection-budget)")
    budget.add_argument(
        "--selection-budget",
        action="store_true",
        help="time the forecast_model_selection job on a year of simulated history, instead",
    )
    budget.add_argument("--budget-days", type=int, help="days built (365; 120 with --quick)")
    budget.add_argument("--customers", type=int, default=20_000, help="simulated customers")
    budget.add_argument("--lake", type=Path, help="a data dir to build in or reuse (kept)")
    budget.add_argument(
        "--store-product", action="store_true", help="also every store x product series"
    )
    budget.add_argument(
        "--store-product-candidates",
        default="MSTL,SeasonalNaive,HistoricAverage",
        help="the cheaper candidates measured with --store-product",
    )
    budget.add_argument(
        "--store-product-n-jobs",
        default="-1",
        help="RETAIL_FORECAST_N_JOBS of the store x product selections (-1: every core)",
    )
    budget.add_argument(
        "--forecast-range", action="store_true", help="also the daily forecasts of every day"
    )
    real_group = parser.add_argument_group("real series (--real)")
    real_group.add_argument(
        "--real",
        action="store_true",
        help="the Census series through the retailer's-series path against AutoARIMA, instead",
    )
    real_group.add_argument(
        "--n-jobs", type=int, default=1, help="processes for --real (default 1: one core)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    warnings.filterwarnings("ignore")
    if args.real:
        real(args.census, args.quick, args.n_jobs)
        return
    if args.selection_budget:
        logging.getLogger("dagster").setLevel(logging.WARNING)
        selection_budget(args)
        return
    n_series = args.series or (100 if args.quick else 1_000)
    n_arima = min(n_series, args.autoarima_series or (20 if args.quick else 100))
    n_prophet = min(n_series, args.prophet_series or (20 if args.quick else 100))
    h = args.h
    run_began = time.perf_counter()

    Prophet = None if args.no_prophet else import_prophet()
    report("prophet_available", Prophet is not None)
    log.info("warming up")
    report("warmup_seconds", warm_up(args.days, h, Prophet))

    history = simulate(n_series, args.days, args.seed)
    train, test = split(history, h)
    kinds = fc.classify(train, fc.ForecastConfig(h=h))
    report("series", n_series)
    report("history_days", args.days - h)
    report("h", h)
    for (kind,), group in kinds.group_by("kind", maintain_order=True):
        report(f"kind_{kind}", group.height)
    scale = fc.seasonal_scale(train, fc.SEASON)

    # The weekly job: selection by cross-validation, then one fit of each chosen model.
    config = fc.ForecastConfig(h=h)
    log.info("selection on %d series (%s)", n_series, ", ".join(config.candidates))
    selection, fitted, fit_seconds, _ = pipeline(train, config, h, log.info)
    report("selection_seconds", selection.seconds)
    report("selection_seconds_per_series", selection.seconds / n_series)
    report("fit_seconds_per_series", fit_seconds / n_series)
    report("weekly_seconds_per_series", (selection.seconds + fit_seconds) / n_series)
    for (model,), group in selection.choices.group_by("model", maintain_order=True):
        report(f"chosen_{model}", group.height)
    candidates = pl.col("model").is_in([*config.candidates, *config.intermittent_candidates])
    cv = (
        selection.metrics.filter(candidates)
        .group_by("model")
        .agg(pl.col("mase").mean())
        .sort("mase")
    )
    for model, value in cv.iter_rows():
        report(f"cv_mase_{model}", value)
    for model, count in without_forward(fitted).items():
        report(f"refresh_without_forward_{model}", count)

    # The daily job: stored models applied to the history.
    runs = []
    for i in range(args.refresh_repeats):
        began = time.perf_counter()
        forecasts = fc.refresh(fitted, train, h=h)
        runs.append(time.perf_counter() - began)
        log.info("refresh %d: %.2f s", i + 1, runs[-1])
    refresh_seconds = statistics.median(runs)
    refresh_per_series = refresh_seconds / n_series
    report("refresh_seconds", refresh_seconds)
    report("refresh_seconds_per_series", refresh_per_series)
    report("series_per_second", n_series / refresh_seconds)
    weekly_per_series = (selection.seconds + fit_seconds) / n_series
    amortized = weekly_per_series / 7 + refresh_per_series
    report("amortized_seconds_per_series_day", amortized)
    by_model = dict(selection.choices.group_by("model").agg(pl.col("unique_id")).iter_rows())
    for model, ids in sorted(by_model.items()):
        part = train.filter(pl.col("unique_id").is_in(pl.Series(ids).implode()))
        began = time.perf_counter()
        fc.refresh(fitted, part, h=h)
        report(f"refresh_seconds_per_series_{model}", (time.perf_counter() - began) / len(ids))
    used = forecasts.group_by("unique_id").agg(pl.col("model").first().alias("used"))
    fallbacks = used.join(selection.choices, on="unique_id").filter(
        pl.col("used") != pl.col("model")
    )
    report("refresh_fallbacks", fallbacks.height)
    ours = accuracy(forecasts, test, scale)
    report("forecast_missing_points", ours["missing_points"])
    report("mase_selected", ours["mase"])
    report("mae_selected", ours["mae"])
    report("coverage_80", ours["coverage_80"])
    report("coverage_95", ours["coverage_95"])
    naive = accuracy(seasonal_naive(train, test, fc.SEASON), test, scale)
    report("mase_seasonal_naive", naive["mase"])
    for (kind,), group in kinds.group_by("kind", maintain_order=True):
        part = accuracy(forecasts, test, scale, group["unique_id"].to_list())
        report(f"mase_selected_{kind}", part["mase"])
        report(f"coverage_95_{kind}", part["coverage_95"])

    # Baselines on a seeded random subset, scored on the same series and days as ours.
    subset = (
        np.random.default_rng(args.seed)
        .permutation(train["unique_id"].unique().sort().to_list())
        .tolist()
    )
    log.info("AutoARIMA on %d series", n_arima)
    arima_fc, arima_seconds = autoarima(train, subset[:n_arima], h)
    arima = accuracy(arima_fc, test, scale)
    ours_arima = accuracy(forecasts, test, scale, subset[:n_arima])
    arima_per_series = arima_seconds / n_arima
    speedup_arima = arima_per_series / refresh_per_series
    report("autoarima_series", n_arima)
    report("autoarima_seconds_per_series", arima_per_series)
    report("mase_autoarima", arima["mase"])
    report("coverage_95_autoarima", arima["coverage_95"])
    report("mase_selected_on_autoarima_subset", ours_arima["mase"])
    report("coverage_95_selected_on_autoarima_subset", ours_arima["coverage_95"])
    report("speedup_vs_autoarima", speedup_arima)
    report("amortized_speedup_vs_autoarima", arima_per_series / amortized)

    speedup_prophet = mase_prophet = ours_prophet = None
    if Prophet is not None:
        log.info("Prophet on %d series", n_prophet)
        prophet_fc, prophet_seconds = prophet(Prophet, train, subset[:n_prophet], h)
        pr = accuracy(prophet_fc, test, scale)
        ours_prophet = accuracy(forecasts, test, scale, subset[:n_prophet])["mase"]
        mase_prophet = pr["mase"]
        speedup_prophet = prophet_seconds / n_prophet / refresh_per_series
        report("prophet_series", n_prophet)
        report("prophet_seconds_per_series", prophet_seconds / n_prophet)
        report("mase_prophet", mase_prophet)
        report("coverage_95_prophet", pr["coverage_95"])
        report("mase_selected_on_prophet_subset", ours_prophet)
        report("speedup_vs_prophet", speedup_prophet)
        report("amortized_speedup_vs_prophet", prophet_seconds / n_prophet / amortized)
    else:
        for name in (
            "prophet_seconds_per_series",
            "mase_prophet",
            "coverage_95_prophet",
            "mase_selected_on_prophet_subset",
            "speedup_vs_prophet",
            "amortized_speedup_vs_prophet",
        ):
            report(name, NA)

    log.info("census %s", CENSUS_NAICS)
    census(args.census)

    report("peak_memory_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    report(
        "target_speedup_prophet_5x",
        _verdict(None if speedup_prophet is None else speedup_prophet >= 5),
    )
    report("target_speedup_autoarima_20x", _verdict(speedup_arima >= 20))
    no_worse = ours_arima["mase"] <= arima["mase"] and (
        mase_prophet is None or ours_prophet <= mase_prophet
    )
    report("target_mase_no_worse", _verdict(no_worse))
    report("target_coverage_95_within_3pts", _verdict(abs(ours["coverage_95"] - 0.95) <= 0.03))
    report("wall_seconds", time.perf_counter() - run_began)


if __name__ == "__main__":
    main()
