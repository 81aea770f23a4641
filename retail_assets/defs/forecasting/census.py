"""The Census forecast: ``ml/census_forecast`` and its job.

The Census MRTS series of NAICS 443 (electronics and appliance stores), monthly, 24 months
held out, against a seasonal naive model, through the path of the retailer's own series
(:mod:`retail_assets.lib.forecasting.series`).
"""

import dagster as dg
import polars as pl

from retail_assets.defs.forecasting.shared import CENSUS_FORECAST
from retail_assets.defs.operations import COMPUTE_POOL
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.census import CENSUS
from retail_assets.lib import plots
from retail_assets.lib.forecasting import demand as fc
from retail_assets.lib.forecasting import series as sf
from retail_assets.lib.warehouse.frames import markdown_figures

CENSUS_NAICS = "443"
CENSUS_HOLDOUT_MONTHS = 24

_md = markdown_figures


def census_series(census: pl.DataFrame, naics: str = CENSUS_NAICS) -> pl.DataFrame:
    """The not-seasonally-adjusted monthly sales of one NAICS code, ``unique_id, ds, y``."""
    return (
        census.filter(
            (pl.col("naics_code") == naics)
            & (pl.col("adjustment") == "NSA")
            & pl.col("sales_musd").is_not_null()
        )
        .select(
            pl.lit(f"naics:{naics}").alias("unique_id"),
            pl.col("month").alias("ds"),
            pl.col("sales_musd").cast(pl.Float64).alias("y"),
        )
        .unique("ds")
        .sort("ds")
    )


#: The Census candidates: the monthly ones of the retailer's series, and the average.
CENSUS_CANDIDATES = (*sf.FREQUENCIES["monthly"].candidates, "HistoricAverage")


def census_backtest(series: pl.DataFrame, holdout: int = CENSUS_HOLDOUT_MONTHS, n_jobs: int = 1):
    """The Census series through the path of the retailer's own series, monthly.

    Models are chosen by cross-validation on all but the last ``holdout`` months, which they
    then forecast (the backtest, scored against a seasonal naive model), and chosen again on
    the whole series to forecast the next ``holdout`` months. Returns the
    :class:`~retail_assets.lib.forecasting.series.SeriesForecast`.
    """
    hier = sf.single(series)
    return sf.forecast_series(
        hier,
        sf.FREQUENCIES["monthly"],
        h=holdout,
        holdout=holdout,
        n_jobs=n_jobs,
        candidates=CENSUS_CANDIDATES,
    )


@dg.asset(
    pool=COMPUTE_POOL,
    key=CENSUS_FORECAST,
    deps=[CENSUS],
    group_name="forecasting",
    kinds={"statsforecast", "polars", "parquet"},
    owners=["team:planning"],
    check_specs=[schema_check_spec(CENSUS_FORECAST)],
    code_version="1",
)
def census_forecast(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """U.S. Census MRTS sales of electronics and appliance stores (NAICS 443), 24 months ahead.

    A real series to check the method on, through the path of your own series
    (``ml/series_forecasts``): the model is chosen by cross-validation on all but the last 24
    months, scored on those 24 months against a seasonal naive model, then chosen again on the
    whole series for the next 24 months.
    """
    lake = platform.lake()
    census = lake.read("raw", "census_retail_sales")
    series = census_series(census) if not census.is_empty() else census
    if series.is_empty() or series.height < 5 * 12:
        raise dg.Failure(
            description=f"raw.census_retail_sales has {series.height} months of NAICS "
            f"{CENSUS_NAICS} (NSA) and the backtest needs 60: drop the Census MRTS workbook "
            "in the census inbox and run census_ingest first",
            allow_retries=False,
        )
    result = census_backtest(series, n_jobs=platform.forecast_n_jobs)
    backtest = result.accuracy.row(0, named=True)
    mase_sel, mase_naive = backtest["mase"], backtest["mase_seasonal_naive"]
    future = result.forecasts
    model = future["model"][0]
    out = future.select(
        pl.lit(CENSUS_NAICS).alias("naics_code"),
        pl.col("ds").alias("month"),
        "model",
        *fc.FORECAST_COLUMNS[3:],
    )
    context.log.info(
        f"NAICS {CENSUS_NAICS}: {model}, MASE {mase_sel:.3f} vs seasonal naive "
        f"{mase_naive:.3f} on the last {CENSUS_HOLDOUT_MONTHS} months"
    )
    fig_hist = series.tail(120)
    meta = {
        "model": model,
        "model_in_backtest": backtest["model"],
        "holdout_months": CENSUS_HOLDOUT_MONTHS,
        "mase_selected": round(mase_sel, 4),
        "mase_seasonal_naive": round(mase_naive, 4),
        "mase_ratio_vs_seasonal_naive": round(mase_sel / mase_naive, 4),
        "coverage_95_backtest": round(backtest["coverage_95"], 4),
        "seconds": round(result.seconds, 2),
        "candidates": dg.MetadataValue.md(
            _md(
                result.selection.metrics.select("model", "mase", "smape", "coverage_95").sort(
                    "mase"
                )
            )
        ),
        "fan_chart": dg.MetadataValue.md(
            plots.png_markdown(
                plots.fan_chart(
                    fig_hist,
                    future,
                    f"NAICS {CENSUS_NAICS} monthly sales (M USD), {model}",
                )
            )
        ),
    }
    yield from publish_table(context, lake, CENSUS_FORECAST, out, metadata=meta)


census_forecast_job = dg.define_asset_job(
    "census_forecast",
    selection=dg.AssetSelection.assets(CENSUS_FORECAST),
    description="Forecast the Census NAICS 443 series (after census_ingest loaded a workbook).",
)

defs = dg.Definitions(assets=[census_forecast], jobs=[census_forecast_job])
