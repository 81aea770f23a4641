"""A retailer's customers (a CRM export) and order lines: read, netted, and made into store sales.

Orders are order lines as the shop's system exports them (UCI Online Retail's shape):
cancellations and returns are lines with a negative quantity (and, in UCI's data, an order id
starting with ``C``). :func:`net_cancellations` nets each against the same customer's latest
earlier purchases of the product; store sales (``raw.transactions``) and the customers' order
history (``governed.orders``) are the netted lines, so a cancelled sale is not revenue.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from retail_assets.lib.sources import declarations as w
from retail_assets.lib.sources.errors import _future_limit
from retail_assets.lib.sources.events_mapping import consent_values
from retail_assets.lib.sources.retail_common import (
    UNCATEGORIZED,
    _drop_repeats,
    _local_date,
    _nulls,
    _read_all,
    _timestamps,
    clean_id,
)
from retail_assets.lib.sources.tabular import Triage, number, quarantine_frame, text

ORDER_COLUMNS: dict[str, pl.DataType] = {
    "order_id": pl.Utf8(),
    "line_id": pl.Utf8(),
    "order_date": pl.Date(),
    "order_ts": pl.Datetime("us", "UTC"),
    "customer_id": pl.Utf8(),
    "product_id": pl.Utf8(),
    "description": pl.Utf8(),
    "category": pl.Utf8(),
    "store_id": pl.Utf8(),
    "country": pl.Utf8(),
    "quantity": pl.Int64(),
    "net_quantity": pl.Int64(),
    "unit_price": pl.Float64(),
    "revenue": pl.Float64(),
    "is_cancellation": pl.Boolean(),
}


# ------------------------------------------------------------------ customers


def read_customers(files: list[Path], spec: w.Customers) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A CRM export as ``raw.customers`` rows (columns of ``schemas.Customers``).

    Consent columns accept Yes/No, true/false, 1/0, granted/denied (any case); empty is
    'Unset'. Demographics the simulator has and a CRM export does not (persona, age, income,
    household, home store, GA4 client id) are NULL. A customer id listed twice is an error
    row: the second is quarantined, since its consent would be ambiguous.
    """
    cols = spec.columns
    wanted = {k: v for k, v in cols.model_dump().items() if v is not None}

    def parse(raw: pl.DataFrame, t: Triage) -> pl.DataFrame:
        cid = clean_id(raw["customer_id"])
        t.flag("customer_id", cid.is_null(), "have no customer id")
        out = {"customer_id": cid}
        for name in ("email", "phone", "country", "city"):
            out[name] = text(raw, name) if name in raw.columns else _nulls(raw.height)
        for canonical, column in (
            ("analytics_storage", "analytics_consent"),
            ("ads_storage", "ads_consent"),
            ("ad_user_data", "ad_user_data"),
            ("ad_personalization", "ad_personalization"),
        ):
            if column in raw.columns:
                value, bad = consent_values(raw[column])
                t.flag(column, bad, "are not consent values (yes/no, true/false, 1/0)", raw[column])
                out[canonical] = value
            else:
                out[canonical] = pl.Series(["Unset"] * raw.height, dtype=pl.Utf8)
        if "first_seen" in raw.columns:
            ts = _timestamps(raw, "first_seen", spec)
            t.flag(
                "first_seen",
                raw["first_seen"].is_not_null() & ts.is_null(),
                f"are not dates or timestamps in the format {spec.timestamp_format!r}",
                raw["first_seen"],
            )
            out["first_seen"] = _local_date(ts, spec.timezone)
        else:
            out["first_seen"] = pl.Series([None] * raw.height, dtype=pl.Date)
        return pl.DataFrame(out)

    df, quarantine = _read_all("customers", files, spec, wanted, parse)
    df = df.sort("_file", "_row")
    again = df["customer_id"].is_duplicated() & ~df["customer_id"].is_first_distinct()
    if again.any():
        bad = df.filter(again)
        quarantine = pl.concat(
            [
                quarantine,
                *(
                    quarantine_frame(
                        "customers",
                        files[int(i)],
                        part["_row"],
                        cols.customer_id,
                        "repeat a customer id listed earlier (consent would be ambiguous)",
                        part.select("customer_id"),
                    )
                    for (i,), part in bad.partition_by("_file", as_dict=True).items()
                ),
            ]
        )
        df = df.filter(~again)
    return customers_frame(df), quarantine


def customers_frame(df: pl.DataFrame) -> pl.DataFrame:
    """``raw.customers`` columns from ``customer_id``, contact data, first_seen and consent."""
    n = df.height
    return df.select(
        "customer_id",
        pl.lit(None, dtype=pl.Utf8).alias("user_pseudo_id"),
        pl.lit(None, dtype=pl.Utf8).alias("persona"),
        pl.lit(None, dtype=pl.Int64).alias("age"),
        pl.lit(None, dtype=pl.Utf8).alias("income_band"),
        pl.lit(None, dtype=pl.Int64).alias("household_size"),
        pl.lit(None, dtype=pl.Utf8).alias("home_store"),
        *(
            pl.col(c) if c in df.columns else pl.lit(None, dtype=pl.Utf8).alias(c)
            for c in ("email", "phone", "country", "city")
        ),
        pl.col("first_seen") if "first_seen" in df.columns else pl.lit(None, dtype=pl.Date),
        *(
            pl.col(c) if c in df.columns else pl.lit("Unset").alias(c)
            for c in ("analytics_storage", "ads_storage", "ad_user_data", "ad_personalization")
        ),
    ).head(n)


def customers_from_orders(orders: pl.DataFrame) -> pl.DataFrame:
    """Customers known only from their orders: id, first order day, most frequent country.

    No consent signal exists for them (every consent is 'Unset'): the consent policy of the
    orders source decides at governance.
    """
    known = orders.filter(pl.col("customer_id").is_not_null())
    per = known.group_by("customer_id").agg(
        pl.col("order_date").min().alias("first_seen"),
        pl.col("country").drop_nulls().mode().first().alias("country"),
    )
    return customers_frame(per.sort("customer_id"))


# ------------------------------------------------------------------ orders


def read_orders(files: list[Path], spec: w.Orders) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Order lines (:data:`ORDER_COLUMNS`), netted, and the quarantine; plus counts.

    A row is invalid (quarantined, or the file fails, per ``invalid_rows``) when it has no
    order id or product, its quantity is not a whole number or is 0, its unit price is not a
    number or is negative, or its timestamp cannot be read or lies in the future. A row equal
    to an earlier one in every mapped column is a line delivered twice: kept once, the repeat
    quarantined as a duplicate (counted apart, not as invalid).
    """
    cols = spec.columns
    wanted = {k: v for k, v in cols.model_dump().items() if v is not None}
    limit = _future_limit()

    def parse(raw: pl.DataFrame, t: Triage) -> pl.DataFrame:
        order = clean_id(raw["order_id"])
        product = clean_id(raw["product_id"])
        qty_f = number(raw, "quantity")
        qty = pl.select(pl.when(qty_f == qty_f.round()).then(qty_f).cast(pl.Int64)).to_series()
        price = number(raw, "unit_price")
        ts = _timestamps(raw, "timestamp", spec)
        t.flag("order_id", order.is_null(), "have no order id")
        t.flag("product_id", product.is_null(), "have no product")
        t.flag("quantity", qty.is_null(), "are not whole numbers", raw["quantity"])
        t.flag("quantity", qty == 0, "are zero quantities", raw["quantity"])
        t.flag("unit_price", price.is_null(), "are not numbers", raw["unit_price"])
        t.flag("unit_price", price < 0, "are negative prices", raw["unit_price"])
        t.flag(
            "timestamp",
            ts.is_null(),
            f"are not timestamps in the format {spec.timestamp_format!r}",
            raw["timestamp"],
        )
        t.flag("timestamp", ts > limit, "are in the future", raw["timestamp"])
        cancel = qty < 0
        if spec.cancellation_prefix:
            cancel = cancel | order.str.starts_with(spec.cancellation_prefix).fill_null(False)
        n = raw.height
        return pl.DataFrame(
            {
                "order_id": order,
                "order_ts": ts,
                "customer_id": clean_id(raw["customer_id"])
                if "customer_id" in raw.columns
                else _nulls(n),
                "product_id": product,
                "description": text(raw, "description")
                if "description" in raw.columns
                else _nulls(n),
                "category": text(raw, "category") if "category" in raw.columns else _nulls(n),
                "store_id": text(raw, "store").fill_null(spec.default_store)
                if "store" in raw.columns
                else pl.Series([spec.default_store] * n, dtype=pl.Utf8),
                "country": text(raw, "country") if "country" in raw.columns else _nulls(n),
                "quantity": qty,
                "unit_price": price,
                "is_cancellation": cancel,
            }
        )

    df, quarantine = _read_all("orders", files, spec, wanted, parse)
    if df.is_empty():
        return pl.DataFrame(schema=ORDER_COLUMNS), quarantine, {"duplicate_lines": 0}
    identity = [c for c in df.columns if c not in ("_file", "_row")]
    df, dups = _drop_repeats("orders", files, df.sort("_file", "_row"), identity)
    # A cancellation line with a positive quantity (a C-order of +1) is still a cancellation.
    df = df.with_columns(
        pl.when(pl.col("is_cancellation"))
        .then(-pl.col("quantity").abs())
        .otherwise(pl.col("quantity"))
        .alias("quantity"),
        pl.col("order_ts").dt.convert_time_zone(spec.timezone).dt.date().alias("order_date"),
        (
            pl.col("order_id")
            + ":"
            + pl.col("_file").cast(pl.Utf8)
            + ":"
            + pl.col("_row").cast(pl.Utf8)
        ).alias("line_id"),
    )
    netted, counts = net_cancellations(df)
    counts["duplicate_lines"] = dups.height
    return netted.select(list(ORDER_COLUMNS)), pl.concat([quarantine, dups]), counts


def net_cancellations(df: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Order lines with ``net_quantity``: sales after the cancellations matched to them.

    A cancellation (negative quantity) of a customer's product is taken off that customer's
    latest purchases of the product made before it, newest first. What cannot be matched (a
    return of a purchase before the data begins, or a line without a customer) stays a
    cancellation line and is counted, not taken off anything. Cancellation lines keep their
    negative ``quantity`` and have ``net_quantity`` 0; ``revenue`` is ``net_quantity x
    unit_price``.
    """
    sales = pl.col("quantity") > 0
    cancels = (
        df.filter(~sales & pl.col("customer_id").is_not_null())
        .group_by("customer_id", "product_id")
        .agg(
            (-pl.col("quantity")).sum().alias("cancelled"), pl.col("order_ts").max().alias("_last")
        )
    )
    lines = df.join(cancels, on=["customer_id", "product_id"], how="left")
    eligible = sales & pl.col("cancelled").is_not_null() & (pl.col("order_ts") <= pl.col("_last"))
    lines = lines.with_columns(
        pl.when(eligible).then(pl.col("quantity")).otherwise(0).alias("_eligible")
    ).sort(
        "customer_id", "product_id", "order_ts", "line_id", descending=[False, False, True, True]
    )
    before = (pl.col("_eligible").cum_sum() - pl.col("_eligible")).over("customer_id", "product_id")
    deduct = (
        pl.when(pl.col("_eligible") > 0)
        .then(
            pl.min_horizontal(
                pl.col("_eligible"), pl.max_horizontal(pl.col("cancelled") - before, pl.lit(0))
            )
        )
        .otherwise(0)
    )
    lines = lines.with_columns(deduct.alias("_deduct"))
    net = pl.when(sales).then(pl.col("quantity") - pl.col("_deduct")).otherwise(0)
    out = lines.with_columns(net.alias("net_quantity")).with_columns(
        (pl.col("net_quantity") * pl.col("unit_price")).round(2).alias("revenue")
    )
    cancelled_units = int((-df.filter(~sales)["quantity"]).sum())
    matched = int(out["_deduct"].sum())
    counts = {
        "order_lines": df.height,
        "cancellation_lines": int((~df["quantity"].gt(0)).sum()),
        "cancelled_units": cancelled_units,
        "cancelled_units_netted": matched,
        "cancelled_units_unmatched": cancelled_units - matched,
        "sales_lines_fully_cancelled": int(
            out.filter(sales & (pl.col("net_quantity") == 0)).height
        ),
        "lines_without_customer": int(df["customer_id"].null_count()),
    }
    return out.sort("order_ts", "line_id"), counts


def transactions_from_orders(orders: pl.DataFrame, catalog: pl.DataFrame) -> pl.DataFrame:
    """Store sales lines (``raw.transactions``) from netted order lines.

    Sales lines with something left after netting and a price above zero (free items and
    fully cancelled lines are not sales); the category is the catalog's.
    """
    categories = catalog.select("product_id", pl.col("category").alias("_category"))
    sold = orders.filter((pl.col("net_quantity") > 0) & (pl.col("unit_price") > 0))
    return sold.join(categories, on="product_id", how="left").select(
        pl.col("line_id").alias("transaction_id"),
        pl.col("order_id").alias("basket_id"),
        pl.col("order_date").alias("transaction_date"),
        pl.col("order_ts").alias("transaction_ts"),
        "store_id",
        "product_id",
        pl.coalesce("_category", "category", pl.lit(UNCATEGORIZED)).alias("category"),
        pl.col("net_quantity").alias("quantity"),
        "unit_price",
        "revenue",
    )
