"""How a generic events file is declared (``events_mapping.yaml``), and its timestamps parsed.

:class:`EventsMapping` maps a file's columns onto the canonical app-events columns and its
values onto the canonical event types; :func:`_timestamp` parses a timestamp column by a
declared format and time zone (for the retailer's files too), and :func:`consent_values`
normalizes a consent column to Yes/No/Unset.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from retail_assets.lib.config import _load
from retail_assets.lib.sources.file_source import check_timestamp_format, check_timezone
from retail_assets.lib.warehouse.schemas import APP_EVENTS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventColumns(_Strict):
    """The source column for each canonical column; optional ones may be left out."""

    timestamp: str = Field(min_length=1)
    user: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    product: str = Field(min_length=1)
    category: str | None = None
    price: str | None = None
    session: str | None = None
    #: The user's analytics consent on the event (yes/no, true/false, 1/0, granted/denied).
    consent: str | None = None


#: Consent spellings a file may use (case-insensitive), by canonical value.
_CONSENT_WORDS = {
    "Yes": ("yes", "y", "true", "t", "1", "granted", "opt-in", "opt_in", "optin"),
    "No": ("no", "n", "false", "f", "0", "denied", "opt-out", "opt_out", "optout"),
    "Unset": ("unset", "unknown", "not set", "(not set)"),
}
_CONSENT = {word: value for value, words in _CONSENT_WORDS.items() for word in words}


def consent_values(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """``(Yes/No/Unset, unreadable)``: a consent column normalized; NULL and '' are Unset."""
    low = values.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    mapped = low.replace_strict(_CONSENT, default=None, return_dtype=pl.Utf8)
    empty = low.is_null() | (low == "")
    out = pl.select(pl.when(empty).then(pl.lit("Unset")).otherwise(mapped)).to_series()
    return out.alias(values.name), out.is_null()


class EventTypes(_Strict):
    """The source values that mean each canonical event type (compared as exact strings)."""

    view: list[str] = Field(default_factory=list)
    add_to_cart: list[str] = Field(default_factory=list)
    purchase: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> EventTypes:
        values = self.view + self.add_to_cart + self.purchase
        if not values:
            raise ValueError("list the source values of at least one event type")
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"source values listed more than once: {repeated}")
        return self

    def lookup(self) -> dict[str, str]:
        """Source value -> canonical event type."""
        return {v: kind for kind in APP_EVENTS for v in getattr(self, kind)}


class EventsMapping(_Strict):
    """How to read a generic events file into the canonical app-events columns.

    Attributes:
        columns: Canonical column -> source column name.
        timestamp_format: ``epoch_s``, ``epoch_ms``, ``epoch_us``, ``iso`` (ISO 8601, with or
            without an offset) or a strftime pattern (e.g. ``%d/%m/%Y %H:%M``).
        timezone: IANA zone for timestamps without an offset; ``event_date`` (and so the daily
            partition) is the calendar day in this zone.
        event_types: Source values for view, add_to_cart and purchase.
        unknown_event_types: ``error`` (default) fails on other values, ``drop`` skips them.
        session_gap_minutes: Without a session column, a user's next event more than this many
            minutes after the previous one starts a new session.

    """

    columns: EventColumns
    timestamp_format: str = "iso"
    timezone: str = "UTC"
    event_types: EventTypes
    unknown_event_types: Literal["error", "drop"] = "error"
    session_gap_minutes: int = Field(default=30, ge=1, le=1440)

    @field_validator("timestamp_format")
    @classmethod
    def _format(cls, v: str) -> str:
        return check_timestamp_format(v)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return check_timezone(v)


def load_events_mapping(folder: Path | None = None) -> EventsMapping:
    """The validated ``events_mapping.yaml`` from ``folder`` or ``config.config_dir()``.

    Raises:
        ConfigError: The file is missing or invalid; the message names the file and field.

    """
    return _load(EventsMapping, "events_mapping.yaml", folder)  # type: ignore[arg-type,return-value]


_EPOCH_FACTOR = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}
_ISO_AWARE = ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"]
_ISO_NAIVE = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]


def _localize(naive: pl.Expr, zone: str) -> pl.Expr:
    # Ambiguous wall times (DST fall-back) take the earlier instant; non-existent ones fail.
    return naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")


def _timestamp(col: pl.Expr, src: pl.DataType, mapping: EventsMapping) -> pl.Expr:
    """``col`` parsed to Datetime(us, UTC) per the mapping; unparseable values become NULL."""
    zone, fmt = mapping.timezone, mapping.timestamp_format
    if isinstance(src, pl.Datetime):
        aware = col if src.time_zone else _localize(col, zone)
        return aware.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if src == pl.Date:
        return _localize(col.cast(pl.Datetime("us")), zone).dt.convert_time_zone("UTC")
    if fmt in _EPOCH_FACTOR:
        factor = _EPOCH_FACTOR[fmt]
        if src.is_integer():
            micros = col.cast(pl.Int64) * factor
        else:
            text = col.cast(pl.Utf8).str.strip_chars()
            whole = text.cast(pl.Int64, strict=False) * factor
            fraction = text.cast(pl.Float64, strict=False) * factor
            fraction = (
                pl.when(fraction.is_finite()).then(fraction.round()).cast(pl.Int64, strict=False)
            )
            micros = pl.coalesce(whole, fraction)
        return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    text = col.cast(pl.Utf8).str.strip_chars()
    if fmt == "iso":
        text = text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T").str.replace(r"Z$", "+00:00")
        aware = [text.str.to_datetime(f, strict=False, time_unit="us") for f in _ISO_AWARE]
        naive = [text.str.to_datetime(f, strict=False, time_unit="us") for f in _ISO_NAIVE]
    elif re.search(r"%[#:]*z|%Z", fmt):
        aware, naive = [text.str.to_datetime(fmt, strict=False, time_unit="us")], []
    else:
        aware, naive = [], [text.str.to_datetime(fmt, strict=False, time_unit="us")]
    candidates = [a.dt.convert_time_zone("UTC") for a in aware]
    candidates += [_localize(n, zone).dt.convert_time_zone("UTC") for n in naive]
    return pl.coalesce(candidates)
