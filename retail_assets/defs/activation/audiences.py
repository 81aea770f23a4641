"""Audience uploads: plain SHA-256 match keys per segment, made only here and only on delivery.

Google Customer Match and Meta's Conversions API take contact data as plain SHA-256 of the
normalized email and phone. Those hashes are reversible by dictionary attack, so they are
computed at activation from the landing area's contact data, only for customers who granted
both ad consents, sent straight to the sink, and never written to the lake or the warehouse:
the asset's table holds counts only.
"""

import datetime as dt
import hashlib
import json
import uuid

import dagster as dg
import polars as pl

from retail_assets.defs.activation.keys import DSP_PAYLOAD, activation_asset
from retail_assets.defs.activation.plan import PAYLOAD_FILE, sink_for
from retail_assets.defs.models.common import CUSTOMER_SEGMENTS
from retail_assets.defs.publishing import publish_table
from retail_assets.defs.resources import RetailPlatform
from retail_assets.defs.sources.assets import CUSTOMERS as RAW_CUSTOMERS
from retail_assets.lib.governance.match_keys import ad_consent_granted, match_keys_for

AUDIENCE_UPLOADS = dg.AssetKey(["activation", "audience_uploads"])
#: Match-key platform -> the delivery target prefix.
AUDIENCE_PLATFORMS = {"google": "customer-match", "meta": "meta-capi"}
_NAMESPACE = uuid.UUID("2b8f6c1e-7d3a-4c59-9e21-5a0b3c4d6e7f")


@activation_asset(
    AUDIENCE_UPLOADS,
    deps=[DSP_PAYLOAD, CUSTOMER_SEGMENTS, RAW_CUSTOMERS],
    kinds={"python", "json"},
    code_version="1",
)
def audience_uploads(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Segment audiences for Google Customer Match and Meta, sent as hashed contact keys.

    For every segment of the plan, the customers who granted both `ad_user_data` and
    `ad_personalization` (anything else, unset included, counts as denied) are sent to the
    delivery sink as plain SHA-256 match keys, normalized the way each platform requires
    (Google: email lowercased, phone in E.164 with `+`; Meta: digits only). The keys exist
    only in what is delivered: this table holds counts per segment and platform, the file's
    hash and where it went, and no identifier of any kind.
    """
    lake = platform.lake()
    day = dt.date.fromisoformat(context.partition_key)
    payload_path = lake.partition_path(
        "activation", "dsp_payload", context.partition_key, filename=PAYLOAD_FILE
    )
    if not payload_path.exists():
        raise dg.Failure(description=f"no payload for {day} at {payload_path}", allow_retries=False)
    body = json.loads(payload_path.read_text(encoding="utf-8"))["body"]
    refs = {li["segment_id"]: li["audience"]["segment_ref"] for li in body["line_items"]}
    segments = lake.read("ml", "customer_segments", columns=["customer_key", "segment_id"])
    customers = lake.read(
        "raw",
        "customers",
        landing=True,
        columns=["customer_id", "email", "phone", "ad_user_data", "ad_personalization"],
    )
    rows = []
    sink = sink_for(platform)
    if not segments.is_empty() and not customers.is_empty():
        psd = platform.pseudonymizer(context.log)
        members = customers.with_columns(
            customer_key=psd.hash_series(customers["customer_id"])
        ).join(segments.filter(pl.col("segment_id").is_in(list(refs))), on="customer_key")
        consented = members.filter(ad_consent_granted(members))
        for segment_id in sorted(refs):
            seg = members.filter(pl.col("segment_id") == segment_id)
            for name, prefix in AUDIENCE_PLATFORMS.items():
                keys = match_keys_for(seg, name, keep=())
                data = json.dumps(
                    {
                        "plan_id": body["plan_id"],
                        "segment_ref": refs[segment_id],
                        "platform": name,
                        "members": keys.to_dicts(),
                    },
                    sort_keys=True,
                ).encode()
                digest = hashlib.sha256(data).hexdigest()
                target = f"{prefix}-{segment_id.replace('_', '-')}"
                receipt = sink.send(
                    plan_id=body["plan_id"],
                    target=target,
                    key=str(uuid.uuid5(_NAMESPACE, f"{body['plan_id']}/{target}/{digest}")),
                    data=data,
                )
                rows.append(
                    {
                        "plan_date": day,
                        "segment_id": segment_id,
                        "platform": name,
                        "segment_customers": seg.height,
                        "consented_customers": consented.filter(
                            pl.col("segment_id") == segment_id
                        ).height,
                        "uploaded_keys": keys.height,
                        "destination": str(receipt.location_or_url),
                        "status": receipt.status,
                        "content_sha256": digest,
                    }
                )
    else:
        context.log.warning(
            "no trained segments or no customer base yet: no audience to upload "
            "(run reference_data and model_training)"
        )
    df = pl.DataFrame(
        rows,
        schema={
            "plan_date": pl.Date,
            "segment_id": pl.Utf8,
            "platform": pl.Utf8,
            "segment_customers": pl.Int64,
            "consented_customers": pl.Int64,
            "uploaded_keys": pl.Int64,
            "destination": pl.Utf8,
            "status": pl.Utf8,
            "content_sha256": pl.Utf8,
        },
    )
    yield from publish_table(
        context,
        lake,
        AUDIENCE_UPLOADS,
        df,
        metadata={
            "uploaded_keys": int(df["uploaded_keys"].sum()) if df.height else 0,
            "segments": len(refs),
        },
    )


defs = dg.Definitions(assets=[audience_uploads])
