"""Activation: a budget split across paid channels and the plan an ad platform can take."""

import datetime as dt
import json

import dagster as dg
import numpy as np
import polars as pl

from retail_assets.defs.forecasting.assets import SALES_FORECASTS
from retail_assets.defs.governance.assets import GOVERNED_SESSIONS
from retail_assets.defs.partitions import daily_partitions, lookback
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib import payload as plan
from retail_assets.lib import plots
from retail_assets.lib.allocation import (
    ChannelInput,
    allocate,
    billable_unit_micros,
    split_micros,
)
from retail_assets.lib.schemas import PAID_CHANNELS

BUDGET_ALLOCATION = dg.AssetKey(["activation", "budget_allocation"])
DSP_PAYLOAD = dg.AssetKey(["activation", "dsp_payload"])
WINDOW_DAYS = 28
OWNERS = ["team:marketing"]


@dg.asset(
    key=BUDGET_ALLOCATION,
    deps=[dg.AssetDep(GOVERNED_SESSIONS, partition_mapping=lookback(WINDOW_DAYS - 1))],
    group_name="activation",
    partitions_def=daily_partitions,
    kinds={"python", "polars", "parquet"},
    owners=OWNERS,
    check_specs=[schema_check_spec(BUDGET_ALLOCATION)],
    code_version="1",
)
def budget_allocation(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """The next flight's budget across Display, CTV, PPC and Email.

    Inverse-CPA allocation: each channel's share is proportional to its conversions per unit
    of spend over the last 28 days, kept within the per-channel minimum and maximum shares of
    `config/activation.yaml` (as constraints, so the shares still sum to one). Budgets are
    integer micros of the currency and add up to the total exactly.
    """
    cfg = platform.activation_config()
    day = dt.date.fromisoformat(context.partition_key)
    days = [(day - dt.timedelta(days=i)).isoformat() for i in range(WINDOW_DAYS)]
    lake = platform.lake()
    sessions = lake.read(
        "governed", "sessions", days, columns=["event_date", "event_name", "channel_group"]
    )
    if sessions.is_empty():
        raise dg.Failure(description=f"no governed sessions up to {day}")
    observed = sessions["event_date"].n_unique()
    conv = dict(
        sessions.filter(pl.col("event_name") == "purchase")
        .group_by("channel_group")
        .len()
        .iter_rows()
    )
    inputs = [
        ChannelInput(
            name=ch,
            spend=cfg.channels[ch].daily_spend * observed,
            conversions=conv.get(ch, 0),
            min_share=cfg.channels[ch].min_share,
            max_share=cfg.channels[ch].max_share,
        )
        for ch in PAID_CHANNELS
    ]
    result = allocate(inputs, cfg.daily_budget * cfg.flight_days, cfg.currency)
    df = pl.DataFrame(
        {
            "allocation_date": [day] * len(result),
            "channel": [a.name for a in result],
            "conversions_28d": [int(i.conversions) for i in inputs],
            "spend_28d": [float(i.spend) for i in inputs],
            "cpa": [a.cpa for a in result],
            "share": [a.share for a in result],
            "budget_micros": [a.budget_micros for a in result],
            "binding": [a.binding for a in result],
            "method": "inverse_cpa/guardrailed-1",
        },
        schema_overrides={"cpa": pl.Float64},
    )
    chart = plots.bar_chart(
        df["channel"].to_list(),
        [m / 1e6 for m in df["budget_micros"].to_list()],
        f"Budget for the {cfg.flight_days}-day flight from {day + dt.timedelta(days=1)}",
        cfg.currency,
    )
    yield from publish_table(
        context,
        lake,
        BUDGET_ALLOCATION,
        df,
        metadata={
            "total_budget": dg.MetadataValue.float(cfg.daily_budget * cfg.flight_days),
            "days_observed": observed,
            "allocation": dg.MetadataValue.md(plots.png_markdown(chart)),
        },
    )


def _input_versions(context: dg.AssetExecutionContext, keys: list[dg.AssetKey]) -> dict:
    versions = {}
    for key in keys:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[context.partition_key]),
            limit=1,
        ).records
        tags = records[0].asset_materialization.tags if records else {}
        versions[key.to_user_string()] = (tags or {}).get("dagster/data_version")
    return versions


@dg.asset(
    key=DSP_PAYLOAD,
    deps=[BUDGET_ALLOCATION, SALES_FORECASTS],
    group_name="activation",
    partitions_def=daily_partitions,
    kinds={"python", "json"},
    owners=OWNERS,
    check_specs=[schema_check_spec(DSP_PAYLOAD)],
    code_version="1",
)
def dsp_payload(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """The media plan as JSON an ad platform can take, stamped with its lineage.

    Line items per channel and segment with budgets in integer micros (as strings) that sum to
    the total exactly, creative placeholders per segment, audiences by segment reference only
    (never an identifier), and a lineage block: the Dagster run id, `processed_at`, the code
    version, the data versions of its inputs and the SHA-256 of the canonical body, which is
    also this asset's data version. The JSON file (`payload.json`) sits beside the line-item
    table in the lake.
    """
    cfg = platform.activation_config()
    day = dt.date.fromisoformat(context.partition_key)
    lake = platform.lake()
    alloc = lake.read("activation", "budget_allocation", [context.partition_key])
    forecast = lake.read("ml", "sales_forecasts", [context.partition_key])
    if alloc.is_empty():
        raise dg.Failure(description=f"no budget allocation for {day}")
    start = day + dt.timedelta(days=1)
    end = day + dt.timedelta(days=cfg.flight_days)
    flight = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    segments = list(cfg.segments)
    unit = billable_unit_micros(cfg.currency)
    line_items = []
    for ch, micros in alloc.select("channel", "budget_micros").iter_rows():
        parts = split_micros(int(micros), np.ones(len(segments)), unit)
        for seg, amount in zip(segments, parts, strict=True):
            slug = ch.lower().replace(" ", "-")
            line_items.append(
                {
                    "ref": f"{slug}-{seg.replace('_', '-')}",
                    "channel": ch,
                    "segment_id": seg,
                    "budget": {"type": "LIFETIME", "amount_micros": str(amount)},
                    "flight": flight,
                    "audience": {"segment_ref": seg},
                    "creatives": [
                        {
                            "variant_id": f"{slug}-{seg}-{v}",
                            "weight": 0.5,
                            "headline": f"[{cfg.segments[seg]} x {ch}] headline {v.upper()}",
                        }
                        for v in ("a", "b")
                    ],
                }
            )
    expected_revenue = None
    if not forecast.is_empty():
        # One level of the hierarchy, so revenue is not counted twice: the coarsest forecast.
        level = next(
            lv for lv in ("total", "category", "store_product") if lv in set(forecast["level"])
        )
        expected_revenue = forecast.filter(
            (pl.col("level") == level) & pl.col("ds").is_between(start, end)
        )["yhat"].sum()
    body = {
        "plan_id": plan.plan_id(cfg.advertiser_id, day.isoformat()),
        "advertiser": {
            "id": cfg.advertiser_id,
            "currency": cfg.currency,
            "time_zone": cfg.time_zone,
        },
        "flight": flight,
        "budget": {"total_micros": str(int(alloc["budget_micros"].sum()))},
        "line_items": line_items,
        "allocation": {"method": alloc["method"][0]},
        "context": {
            "forecast_revenue_in_flight": (
                round(float(expected_revenue), 2) if expected_revenue is not None else None
            )
        },
    }
    total = sum(int(li["budget"]["amount_micros"]) for li in line_items)
    if total != int(body["budget"]["total_micros"]):
        raise dg.Failure(description=f"line items sum to {total}, not {body['budget']}")
    processed_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    payload = plan.build_payload(
        body,
        {
            "lineage_id": context.run_id,
            "dagster_run_id": context.run_id,
            "asset_key": DSP_PAYLOAD.to_user_string(),
            "partition_key": context.partition_key,
            "code_version": context.assets_def.code_versions_by_key.get(DSP_PAYLOAD),
            "input_data_versions": _input_versions(context, [BUDGET_ALLOCATION, SALES_FORECASTS]),
            "processed_at": processed_at,
        },
    )
    digest = payload["lineage"]["body_sha256"]
    items = pl.DataFrame(
        {
            "plan_date": [day] * len(line_items),
            "line_item_ref": [li["ref"] for li in line_items],
            "channel": [li["channel"] for li in line_items],
            "segment_id": [li["segment_id"] for li in line_items],
            "amount_micros": [li["budget"]["amount_micros"] for li in line_items],
            "creative_count": [len(li["creatives"]) for li in line_items],
            "body_sha256": digest,
        }
    )
    yield from publish_table(
        context,
        lake,
        DSP_PAYLOAD,
        items,
        data_version=digest,
        artifacts={"payload.json": plan.dumps(payload)},
        metadata={
            "body_sha256": digest,
            "payload": dg.MetadataValue.json(json.loads(plan.dumps(payload))),
        },
    )


defs = dg.Definitions(assets=[budget_allocation, dsp_payload])
