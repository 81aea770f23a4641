"""Load and validate the YAML configuration shipped in ``retail_assets/config``.

A user can point ``RETAIL_CONFIG_DIR`` at a folder of their own files; each file is validated
with pydantic and a bad value fails with the file name and the field path.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


class ConfigError(ValueError):
    """A configuration file is missing or invalid; the message names the file and field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Model):
    price: tuple[float, float]
    daily_transactions_per_store: float = Field(gt=0)

    @field_validator("price")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError("price must be [min, max] with 0 < min <= max")
        return v


class Channel(_Model):
    source: str
    medium: str


def _check_weights(v: dict[str, float], what: str) -> dict[str, float]:
    if not v or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
        raise ValueError(f"{what} weights must be non-negative and not all zero")
    return v


class Persona(_Model):
    share: float = Field(gt=0)
    daily_visit_probability: float = Field(gt=0, le=1)
    preferred_hours: tuple[int, int]
    cart_rate: float = Field(ge=0, le=1)
    purchase_given_cart: float = Field(ge=0, le=1)
    categories: dict[str, float]
    channels: dict[str, float]
    consent: dict[str, float]

    @field_validator("preferred_hours")
    @classmethod
    def _hours(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= v[0] <= v[1] <= 23:
            raise ValueError("preferred_hours must be [first, last] within 0..23")
        return v

    @field_validator("categories", "channels", "consent")
    @classmethod
    def _weights(cls, v: dict[str, float], info) -> dict[str, float]:
        return _check_weights(v, info.field_name)


class Calendar(_Model):
    weekend_uplift: float = Field(gt=0)
    monthly_seasonality: list[float] = Field(min_length=12, max_length=12)


class Signals(_Model):
    lag_days: int = Field(ge=0, le=60)
    strength: float = Field(ge=0, le=2)
    daily_reviews_per_category: float = Field(gt=0)
    daily_social_per_category: float = Field(gt=0)
    search_queries_per_category: int = Field(ge=1)


class SimulationConfig(_Model):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    stores: int = Field(ge=1)
    products_per_category: int = Field(ge=1)
    categories: dict[str, Category]
    channels: dict[str, Channel]
    personas: dict[str, Persona]
    calendar: Calendar
    signals: Signals

    @model_validator(mode="after")
    def _references(self) -> SimulationConfig:
        for name, persona in self.personas.items():
            for cat in persona.categories:
                if cat not in self.categories:
                    raise ValueError(f"persona {name!r} names unknown category {cat!r}")
            for ch in persona.channels:
                if ch not in self.channels:
                    raise ValueError(f"persona {name!r} names unknown channel {ch!r}")
            bad = set(persona.consent) - {"Yes", "No", "Unset"}
            if bad:
                raise ValueError(f"persona {name!r}: consent keys must be Yes/No/Unset, got {bad}")
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
