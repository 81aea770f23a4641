"""The registry's files, errors and records: layout names, JSON helpers, versions, decisions.

Shared by the storage (:mod:`~retail_assets.lib.ml.registry.store`) and the champion/challenger
decisions (:mod:`~retail_assets.lib.ml.registry.champion`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import polars as pl

MODELS_DIR = "models"
MODEL_FILE = "model.pkl"
METADATA_FILE = "metadata.json"
CHAMPION_FILE = "champion.json"
DECISIONS_FILE = "decisions.jsonl"
LOCK_FILE = ".lock"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_VERSION_DIR = re.compile(r"^v(\d{4,})$")
#: Library versions stored with every model: a pickle is safest loaded by the same ones.
TRACKED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "polars", "statsforecast")


DECISION_SCHEMA = {
    "decided_at": pl.Utf8,
    "name": pl.Utf8,
    "challenger_version": pl.Int64,
    "champion_version": pl.Int64,
    "promoted": pl.Boolean,
    "primary_metric": pl.Utf8,
    "higher_is_better": pl.Boolean,
    "challenger_value": pl.Float64,
    "champion_value": pl.Float64,
    "improvement": pl.Float64,
    "min_improvement": pl.Float64,
    "holdout_id": pl.Utf8,
    "reasons": pl.List(pl.Utf8),
    "triggers": pl.List(pl.Utf8),
}


class RegistryError(ValueError):
    """The registry cannot do what was asked; the message says what to fix."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _version_dir(version: int) -> str:
    return f"v{version:04d}"


def _label(version: int | None) -> str:
    return "none" if version is None else _version_dir(version)


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise RegistryError(f"invalid model name {name!r}: use lower_snake_case")


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _clean_metrics(metrics: Mapping[str, Any], what: str) -> dict[str, float]:
    """Metrics as plain floats (numpy scalars included); refuses non-numbers."""
    clean: dict[str, float] = {}
    for key, value in metrics.items():
        try:
            clean[str(key)] = float(value)
        except (TypeError, ValueError) as exc:
            raise RegistryError(
                f"{what} metric {key!r} is {value!r}, not a number; pass numeric metrics"
            ) from exc
    return clean


def _json_default(value: Any) -> Any:
    """JSON for what metadata usually holds: dates, paths, numpy scalars, tuples."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(data: Any) -> str:
    # Non-finite floats are written as null: JSON has no NaN and other readers would choke.
    return json.dumps(_finite(data), indent=1, sort_keys=True, default=_json_default)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, Mapping):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def _library_versions() -> dict[str, str]:
    found = {}
    for lib in TRACKED_LIBRARIES:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            found[lib] = importlib_metadata.version(lib)
    return found


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: where it lives and its metadata."""

    name: str
    version: int
    path: Path
    metadata: dict[str, Any]

    @property
    def metrics(self) -> dict[str, float]:
        """Metrics on the holdout it was registered with."""
        return self.metadata.get("metrics", {})

    @property
    def primary_metric(self) -> str:
        """The metric champion/challenger decisions compare."""
        return self.metadata["primary_metric"]

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger primary metric is better."""
        return bool(self.metadata["higher_is_better"])

    @property
    def holdout_id(self) -> str:
        """The holdout its metrics were measured on."""
        return self.metadata["holdout_id"]


@dataclass(frozen=True)
class LoadedModel:
    """A model object loaded from the registry, with its version and metadata."""

    name: str
    version: int
    model: Any
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """A champion/challenger decision: whether the challenger was promoted, and why."""

    name: str
    challenger_version: int
    champion_version: int | None
    promoted: bool
    reasons: list[str]
    primary_metric: str
    higher_is_better: bool
    challenger_value: float | None
    champion_value: float | None
    improvement: float | None
    min_improvement: float
    holdout_id: str
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] | None = None
    triggers: list[str] = field(default_factory=list)
    decided_at: str = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready data."""
        return asdict(self)
