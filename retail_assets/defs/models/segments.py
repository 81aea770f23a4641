"""Customer segments: ``ml/customer_segments`` and ``ml/segment_profiles``.

``ml/customer_segments`` (with ``ml/segment_profiles``): k-means on RFM and behaviour, named
for marketers, names carried over from the last run.

A retailer's world with orders only gets the standard RFM segments (``_rfm_segments``).
"""

import datetime as dt
import time
from collections.abc import Iterator

import dagster as dg
import polars as pl

from retail_assets.defs.models.common import (
    _SPEC,
    CODE_VERSION,
    CUSTOMER_SEGMENTS,
    CUSTOMERS,
    SEED,
    SEGMENT_PROFILES,
    SEGMENT_STABILITY_DAYS,
    SEGMENTS,
    USER_ACTIVITY,
    USER_FEATURES,
    _png,
    _publish,
    _training_meta,
    model_registry,
    order_history,
    orders_only,
    partition_days,
    single_threaded,
)
from retail_assets.defs.operations import MODELS_POOL
from retail_assets.defs.publishing import schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.ml import order_features, rfm_segments, segments
from retail_assets.lib.warehouse.frames import markdown_table


@dg.multi_asset(
    pool=MODELS_POOL,
    specs=[
        dg.AssetSpec(
            CUSTOMER_SEGMENTS,
            deps=[USER_FEATURES, USER_ACTIVITY, CUSTOMERS],
            description="Every customer active in the last 30 days in a segment named for "
            "marketers (Brand Loyalist, Value Shopper, Speed Seeker, ...), from RFM and "
            "behaviour; names carry over from the last run. A world with orders but no web "
            "or app events gets the standard RFM segments of every customer with an order "
            "in the last year (Champions, Loyal Customers, At Risk, Hibernating, ...).",
            kinds={"scikitlearn", "polars", "parquet"},
            **_SPEC,
        ),
        dg.AssetSpec(
            SEGMENT_PROFILES,
            deps=[CUSTOMER_SEGMENTS],
            description="Size and mean behaviour of each segment, and the simulated persona "
            "most common in it.",
            kinds={"polars", "parquet"},
            **_SPEC,
        ),
    ],
    check_specs=[schema_check_spec(CUSTOMER_SEGMENTS), schema_check_spec(SEGMENT_PROFILES)],
)
@single_threaded
def customer_segments(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Refit the segments on the latest day; keep each name on its nearest cluster."""
    if orders_only(platform):
        yield from _rfm_segments(context, platform)
        return
    lake = platform.lake()
    registry = model_registry(platform)
    days = partition_days(lake, "features", "user_features")
    if not days:
        raise dg.Failure(
            description="features.user_features has no partitions yet", allow_retries=False
        )
    latest = lake.read("features", "user_features", [days[-1].isoformat()])
    champion = registry.champion(SEGMENTS)
    previous = registry.load(SEGMENTS, champion.version).model if champion else None
    started = time.perf_counter()
    try:
        model = segments.fit_segments(latest, k=platform.segments, seed=SEED, previous=previous)
    except segments.SegmentError as exc:
        raise dg.Failure(
            description=f"features.user_features {days[-1]}: {exc}", allow_retries=False
        ) from exc
    # How stable the names are: today's customers named by the last segmentation (the
    # champion; on a first run, a fit on the day a week before) and by this one.
    reference, reference_label = previous, None
    if champion is not None:
        fitted_on = champion.metadata.get("trained_on", {}).get("first", "?")
        reference_label = f"champion v{champion.version} ({fitted_on})"
    elif (week_before := days[-1] - dt.timedelta(days=SEGMENT_STABILITY_DAYS)) in days:
        before = lake.read("features", "user_features", [week_before.isoformat()])
        try:
            reference = segments.fit_segments(before, k=platform.segments, seed=SEED)
            reference_label = f"a fit on {week_before}"
        except segments.SegmentError as exc:  # a measure only: the segments stand without it
            context.log.info(f"no name stability against {week_before}: {exc}")
    silhouette = segments.silhouette(model, latest, seed=SEED)
    stability = segments.name_agreement(reference, model, latest) if reference is not None else None
    trained_in = time.perf_counter() - started
    inertia = float(model.kmeans.inertia_) / max(model.fitted_rows, 1)
    version = registry.register(
        SEGMENTS,
        model,
        {"inertia_per_customer": inertia}
        | ({"silhouette": silhouette} if silhouette is not None else {}),
        holdout_id=f"as-of {days[-1]}",
        primary_metric="inertia_per_customer",
        higher_is_better=False,
        trained_on={"rows": latest.height, "first": str(days[-1]), "last": str(days[-1])},
        code_version=CODE_VERSION,
    )
    # Segments describe today's customers: each refit replaces the last, names carried over.
    decision = registry.promote(
        SEGMENTS,
        version,
        "segments are refitted on the latest day every run; names matched to the last run's"
        if previous is not None
        else "first segmentation",
        record=False,
    )
    customers = lake.read("governed", "customers", columns=["customer_key", "persona"])
    assigned = segments.assign(model, latest).with_columns(
        pl.col("as_of_date").cast(pl.Date), pl.lit(version, pl.Int64).alias("model_version")
    )
    profile = segments.profiles(model, latest, customers if not customers.is_empty() else None)
    for col in ("top_persona", "top_persona_share"):
        if col not in profile.columns:
            profile = profile.with_columns(
                pl.lit(None, pl.Utf8 if col == "top_persona" else pl.Float64).alias(col)
            )
    profile = profile.select(
        "segment_id",
        "segment_name",
        "description",
        "customers",
        "share",
        "buyer_share",
        *[f"mean_{c}" for c in segments.PROFILE_COLUMNS],
        "top_persona",
        "top_persona_share",
    ).with_columns(pl.lit(version, pl.Int64).alias("model_version"))
    shares = ", ".join(
        f"{name} {share:.0%}" for name, share in profile.select("segment_name", "share").rows()
    )
    headline = f"{model.k} segments"
    headline += f", silhouette {silhouette:.3f}" if silhouette is not None else ""
    headline += f": {shares}"
    if stability is not None:
        headline += f"; {stability:.0%} of customers keep their name vs {reference_label}"
    meta = {
        **_training_meta(
            rows=latest.height,
            first=days[-1],
            last=days[-1],
            days=1,
            metric="silhouette",
            value=silhouette,
            headline=headline,
            seconds=trained_in,
        ),
        "k": model.k,
        "segment_names": dg.MetadataValue.json(list(profile["segment_name"])),
        "silhouette": round(silhouette, 4) if silhouette is not None else None,
        "name_stability": round(stability, 4) if stability is not None else None,
        "name_stability_reference": reference_label,
        "segments": dg.MetadataValue.json(
            dict(profile.select("segment_name", "customers").iter_rows())
        ),
        "profiles": _png(segments.profile_figure(model)),
        "as_of": str(days[-1]),
        "decision": dg.MetadataValue.md(f"- {decision.reasons[0]}"),
    }
    profile_meta = {"profiles_table": dg.MetadataValue.md(markdown_table(profile))}
    yield from _publish(
        context,
        lake,
        registry,
        decision,
        [(CUSTOMER_SEGMENTS, assigned, meta), (SEGMENT_PROFILES, profile, profile_meta)],
    )


def _rfm_segments(context: dg.AssetExecutionContext, platform: RetailPlatform) -> Iterator:
    """The orders-only path: RFM quintile scores and the standard named segments."""
    lake = platform.lake()
    registry = model_registry(platform)
    activity, covered = order_history(lake, order_features.HISTORY_DAYS)
    days = order_features.order_days(activity) if covered is not None else pl.DataFrame()
    if covered is None or days.height == 0:
        raise dg.Failure(
            description="features.user_daily_activity has no order with a customer yet "
            "(orders-only segments need one)",
            allow_retries=False,
        )
    started = time.perf_counter()
    latest = order_features.features_as_of(days, [covered])
    assigned = rfm_segments.assign(latest)
    profile = rfm_segments.profiles(latest, assigned)
    segmenter = rfm_segments.RfmSegmenter(as_of=str(covered), customers=latest.height)
    champions_share = float((assigned["segment_id"] == "champions").mean())
    version = registry.register(
        SEGMENTS,
        segmenter,
        {"customers": latest.height, "champions_share": champions_share},
        holdout_id=f"as-of {covered}",
        primary_metric="customers",
        higher_is_better=True,
        trained_on={"rows": latest.height, "first": str(covered), "last": str(covered)},
        code_version=CODE_VERSION,
        extra={"feature_set": "orders_only", "method": "rfm_grid"},
    )
    decision = registry.promote(
        SEGMENTS, version, "RFM segments are rescored on the latest day every run", record=False
    )
    out = assigned.select(
        pl.col("as_of_date").cast(pl.Date),
        "customer_key",
        "segment_id",
        "segment_name",
        pl.lit(version, pl.Int64).alias("model_version"),
    )
    profile = profile.with_columns(pl.lit(version, pl.Int64).alias("model_version"))
    used = profile.filter(pl.col("customers") > 0)
    shares = ", ".join(f"{n} {s:.0%}" for n, s in used.select("segment_name", "share").rows())
    meta = {
        **_training_meta(
            rows=latest.height,
            first=covered,
            last=covered,
            days=1,
            metric="customers",
            value=latest.height,
            headline=f"RFM segments (orders only) of {latest.height:,} customers with an order "
            f"in the {order_features.HISTORY_DAYS} days to {covered}: {shares}",
            seconds=time.perf_counter() - started,
        ),
        "feature_set": "orders_only",
        "method": "RFM quintiles (R recency, F orders, M revenue over 365 days); the segment "
        "from R and F",
        "segment_names": dg.MetadataValue.json(list(used["segment_name"])),
        "segments": dg.MetadataValue.json(dict(used.select("segment_name", "customers").rows())),
        "rfm_cells": dg.MetadataValue.md(
            markdown_table(
                assigned.group_by("r_score", "f_score", "segment_name")
                .agg(pl.len().alias("customers"))
                .sort("r_score", "f_score", descending=True)
            )
        ),
        "as_of": str(covered),
        "decision": dg.MetadataValue.md(f"- {decision.reasons[0]}"),
    }
    profile_meta = {
        "profiles_table": dg.MetadataValue.md(markdown_table(profile)),
        "feature_set": "orders_only",
    }
    yield from _publish(
        context,
        lake,
        registry,
        decision,
        [(CUSTOMER_SEGMENTS, out, meta), (SEGMENT_PROFILES, profile, profile_meta)],
    )


defs = dg.Definitions(assets=[customer_segments])
