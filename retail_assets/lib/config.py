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
        from retail_assets.lib.ga4 import default_channel_group, marketing_channel

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


class ChannelPlan(_Model):
    daily_spend: float = Field(ge=0)
    min_share: float = Field(ge=0, le=1)
    max_share: float = Field(ge=0, le=1)


class ActivationConfig(_Model):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    advertiser_id: str
    time_zone: str
    daily_budget: float = Field(gt=0)
    flight_days: int = Field(ge=1, le=366)
    channels: dict[str, ChannelPlan]
    segments: dict[str, str]

    @model_validator(mode="after")
    def _shares(self) -> ActivationConfig:
        lo = sum(c.min_share for c in self.channels.values())
        hi = sum(c.max_share for c in self.channels.values())
        if lo > 1 + 1e-9 or hi < 1 - 1e-9:
            raise ValueError(
                f"channel guardrails are infeasible: min shares sum to {lo:.2f} (must be <= 1) "
                f"and max shares to {hi:.2f} (must be >= 1)"
            )
        for name, c in self.channels.items():
            if c.min_share > c.max_share:
                raise ValueError(f"channel {name!r}: min_share > max_share")
        return self


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
def load_activation_config(folder: Path | None = None) -> ActivationConfig:
    """The validated ``activation.yaml``."""
    return _load(ActivationConfig, "activation.yaml", folder)  # type: ignore[return-value]
