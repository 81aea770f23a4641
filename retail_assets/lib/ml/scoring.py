"""Score with the champion models without Dagster: a Python API behind ``retail-assets score``.

The champions live in the lake's model registry (``<lake>/models``); each function loads the
current champion and applies it exactly as the assets do, so a score computed here equals the
one in the warehouse for the same input.

    from retail_assets.lib.ml import scoring
    scoring.propensity("data/lake", user_features_frame)   # customer_key, as_of_date, ...
    scoring.sentiment("data/lake", ["Great blender, fast delivery"])
    scoring.segments("data/lake", user_features_frame)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from retail_assets.lib.ml import propensity as _propensity
from retail_assets.lib.ml import segments as _segments
from retail_assets.lib.ml import sentiment as _sentiment
from retail_assets.lib.ml.registry.records import RegistryError
from retail_assets.lib.ml.registry.store import ModelRegistry

#: Registry names, as the assets register them.
SENTIMENT, PROPENSITY, SEGMENTS = "review_sentiment", "purchase_propensity", "customer_segments"


class ScoringError(ValueError):
    """No champion to score with, or input it cannot score; the message says what to do."""


def _champion(lake_root: str | Path, name: str):
    registry = ModelRegistry(lake_root)
    if registry.champion_version(name) is None:
        raise ScoringError(
            f"no {name} champion in {Path(lake_root) / 'models'}: run the model_training job "
            "first (retail-assets materialize runs it)"
        )
    try:
        return registry.load_champion(name)
    except RegistryError as exc:
        raise ScoringError(str(exc)) from exc


def propensity(lake_root: str | Path, user_features: pl.DataFrame) -> pl.DataFrame:
    """``customer_key, as_of_date, probability, decile, rank, model_version`` per feature row."""
    champion = _champion(lake_root, PROPENSITY)
    try:
        out = _propensity.score(champion.model, user_features)
    except _propensity.PropensityDataError as exc:
        raise ScoringError(str(exc)) from exc
    return out.with_columns(pl.lit(champion.version, pl.Int64).alias("model_version"))


def sentiment(lake_root: str | Path, texts: Sequence[str]) -> pl.DataFrame:
    """``text, label, p_negative, p_neutral, p_positive, score, model_version`` per text."""
    champion = _champion(lake_root, SENTIMENT)
    return (
        pl.DataFrame({"text": list(texts)}, schema={"text": pl.Utf8})
        .hstack(_sentiment.score(champion.model, list(texts)))
        .with_columns(pl.lit(champion.version, pl.Int64).alias("model_version"))
    )


def segments(lake_root: str | Path, user_features: pl.DataFrame) -> pl.DataFrame:
    """``as_of_date, customer_key, segment_id, segment_name, model_version`` per customer."""
    champion = _champion(lake_root, SEGMENTS)
    try:
        out = _segments.assign(champion.model, user_features)
    except _segments.SegmentError as exc:
        raise ScoringError(str(exc)) from exc
    return out.with_columns(pl.lit(champion.version, pl.Int64).alias("model_version"))
