"""The propensity model: its inputs, the estimator, training with calibration, and scoring.

:func:`train` fits on the earlier training days, calibrates the frozen fit (sigmoid) on the
last ``calibration_days`` and picks each scorer's F1-maximizing threshold there
(:func:`fit_and_calibrate`, shared with the orders-only model); :func:`score` writes the
``customer_key, as_of_date, probability, decile, rank`` table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from retail_assets.lib.ml.evaluation import (
    best_f1_threshold,
)
from retail_assets.lib.ml.propensity.dataset import (
    DATASET_TABLE,
    FEATURE_TABLE,
    KEY_COLUMNS,
    MODEL_FEATURES,
    NO_PURCHASE_RECENCY,
    SOURCE_FEATURES,
    PropensityDataError,
    _require,
    check_point_in_time,
)

MODEL = "model"
BASELINES = ("carted_last_24h", "rfm", "intent_rule")

Estimator = Literal["hist_gradient_boosting", "logistic_regression"]


def model_matrix(frame: pl.DataFrame) -> pl.DataFrame:
    """The model inputs of :data:`MODEL_FEATURES` as floats, from user_features rows.

    Fills NULL ``recency_days`` with :data:`NO_PURCHASE_RECENCY` and NULL RFM scores with 0
    (no order in 90 days); any other NULL is an error naming the column and the row count.
    """
    _require(frame, ["as_of_date", *SOURCE_FEATURES], FEATURE_TABLE)
    nulls = {
        c: n
        for c, n in frame.select(
            pl.col(c).null_count()
            for c in SOURCE_FEATURES
            if c not in ("recency_days", "r_score", "f_score", "m_score")
        )
        .row(0, named=True)
        .items()
        if n
    }
    if nulls:
        raise PropensityDataError(
            f"{FEATURE_TABLE}: NULLs in {nulls} (column: rows) of {frame.height} rows; those "
            "columns are NOT NULL in the SQL model"
        )
    return frame.select(
        *(pl.col(c).cast(pl.Float64) for c in SOURCE_FEATURES),
        (pl.col("frequency_90d") > 0).cast(pl.Float64).alias("has_order_90d"),
        (pl.col("as_of_date").cast(pl.Date) + pl.duration(days=1))
        .dt.weekday()
        .ge(6)
        .cast(pl.Float64)
        .alias("next_day_is_weekend"),
    ).with_columns(
        pl.col("recency_days").fill_null(float(NO_PURCHASE_RECENCY)),
        pl.col("r_score", "f_score", "m_score").fill_null(0.0),
    )


def make_estimator(estimator: Estimator = "logistic_regression", seed: int = 0) -> Pipeline:
    """The unfitted, uncalibrated model pipeline."""
    if estimator == "hist_gradient_boosting":
        return Pipeline(
            [
                (
                    "model",
                    HistGradientBoostingClassifier(
                        learning_rate=0.05,
                        max_iter=200,
                        max_leaf_nodes=15,
                        min_samples_leaf=50,
                        l2_regularization=1.0,
                        early_stopping=False,
                        random_state=seed,
                    ),
                )
            ]
        )
    if estimator == "logistic_regression":
        return Pipeline(
            [
                ("log1p", FunctionTransformer(np.log1p)),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(C=1.0, max_iter=2000)),
            ]
        )
    raise PropensityDataError(
        f"unknown estimator {estimator!r}; choose hist_gradient_boosting or logistic_regression"
    )


def baseline_scores(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    """Scores of the baselines: carted in the last 24 h (0/1), RFM sum, the intent rule."""
    _require(frame, ["carts_1d", "r_score", "f_score", "m_score", "purchase_intent_score"], "rows")
    rfm = frame.select(
        pl.sum_horizontal(pl.col("r_score", "f_score", "m_score").fill_null(0)).cast(pl.Float64)
    ).to_series()
    return {
        "carted_last_24h": (frame["carts_1d"] > 0).cast(pl.Float64).to_numpy(),
        "rfm": rfm.to_numpy(),
        "intent_rule": frame["purchase_intent_score"].cast(pl.Float64).to_numpy(),
    }


@dataclass(frozen=True)
class PropensityModel:
    """A calibrated propensity model and what it was trained on.

    ``calibrated`` gives the probabilities; ``uncalibrated`` is the same fitted pipeline
    before calibration (for the reliability plot). ``thresholds`` holds the F1-maximizing
    cut of the model (:data:`MODEL`) and of each baseline, chosen on the calibration days.
    """

    calibrated: CalibratedClassifierCV
    uncalibrated: Pipeline
    estimator: str
    features: tuple[str, ...]
    thresholds: dict[str, float]
    fit_days: tuple[dt.date, dt.date]
    calibration_days: tuple[dt.date, dt.date]
    fit_rows: int
    calibration_rows: int
    base_rate: float
    seed: int

    @property
    def threshold(self) -> float:
        """The model's decision threshold (probability)."""
        return self.thresholds[MODEL]

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probability of a purchase on the next day, per user_features row."""
        return self.calibrated.predict_proba(model_matrix(frame).to_numpy())[:, 1]


def _two_classes(frame: pl.DataFrame, what: str) -> None:
    positives = int(frame["label"].sum())
    if positives == 0 or positives == frame.height:
        raise PropensityDataError(
            f"{DATASET_TABLE}: the {what} ({frame.height} rows, {positives} buyers) needs both "
            "buyers and non-buyers; use more days or customers"
        )


def train(
    train_rows: pl.DataFrame,
    *,
    estimator: Estimator = "logistic_regression",
    calibration_days: int = 7,
    seed: int = 0,
) -> PropensityModel:
    """Fit on the earlier training days, calibrate (sigmoid) and pick thresholds on the last.

    ``train_rows`` are dataset rows (:func:`build_dataset`, usually ``split.train``). The
    last ``calibration_days`` as-of days calibrate the frozen fitted pipeline with
    :class:`~sklearn.calibration.CalibratedClassifierCV` and choose the thresholds; one day
    before them is left out, so the last fitted label precedes the first calibration cutoff.
    """
    _require(train_rows, [*KEY_COLUMNS, "label", *SOURCE_FEATURES], DATASET_TABLE)
    if "label_date" in train_rows.columns:
        check_point_in_time(train_rows)
    if calibration_days < 1:
        raise PropensityDataError("calibration_days must be at least 1")
    last = train_rows["as_of_date"].max()
    calibration_start = last - dt.timedelta(days=calibration_days - 1)
    fit_part = train_rows.filter(pl.col("as_of_date") < calibration_start - dt.timedelta(days=1))
    calibration_part = train_rows.filter(pl.col("as_of_date") >= calibration_start)
    if fit_part.height == 0:
        raise PropensityDataError(
            f"{DATASET_TABLE}: the training rows span {train_rows['as_of_date'].min()} to "
            f"{last}, which leaves nothing to fit before {calibration_days} calibration days "
            "and a day's gap; add days or lower calibration_days"
        )
    _two_classes(fit_part, "fitting period")
    _two_classes(calibration_part, "calibration period")
    X_fit = model_matrix(fit_part).to_numpy()
    X_cal = model_matrix(calibration_part).to_numpy()
    y_fit, y_cal = fit_part["label"].to_numpy(), calibration_part["label"].to_numpy()
    fitted, calibrated, thresholds = fit_and_calibrate(
        estimator, seed, X_fit, y_fit, X_cal, y_cal, baseline_scores(calibration_part)
    )
    return PropensityModel(
        calibrated=calibrated,
        uncalibrated=fitted,
        estimator=estimator,
        features=MODEL_FEATURES,
        thresholds=thresholds,
        fit_days=(fit_part["as_of_date"].min(), fit_part["as_of_date"].max()),
        calibration_days=(calibration_start, last),
        fit_rows=fit_part.height,
        calibration_rows=calibration_part.height,
        base_rate=float(y_fit.mean()),
        seed=seed,
    )


def fit_and_calibrate(estimator, seed, X_fit, y_fit, X_cal, y_cal, baselines):
    """Fit, calibrate the frozen fit (sigmoid), choose every scorer's threshold (best F1).

    Returns ``(fitted, calibrated, thresholds)``; calibration and thresholds on the
    calibration rows, which ``baselines`` scores (a baseline's name -> its scores). Shared by
    the behavioural and the orders-only models.
    """
    fitted = clone(make_estimator(estimator, seed)).fit(X_fit, y_fit)
    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted), method="sigmoid")
    calibrated.fit(X_cal, y_cal)
    thresholds = {
        MODEL: best_f1_threshold(y_cal, calibrated.predict_proba(X_cal)[:, 1], name=MODEL)
    }
    for name, s in baselines.items():
        thresholds[name] = best_f1_threshold(y_cal, s, name=name)
    return fitted, calibrated, thresholds


def score(model: PropensityModel, features: pl.DataFrame) -> pl.DataFrame:
    """The scores table: ``customer_key, as_of_date, probability, decile, rank``.

    One row per row of ``features`` (``features.user_features``). Within each as-of day,
    ``rank`` 1 is the highest probability (ties broken by ``customer_key``, so reruns agree)
    and ``decile`` 1 the top tenth of the day's customers.
    """
    _require(features, [*KEY_COLUMNS, *SOURCE_FEATURES], FEATURE_TABLE)
    if features.height == 0:
        return pl.DataFrame(
            schema={
                "customer_key": pl.String,
                "as_of_date": pl.Date,
                "probability": pl.Float64,
                "decile": pl.Int64,
                "rank": pl.Int64,
            }
        )
    probability = model.predict_proba(features)
    scored = features.select(
        pl.col("customer_key").cast(pl.String), pl.col("as_of_date").cast(pl.Date)
    ).with_columns(pl.Series("probability", probability))
    rank = pl.int_range(1, pl.len() + 1).over("as_of_date").cast(pl.Int64)
    return (
        scored.sort(["as_of_date", "probability", "customer_key"], descending=[False, True, False])
        .with_columns(rank.alias("rank"))
        .with_columns(
            ((pl.col("rank") - 1) * 10 // pl.len() + 1)
            .over("as_of_date")
            .cast(pl.Int64)
            .alias("decile")
        )
        .select("customer_key", "as_of_date", "probability", "decile", "rank")
    )
