"""A retailer's own files into raw tables: customers, orders, products, stores, reviews, signals.

Each reader takes the files and the source's declaration (:mod:`retail_assets.lib.sources.world`)
and returns the table's rows and the quarantine rows (:mod:`retail_assets.lib.sources.tabular`):
rows that cannot be read are set aside with their file, row number and reason, or fail the file, as
the declaration says. Nothing here knows about Dagster.

Orders are order lines as the shop's system exports them (UCI Online Retail's shape):
cancellations and returns are lines with a negative quantity (and, in UCI's data, an order id
starting with ``C``). :func:`net_cancellations` nets each against the same customer's latest
earlier purchases of the product; store sales (``raw.transactions``) and the customers' order
history (``governed.orders``) are the netted lines, so a cancelled sale is not revenue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
from filelock import FileLock

from retail_assets.lib.sources import world as w
from retail_assets.lib.sources.ingest import (
    DUPLICATE_ROW,
    _future_limit,
    _timestamp,
    consent_values,
)
from retail_assets.lib.sources.tabular import (
    Triage,
    empty_quarantine,
    number,
    quarantine_frame,
    read_columns,
    text,
)

UNCATEGORIZED = "Uncategorized"
#: The reason of an exact repeat of an earlier row (counted apart from invalid rows).
DUPLICATE = DUPLICATE_ROW

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


def clean_id(values: pl.Series) -> pl.Series:
    """An id as text: stripped, '' as NULL, and ``17850.0`` (a spreadsheet's float) as 17850."""
    s = values.cast(pl.Utf8).str.strip_chars().str.replace(r"^(\d+)\.0+$", "$1")
    return pl.select(pl.when(s == "").then(None).otherwise(s)).to_series().alias(values.name)


def _timestamps(df: pl.DataFrame, column: str, spec: w.FileSource) -> pl.Series:
    return df.select(_timestamp(pl.col(column), df.schema[column], spec)).to_series()


def _local_date(ts: pl.Series, zone: str) -> pl.Series:
    return ts.dt.convert_time_zone(zone).dt.date()


def _read_all(
    source: str,
    files: list[Path],
    spec: w.FileSource,
    wanted: dict[str, str],
    parse: Callable[[pl.DataFrame, Triage], pl.DataFrame],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every file read with ``parse`` (which flags bad rows), split into clean and quarantine."""
    frames, quarantined = [], [empty_quarantine()]
    for i, path in enumerate(files):
        raw, rows = read_columns(path, spec, wanted)
        triage = Triage(source, path, spec, rows, wanted)
        parsed = parse(raw, triage).with_columns(
            pl.lit(i, dtype=pl.Int64).alias("_file"), rows.alias("_row")
        )
        clean, bad = triage.split(parsed, raw)
        frames.append(clean)
        quarantined.append(bad)
    out = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    return out, pl.concat(quarantined)


def _drop_repeats(
    source: str, files: list[Path], df: pl.DataFrame, columns: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows equal on ``columns`` to an earlier row (file order) once, the repeats quarantined."""
    repeat = df.select(pl.struct(columns).is_first_distinct().not_()).to_series()
    if not repeat.any():
        return df, empty_quarantine()
    dups = df.filter(repeat)
    parts = [
        quarantine_frame(
            source, files[int(i)], part["_row"], "<row>", DUPLICATE, part.select(columns)
        )
        for (i,), part in dups.partition_by("_file", as_dict=True, maintain_order=True).items()
    ]
    return df.filter(~repeat), pl.concat(parts)


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


# ------------------------------------------------------------------ products and stores


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


# ------------------------------------------------------------------ reviews and signals

_LABELS = {
    "negative": -1.0,
    "neg": -1.0,
    "0": -1.0,
    "-1": -1.0,
    "neutral": 0.0,
    "neu": 0.0,
    "positive": 1.0,
    "pos": 1.0,
    "1": 1.0,
}

SIGNAL_COLUMNS: dict[str, pl.DataType] = {
    "signal_id": pl.Utf8(),
    "signal_date": pl.Date(),
    "category": pl.Utf8(),
    "source": pl.Utf8(),
    "text": pl.Utf8(),
    "rating": pl.Int64(),
    "sentiment": pl.Float64(),
    "volume": pl.Int64(),
}


def read_reviews(
    files: list[Path], spec: w.Reviews, catalog_frame: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reviews as ``raw.signals`` rows (source ``review``), and the quarantine.

    The sentiment is the label's (negative/neutral/positive, 0/1 or -1/0/1) or the rating's
    ((rating - 3) / 2); a review with neither, an unreadable date, an empty text, or a product
    the catalog does not know (when the category comes from it) is invalid. When the file maps
    neither a rating nor a label column, the sentiment is the VADER lexicon's compound score
    (-1..1) and the rating is null.
    """
    cols = spec.columns
    wanted = {k: v for k, v in cols.model_dump().items() if v is not None}
    categories = (
        dict(catalog_frame.select("product_id", "category").iter_rows())
        if catalog_frame is not None
        else {}
    )

    def parse(raw: pl.DataFrame, t: Triage) -> pl.DataFrame:
        n = raw.height
        body = text(raw, "text")
        t.flag("text", body.is_null(), "have no text")
        ts = _timestamps(raw, "date", spec)
        t.flag(
            "date",
            ts.is_null(),
            f"are not dates in the format {spec.timestamp_format!r}",
            raw["date"],
        )
        rating = pl.Series([None] * n, dtype=pl.Int64)
        sentiment = pl.Series([None] * n, dtype=pl.Float64)
        if "rating" in raw.columns:
            r = number(raw, "rating")
            ok = (r == r.round()) & (r >= 1) & (r <= 5)
            t.flag(
                "rating",
                raw["rating"].is_not_null() & ~ok.fill_null(False),
                "are not ratings 1-5",
                raw["rating"],
            )
            rating = pl.select(pl.when(ok).then(r).cast(pl.Int64)).to_series()
            sentiment = ((rating.cast(pl.Float64) - 3) / 2).alias("sentiment")
        if "label" in raw.columns:
            label = text(raw, "label").str.to_lowercase()
            value = label.replace_strict(_LABELS, default=None, return_dtype=pl.Float64)
            t.flag(
                "label",
                label.is_not_null() & value.is_null(),
                "are not labels (negative/neutral/positive, 0/1)",
                raw["label"],
            )
            sentiment = pl.select(pl.coalesce(value, sentiment)).to_series()
        if "rating" in raw.columns or "label" in raw.columns:
            t.flag(
                "rating" if "rating" in raw.columns else "label",
                sentiment.is_null(),
                "have no rating or label",
            )
        else:
            # Reviews without ratings or labels: their sentiment is the lexicon's estimate
            # (VADER's compound score); ml/review_sentiment then scores them with the lexicon.
            # Imported here: the model libraries load only for a file that needs them.
            from retail_assets.lib.ml.sentiment import lexicon_compound

            sentiment = pl.Series(
                "sentiment", lexicon_compound(body.fill_null("").to_list()).round(4)
            )
        category = text(raw, "category") if "category" in raw.columns else _nulls(n)
        if "product" in raw.columns:
            product = clean_id(raw["product"])
            looked = product.replace_strict(categories, default=None, return_dtype=pl.Utf8)
            category = pl.select(pl.coalesce(category, looked)).to_series()
        t.flag(
            "product" if "product" in raw.columns else "category",
            category.is_null(),
            "have no category (the product is not in the catalog)",
        )
        return pl.DataFrame(
            {
                "signal_date": _local_date(ts, spec.timezone),
                "category": category,
                "source": ["review"] * n,
                "text": body,
                "rating": rating,
                "sentiment": sentiment,
                "volume": [1] * n,
            }
        )

    df, quarantine = _read_all("reviews", files, spec, wanted, parse)
    return _with_signal_ids(df, files), quarantine


def read_signals(files: list[Path], spec: w.Signals) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Search and social volumes as ``raw.signals`` rows, and the quarantine."""
    wanted = {k: v for k, v in spec.columns.model_dump().items() if v is not None}
    if "kind" not in wanted and spec.kind is None:
        raise ValueError("signals: map a kind column or declare kind: search|social")

    def parse(raw: pl.DataFrame, t: Triage) -> pl.DataFrame:
        n = raw.height
        ts = _timestamps(raw, "date", spec)
        t.flag(
            "date",
            ts.is_null(),
            f"are not dates in the format {spec.timestamp_format!r}",
            raw["date"],
        )
        category = text(raw, "category")
        t.flag("category", category.is_null(), "have no category")
        volume = number(raw, "volume")
        t.flag(
            "volume",
            volume.is_null() | (volume != volume.round()) | (volume < 1),
            "are not whole volumes >= 1",
            raw["volume"],
        )
        kind = (
            text(raw, "kind").str.to_lowercase()
            if "kind" in raw.columns
            else pl.Series([spec.kind] * n, dtype=pl.Utf8)
        )
        t.flag(
            "kind",
            ~kind.is_in(["search", "social"]).fill_null(False),
            "are not search or social",
            kind,
        )
        query = text(raw, "query").fill_null("") if "query" in raw.columns else pl.Series([""] * n)
        return pl.DataFrame(
            {
                "signal_date": _local_date(ts, spec.timezone),
                "category": category,
                "source": kind,
                "text": query,
                "rating": pl.Series([None] * n, dtype=pl.Int64),
                "sentiment": [0.0] * n,
                "volume": pl.select(
                    pl.when(volume >= 1).then(volume).cast(pl.Int64, strict=False)
                ).to_series(),
            }
        )

    df, quarantine = _read_all("signals", files, spec, wanted, parse)
    return _with_signal_ids(df, files), quarantine


def _with_signal_ids(df: pl.DataFrame, files: list[Path]) -> pl.DataFrame:
    if df.is_empty():
        return pl.DataFrame(schema=SIGNAL_COLUMNS)
    names = pl.Series([Path(f).name for f in files])
    key = pl.concat_str(
        pl.col("_file").replace_strict(list(range(len(files))), names, return_dtype=pl.Utf8),
        pl.lit(":"),
        pl.col("_row").cast(pl.Utf8),
    )
    ids = [hashlib.sha1(k.encode()).hexdigest()[:20] for k in df.select(key).to_series()]
    return df.with_columns(pl.Series("signal_id", ids)).select(list(SIGNAL_COLUMNS))


def _nulls(n: int) -> pl.Series:
    return pl.Series([None] * n, dtype=pl.Utf8)


# ------------------------------------------------------------------ staging by day


def fingerprint(files: list[Path], *parts: str) -> str:
    """A key for a set of files (paths, sizes, modification times) and a declaration."""
    text_parts = list(parts)
    for f in sorted(Path(x).resolve() for x in files):
        stat = f.stat()
        text_parts.append(f"{f}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(text_parts).encode()).hexdigest()[:20]


def staged(staging: Path, key: str, build: Callable[[], dict[str, pl.DataFrame]]) -> Path:
    """The folder of frames ``build`` returns (name -> frame), built once per ``key``.

    A history of files is parsed once, not once per day of a range: the first caller builds
    and writes every frame (``<name>.parquet``) under ``staging/<key>/``, later callers read
    them. Built under a file lock and moved into place; other keys' folders are removed.
    """
    folder = Path(staging) / key
    done = folder / "_COMPLETE"
    if not done.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            if not done.exists():
                folder.mkdir(parents=True, exist_ok=True)
                for name, frame in build().items():
                    tmp = folder / f".{name}.parquet.tmp"
                    frame.write_parquet(tmp)
                    os.replace(tmp, folder / f"{name}.parquet")
                done.write_text(dt.datetime.now(dt.UTC).isoformat())
            for old in folder.parent.iterdir():
                if old.is_dir() and old != folder:
                    shutil.rmtree(old, ignore_errors=True)
    return folder


# ------------------------------------------------------------------ a site's own web events

#: A valid GA4 event name (the export's own rule, as raw.sessions checks it).
_EVENT_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,39}$"


def read_web_events(files: list[Path], spec: w.WebEvents) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A site's own event log in the GA4 export shape (``ga4.EXPORT_SCHEMA``), and quarantine.

    Invalid rows: no timestamp or an unreadable one, no user, an event name that is neither
    mapped by ``event_names`` nor a valid GA4 name, a price, quantity or revenue that is not a
    number >= 0, a consent value that is not one. Without a session column a user's events
    are split into sessions at gaps of ``session_gap_minutes`` (``ga_session_id`` = the
    session's start in epoch seconds, as GA4 does). Rows delivered twice are kept once.
    """
    from retail_assets.lib.sources import ga4

    reading = spec.reading()
    cols = spec.columns
    wanted = {k: v for k, v in cols.model_dump().items() if v is not None}  # type: ignore[union-attr]
    lookup = {value: name for name, values in spec.event_names.items() for value in values}
    limit = _future_limit()

    def parse(raw: pl.DataFrame, t: Triage) -> pl.DataFrame:
        n = raw.height
        ts = _timestamps(raw, "timestamp", reading)
        t.flag(
            "timestamp",
            ts.is_null(),
            f"are not timestamps in the format {spec.timestamp_format!r}",
            raw["timestamp"],
        )
        t.flag("timestamp", ts > limit, "are in the future", raw["timestamp"])
        name = text(raw, "event_name")
        name = pl.select(
            pl.coalesce(name.replace_strict(lookup, default=None, return_dtype=pl.Utf8), name)
        ).to_series()
        t.flag(
            "event_name",
            ~name.str.contains(_EVENT_NAME).fill_null(False),
            "are not event names (map them in event_names)",
            raw["event_name"],
        )
        user = clean_id(raw["user"])
        t.flag("user", user.is_null(), "have no user")
        out = {"event_timestamp": ts, "event_name": name, "user_pseudo_id": user}
        for canonical, target in (
            ("customer", "user_id"),
            ("page", "page_location"),
            ("source", "source"),
            ("medium", "medium"),
            ("campaign", "campaign"),
            ("device", "device_category"),
            ("country", "country"),
            ("product", "item_id"),
            ("category", "item_category"),
            ("transaction", "transaction_id"),
            ("session", "_session"),
        ):
            if canonical in raw.columns:
                out[target] = (
                    clean_id(raw[canonical]) if canonical == "customer" else text(raw, canonical)
                )
        for canonical, target in (("price", "price"), ("revenue", "purchase_revenue")):
            if canonical in raw.columns:
                value = number(raw, canonical)
                t.flag(
                    canonical,
                    raw[canonical].is_not_null() & (value.is_null() | (value < 0)),
                    "are not amounts >= 0",
                    raw[canonical],
                )
                out[target] = value
        if "quantity" in raw.columns:
            q = number(raw, "quantity")
            t.flag(
                "quantity",
                raw["quantity"].is_not_null() & (q.is_null() | (q != q.round()) | (q < 0)),
                "are not whole quantities >= 0",
                raw["quantity"],
            )
            out["quantity"] = pl.select(
                pl.when(q >= 0).then(q).cast(pl.Int64, strict=False)
            ).to_series()
        if "consent" in raw.columns:
            consent, bad = consent_values(raw["consent"])
            t.flag(
                "consent", bad, "are not consent values (yes/no, true/false, 1/0)", raw["consent"]
            )
            out["analytics_storage"] = consent
        return pl.DataFrame(out).head(n)

    df, quarantine = _read_all("web_events", files, reading, wanted, parse)
    if df.is_empty():
        return pl.DataFrame(schema=ga4.EXPORT_SCHEMA), quarantine
    identity = [c for c in df.columns if c not in ("_file", "_row")]
    df, dups = _drop_repeats("web_events", files, df.sort("_file", "_row"), identity)
    ts = pl.col("event_timestamp")
    if "_session" in df.columns:
        # The log's own session key, as a whole number per user and session (GA4's is one).
        key = df.select(
            pl.concat_str(pl.col("user_pseudo_id"), pl.lit("|"), pl.col("_session"))
        ).to_series()
        # A stable number per key (sha1, not polars' hash, which may change between versions).
        ids = {k: int(hashlib.sha1(k.encode()).hexdigest()[:15], 16) for k in key.unique()}
        df = df.with_columns(
            key.replace_strict(ids, return_dtype=pl.Int64).alias("ga_session_id")
        ).drop("_session")
    else:
        gap = ts.diff().over("user_pseudo_id")
        new = gap.is_null() | (gap > pl.duration(minutes=spec.session_gap_minutes))
        start = pl.when(new).then(ts).forward_fill().over("user_pseudo_id")
        df = df.sort("user_pseudo_id", "event_timestamp").with_columns(
            start.dt.epoch("s").alias("ga_session_id")
        )
    events = ga4.from_flat(df.sort("event_timestamp", "_file", "_row"), spec.timezone)
    return events, pl.concat([quarantine, dups])
