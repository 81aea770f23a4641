"""Load and validate the YAML configuration shipped in ``retail_assets/config``.

A user can point ``RETAIL_CONFIG_DIR`` at a folder of their own files; each file is validated
with pydantic and a bad value fails with the file name and the field path.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


class ConfigError(ValueError):
    """A configuration file is missing or invalid; the message names the file and field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _range(v: tuple[float, float], what: str, low: float = 0) -> tuple[float, float]:
    if not low <= v[0] <= v[1]:
        raise ValueError(f"{what} must be [min, max] with {low} <= min <= max")
    return v


class Category(_Model):
    price: tuple[float, float]
    naics: str | None = None
    seasonality: list[float] = Field(min_length=12, max_length=12)

    @field_validator("price")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] <= 0:
            raise ValueError("price must be [min, max] with 0 < min <= max")
        return _range(v, "price")

    @field_validator("seasonality")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(f <= 0 for f in v):
            raise ValueError("seasonality factors must be positive")
        return v


class Channel(_Model):
    source: str
    medium: str
    campaign: str | None = None


def _check_weights(v: dict[str, float], what: str) -> dict[str, float]:
    if not v or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
        raise ValueError(f"{what} weights must be non-negative and not all zero")
    return v


class Demographics(_Model):
    age: tuple[int, int]
    income: dict[Literal["low", "middle", "high"], float]
    household_size: tuple[int, int]

    @field_validator("age")
    @classmethod
    def _age(cls, v: tuple[int, int]) -> tuple[int, int]:
        return _range(v, "age", 16)  # type: ignore[return-value]

    @field_validator("household_size")
    @classmethod
    def _household(cls, v: tuple[int, int]) -> tuple[int, int]:
        return _range(v, "household_size", 1)  # type: ignore[return-value]

    @field_validator("income")
    @classmethod
    def _income(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_weights(v, "income")


class WebFunnel(_Model):
    cart_rate: float = Field(ge=0, le=1)
    purchase_given_cart: float = Field(ge=0, le=1)


class AppFunnel(_Model):
    views_per_session: float = Field(ge=1)
    view_to_cart: float = Field(ge=0, le=1)
    cart_to_purchase: float = Field(ge=0, le=1)


class BasketLine(_Model):
    probability: float = Field(ge=0, le=1)
    quantity: tuple[int, int]
    price: tuple[float, float]

    @field_validator("quantity")
    @classmethod
    def _quantity(cls, v: tuple[int, int]) -> tuple[int, int]:
        return _range(v, "quantity", 1)  # type: ignore[return-value]

    @field_validator("price")
    @classmethod
    def _price(cls, v: tuple[float, float]) -> tuple[float, float]:
        return _range(v, "price")


class Persona(_Model):
    share: float = Field(gt=0)
    demographics: Demographics
    web_visits_per_week: float = Field(ge=0, le=7)
    app_sessions_per_week: float = Field(ge=0, le=70)
    store_visits_per_month: float = Field(ge=0, le=31)
    preferred_hours: tuple[int, int]
    web_funnel: WebFunnel
    app_funnel: AppFunnel
    basket: dict[str, BasketLine] = Field(min_length=1)
    channels: dict[str, float]
    consent: dict[str, float]

    @field_validator("preferred_hours")
    @classmethod
    def _hours(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= v[0] <= v[1] <= 23:
            raise ValueError("preferred_hours must be [first, last] within 0..23")
        return v

    @field_validator("channels", "consent")
    @classmethod
    def _weights(cls, v: dict[str, float], info) -> dict[str, float]:
        return _check_weights(v, info.field_name)

    @field_validator("basket")
    @classmethod
    def _basket(cls, v: dict[str, BasketLine]) -> dict[str, BasketLine]:
        if not any(line.probability > 0 for line in v.values()):
            raise ValueError("basket needs at least one category with probability > 0")
        return v


class Festival(_Model):
    name: str
    month_day: str | None = Field(default=None, pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    dates: list[dt.date] = Field(default_factory=list)
    days_before: int = Field(default=0, ge=0, le=60)
    days_after: int = Field(default=0, ge=0, le=60)
    uplift: float = Field(gt=0)
    categories: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _when(self) -> Festival:
        if (self.month_day is None) == (not self.dates):
            raise ValueError(f"festival {self.name!r}: give either month_day or dates")
        return self


class Promotion(_Model):
    name: str
    start: dt.date
    end: dt.date
    categories: list[str] = Field(min_length=1)
    discount: float = Field(ge=0, lt=1)
    uplift: float = Field(gt=0)

    @model_validator(mode="after")
    def _span(self) -> Promotion:
        if self.end < self.start:
            raise ValueError(f"promotion {self.name!r}: end is before start")
        return self


class Calendar(_Model):
    weekend_uplift: float = Field(gt=0)
    festivals: list[Festival] = Field(default_factory=list)
    promotions: list[Promotion] = Field(default_factory=list)


class Signals(_Model):
    lag_days: int = Field(ge=0, le=60)
    strength: float = Field(ge=0, le=2)
    daily_reviews_per_category: float = Field(gt=0)
    daily_social_per_category: float = Field(gt=0)
    search_queries_per_category: int = Field(ge=1)


class SimulationConfig(_Model):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    stores: int = Field(ge=1)
    products_per_category: int = Field(ge=1, le=999)
    trend_per_year: float = Field(default=0.0, gt=-0.5, lt=1.0)
    trend_origin: dt.date = dt.date(2025, 1, 1)
    categories: dict[str, Category] = Field(min_length=1)
    channels: dict[str, Channel]
    personas: dict[str, Persona] = Field(min_length=1)
    calendar: Calendar
    signals: Signals

    @model_validator(mode="after")
    def _references(self) -> SimulationConfig:
        from retail_assets.lib.sources.ga4 import default_channel_group, marketing_channel

        for name, channel in self.channels.items():
            group = default_channel_group(channel.source, channel.medium, channel.campaign)
            if marketing_channel(group) != name:
                raise ValueError(
                    f"channel {name!r}: source {channel.source!r} / medium {channel.medium!r} "
                    f"is {group!r} under GA4's default channel grouping, not {name!r}"
                )
        for name, persona in self.personas.items():
            for cat in persona.basket:
                if cat not in self.categories:
                    raise ValueError(f"persona {name!r} names unknown category {cat!r}")
            for ch in persona.channels:
                if ch not in self.channels:
                    raise ValueError(f"persona {name!r} names unknown channel {ch!r}")
            bad = set(persona.consent) - {"Yes", "No", "Unset"}
            if bad:
                raise ValueError(f"persona {name!r}: consent keys must be Yes/No/Unset, got {bad}")
        events = [(f.name, f.categories) for f in self.calendar.festivals] + [
            (p.name, p.categories) for p in self.calendar.promotions
        ]
        for name, cats in events:
            unknown = set(cats) - set(self.categories)
            if unknown:
                raise ValueError(f"{name!r} names unknown categories {sorted(unknown)}")
        return self


#: Channels the plan can buy; the payload schema and the tables check against this list.
KNOWN_CHANNELS = ("Display", "CTV", "PPC", "Email")


class ChannelSimulation(_Model):
    """Ground truth of the simulated spend history: a Michaelis-Menten daily response."""

    vmax: float = Field(gt=0)
    k: float = Field(gt=0)
    adstock: float = Field(default=0.0, ge=0, lt=1)
    spend_cv: float = Field(default=0.35, ge=0)
    noise_cv: float = Field(default=0.08, ge=0)


class ChannelSetup(_Model):
    daily_spend: float = Field(ge=0)
    value_per_conversion: float = Field(gt=0)
    min_daily: float | None = Field(default=None, ge=0)
    max_daily: float | None = Field(default=None, ge=0)
    locked: bool = False
    simulation: ChannelSimulation

    @model_validator(mode="after")
    def _order(self) -> ChannelSetup:
        if (
            self.min_daily is not None
            and self.max_daily is not None
            and self.min_daily > self.max_daily
        ):
            raise ValueError(f"min_daily {self.min_daily} > max_daily {self.max_daily}")
        return self


class Guardrails(_Model):
    max_change: float | None = Field(default=0.3, ge=0, le=1)
    max_multiple_of_observed: float | None = Field(default=1.5, ge=1)


class ChannelsConfig(_Model):
    history_days: int = Field(default=365, ge=28, le=3660)
    bootstrap: int = Field(default=200, ge=20, le=5000)
    # Block-bootstrap resamples of the media mix model (aggregate media history): each is a
    # joint refit, so fewer than the per-channel curves' residual bootstrap.
    mmm_bootstrap: int = Field(default=100, ge=10, le=2000)
    adstock_grid: list[float] = Field(default=[0.0, 0.2, 0.4, 0.6], min_length=1)
    guardrails: Guardrails = Guardrails()
    channels: dict[str, ChannelSetup] = Field(min_length=1)

    @field_validator("channels")
    @classmethod
    def _known(cls, v: dict[str, ChannelSetup]) -> dict[str, ChannelSetup]:
        unknown = sorted(set(v) - set(KNOWN_CHANNELS))
        if unknown:
            raise ValueError(f"unknown channels {unknown}; known: {list(KNOWN_CHANNELS)}")
        return v

    @field_validator("adstock_grid")
    @classmethod
    def _grid(cls, v: list[float]) -> list[float]:
        if any(not 0 <= a < 1 for a in v):
            raise ValueError("adstock rates must be in [0, 1)")
        return v


class Pacing(_Model):
    period: Literal["FLIGHT", "DAILY"] = "FLIGHT"
    type: Literal["EVEN", "AHEAD", "ASAP"] = "EVEN"


class ActivationConfig(_Model):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    advertiser_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    time_zone: str
    daily_budget: float = Field(gt=0)
    flight_days: int = Field(ge=1, le=366)
    objective: Literal["conversions", "revenue"] = "conversions"
    incremental_daily_budget: float | None = None
    goal: Literal["TARGET_CPA", "MAXIMIZE_CONVERSIONS", "TARGET_ROAS"] = "TARGET_CPA"
    pacing: Pacing = Pacing()
    daily_cap_multiple: float = Field(default=1.5, ge=1)
    segments: dict[str, str] = Field(min_length=1)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


def config_dir() -> Path:
    """Folder holding the YAML files: ``RETAIL_CONFIG_DIR`` or the packaged defaults."""
    return Path(os.environ.get("RETAIL_CONFIG_DIR", DEFAULT_CONFIG_DIR))


def _load(model: type[_Model], filename: str, folder: Path | None) -> _Model:
    path = (folder or config_dir()) / filename
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {path} not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<file>'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc


@cache
def load_simulation_config(folder: Path | None = None) -> SimulationConfig:
    """The validated ``simulation.yaml``."""
    return _load(SimulationConfig, "simulation.yaml", folder)  # type: ignore[return-value]


@cache
def load_channels_config(folder: Path | None = None) -> ChannelsConfig:
    """The validated ``channels.yaml``."""
    return _load(ChannelsConfig, "channels.yaml", folder)  # type: ignore[return-value]


@cache
def load_activation_config(folder: Path | None = None) -> ActivationConfig:
    """The validated ``activation.yaml``."""
    return _load(ActivationConfig, "activation.yaml", folder)  # type: ignore[return-value]


# ---------------------------------------------------------------------------- creatives
#: Placeholders a creative template may use; anything else is a typo caught on load.
CREATIVE_PLACEHOLDERS = frozenset({"brand", "segment_name", "category", "offer"})


def _check_templates(templates: list[str]) -> list[str]:
    import string

    seen: set[str] = set()
    for text in templates:
        if not text.strip():
            raise ValueError("templates must not be empty")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            raise ValueError(f"template {text!r}: {exc}") from exc
        unknown = sorted(set(fields) - CREATIVE_PLACEHOLDERS)
        if unknown:
            raise ValueError(
                f"template {text!r} uses unknown placeholder(s) {unknown}; "
                f"use {sorted(CREATIVE_PLACEHOLDERS)}"
            )
        if text.casefold() in seen:
            raise ValueError(f"template {text!r} is listed twice")
        seen.add(text.casefold())
    return templates


class CreativeChannel(_Model):
    headline_max: int = Field(ge=10, le=500)
    body_max: int = Field(ge=10, le=2000)
    headline_label: str = "headline"
    body_label: str = "body"
    utm_source: str = Field(min_length=1)
    utm_medium: str = Field(min_length=1)
    utm_campaign: str = Field(min_length=1)


class CreativeTemplates(_Model):
    headlines: list[str] = Field(min_length=3)
    bodies: list[str] = Field(min_length=3)
    offer: str | None = None
    landing_path: str = Field(default="/", pattern=r"^/[A-Za-z0-9/_.-]*$")

    @field_validator("headlines", "bodies")
    @classmethod
    def _templates(cls, v: list[str]) -> list[str]:
        return _check_templates(v)


class BannedClaim(_Model):
    claim: str = Field(min_length=1)
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        import re

        if v is None:
            return v
        try:
            compiled = re.compile(v, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"pattern {v!r} is not a valid regular expression: {exc}") from exc
        # A pattern matching nothing at all would flag every piece of copy.
        if compiled.fullmatch(""):
            raise ValueError(f"pattern {v!r} matches the empty string")
        return v


class CreativeDefaults(_Model):
    category: str = Field(min_length=1)
    offer: str = Field(min_length=1)


class CreativesConfig(_Model):
    brand: str = Field(min_length=1)
    landing_url: str
    near_limit: float = Field(default=0.95, ge=0.5, le=1)
    defaults: CreativeDefaults
    channels: dict[str, CreativeChannel] = Field(min_length=1)
    templates: dict[str, CreativeTemplates]
    brand_tone: list[str] = Field(min_length=1)
    discouraged_tone: list[str] = Field(default_factory=list)
    allowed_caps: list[str] = Field(default_factory=list)
    banned_claims: list[BannedClaim] = Field(min_length=1)

    @field_validator("landing_url")
    @classmethod
    def _url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(v)
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"landing_url {v!r} must be https://host[/path] without a query")
        return v.rstrip("/")

    @field_validator("banned_claims", mode="before")
    @classmethod
    def _short_form(cls, v):
        # A bare string is the common case: a phrase matched literally.
        if isinstance(v, list):
            return [{"claim": c} if isinstance(c, str) else c for c in v]
        return v

    @field_validator("brand_tone", "discouraged_tone", "allowed_caps")
    @classmethod
    def _words(cls, v: list[str]) -> list[str]:
        if any(not w.strip() for w in v):
            raise ValueError("words must not be empty")
        return v

    @model_validator(mode="after")
    def _references(self) -> CreativesConfig:
        import re

        from retail_assets.lib.sources.ga4 import default_channel_group, marketing_channel

        if "default" not in self.templates:
            raise ValueError("templates need a 'default' entry for segments without their own")
        for key in self.templates:
            if not re.fullmatch(r"[a-z0-9]+(?:_[a-z0-9]+)*", key):
                raise ValueError(f"template key {key!r} is not a segment id like 'brand_loyalist'")
        for name, ch in self.channels.items():
            group = default_channel_group(ch.utm_source, ch.utm_medium, ch.utm_campaign)
            if marketing_channel(group) != name:
                raise ValueError(
                    f"channel {name!r}: utm {ch.utm_source!r} / {ch.utm_medium!r} / "
                    f"{ch.utm_campaign!r} is {group!r} under GA4's default channel grouping"
                )
        return self


@cache
def load_creatives_config(folder: Path | None = None) -> CreativesConfig:
    """The validated ``creatives.yaml``."""
    return _load(CreativesConfig, "creatives.yaml", folder)  # type: ignore[return-value]
