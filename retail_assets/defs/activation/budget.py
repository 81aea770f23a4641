"""Activation: ``budget_allocation`` across channels and ``segment_budgets`` across segments.

``channel_response_curves`` -> ``budget_allocation`` -> ``segment_budgets``. Each is a daily
partition: the plan made on day D covers the flight starting on D + 1.
"""

import datetime as dt

import dagster as dg
import polars as pl

from retail_assets.defs.activation.curve_store import _curve_chart, load_curves
from retail_assets.defs.activation.keys import (
    BUDGET_ALLOCATION,
    CHANNEL_RESPONSE_CURVES,
    SEGMENT_BUDGETS,
    activation_asset,
)
from retail_assets.defs.forecasting.shared import SALES_FORECASTS
from retail_assets.defs.models.common import (
    CUSTOMER_SEGMENTS,
    PURCHASE_PROPENSITY,
    SEGMENT_PROFILES,
)
from retail_assets.defs.partitions import day_keys, lookback
from retail_assets.defs.publishing import publish_table
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib import plots
from retail_assets.lib.activation import allocation, segment_split
from retail_assets.lib.config import ActivationConfig

DAILY_SALES_BY_CATEGORY = dg.AssetKey(["features", "daily_sales_by_category"])
ONLINE_PURCHASES = dg.AssetKey(["features", "online_purchases"])


def flight_budget(acfg: ActivationConfig, curves: pl.DataFrame) -> tuple[float, bool]:
    """The flight's total budget and whether it is planned in incremental mode."""
    if acfg.incremental_daily_budget is not None:
        previous = float(curves["recent_daily_spend"].sum()) * acfg.flight_days
        return previous + acfg.incremental_daily_budget * acfg.flight_days, True
    return acfg.daily_budget * acfg.flight_days, False


@activation_asset(
    BUDGET_ALLOCATION,
    deps=[CHANNEL_RESPONSE_CURVES],
    kinds={"python", "scipy", "parquet"},
    code_version="2",
)
def budget_allocation(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """The next flight's budget across the paid channels, and what the baselines would do.

    Maximizes expected conversions (or revenue, `objective` in `activation.yaml`) over the
    flight by equalizing marginal return across channels on their response curves: an exact
    water-filling solve whose shadow price is reported. Guardrails from `channels.yaml` are
    constraints, not clipping: each channel's minimum and maximum, at most +-`max_change`
    against the previous period, at most `max_multiple_of_observed` x its highest observed
    spend, locked channels, and the incremental mode. Infeasible guardrails fail naming them.
    The inverse-CPA split and the historical split are computed under the same guardrails;
    all three carry expected conversions (p5, p50, p95 from the bootstrap curves), marginal
    CPA per channel and which bound binds. Budgets are integer micros that sum exactly.
    """
    ccfg = platform.channels_config()
    acfg = platform.activation_config()
    day = dt.date.fromisoformat(context.partition_key)
    table, curves = load_curves(platform, context.partition_key)
    days = acfg.flight_days
    budget, incremental = flight_budget(acfg, table)
    guardrails = allocation.Guardrails(
        channels={
            name: allocation.ChannelGuardrail(
                min_spend=(c.min_daily or 0.0) * days,
                max_spend=c.max_daily * days if c.max_daily is not None else None,
                locked=c.locked,
            )
            for name, c in ccfg.channels.items()
        },
        max_change=ccfg.guardrails.max_change,
        max_multiple_of_observed=ccfg.guardrails.max_multiple_of_observed,
        incremental=incremental,
    )
    efficiency = {
        r["channel"]: (float(r["conversions_28d"]), float(r["spend_28d"]))
        for r in table.iter_rows(named=True)
    }
    values = dict(table.select("channel", "value_per_conversion").iter_rows())
    try:
        result = allocation.plan_allocation(
            curves,
            guardrails,
            budget,
            days,
            acfg.currency,
            objective=acfg.objective,
            values=values,
            efficiency=efficiency,
        )
    except allocation.InfeasibleGuardrails as exc:
        raise dg.Failure(
            description=f"the guardrails in channels.yaml and activation.yaml cannot all hold "
            f"for the {days}-day flight after {day}; nothing was written. {exc}",
            allow_retries=False,
        ) from None
    df = (
        pl.DataFrame(result.rows(), schema_overrides={"revenue_p50": pl.Float64})
        .with_columns(allocation_date=pl.lit(day), revenue_p50=pl.col("revenue_p50").fill_null(0.0))
        .drop("conversions")
    )
    totals = {t.method: t for t in result.totals}
    for t in result.totals:
        context.log.info(
            f"{t.method}: {t.conversions_p50:,.0f} expected conversions "
            f"(p5 {t.conversions_p05:,.0f}, p95 {t.conversions_p95:,.0f})"
        )
    channels = sorted(curves)
    chart = plots.grouped_bar_chart(
        channels,
        {
            f"{m} ({totals[m].conversions_p50:,.0f} conv.)": [
                result.line(m, ch).spend for ch in channels
            ]
            for m in allocation.METHODS
        },
        f"{days}-day flight from {day + dt.timedelta(days=1)}: spend by method",
        acfg.currency,
    )
    planned = {ch: result.line("optimized", ch).spend / days for ch in channels}
    history_chart = _curve_chart(curves, None, planned)
    yield from publish_table(
        context,
        platform.lake(),
        BUDGET_ALLOCATION,
        df,
        metadata={
            "budget": dg.MetadataValue.float(budget),
            "objective": acfg.objective,
            "mode": "incremental" if incremental else "fixed",
            "lambda": dg.MetadataValue.float(float(result.shadow_price)),
            "conversions_optimized": dg.MetadataValue.float(totals["optimized"].conversions_p50),
            "conversions_inverse_cpa": dg.MetadataValue.float(
                totals["inverse_cpa"].conversions_p50
            ),
            "conversions_historical": dg.MetadataValue.float(totals["historical"].conversions_p50),
            "comparison": dg.MetadataValue.md(plots.png_markdown(chart)),
            "plan_on_curves": dg.MetadataValue.md(history_chart),
        },
    )


@activation_asset(
    SEGMENT_BUDGETS,
    deps=[
        BUDGET_ALLOCATION,
        SALES_FORECASTS,
        dg.AssetDep(DAILY_SALES_BY_CATEGORY, partition_mapping=lookback(27)),
        ONLINE_PURCHASES,
        CUSTOMER_SEGMENTS,
        SEGMENT_PROFILES,
        PURCHASE_PROPENSITY,
    ],
    kinds={"python", "polars", "parquet"},
    code_version="2",
)
def segment_budgets(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Each channel's optimized budget split across the customer segments.

    A segment's share is the revenue it is expected to bring: the sum of its customers'
    24-hour purchase probabilities (`ml/purchase_propensity`) times its mean order value
    (`ml/segment_profiles`), times the forecast growth of the categories it buys
    (`ml/sales_forecasts` over the flight against the last 28 days of sales, weighted by the
    segment's online category mix of the last 90 days). The flight's forecast revenue is
    attributed to segments by the same shares. Until the segment model is trained, the
    segments listed in `activation.yaml` share equally; the `basis` column says which case
    applies.
    """
    acfg = platform.activation_config()
    day = dt.date.fromisoformat(context.partition_key)
    lake = platform.lake()
    alloc = lake.read("activation", "budget_allocation", [context.partition_key])
    if alloc.is_empty():
        raise dg.Failure(description=f"no budget allocation for {day}", allow_retries=False)
    optimized = alloc.filter(pl.col("method") == "optimized")
    segments = lake.read("ml", "customer_segments")
    forecast = lake.read("ml", "sales_forecasts", [context.partition_key])
    start = day + dt.timedelta(days=1)
    growth = segment_split.category_growth(
        forecast,
        lake.read(
            "features", "daily_sales_by_category", day_keys(day - dt.timedelta(days=27), day)
        ),
        start,
        acfg.flight_days,
    )
    weights = segment_split.segment_weights(
        segments,
        lake.read("ml", "segment_profiles"),
        lake.read("ml", "purchase_propensity"),
        acfg.segments,
        segment_split.segment_growth(segments, _recent_purchases(lake, day, 90), growth),
    )
    revenue = forecast_revenue(forecast, day, acfg)
    df = segment_split.split_channel_budgets(
        dict(optimized.select("channel", "budget_micros").iter_rows()),
        dict(optimized.select("channel", "conversions_p50").iter_rows()),
        weights,
        acfg.currency,
        revenue,
    ).with_columns(allocation_date=pl.lit(day))
    basis = weights["basis"][0]
    if basis == "configured":
        context.log.warning(
            "no customer segments yet (run the model_training job): the budget is split "
            f"equally over the configured segments {list(acfg.segments)}"
        )
    yield from publish_table(
        context,
        lake,
        SEGMENT_BUDGETS,
        df,
        metadata={
            "basis": basis,
            "segments": weights.height,
            "forecast_revenue_in_flight": (
                dg.MetadataValue.float(round(revenue, 2))
                if revenue is not None
                else dg.MetadataValue.text("no forecast for this day")
            ),
            "forecast_growth": dg.MetadataValue.json(
                dict(weights.select("segment_id", "forecast_growth").iter_rows())
            ),
            "weights": dg.MetadataValue.md(
                plots.png_markdown(
                    plots.bar_chart(
                        weights["segment_name"].to_list(),
                        weights["weight"].to_list(),
                        f"Share of each channel's budget by segment ({basis})",
                        "share",
                    )
                )
            ),
        },
    )


def _recent_purchases(lake, day: dt.date, days: int) -> pl.DataFrame:
    """Online purchase revenue per customer and category over the last ``days`` days."""
    try:
        con = lake.compute_connection([("features", "online_purchases")])
    except LookupError:
        return pl.DataFrame()
    with con:
        return con.execute(
            "SELECT customer_key, category, sum(revenue) AS revenue "
            "FROM features.online_purchases WHERE purchase_date BETWEEN ? AND ? "
            "AND customer_key IS NOT NULL GROUP BY ALL",
            [day - dt.timedelta(days=days - 1), day],
        ).pl()


def forecast_revenue(forecast: pl.DataFrame, day: dt.date, acfg: ActivationConfig) -> float | None:
    """Forecast revenue over the flight after ``day``, at the coarsest level forecast."""
    if forecast.is_empty():
        return None
    start = day + dt.timedelta(days=1)
    end = day + dt.timedelta(days=acfg.flight_days)
    # One level of the hierarchy, so revenue is not counted twice.
    level = next(
        lv for lv in ("total", "category", "store_product") if lv in set(forecast["level"])
    )
    return float(
        forecast.filter((pl.col("level") == level) & pl.col("ds").is_between(start, end))[
            "yhat"
        ].sum()
    )


defs = dg.Definitions(
    assets=[
        budget_allocation,
        segment_budgets,
    ]
)
