"""A retailer's products and stores, and the product catalog the products and orders make."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from retail_assets.lib.sources import declarations as w
from retail_assets.lib.sources.retail_common import (
    UNCATEGORIZED,
    _drop_repeats,
    _nulls,
    _read_all,
    clean_id,
)
from retail_assets.lib.sources.tabular import Triage, number, text


def read_products(files: list[Path], spec: w.Products) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A product file as ``product_id, product_name, category, list_price, naics_code``."""
    wanted = {k: v for k, v in spec.columns.model_dump().items() if v is not None}

    def parse(raw: pl.DataFrame, t: Triage) -> pl.DataFrame:
        pid = clean_id(raw["product_id"])
        t.flag("product_id", pid.is_null(), "have no product id")
        n = raw.height
        price = (
            number(raw, "price")
            if "price" in raw.columns
            else pl.Series([None] * n, dtype=pl.Float64)
        )
        if "price" in raw.columns:
            t.flag(
                "price",
                raw["price"].is_not_null() & (price.is_null() | (price < 0)),
                "are not prices >= 0",
                raw["price"],
            )
        return pl.DataFrame(
            {
                "product_id": pid,
                "product_name": text(raw, "name") if "name" in raw.columns else _nulls(n),
                "category": text(raw, "category") if "category" in raw.columns else _nulls(n),
                "list_price": price,
                "naics_code": text(raw, "naics_code") if "naics_code" in raw.columns else _nulls(n),
            }
        )

    df, quarantine = _read_all("products", files, spec, wanted, parse)
    df, dups = _drop_repeats("products", files, df.sort("_file", "_row"), ["product_id"])
    return df.drop("_file", "_row"), pl.concat([quarantine, dups])


def catalog(products: pl.DataFrame | None, orders: pl.DataFrame | None) -> pl.DataFrame:
    """``raw.product_catalog``: the declared products, plus any product only orders name.

    A missing name is the orders' most frequent description (or the id), a missing category
    :data:`UNCATEGORIZED`, a missing or zero list price the median price the product sold at
    (rows with no price at all are left out of the catalog, and counted by the caller).
    """
    from_orders = pl.DataFrame(
        schema={"product_id": pl.Utf8, "_name": pl.Utf8, "_category": pl.Utf8, "_price": pl.Float64}
    )
    if orders is not None and not orders.is_empty():
        from_orders = orders.group_by("product_id").agg(
            pl.col("description").drop_nulls().mode().first().alias("_name"),
            pl.col("category").drop_nulls().mode().first().alias("_category"),
            pl.col("unit_price").filter(pl.col("unit_price") > 0).median().alias("_price"),
        )
    base = (
        products
        if products is not None
        else pl.DataFrame(
            schema={
                "product_id": pl.Utf8,
                "product_name": pl.Utf8,
                "category": pl.Utf8,
                "list_price": pl.Float64,
                "naics_code": pl.Utf8,
            }
        )
    )
    merged = base.join(from_orders, on="product_id", how="full", coalesce=True)
    out = merged.select(
        "product_id",
        pl.coalesce("product_name", "_name", "product_id").alias("product_name"),
        pl.coalesce("category", "_category", pl.lit(UNCATEGORIZED)).alias("category"),
        pl.when(pl.col("list_price") > 0)
        .then(pl.col("list_price"))
        .otherwise(pl.col("_price"))
        .alias("list_price"),
        pl.col("naics_code").cast(pl.Utf8),
    )
    return out.filter(pl.col("list_price") > 0).sort("product_id")


def read_stores(files: list[Path], spec: w.Stores) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A store file as ``store_id, store_name, region``, and the quarantine."""
    wanted = {k: v for k, v in spec.columns.model_dump().items() if v is not None}

    def parse(raw: pl.DataFrame, t: Triage) -> pl.DataFrame:
        sid = clean_id(raw["store_id"])
        t.flag("store_id", sid.is_null(), "have no store id")
        n = raw.height
        return pl.DataFrame(
            {
                "store_id": sid,
                "store_name": text(raw, "name") if "name" in raw.columns else _nulls(n),
                "region": text(raw, "region") if "region" in raw.columns else _nulls(n),
            }
        )

    df, quarantine = _read_all("stores", files, spec, wanted, parse)
    df, dups = _drop_repeats("stores", files, df.sort("_file", "_row"), ["store_id"])
    return df.drop("_file", "_row"), pl.concat([quarantine, dups])
