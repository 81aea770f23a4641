"""Forecasts of the retailer's own series: their sales history and the sales their orders make.

``ml/series_forecasts`` (with ``ml/series_forecast_accuracy``) is a whole table, rebuilt when
the sales history changes (the ``sales_history_ingest`` and ``series_forecasts`` jobs) and
weekly. Each source is forecast at its frequency (declared in ``sources.yaml`` or read from
the dates), by every level of the hierarchy it has, reconciled so the levels add up, after a
backtest on its last periods. The logic is :mod:`retail_assets.lib.forecasting.series`.
"""

import dagster as dg
import polars as pl

from retail_assets.defs.operations import MODELS_POOL, MODELS_TAG
from retail_assets.defs.publishing import passes_schema, publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.assets import SALES_HISTORY
from retail_assets.lib import plots
from retail_assets.lib.forecasting import series as sf
from retail_assets.lib.sources.declarations import World
from retail_assets.lib.warehouse.frames import markdown_figures
from retail_assets.lib.warehouse.lake import Lake

SERIES_FORECASTS = dg.AssetKey(["ml", "series_forecasts"])
SERIES_FORECAST_ACCURACY = dg.AssetKey(["ml", "series_forecast_accuracy"])
SALES_BY_STORE_PRODUCT = dg.AssetKey(["features", "daily_sales_by_store_product"])
#: Fan charts per source: the total and the largest series of the next level.
FAN_CHARTS = 2

_SPEC = {
    "group_name": "forecasting",
    "kinds": {"statsforecast", "polars", "parquet"},
    "owners": ["team:planning"],
    "code_version": "1",
}


def _history_source(lake: Lake, world: World) -> tuple[sf.Hierarchy, dict] | None:
    """The sales history as a hierarchy at its frequency, or None when there is none."""
    rows = lake.read("raw", "sales_history")
    if rows.is_empty():
        return None
    spec = world.sources.sales_history
    declared = spec.frequency if spec is not None else "auto"
    native, target = sf.resolve_frequency(rows["date"], declared, "raw.sales_history, column date")
    dims = {"category": "category", "store_id": "store", "product_id": "product"}
    present = {c: d for c, d in dims.items() if c in rows.columns}
    frame = rows.select(
        pl.col("date").alias("ds"), pl.col("value").alias("y"), "series_id", *present
    ).rename(present)
    if present:
        # The series are the bottom of the hierarchy their columns describe.
        periods = sf.to_frequency(frame.drop("series_id"), native, target)
        hier = sf.hierarchy(periods.rows, ("total", *present.values()))
    else:
        periods = sf.to_frequency(frame, native, target)
        hier = sf.flat(periods.rows)
    horizon = spec.horizon if spec is not None else None
    return hier, {
        "frequency": target,
        "native": native,
        "declared": declared,
        "dropped": periods.dropped,
        "horizon": horizon,
    }


def _orders_source(lake: Lake, world: World) -> tuple[sf.Hierarchy, dict] | None:
    """The store sales the retailer's orders make, by the levels declared, or None."""
    orders = world.sources.orders if world.retailer else None
    if orders is None:
        return None
    sales = lake.read(
        "features",
        "daily_sales_by_store_product",
        columns=["sales_date", "store_id", "product_id", "category", "revenue"],
    )
    if sales.is_empty():
        return None
    spec = orders.forecast
    native = sf.FREQUENCIES["daily"]
    target = native if spec.frequency == "auto" else sf.frequency(spec.frequency)
    frame = sales.select(
        pl.col("sales_date").alias("ds"),
        pl.col("revenue").alias("y"),
        "category",
        pl.col("store_id").alias("store"),
        pl.col("product_id").alias("product"),
    )
    # A dimension with one value (a single online store) is no level of its own.
    levels = [
        lvl
        for lvl in spec.levels
        if lvl == "total" or frame[lvl].n_unique() > 1 or lvl == spec.levels[-1]
    ]
    periods = sf.to_frequency(frame, native, target)
    hier = sf.hierarchy(periods.rows, levels)
    return hier, {
        "frequency": target,
        "native": native,
        "declared": spec.frequency,
        "dropped": periods.dropped,
        "horizon": spec.horizon,
    }


FORECAST_SCHEMA = {
    "source": pl.Utf8,
    "frequency": pl.Utf8,
    "level": pl.Utf8,
    "unique_id": pl.Utf8,
    "ds": pl.Date,
    "horizon": pl.Int64,
    "model": pl.Utf8,
    **{c: pl.Float64 for c in ("yhat", "lo_80", "hi_80", "lo_95", "hi_95", "base_yhat")},
    "reconciled": pl.Boolean,
}
ACCURACY_SCHEMA = {
    "source": pl.Utf8,
    "frequency": pl.Utf8,
    "level": pl.Utf8,
    "unique_id": pl.Utf8,
    "model": pl.Utf8,
    "holdout_periods": pl.Int64,
    **{c: pl.Float64 for c in ("mase", "mase_reconciled", "mase_seasonal_naive", "coverage_95")},
}


def _empty(schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


_md = markdown_figures


def _charts(name: str, hier: sf.Hierarchy, result: sf.SeriesForecast) -> list[str]:
    top = (
        hier.Y.group_by("level", "unique_id")
        .agg(pl.col("y").sum())
        .sort("y", descending=True)
        .group_by("level", maintain_order=True)
        .head(1)
    )
    order = [lvl for lvl in hier.levels if lvl in top["level"].to_list()][:FAN_CHARTS]
    parts = []
    for lvl in order:
        uid = top.filter(pl.col("level") == lvl)["unique_id"][0]
        f = result.forecasts.filter(pl.col("unique_id") == uid)
        history = hier.Y.filter(pl.col("unique_id") == uid).tail(4 * result.frequency.season_length)
        parts.append(
            plots.png_markdown(
                plots.fan_chart(
                    history,
                    f,
                    f"{name} {uid}: {result.frequency.name}, {f['model'][0]}"
                    + (", reconciled" if result.reconciled else ""),
                )
            )
        )
    return parts


@dg.multi_asset(
    pool=MODELS_POOL,
    specs=[
        dg.AssetSpec(
            SERIES_FORECASTS,
            deps=[SALES_HISTORY, SALES_BY_STORE_PRODUCT],
            description="Forecasts of your own series at their frequency (daily, weekly or "
            "monthly: declared in sources.yaml or read from the dates): the sales history by "
            "the hierarchy its columns give, and in the retailer's world the sales your orders "
            "make by total, category and store (orders.forecast.levels). Models are chosen by "
            "cross-validation per series, with 80 and 95 % intervals; where several levels are "
            "forecast they are reconciled (hierarchicalforecast MinTrace) so they add up.",
            **_SPEC,
        ),
        dg.AssetSpec(
            SERIES_FORECAST_ACCURACY,
            deps=[SERIES_FORECASTS],
            description="The backtest behind ml/series_forecasts: per series, the MASE of the "
            "model chosen on all but the last horizon of periods, once reconciled, and of the "
            "seasonal naive forecast, on those held-out periods; 95 % interval coverage.",
            **_SPEC,
        ),
    ],
    check_specs=[
        schema_check_spec(SERIES_FORECASTS),
        schema_check_spec(SERIES_FORECAST_ACCURACY),
    ],
)
def forecast_own_series(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Backtest, then forecast, every source of series the world has."""
    lake = platform.lake()
    world = platform.world()
    sources = {}
    try:
        history = _history_source(lake, world)
        if history is not None:
            sources["sales_history"] = history
        from_orders = _orders_source(lake, world)
        if from_orders is not None:
            sources["orders"] = from_orders
    except sf.SeriesError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    if not sources:
        raise dg.Failure(
            description="no series to forecast: raw.sales_history is empty"
            + (
                " and no daily sales from orders yet (features/daily_sales_by_store_product)"
                if world.retailer and world.sources.orders is not None
                else ""
            ),
            allow_retries=False,
        )
    forecasts, accuracy, meta, charts = [], [], {}, []
    for name, (hier, info) in sources.items():
        freq: sf.Frequency = info["frequency"]
        h = info["horizon"] or freq.horizon
        periods = hier.Y["ds"].n_unique()
        context.log.info(
            f"{name}: {hier.Y['unique_id'].n_unique()} series at levels {list(hier.levels)}, "
            f"{periods} {freq.unit} ({info['native'].name} data"
            + (f", summed into {freq.name} periods" if info["native"] != freq else "")
            + f"); forecasting {h} {freq.unit} after a backtest on the last {h}"
        )
        if periods < 2 * h + 3:
            # Not a failure: a short sample (five days of orders) is no reason to fail the
            # rest of the run. The metadata and the log say what it would take.
            why = (
                f"{periods} {freq.unit} of history; forecasting {h} {freq.unit} after a "
                f"backtest on the last {h} needs at least {2 * h + 3} (declare a shorter "
                "horizon in sources.yaml, or a finer frequency)"
            )
            context.log.warning(f"{name}: not forecast: {why}")
            meta[f"{name}_not_forecast"] = why
            continue
        result = sf.forecast_series(
            hier, freq, h=h, n_jobs=platform.forecast_n_jobs, log=context.log.info
        )
        forecasts.append(
            result.forecasts.select(
                pl.lit(name).alias("source"),
                pl.lit(freq.name).alias("frequency"),
                *sf.SERIES_FORECAST_COLUMNS,
                pl.lit(result.reconciled).alias("reconciled"),
            )
        )
        accuracy.append(
            result.accuracy.select(
                pl.lit(name).alias("source"),
                pl.lit(freq.name).alias("frequency"),
                "level",
                "unique_id",
                "model",
                pl.lit(h).cast(pl.Int64).alias("holdout_periods"),
                "mase",
                "mase_reconciled",
                "mase_seasonal_naive",
                "coverage_95",
            )
        )
        summary = result.summary()
        meta[f"{name}_frequency"] = freq.name
        meta[f"{name}_frequency_detected"] = info["native"].name
        meta[f"{name}_season_length"] = freq.season_length
        meta[f"{name}_horizon"] = h
        meta[f"{name}_series"] = dg.MetadataValue.json(
            {lvl: int(len(ids)) for lvl, ids in hier.tags.items()}
        )
        meta[f"{name}_reconciled"] = result.reconciled
        meta[f"{name}_incoherence_before"] = round(result.incoherence_base, 4)
        meta[f"{name}_incoherence_after"] = round(result.incoherence_reconciled, 6)
        meta[f"{name}_backtest"] = dg.MetadataValue.md(_md(summary))
        meta[f"{name}_seconds"] = round(result.seconds, 2)
        if info["dropped"]:
            meta[f"{name}_partial_periods_left_out"] = dg.MetadataValue.json(info["dropped"])
        meta[f"{name}_models"] = dg.MetadataValue.json(
            dict(
                result.forecasts.group_by("model")
                .agg(pl.col("unique_id").n_unique())
                .sort("model")
                .iter_rows()
            )
        )
        charts += _charts(name, hier, result)
        context.log.info(
            f"{name}: backtest MASE by level\n{summary}\n"
            f"largest gap between a level and the sum below it: "
            f"{result.incoherence_base:.3f} before, {result.incoherence_reconciled:.6f} after "
            f"reconciliation ({result.seconds:.1f} s)"
        )
    if charts:
        meta["fan_charts"] = dg.MetadataValue.md("\n\n".join(charts))
    out = pl.concat(forecasts, how="vertical_relaxed") if forecasts else _empty(FORECAST_SCHEMA)
    acc = pl.concat(accuracy, how="vertical_relaxed") if accuracy else _empty(ACCURACY_SCHEMA)
    tables = [
        (SERIES_FORECASTS, out, {"metadata": meta}),
        (SERIES_FORECAST_ACCURACY, acc, {}),
    ]
    tables.sort(key=lambda t: passes_schema(context, t[0], t[1]))
    for key, df, kwargs in tables:
        yield from publish_table(context, lake, key, df, **kwargs)


series_forecasts_job = dg.define_asset_job(
    "series_forecasts",
    selection=dg.AssetSelection.assets(SERIES_FORECASTS, SERIES_FORECAST_ACCURACY),
    description="Forecast your own series (sales history, the sales of your orders) at their "
    "frequency, after a backtest.",
    tags=MODELS_TAG,
)
# In the retailer's world `definitions.prune` adds its weekly schedule (on from the start);
# in the simulated world a sales history is an opt-in file, forecast when you run the job.

defs = dg.Definitions(assets=[forecast_own_series], jobs=[series_forecasts_job])
