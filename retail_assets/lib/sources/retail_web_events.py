"""A site's own web event log (not a GA4 export) mapped into the GA4 export's shape."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from retail_assets.lib.sources import declarations as w
from retail_assets.lib.sources.errors import _future_limit
from retail_assets.lib.sources.events_mapping import consent_values
from retail_assets.lib.sources.retail_common import _drop_repeats, _read_all, _timestamps, clean_id
from retail_assets.lib.sources.tabular import Triage, number, text

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
