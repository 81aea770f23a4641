"""Activation: ``channel_response_curves``, fitted per channel or by the media mix model.

Curves are fitted on the daily spend history per channel, or, when ``sources.yaml`` declares
an aggregate media history, taken from the media mix model. Each is a daily partition.
"""

import dataclasses as dc
import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from retail_assets.defs.activation.curve_store import CURVES_FILE, _curve_chart, _stored_curves
from retail_assets.defs.activation.keys import CHANNEL_RESPONSE_CURVES, activation_asset
from retail_assets.defs.publishing import publish_table
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib import plots
from retail_assets.lib.activation import media, mmm, response_curves
from retail_assets.lib.config import ChannelsConfig
from retail_assets.lib.warehouse.frames import markdown_table


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


defs = dg.Definitions(
    assets=[
        channel_response_curves,
    ]
)
