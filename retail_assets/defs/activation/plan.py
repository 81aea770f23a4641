"""The creative library, the DSP payload and its delivery."""

import datetime as dt
import json

import dagster as dg
import polars as pl

from retail_assets.defs.activation.keys import (
    BUDGET_ALLOCATION,
    CHANNEL_RESPONSE_CURVES,
    CREATIVE_LIBRARY,
    DSP_DELIVERY,
    DSP_PAYLOAD,
    SEGMENT_BUDGETS,
    activation_asset,
)
from retail_assets.defs.activation.lineage import latest_data_versions
from retail_assets.defs.models.common import SEGMENT_PROFILES
from retail_assets.defs.operations import DELIVERY_POOL
from retail_assets.defs.publishing import publish_table
from retail_assets.defs.resources import CreativeWriter, RetailPlatform
from retail_assets.lib.activation import delivery, media_plan, provenance
from retail_assets.lib.activation import payload as plan
from retail_assets.lib.activation.creatives.library import build_library, payload_ready
from retail_assets.lib.activation.creatives.model import Creative, CreativeRequest

PAYLOAD_FILE = "payload.json"
PAYLOAD_INPUTS = [BUDGET_ALLOCATION, SEGMENT_BUDGETS, CREATIVE_LIBRARY, CHANNEL_RESPONSE_CURVES]


def _segments(platform: RetailPlatform) -> list[tuple[str, str, str]]:
    """(id, name, description) of the trained segments, or of the configured ones."""
    profiles = platform.lake().read("ml", "segment_profiles")
    if not profiles.is_empty():
        return sorted(profiles.select("segment_id", "segment_name", "description").iter_rows())
    return [(sid, name, "") for sid, name in platform.activation_config().segments.items()]


@activation_asset(
    CREATIVE_LIBRARY,
    deps=[SEGMENT_PROFILES],
    kinds={"python", "parquet"},
    code_version="1",
)
def creative_library(
    context: dg.AssetExecutionContext, platform: RetailPlatform, creative_writer: CreativeWriter
):
    """Ad copy variants per customer segment and channel, each with a compliance light.

    At least two headline/body variants per segment x channel, written from the templates in
    `config/creatives.yaml` (or by a plugged-in writer such as an LLM client, the
    `creative_writer` resource) and scored against the brand-tone word list and the
    banned-claims list: green, amber (tone or length to review) or red (a banned claim,
    personal data, over the channel's limit). Red variants stay here so marketers can see what
    was rejected and why; they never reach a payload.
    """
    cfg = platform.creatives_config()
    day = dt.date.fromisoformat(context.partition_key)
    channels = sorted(platform.channels_config().channels)
    requests = [
        CreativeRequest(
            segment_id=sid,
            segment_name=name,
            channel=ch,
            context=(("description", desc),) if desc else (),
        )
        for sid, name, desc in _segments(platform)
        for ch in channels
    ]
    generator = creative_writer.generator(cfg)
    library = build_library(requests, generator, cfg)
    df = pl.DataFrame(
        [
            {
                "library_date": day,
                "variant_id": c.variant_id,
                "segment_id": c.segment_id,
                "channel": c.channel,
                "headline": c.headline,
                "body": c.body,
                "landing_url": c.landing_url,
                "source": c.source,
                "compliance": c.compliance,
                "score": int(c.score),
                "reasons": "; ".join(c.reasons),
            }
            for c in library
        ]
    )
    counts = dict(df.group_by("compliance").len().iter_rows())
    red = df.filter(pl.col("compliance") == "red")
    if red.height:
        context.log.warning(
            f"{red.height} red variants kept out of payloads: {red['reasons'].to_list()[:5]}"
        )
    yield from publish_table(
        context,
        platform.lake(),
        CREATIVE_LIBRARY,
        df,
        metadata={
            "writer": generator.name,
            "green": counts.get("green", 0),
            "amber": counts.get("amber", 0),
            "red": counts.get("red", 0),
        },
    )


def _creatives(platform: RetailPlatform, partition: str) -> list[Creative]:
    df = platform.lake().read("activation", "creative_library", [partition])
    return payload_ready(
        [
            Creative(
                variant_id=r["variant_id"],
                segment_id=r["segment_id"],
                channel=r["channel"],
                headline=r["headline"],
                body=r["body"],
                landing_url=r["landing_url"],
                source=r["source"],
                compliance=r["compliance"],
                score=r["score"],
                reasons=tuple(x for x in r["reasons"].split("; ") if x),
            )
            for r in df.iter_rows(named=True)
        ]
    )


@activation_asset(
    DSP_PAYLOAD,
    deps=PAYLOAD_INPUTS,
    kinds={"python", "json"},
    code_version="2",
)
def dsp_payload(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """The media plan as JSON an ad platform can take, validated and stamped with its lineage.

    Line items per channel x segment with lifetime budgets in integer micros (strings) that
    sum to the total exactly, daily caps, pacing, goals, the segment's usable creatives,
    audiences by segment reference only (never an identifier) and expected outcomes. The file
    (`payload.json`, beside the line-item table) is validated against the JSON Schema shipped in
    the package and the cross-field rules (sums, currency, dates, units) before anything is
    written. Its lineage block holds the Dagster run id, `processed_at`, the code version and
    git SHA, the data versions of its inputs and the SHA-256 of the canonical body, which is
    also this asset's data version: `retail-assets verify payload.json` checks it.
    """
    acfg = platform.activation_config()
    day = dt.date.fromisoformat(context.partition_key)
    lake = platform.lake()
    allocation = lake.read("activation", "budget_allocation", [context.partition_key])
    segments = lake.read("activation", "segment_budgets", [context.partition_key])
    if allocation.is_empty() or segments.is_empty():
        raise dg.Failure(
            description=f"no budget allocation or segment budgets for {day}", allow_retries=False
        )
    lam = _shadow_price(context, platform)
    try:
        body = media_plan.build_body(
            acfg, day, allocation, segments, _creatives(platform, context.partition_key), lam
        )
    except media_plan.PlanError as exc:
        raise dg.Failure(
            description=f"cannot build the plan for {day}: {exc}", allow_retries=False
        ) from None
    processed_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    code_version = context.assets_def.code_versions_by_key.get(DSP_PAYLOAD)
    payload = plan.build_payload(
        body,
        {
            "lineage_id": context.run_id,
            "dagster_run_id": context.run_id,
            "asset_key": DSP_PAYLOAD.to_user_string(),
            "partition_key": context.partition_key,
            "code_version": code_version,
            "git_sha": provenance.git_sha(),
            "input_data_versions": latest_data_versions(
                context.instance, PAYLOAD_INPUTS, context.partition_key
            ),
            "openlineage": {
                "namespace": "retail_assets",
                "job": DSP_PAYLOAD.to_user_string(),
                "runId": context.run_id,
            },
            "processed_at": processed_at,
        },
    )
    try:
        plan.validate_plan(payload)
    except plan.PlanValidationError as exc:
        problems = "\n".join(f"- {p}" for p in exc.problems)
        raise dg.Failure(
            description=f"the plan for {day} is not valid; nothing was written:\n{problems}",
            metadata={"problems": dg.MetadataValue.json(exc.problems)},
            allow_retries=False,
        ) from None
    digest = payload["lineage"]["body_sha256"]
    items = body["line_items"]
    table = pl.DataFrame(
        {
            "plan_date": [day] * len(items),
            "line_item_ref": [li["ref"] for li in items],
            "channel": [li["channel"] for li in items],
            "segment_id": [li["segment_id"] for li in items],
            "amount_micros": [li["budget"]["amount_micros"] for li in items],
            "creative_count": [len(li["creatives"]) for li in items],
            "conversions_p50": [float(li["expected"]["conversions_p50"]) for li in items],
            "body_sha256": [digest] * len(items),
        }
    )
    yield from publish_table(
        context,
        lake,
        DSP_PAYLOAD,
        table,
        data_version=digest,
        artifacts={PAYLOAD_FILE: plan.dumps(payload)},
        metadata={
            "body_sha256": digest,
            "total_micros": body["budget"]["total_micros"],
            "line_items": len(items),
            "payload": dg.MetadataValue.json(json.loads(plan.dumps(payload))),
        },
    )


def sink_for(platform: RetailPlatform) -> delivery.Sink:
    """The configured delivery sink: an HTTP endpoint or a folder."""
    target = platform.delivery_sink()
    if target.startswith(("http://", "https://")):
        return delivery.HttpSink(target, timeout=platform.dsp_timeout, retries=platform.dsp_retries)
    return delivery.FolderSink(target)


def _shadow_price(context: dg.AssetExecutionContext, platform: RetailPlatform) -> float | None:
    """The allocation's shadow price, as its materialization recorded it."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=BUDGET_ALLOCATION, asset_partitions=[context.partition_key]
        ),
        limit=1,
    ).records
    if not records:
        return None
    value = records[0].asset_materialization.metadata.get("lambda")
    return float(value.value) if value is not None else None


@activation_asset(
    DSP_DELIVERY,
    deps=[DSP_PAYLOAD],
    kinds={"python", "json"},
    code_version="1",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
    pool=DELIVERY_POOL,
)
def dsp_delivery(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """The plan, delivered: the canonical JSON and each platform's rendering, sent once each.

    Renders the payload for Google Ads, DV360, Meta and The Trade Desk (each in its own money
    units, dates and pacing rules, validated) and sends what `RETAIL_DSP_TARGETS` lists to the
    sink in `RETAIL_DSP_SINK`: a folder (default `data/outbox`) or an http(s) endpoint, with an
    idempotency key per plan, target and body, a timeout and retries, so a retried run never
    delivers twice. One receipt per target.
    """
    day = dt.date.fromisoformat(context.partition_key)
    path = platform.lake().partition_path(
        "activation", "dsp_payload", context.partition_key, filename=PAYLOAD_FILE
    )
    if not path.exists():
        raise dg.Failure(description=f"no payload for {day} at {path}", allow_retries=False)
    payload = json.loads(path.read_text(encoding="utf-8"))
    try:
        plan.validate_plan(payload)
    except plan.PlanValidationError as exc:
        raise dg.Failure(
            description=f"{path} no longer validates, not delivered: {exc.problems}",
            allow_retries=False,
        ) from None
    target = platform.delivery_sink()
    sink = sink_for(platform)
    try:
        receipts = delivery.deliver(payload, sink, dsps=tuple(platform.dsp_targets))
    except delivery.DeliveryError as exc:
        raise dg.Failure(description=f"delivery of the {day} plan failed: {exc}") from None
    except plan.PlanValidationError as exc:
        raise dg.Failure(
            description=f"the {day} plan cannot be rendered: {exc.problems}", allow_retries=False
        ) from None
    for r in receipts:
        context.log.info(
            f"{r.target}: {r.status} to {r.location_or_url} after {r.attempts} attempt(s)"
        )
    df = pl.DataFrame(
        {
            "plan_date": [day] * len(receipts),
            "target": [r.target for r in receipts],
            "idempotency_key": [r.key for r in receipts],
            "destination": [str(r.location_or_url) for r in receipts],
            "status": [r.status for r in receipts],
            "attempts": [int(r.attempts) for r in receipts],
            "bytes": [int(r.bytes) for r in receipts],
            "content_sha256": [r.sha256 for r in receipts],
            "body_sha256": [payload["lineage"]["body_sha256"]] * len(receipts),
        }
    )
    yield from publish_table(
        context,
        platform.lake(),
        DSP_DELIVERY,
        df,
        metadata={"sink": target, "targets": dg.MetadataValue.json(platform.dsp_targets)},
    )


defs = dg.Definitions(assets=[creative_library, dsp_payload, dsp_delivery])
