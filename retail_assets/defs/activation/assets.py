"""Activation: response curves, the budget across channels and segments, and the plan.

``channel_response_curves`` -> ``budget_allocation`` -> ``segment_budgets`` and
``creative_library`` -> ``dsp_payload`` -> ``dsp_delivery``. Each is a daily partition: the
plan made on day D covers the flight starting on D + 1.
"""

import dataclasses as dc
import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from retail_assets.defs.activation.keys import (
    BUDGET_ALLOCATION,
    CHANNEL_RESPONSE_CURVES,
    SEGMENT_BUDGETS,
    activation_asset,
)
from retail_assets.defs.forecasting.assets import SALES_FORECASTS
from retail_assets.defs.models.common import (
    CUSTOMER_SEGMENTS,
    PURCHASE_PROPENSITY,
    SEGMENT_PROFILES,
)
from retail_assets.defs.partitions import day_keys, lookback
from retail_assets.defs.publishing import publish_table
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib import plots
from retail_assets.lib.activation import allocation, media, mmm, response_curves, segment_split
from retail_assets.lib.config import ActivationConfig, ChannelsConfig
from retail_assets.lib.warehouse.frames import markdown_table

DAILY_SALES_BY_CATEGORY = dg.AssetKey(["features", "daily_sales_by_category"])
ONLINE_PURCHASES = dg.AssetKey(["features", "online_purchases"])
#: The fitted curves in full (bootstrap draws included), beside the table, for the allocator.
CURVES_FILE = "curves.json"


def media_history(
    platform: RetailPlatform, cfg: ChannelsConfig, day: dt.date
) -> tuple[pl.DataFrame, str]:
    """Daily spend and conversions per configured channel up to ``day``, and their source."""
    start = day - dt.timedelta(days=cfg.history_days - 1)
    declared = platform.world().sources.media_history
    paths = (
        declared.paths(Path(platform.landing_root) / "inbox")
        if declared is not None
        else [Path(platform.media_history)]
        if platform.media_history
        else []
    )
    if declared is not None and not paths:
        raise dg.Failure(
            description=f"sources.yaml declares media_history with files {declared.files!r}, "
            f"but no file matches under {Path(platform.landing_root) / 'inbox'}",
            allow_retries=False,
        )
    if paths:
        try:
            history = pl.concat([media.read_media_history(p) for p in paths])
        except media.MediaHistoryError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        path = paths[0]
        source = ", ".join(p.name for p in paths)
        history = history.filter(pl.col("date").is_between(start, day))
        unknown = sorted(set(history["channel"]) - set(cfg.channels))
        if unknown:
            raise dg.Failure(
                description=f"{path}: column channel has {unknown} (not in channels.yaml: "
                f"{sorted(cfg.channels)}) in "
                f"{history.filter(pl.col('channel').is_in(unknown)).height} rows",
                allow_retries=False,
            )
    else:
        sims = media.simulations_from_config(cfg)
        history = media.simulate_media_history(sims, day, cfg.history_days, platform.seed)
        source = "simulated"
    counts = dict(history.group_by("channel").len().iter_rows())
    short = {ch: counts.get(ch, 0) for ch in cfg.channels if counts.get(ch, 0) < 28}
    if short:
        raise dg.Failure(
            description=f"media history ({source}) up to {day} has fewer than 28 days for "
            f"{short}: a response curve needs at least four weeks of a channel's spend",
            allow_retries=False,
        )
    return history, source


def _curve_rows(
    curves: dict,
    history: pl.DataFrame,
    day: dt.date,
    cfg,
    source: str,
    window_end: dt.date | None = None,
):
    end = window_end or day
    last28 = history.filter(pl.col("date") > end - dt.timedelta(days=28))
    recent = last28.group_by("channel").agg(
        spend_28d=pl.col("spend").sum(), conversions_28d=pl.col("conversions").sum()
    )
    recent = {r["channel"]: r for r in recent.iter_rows(named=True)}
    rows = []
    for ch, c in sorted(curves.items()):
        value = c.value_per_conversion
        if value is None or not np.isfinite(value) or value <= 0:
            value = cfg.channels[ch].value_per_conversion
        rows.append(
            {
                "as_of_date": day,
                "channel": ch,
                "vmax": float(c.vmax),
                "k": float(c.k),
                "adstock": float(c.adstock),
                "regime": c.regime,
                "vmax_p05": float(np.percentile(c.bootstrap_vmax, 5)),
                "vmax_p95": float(np.percentile(c.bootstrap_vmax, 95)),
                "k_p05": float(np.percentile(c.bootstrap_k, 5)),
                "k_p95": float(np.percentile(c.bootstrap_k, 95)),
                "r2": None if c.r2 is None or not np.isfinite(c.r2) else float(c.r2),
                "rmse": float(c.rmse),
                "days": int(c.n_obs),
                "max_daily_spend": float(c.max_spend),
                "recent_daily_spend": float(c.mean_spend_recent),
                "spend_28d": float(recent[ch]["spend_28d"]),
                "conversions_28d": int(recent[ch]["conversions_28d"]),
                "value_per_conversion": float(value),
                "source": source,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"r2": pl.Float64})


def _curve_chart(
    curves: dict, history: pl.DataFrame | None, planned: dict[str, float] | None = None
) -> str:
    """Each fitted curve with its 90 % bootstrap band, the observed days and the plan."""
    items = []
    for ch, c in sorted(curves.items()):
        h = history.filter(pl.col("channel") == ch) if history is not None else None
        top = max(c.max_spend, (planned or {}).get(ch, 0.0))
        grid = np.linspace(0, top * 1.6 or 1.0, 60)
        boot = c.bootstrap_response(grid)
        items.append(
            {
                "channel": f"{ch} ({c.regime})",
                "spend": h["spend"].to_list() if h is not None else [],
                "conversions": h["conversions"].to_list() if h is not None else [],
                "grid": grid,
                "p50": c.response(grid),
                "p05": np.percentile(boot, 5, axis=0),
                "p95": np.percentile(boot, 95, axis=0),
                "planned": (planned or {}).get(ch),
            }
        )
    title = "Daily conversions against daily spend, 90 % bootstrap band"
    return plots.png_markdown(plots.response_curves(items, title))


@activation_asset(
    CHANNEL_RESPONSE_CURVES,
    kinds={"python", "scipy", "parquet"},
    code_version="1",
)
def channel_response_curves(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """A saturating response curve per paid channel: conversions a day of spend buys.

    Michaelis-Menten curves (`conversions = vmax * spend / (k + spend)`, on geometrically
    adstocked spend with the carry-over rate chosen by time-series cross-validation), fitted on
    the last `history_days` of daily spend and conversions per channel: simulated from the
    ground truth in `config/channels.yaml`, or read from the file in `RETAIL_MEDIA_HISTORY`.
    Intervals come from a residual bootstrap. A channel whose spend never reached saturation
    is marked `linear`: its k is set to 10x the highest spend seen (a nearly straight curve)
    and the allocator's cap keeps it near the spend the data cover.

    When `sources.yaml` declares the media history as `shape: aggregate` (one outcome per
    week or day, spend per channel, controls: no attributed conversions), a media mix model
    fits every channel's adstock and saturation jointly with trend, seasons and controls,
    and its curves (in daily units) take the same place; the metadata then shows ROI and
    marginal ROI per channel with bootstrap intervals, the holdout fit and the decomposition.
    """
    cfg = platform.channels_config()
    acfg = platform.activation_config()
    day = dt.date.fromisoformat(context.partition_key)
    declared = platform.world().sources.media_history
    if declared is not None and declared.shape == "aggregate":
        yield from _mix_model_curves(context, platform, cfg, acfg, day, declared)
        return
    history, source = media_history(platform, cfg, day)
    context.log.info(
        f"fitting {len(cfg.channels)} curves on {history.height} channel-days ({source}), "
        f"{cfg.bootstrap} bootstrap resamples each"
    )
    curves = response_curves.fit_curves(
        history,
        adstock_grid=tuple(cfg.adstock_grid),
        n_boot=cfg.bootstrap,
        seed=platform.seed,
        recent_days=acfg.flight_days,
    )
    df = _curve_rows(curves, history, day, cfg, source)
    linear = df.filter(pl.col("regime") == "linear")["channel"].to_list()
    if linear:
        context.log.warning(
            f"{linear}: spend history still in the linear regime (no saturation seen); "
            "their curves are near-linear and the allocator keeps them near observed spend"
        )
    yield from publish_table(
        context,
        platform.lake(),
        CHANNEL_RESPONSE_CURVES,
        df,
        source=source,
        artifacts={CURVES_FILE: _stored_curves(curves)},
        metadata={
            "history_days": history["date"].n_unique(),
            "linear_channels": dg.MetadataValue.json(linear),
            "curves": dg.MetadataValue.md(_curve_chart(curves, history)),
        },
    )


def _stored_curves(curves: dict[str, response_curves.FittedCurve]) -> bytes:
    """``curves.json``: every fitted curve in full, bootstrap draws included."""
    stored = {
        ch: {
            **{f.name: getattr(c, f.name) for f in dc.fields(c) if not f.name.startswith("boot")},
            "bootstrap_vmax": c.bootstrap_vmax.tolist(),
            "bootstrap_k": c.bootstrap_k.tolist(),
        }
        for ch, c in sorted(curves.items())
    }
    return json.dumps(stored).encode()


def aggregate_history(
    platform: RetailPlatform, cfg: ChannelsConfig, day: dt.date, declared
) -> media.AggregateHistory:
    """The declared aggregate media history up to ``day`` (its last ``history_days``)."""
    inbox = Path(platform.landing_root) / "inbox"
    paths = declared.paths(inbox)
    if len(paths) != 1:
        raise dg.Failure(
            description=f"sources.yaml declares an aggregate media_history with files "
            f"{declared.files!r}: it is one file, and {len(paths)} match under {inbox}",
            allow_retries=False,
        )
    path = paths[0]
    missing = sorted(set(cfg.channels) - set(declared.spend))
    unknown = sorted(set(declared.spend) - set(cfg.channels))
    if missing or unknown:
        raise dg.Failure(
            description=f"sources.yaml media_history spend maps {sorted(declared.spend)}, "
            f"channels.yaml lists {sorted(cfg.channels)}: "
            + "; ".join(
                [f"no spend column for {missing}"] * bool(missing)
                + [
                    f"{unknown} are not in channels.yaml (other_spend models media that "
                    "are not planned)"
                ]
                * bool(unknown)
            ),
            allow_retries=False,
        )
    try:
        history = media.read_aggregate_history(
            path,
            date=declared.date,
            outcome=declared.outcome,
            spend=declared.spend,
            other_spend=declared.other_spend,
            controls=declared.controls,
            outcome_kind=declared.outcome_kind,
        )
    except media.MediaHistoryError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    start = day - dt.timedelta(days=cfg.history_days - 1)
    # Whole periods up to the day: a week that ends after it would leak the flight's days.
    last_start = day - dt.timedelta(days=history.period_days - 1)
    frame = history.frame.filter(pl.col("date").is_between(start, last_start))
    if frame.height < mmm.MIN_PERIODS:
        raise dg.Failure(
            description=f"{path}: {frame.height} periods between {start} and {day} (of "
            f"{history.frame.height} in the file, {history.frame['date'].min()} to "
            f"{history.frame['date'].max()}): the media mix model needs at least "
            f"{mmm.MIN_PERIODS} (history_days in channels.yaml sets the window)",
            allow_retries=False,
        )
    return dc.replace(history, frame=frame)


def _mix_model_curves(context, platform: RetailPlatform, cfg, acfg, day: dt.date, declared):
    """``channel_response_curves`` from the media mix model of an aggregate history."""
    history = aggregate_history(platform, cfg, day, declared)
    last = history.frame["date"].max()
    if (day - last).days > 28:
        context.log.warning(
            f"{history.source} ends on {last}, {(day - last).days} days before {day}: the "
            "curves describe that time, and the previous period the guardrails refer to is "
            "the file's last four weeks"
        )
    context.log.info(
        f"fitting the media mix model on {history.frame.height} periods of "
        f"{history.period_days} day(s) ({history.source}): {len(history.channels)} planned "
        f"channels, other media {list(history.other_media)}, controls "
        f"{list(history.controls)}, {cfg.mmm_bootstrap} block-bootstrap resamples"
    )
    try:
        result = mmm.fit_history(history, n_boot=cfg.mmm_bootstrap, seed=platform.seed)
    except ValueError as exc:
        raise dg.Failure(
            description=f"{history.source}: the media mix model cannot be fitted: {exc}",
            allow_retries=False,
        ) from None
    value = 1.0 if history.outcome_kind == "revenue" else None
    fitted = result.curves(recent_days=max(acfg.flight_days, 28), value_per_unit=value)
    curves = {ch: fitted[ch] for ch in history.channels}
    source = f"{history.source} (media mix model, {history.outcome_kind})"
    long = mmm.long_history(result, history.channels)
    end = result.dates[-1] + dt.timedelta(days=result.period_days - 1)
    df = _curve_rows(curves, long, day, cfg, source, window_end=end)
    roi = result.roi_table(recent_periods=max(1, 28 // result.period_days))
    n, h = len(result.dates), result.holdout_periods
    holdout_dates = result.dates[n - h :] if h else []
    unit = "week" if result.period_days == 7 else "day"
    fit_chart = plots.mmm_fit(
        result.dates,
        result.y,
        result.fitted,
        holdout_dates,
        result.holdout_fitted if h else [],
        f"{history.outcome_kind} per {unit}: actual and fitted (last {h} held out)",
    )
    decomposition = plots.stacked_contributions(
        result.dates,
        result.baseline,
        {ch: result.contributions[:, i] for i, ch in enumerate(result.channels)},
        f"{history.outcome_kind} per {unit}: baseline and media contributions",
    )
    roi_md = roi.select(
        "channel",
        *(
            pl.col(c).round(3)
            for c in ("roi", "roi_p05", "roi_p95", "mroi", "mroi_p05", "mroi_p95", "adstock")
        ),
        pl.col("contribution_share").round(4),
    )
    yield from publish_table(
        context,
        platform.lake(),
        CHANNEL_RESPONSE_CURVES,
        df,
        source=source,
        artifacts={CURVES_FILE: _stored_curves(curves)},
        metadata={
            "model": "media mix model (aggregate outcome)",
            "periods": n,
            "period_days": result.period_days,
            "holdout_periods": h,
            "holdout_mape": dg.MetadataValue.float(float(result.holdout_mape or 0.0)),
            "holdout_r2": dg.MetadataValue.float(float(result.holdout_r2 or 0.0)),
            "r2": dg.MetadataValue.float(float(result.r2)),
            "fit_seconds": dg.MetadataValue.float(round(result.fit_seconds, 2)),
            "history": f"{result.dates[0]} to {end}",
            "other_media": dg.MetadataValue.json(list(history.other_media)),
            "controls": dg.MetadataValue.json(list(history.controls)),
            "roi": dg.MetadataValue.md(
                "ROI = total contribution / total spend over the history; mROI = the "
                "curve's slope at the last 28 days' spend; 90 % block-bootstrap intervals.\n\n"
                + markdown_table(roi_md, max_rows=len(roi_md))
            ),
            "fit": dg.MetadataValue.md(plots.png_markdown(fit_chart)),
            "decomposition": dg.MetadataValue.md(plots.png_markdown(decomposition)),
            "curves": dg.MetadataValue.md(
                _curve_chart(curves, mmm.long_history(result, history.channels, per_day=True))
            ),
        },
    )


def load_curves(
    platform: RetailPlatform, partition: str
) -> tuple[pl.DataFrame, dict[str, response_curves.FittedCurve]]:
    """The curves table of ``partition`` and the fitted curves (bootstrap draws included)."""
    lake = platform.lake()
    table = lake.read("activation", "channel_response_curves", [partition])
    if table.is_empty():
        raise dg.Failure(
            description=f"no channel response curves for {partition}", allow_retries=False
        )
    path = lake.partition_path(
        "activation", "channel_response_curves", partition, filename=CURVES_FILE
    )
    stored = json.loads(path.read_text(encoding="utf-8"))
    curves = {
        ch: response_curves.FittedCurve(
            **{
                **c,
                "bootstrap_vmax": np.asarray(c["bootstrap_vmax"], dtype=float),
                "bootstrap_k": np.asarray(c["bootstrap_k"], dtype=float),
            }
        )
        for ch, c in stored.items()
    }
    return table, curves


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
        channel_response_curves,
        budget_allocation,
        segment_budgets,
    ]
)
