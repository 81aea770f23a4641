"""The GA4 BigQuery export shape, its flattening, and GA4's default channel grouping.

``raw.sessions`` holds events in the export's nested shape (a documented subset of its
columns, see :data:`EXPORT_SCHEMA`), whether the simulator wrote them or a user dropped an
export file in the landing folder; :func:`flatten` turns them into one flat row per event
the way the GA4 community does it (``event_params`` by key with a typed coalesce,
``'(not set)'`` as NULL). Channel grouping follows Google's published rules
(support.google.com/analytics/answer/9756891) with source categories from the list GA4 uses
(the dbt-ga4 seed); a user can point ``RETAIL_SOURCE_CATEGORIES_CSV`` at the full list.
"""

from __future__ import annotations

import csv
import os
import re
from functools import cache
from pathlib import Path

import polars as pl

PARAM_VALUE = pl.Struct(
    {
        "string_value": pl.Utf8,
        "int_value": pl.Int64,
        "float_value": pl.Float64,
        "double_value": pl.Float64,
    }
)
PARAM = pl.Struct({"key": pl.Utf8, "value": PARAM_VALUE})
ITEM = pl.Struct(
    {
        "item_id": pl.Utf8,
        "item_name": pl.Utf8,
        "item_brand": pl.Utf8,
        "item_category": pl.Utf8,
        "price": pl.Float64,
        "quantity": pl.Int64,
        "item_revenue": pl.Float64,
    }
)
ECOMMERCE = pl.Struct(
    {
        "total_item_quantity": pl.Int64,
        "purchase_revenue": pl.Float64,
        "purchase_revenue_in_usd": pl.Float64,
        "transaction_id": pl.Utf8,
        "unique_items": pl.Int64,
    }
)
PRIVACY_INFO = pl.Struct(
    {"analytics_storage": pl.Utf8, "ads_storage": pl.Utf8, "uses_transient_token": pl.Utf8}
)
DEVICE = pl.Struct(
    {
        "category": pl.Utf8,
        "mobile_brand_name": pl.Utf8,
        "operating_system": pl.Utf8,
        "language": pl.Utf8,
    }
)
GEO = pl.Struct({"continent": pl.Utf8, "country": pl.Utf8, "region": pl.Utf8, "city": pl.Utf8})
TRAFFIC_SOURCE = pl.Struct({"name": pl.Utf8, "medium": pl.Utf8, "source": pl.Utf8})
COLLECTED_TRAFFIC_SOURCE = pl.Struct(
    {
        "manual_campaign_name": pl.Utf8,
        "manual_source": pl.Utf8,
        "manual_medium": pl.Utf8,
        "gclid": pl.Utf8,
    }
)

# The export columns we keep, in export order. Anything else in an export file is ignored.
EXPORT_SCHEMA: dict[str, pl.DataType] = {
    "event_date": pl.Utf8,
    "event_timestamp": pl.Int64,
    "event_name": pl.Utf8,
    "event_params": pl.List(PARAM),
    "event_bundle_sequence_id": pl.Int64,
    "user_id": pl.Utf8,
    "user_pseudo_id": pl.Utf8,
    "user_first_touch_timestamp": pl.Int64,
    "user_properties": pl.List(PARAM),
    "privacy_info": PRIVACY_INFO,
    "device": DEVICE,
    "geo": GEO,
    "traffic_source": TRAFFIC_SOURCE,
    "collected_traffic_source": COLLECTED_TRAFFIC_SOURCE,
    "platform": pl.Utf8,
    "ecommerce": ECOMMERCE,
    "items": pl.List(ITEM),
}
REQUIRED_COLUMNS = ("event_date", "event_timestamp", "event_name")

# ------------------------------------------------------------------ channel grouping

# Source -> category for the sources the simulator uses and the most common real ones, taken
# from GA4's list (dbt-ga4 seeds/ga4_source_categories.csv, MIT); tests check every entry
# against that file. Users with other sources set RETAIL_SOURCE_CATEGORIES_CSV to the full list.
SOURCE_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(
        ["google", "bing", "yahoo", "baidu", "duckduckgo", "yandex", "naver"], "SEARCH"
    ),
    **dict.fromkeys(
        [
            "facebook",
            "m.facebook.com",
            "l.facebook.com",
            "lm.facebook.com",
            "instagram",
            "tiktok",
            "pinterest",
            "linkedin",
            "twitter",
            "t.co",
            "reddit",
            "snapchat",
            "quora",
            "tumblr",
            "whatsapp",
            "wechat",
            "weibo",
        ],
        "SOCIAL",
    ),
    **dict.fromkeys(["youtube", "vimeo", "twitch", "netflix", "hulu"], "VIDEO"),
    **dict.fromkeys(["Google Shopping", "amazon", "ebay", "etsy", "walmart"], "SHOPPING"),
}

# GA4 default channel group -> the marketing channel the platform plans budgets for.
MARKETING_CHANNEL = {
    "Paid Search": "PPC",
    "Paid Video": "CTV",
    "Display": "Display",
    "Email": "Email",
    "Organic Search": "Organic Search",
    "Paid Social": "Social",
    "Organic Social": "Social",
    "Direct": "Direct",
}
OTHER_CHANNEL = "Other"

_PAID = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
_SHOP_CAMPAIGN = re.compile(r"^(.*(([^a-df-z]|^)shop|shopping).*)$")
_EMAIL = {"email", "e-mail", "e_mail", "e mail"}
_SOCIAL_MEDIUMS = {
    "social",
    "social-network",
    "social-media",
    "sm",
    "social network",
    "social media",
}


@cache
def source_categories(path: str | None = None) -> dict[str, str]:
    """Source -> SEARCH/SOCIAL/VIDEO/SHOPPING: the embedded list, or a user's full CSV."""
    path = path or os.environ.get("RETAIL_SOURCE_CATEGORIES_CSV")
    if not path:
        return SOURCE_CATEGORIES
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return {
            row["source"]: row["source_category"].removeprefix("SOURCE_CATEGORY_")
            for row in csv.DictReader(fh)
        }


def default_channel_group(
    source: str | None, medium: str | None, campaign: str | None = None
) -> str:
    """GA4's default channel group for one source/medium/campaign, rule by rule in GA4's order."""
    source = (source or "(direct)").strip()
    medium = (medium or "(none)").strip().lower()
    campaign = (campaign or "").strip().lower()
    category = source_categories().get(source) or source_categories().get(source.lower())
    paid = bool(_PAID.match(medium))
    shop_campaign = bool(_SHOP_CAMPAIGN.match(campaign))
    if source == "(direct)" and medium in ("(none)", "(not set)"):
        return "Direct"
    if "cross-network" in campaign:
        return "Cross-network"
    if (category == "SHOPPING" or shop_campaign) and paid:
        return "Paid Shopping"
    if category == "SEARCH" and paid:
        return "Paid Search"
    if category == "SOCIAL" and paid:
        return "Paid Social"
    if category == "VIDEO" and paid:
        return "Paid Video"
    if medium in ("display", "banner", "expandable", "interstitial", "cpm"):
        return "Display"
    if paid:
        return "Paid Other"
    if category == "SHOPPING" or shop_campaign:
        return "Organic Shopping"
    if category == "SOCIAL" or medium in _SOCIAL_MEDIUMS:
        return "Organic Social"
    if category == "VIDEO" or "video" in medium:
        return "Organic Video"
    if category == "SEARCH" or medium == "organic":
        return "Organic Search"
    if medium in ("referral", "app", "link"):
        return "Referral"
    if source.lower() in _EMAIL or medium in _EMAIL:
        return "Email"
    if medium == "affiliate":
        return "Affiliates"
    if medium == "audio":
        return "Audio"
    if source.lower() == "sms" or medium == "sms":
        return "SMS"
    if medium.endswith("push") or "mobile" in medium or "notification" in medium:
        return "Mobile Push Notifications"
    return "Unassigned"


def marketing_channel(group: str) -> str:
    """The planning channel (PPC, CTV, Display, ...) for a GA4 default channel group."""
    return MARKETING_CHANNEL.get(group, OTHER_CHANNEL)


def channel_columns(source: pl.Expr, medium: pl.Expr, campaign: pl.Expr) -> list[pl.Expr]:
    """``default_channel_group`` and ``channel_group`` expressions, rules applied once per combo."""
    combo = pl.struct(source.alias("s"), medium.alias("m"), campaign.alias("c"))
    group = combo.map_elements(
        lambda r: default_channel_group(r["s"], r["m"], r["c"]), return_dtype=pl.Utf8
    )
    return [
        group.alias("default_channel_group"),
        group.replace_strict(MARKETING_CHANNEL, default=OTHER_CHANNEL, return_dtype=pl.Utf8).alias(
            "channel_group"
        ),
    ]


# ------------------------------------------------------------------ flattening


def param(name: str, kind: str = "string") -> pl.Expr:
    """One event parameter by key, with GA4's typed coalesce (``kind``: string, int, double)."""
    value = (
        pl.col("event_params")
        .list.eval(
            pl.element().filter(pl.element().struct.field("key") == name).struct.field("value")
        )
        .list.first()
    )
    s, i = value.struct.field("string_value"), value.struct.field("int_value")
    f, d = value.struct.field("float_value"), value.struct.field("double_value")
    if kind == "int":
        return pl.coalesce(i, d.cast(pl.Int64), f.cast(pl.Int64), s.cast(pl.Int64, strict=False))
    if kind == "double":
        return pl.coalesce(d, f, i.cast(pl.Float64), s.cast(pl.Float64, strict=False))
    return pl.coalesce(s, i.cast(pl.Utf8), d.cast(pl.Utf8), f.cast(pl.Utf8))


def _not_set(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.is_in(["(not set)", ""])).then(None).otherwise(expr)


def flatten(events: pl.DataFrame, keep: tuple[str, ...] = ()) -> pl.DataFrame:
    """One flat row per event: the columns governance, features and models use.

    Session attribution uses the event's ``collected_traffic_source`` and falls back to the
    first-user ``traffic_source`` when the event carries none. ``keep`` names columns of
    ``events`` to carry through last (a partition day, when many days are flattened at once).
    """
    cts = pl.col("collected_traffic_source")
    ts = pl.col("traffic_source")
    source = pl.coalesce(_not_set(cts.struct.field("manual_source")), ts.struct.field("source"))
    medium = pl.coalesce(_not_set(cts.struct.field("manual_medium")), ts.struct.field("medium"))
    campaign = pl.coalesce(
        _not_set(cts.struct.field("manual_campaign_name")), ts.struct.field("name")
    )
    first_item = pl.col("items").list.first()
    flat = events.select(
        "event_date",
        "event_timestamp",
        "event_name",
        _not_set(pl.col("user_pseudo_id")).alias("user_pseudo_id"),
        _not_set(pl.col("user_id")).alias("user_id"),
        param("ga_session_id", "int").alias("ga_session_id"),
        param("ga_session_number", "int").alias("ga_session_number"),
        param("page_location").alias("page_location"),
        pl.col("privacy_info").struct.field("analytics_storage").alias("analytics_storage"),
        pl.col("privacy_info").struct.field("ads_storage").alias("ads_storage"),
        source.alias("traffic_source"),
        medium.alias("traffic_medium"),
        campaign.alias("traffic_campaign"),
        pl.col("device").struct.field("category").alias("device_category"),
        pl.col("geo").struct.field("country").alias("geo_country"),
        pl.col("geo").struct.field("city").alias("geo_city"),
        first_item.struct.field("item_id").alias("item_id"),
        first_item.struct.field("item_category").alias("category"),
        pl.col("items")
        .list.eval(pl.element().struct.field("quantity"))
        .list.sum()
        .alias("item_quantity"),
        pl.col("ecommerce").struct.field("purchase_revenue").alias("purchase_revenue"),
        _not_set(pl.col("ecommerce").struct.field("transaction_id")).alias("transaction_id"),
        *keep,
    )
    combos = (
        flat.select("traffic_source", "traffic_medium", "traffic_campaign")
        .unique()
        .with_columns(
            channel_columns(
                pl.col("traffic_source"), pl.col("traffic_medium"), pl.col("traffic_campaign")
            )
        )
    )
    return flat.join(
        combos,
        on=["traffic_source", "traffic_medium", "traffic_campaign"],
        how="left",
        nulls_equal=True,
        maintain_order="left",
    ).drop("traffic_campaign")


#: Columns :func:`from_flat` reads (all optional but the first three).
FLAT_COLUMNS = (
    "event_timestamp",
    "event_name",
    "user_pseudo_id",
    "user_id",
    "ga_session_id",
    "page_location",
    "analytics_storage",
    "source",
    "medium",
    "campaign",
    "device_category",
    "country",
    "item_id",
    "item_category",
    "price",
    "quantity",
    "purchase_revenue",
    "transaction_id",
)


def from_flat(flat: pl.DataFrame, zone: str = "UTC") -> pl.DataFrame:
    """Flat web events (one row per event) in the GA4 export shape (:data:`EXPORT_SCHEMA`).

    For a site's own event log that is not a GA4 export: ``event_timestamp`` (Datetime, UTC)
    and ``event_name`` are required; any other column of :data:`FLAT_COLUMNS` present fills
    its place in the export (``ga_session_id`` and ``page_location`` as event params, the
    traffic source as the event's ``collected_traffic_source``, one item per event), and what
    is absent is NULL. ``event_date`` is the day in ``zone``, as GA4 writes it (YYYYMMDD).
    """

    def col(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name).cast(dtype) if name in flat.columns else pl.lit(None, dtype=dtype)

    ts = pl.col("event_timestamp")
    params = [
        pl.when(col("ga_session_id", pl.Int64).is_not_null()).then(
            pl.struct(
                pl.lit("ga_session_id").alias("key"),
                pl.struct(
                    pl.lit(None, dtype=pl.Utf8).alias("string_value"),
                    col("ga_session_id", pl.Int64).alias("int_value"),
                    pl.lit(None, dtype=pl.Float64).alias("float_value"),
                    pl.lit(None, dtype=pl.Float64).alias("double_value"),
                ).alias("value"),
            )
        ),
        pl.when(col("page_location", pl.Utf8).is_not_null()).then(
            pl.struct(
                pl.lit("page_location").alias("key"),
                pl.struct(
                    col("page_location", pl.Utf8).alias("string_value"),
                    pl.lit(None, dtype=pl.Int64).alias("int_value"),
                    pl.lit(None, dtype=pl.Float64).alias("float_value"),
                    pl.lit(None, dtype=pl.Float64).alias("double_value"),
                ).alias("value"),
            )
        ),
    ]
    item = pl.struct(
        col("item_id", pl.Utf8).alias("item_id"),
        pl.lit(None, dtype=pl.Utf8).alias("item_name"),
        pl.lit(None, dtype=pl.Utf8).alias("item_brand"),
        col("item_category", pl.Utf8).alias("item_category"),
        col("price", pl.Float64).alias("price"),
        col("quantity", pl.Int64).alias("quantity"),
        (col("price", pl.Float64) * col("quantity", pl.Int64).fill_null(1)).alias("item_revenue"),
    )
    out = flat.select(
        ts.dt.convert_time_zone(zone).dt.strftime("%Y%m%d").alias("event_date"),
        ts.dt.epoch("us").alias("event_timestamp"),
        pl.col("event_name").cast(pl.Utf8),
        pl.concat_list(params).list.drop_nulls().alias("event_params"),
        pl.lit(None, dtype=pl.Int64).alias("event_bundle_sequence_id"),
        col("user_id", pl.Utf8).alias("user_id"),
        col("user_pseudo_id", pl.Utf8).alias("user_pseudo_id"),
        pl.lit(None, dtype=pl.Int64).alias("user_first_touch_timestamp"),
        pl.lit(None, dtype=pl.List(PARAM)).alias("user_properties"),
        pl.struct(
            col("analytics_storage", pl.Utf8).alias("analytics_storage"),
            pl.lit(None, dtype=pl.Utf8).alias("ads_storage"),
            pl.lit(None, dtype=pl.Utf8).alias("uses_transient_token"),
        ).alias("privacy_info"),
        pl.struct(
            col("device_category", pl.Utf8).alias("category"),
            *(
                pl.lit(None, dtype=pl.Utf8).alias(f)
                for f in ("mobile_brand_name", "operating_system", "language")
            ),
        ).alias("device"),
        pl.struct(
            pl.lit(None, dtype=pl.Utf8).alias("continent"),
            col("country", pl.Utf8).alias("country"),
            pl.lit(None, dtype=pl.Utf8).alias("region"),
            pl.lit(None, dtype=pl.Utf8).alias("city"),
        ).alias("geo"),
        pl.lit(None, dtype=TRAFFIC_SOURCE).alias("traffic_source"),
        pl.struct(
            col("campaign", pl.Utf8).alias("manual_campaign_name"),
            col("source", pl.Utf8).alias("manual_source"),
            col("medium", pl.Utf8).alias("manual_medium"),
            pl.lit(None, dtype=pl.Utf8).alias("gclid"),
        ).alias("collected_traffic_source"),
        pl.lit("WEB").alias("platform"),
        pl.when(pl.col("event_name") == "purchase")
        .then(
            pl.struct(
                col("quantity", pl.Int64).alias("total_item_quantity"),
                col("purchase_revenue", pl.Float64).alias("purchase_revenue"),
                col("purchase_revenue", pl.Float64).alias("purchase_revenue_in_usd"),
                col("transaction_id", pl.Utf8).alias("transaction_id"),
                pl.lit(1, dtype=pl.Int64).alias("unique_items"),
            )
        )
        .alias("ecommerce"),
        pl.when(col("item_id", pl.Utf8).is_not_null())
        .then(pl.concat_list([item]))
        .otherwise(pl.lit(None, dtype=pl.List(ITEM)))
        .alias("items"),
    )
    return out.cast(EXPORT_SCHEMA)  # type: ignore[arg-type]
