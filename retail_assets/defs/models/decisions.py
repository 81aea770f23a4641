"""The registry's record: ``ml/model_decisions``, every champion/challenger decision."""

import dagster as dg
import polars as pl

from retail_assets.defs.models.common import (
    _SPEC,
    CUSTOMER_SEGMENTS,
    MODEL_DECISIONS,
    MODELS,
    PURCHASE_PROPENSITY,
    REVIEW_SENTIMENT,
    SALES_DIRECTION,
    model_registry,
)
from retail_assets.defs.operations import MODELS_POOL
from retail_assets.defs.publishing import publish_table, schema_check_spec
from retail_assets.defs.resources import RetailPlatform
from retail_assets.lib.warehouse.frames import markdown_table


@dg.asset(
    pool=MODELS_POOL,
    key=MODEL_DECISIONS,
    deps=[REVIEW_SENTIMENT, SALES_DIRECTION, PURCHASE_PROPENSITY, CUSTOMER_SEGMENTS],
    kinds={"polars", "parquet"},
    check_specs=[schema_check_spec(MODEL_DECISIONS)],
    **_SPEC,
)
def model_decisions(context: dg.AssetExecutionContext, platform: RetailPlatform):
    """Every champion/challenger decision of every model, with its reasons and triggers."""
    registry = model_registry(platform)
    frames = []
    for name in MODELS:
        d = registry.decisions(name)
        if d.is_empty():
            continue
        frames.append(
            d.select(
                pl.lit(name).alias("model"),
                pl.col("decided_at").cast(pl.Utf8),
                pl.col("challenger_version").cast(pl.Int64),
                pl.col("champion_version").cast(pl.Int64),
                pl.col("promoted").cast(pl.Boolean),
                pl.col("primary_metric").cast(pl.Utf8),
                pl.col("challenger_value").cast(pl.Float64),
                pl.col("champion_value").cast(pl.Float64),
                pl.col("holdout_id").cast(pl.Utf8),
                pl.col("reasons").list.join("; ").alias("reasons"),
                pl.col("triggers").list.join("; ").alias("triggers"),
            )
        )
    out = (
        pl.concat(frames).sort("decided_at")
        if frames
        else pl.DataFrame(
            schema={
                "model": pl.Utf8,
                "decided_at": pl.Utf8,
                "challenger_version": pl.Int64,
                "champion_version": pl.Int64,
                "promoted": pl.Boolean,
                "primary_metric": pl.Utf8,
                "challenger_value": pl.Float64,
                "champion_value": pl.Float64,
                "holdout_id": pl.Utf8,
                "reasons": pl.Utf8,
                "triggers": pl.Utf8,
            }
        )
    )
    champions = {name: registry.champion_version(name) for name in MODELS}
    missing = [name for name, version in champions.items() if version is None]
    headline = ", ".join(f"{name} v{v}" for name, v in champions.items() if v is not None)
    headline = f"champions: {headline or 'none'}" + (
        f"; no champion yet: {', '.join(missing)}" if missing else ""
    )
    yield from publish_table(
        context,
        lake := platform.lake(),
        MODEL_DECISIONS,
        out,
        metadata={
            "headline": headline,
            "champions": dg.MetadataValue.json(champions),
            "registry": dg.MetadataValue.path(str(lake.lake_root / "models")),
            "latest": dg.MetadataValue.md(markdown_table(out.tail(8))),
        },
    )


defs = dg.Definitions(assets=[model_decisions])
